//! The demo workspaces carry the facts of the two reference privacy policies in their inventory.

use crate::helpers::spawn_app;
use serde_json::Value;

fn keys(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|i| i["key"].as_str().unwrap().to_owned())
        .collect()
}

async fn inventory_of(app: &crate::helpers::TestApp, slug: &str) -> Value {
    let key = app.api_key(slug, &["inventory:read"]);
    app.client
        .get(app.url("/api/v1/inventory"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aulm_lists_every_data_item_recipient_and_retention_promise_of_its_policy() {
    let app = spawn_app().await;
    lethe::services::demo::load(&app.db, &app.vault).unwrap();
    let inv = inventory_of(&app, "aulm").await;
    let categories = keys(&inv["categories"]);
    // Account, usage, technical and support data, item by item.
    for item in [
        "user.name",
        "user.contact.email",
        "user.authorization.credentials",
        "user.financial",
        "usage.api_keys",
        "usage.session_metadata",
        "usage.message_log",
        "usage.message_log.payload_preview",
        "usage.webhook_delivery",
        "user.device.ip_address",
        "user.device",
        "user.location.imprecise",
        "support.ticket",
        "support.csat",
    ] {
        assert!(categories.contains(&item.to_owned()), "aulm lacks {item}");
    }
    // A short preview only, and never a full card number.
    let preview = inv["categories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == "usage.message_log.payload_preview")
        .unwrap();
    assert_eq!(preview["fields"][0]["handling"], "preview");
    let billing = inv["categories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == "user.financial")
        .unwrap();
    assert!(
        billing["fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["handling"] == "refuse_card")
    );
    // The customer's recipients are people the data concerns too.
    let log = inv["categories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == "usage.message_log")
        .unwrap();
    assert!(
        log["subject_kinds"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k == "customer's recipient")
    );
    // Uses: operate, payments, abuse prevention, support, legal, improvement.
    let purposes = keys(&inv["purposes"]);
    for p in [
        "provide-service",
        "payments",
        "abuse-prevention",
        "support",
        "legal-compliance",
        "service-improvement",
    ] {
        assert!(purposes.contains(&p.to_owned()), "aulm lacks purpose {p}");
    }
    // Sharing only with hosting, payments, e-mail delivery (and authorities when the law requires).
    let mut recipients = keys(&inv["recipients"]);
    recipients.sort();
    assert_eq!(
        recipients,
        ["authorities", "email-delivery", "hosting", "payments"]
    );
    // Kept while the account is active: every category has a rule counted from account closure.
    let rules = inv["retention_rules"].as_array().unwrap();
    for c in &categories {
        assert!(
            rules
                .iter()
                .any(|r| r["category"] == c.as_str() && r["trigger"] == "account_closed"),
            "no account-closure rule for {c}"
        );
    }
    let ws: Value = app
        .client
        .get(app.url("/api/v1/workspace"))
        .bearer_auth(app.api_key("aulm", &["records:read"]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ws["min_age"], 18, "no one under 18");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aufum_lists_its_data_partners_and_cookie_purposes() {
    let app = spawn_app().await;
    lethe::services::demo::load(&app.db, &app.vault).unwrap();
    let inv = inventory_of(&app, "aufum").await;
    let categories = keys(&inv["categories"]);
    for item in [
        "user.contact.email",
        "user.account.username",
        "user.authorization.credentials",
        "instructor.profile",
        "user.device.ip_address",
        "user.device",
        "user.behavior.browsing_history",
        "user.behavior",
        "user.preferences",
        "user.device.cookie_id",
    ] {
        assert!(categories.contains(&item.to_owned()), "aufum lacks {item}");
    }
    let recipients = keys(&inv["recipients"]);
    for r in ["banks", "payment-platforms", "authorities", "acquirer"] {
        assert!(
            recipients.contains(&r.to_owned()),
            "aufum lacks recipient {r}"
        );
    }
    // Cookies and local storage are used with consent, which can be withdrawn.
    let consent: Vec<_> = inv["purposes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["legal_basis"] == "consent")
        .collect();
    assert!(consent.iter().any(|p| {
        p["categories"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "user.device.cookie_id")
    }));
    // Running the demo again leaves the inventory as it is.
    lethe::services::demo::load(&app.db, &app.vault).unwrap();
    assert_eq!(inventory_of(&app, "aufum").await, inv);
}

/// The facts of each reference policy, as they must read on the published page.
const AULM_FACTS: &[&str] = &[
    // Account, usage, technical and support data.
    "Name",
    "E-mail address",
    "Password (hashed)",
    "Billing details",
    "API keys",
    "Connected session metadata",
    "Message log",
    "Message preview",
    "Webhook delivery records",
    "IP address",
    "Browser and device information",
    "Approximate country",
    "Support tickets and messages",
    "Satisfaction feedback",
    // Uses.
    "Processing payments",
    "Preventing abuse, fraud and attacks",
    "Answering support requests",
    "Meeting legal obligations",
    "Improving the service",
    "Routing traffic through the nearest region",
    // Sharing only with hosting, payments, e-mail delivery; no sale; authorities when required.
    "Hosting provider",
    "Payment processor",
    "E-mail delivery service",
    "when the law requires",
    "We do not sell personal data",
    // Message content: a short preview; the customer is the controller of recipients' data.
    "short preview",
    "controller of your recipients",
    // Never a full card number.
    "never store a full payment card number",
    // Kept while the account is active, then deleted or anonymized.
    "while your account is active",
    "days after the account closes",
    "anonymized",
    // Rights: access, correct, delete, export, object, restrict.
    "Access",
    "Correction",
    "Deletion",
    "Export",
    "Objection",
    "Restriction",
    // Security, children, changes.
    "encrypted",
    "not for anyone under 18",
    "material change",
];

const AUFUM_FACTS: &[&str] = &[
    "E-mail address",
    "Username",
    "Password (hashed)",
    "Instructor profile",
    "Payout details",
    "IP address",
    "Device information",
    "Access log",
    "Service usage",
    "Preference settings",
    "Cookies and local storage",
    "cookie preferences",
    "Banks",
    "Payment platforms",
    "Authorities with a lawful request",
    "merger",
    "encrypted in transit and at rest",
    "audited",
    "tell the regulator",
    "Access",
    "Correction",
    "Deletion",
    "Withdrawing consent",
    "Data protection officer",
    "takes effect",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_published_demo_policies_state_every_fact_of_the_reference_policies() {
    let app = spawn_app().await;
    lethe::services::demo::load(&app.db, &app.vault).unwrap();
    for (slug, facts) in [("aulm", AULM_FACTS), ("aufum", AUFUM_FACTS)] {
        let page = app
            .client
            .get(app.url(&format!("/p/{slug}/privacy")))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap().replace("&#39;", "'");
        let missing: Vec<&&str> = facts.iter().filter(|f| !html.contains(**f)).collect();
        assert!(
            missing.is_empty(),
            "{slug}'s published policy lacks {missing:?}"
        );
        // The demo inventories are what a careful operator would keep: nothing to warn about.
        let scope = app.scope(slug);
        let findings = lethe::services::inventory::check(&app.db, &scope).unwrap();
        assert!(findings.is_empty(), "{slug}: {findings:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_vault_holds_people_whose_records_follow_their_categories_rules() {
    let app = spawn_app().await;
    lethe::services::demo::load(&app.db, &app.vault).unwrap();
    let key = app.api_key("aulm", &["records:read"]);
    let read = |id: &'static str| {
        app.client
            .get(app.url(&format!("/api/v1/subjects/{id}/records")))
            .bearer_auth(&key)
            .send()
    };
    let page: serde_json::Value = read("cus_1001").await.unwrap().json().await.unwrap();
    let previews: Vec<&str> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["fields"]["preview"].as_str())
        .collect();
    assert_eq!(previews.len(), 2, "{page}");
    assert!(
        previews.iter().all(|p| p.chars().count() <= 40),
        "{previews:?}"
    );
    // cus_1003 is restricted: an API key may not read them.
    assert_eq!(read("cus_1003").await.unwrap().status(), 403);

    let aufum = app.api_key("aufum", &["records:read"]);
    let payout: serde_json::Value = app
        .client
        .get(app.url("/api/v1/subjects/ins_3001/records"))
        .bearer_auth(&aufum)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        payout.to_string().contains("**** **** **** 1111"),
        "the payout card number is masked: {payout}"
    );

    // Loading again adds nobody and nothing.
    let count = || {
        app.db
            .read(|c| {
                c.query_row("SELECT count(*) FROM records", [], |r| r.get::<_, i64>(0))
                    .map_err(lethe::store::StoreError::from)
            })
            .unwrap()
    };
    let before = count();
    lethe::services::demo::load(&app.db, &app.vault).unwrap();
    assert_eq!(count(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_register_has_an_open_incident_with_its_clock_and_counts_once() {
    let app = spawn_app().await;
    lethe::services::demo::load(&app.db, &app.vault).unwrap();
    // Loading again (a restart with --demo) adds nothing.
    lethe::services::demo::load(&app.db, &app.vault).unwrap();
    let key = app.api_key("aulm", &["incidents:read"]);
    let list: Value = app
        .client
        .get(app.url("/api/v1/incidents"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let incidents = list["incidents"].as_array().unwrap_or_else(|| {
        list.as_array()
            .unwrap_or_else(|| panic!("a list of incidents: {list}"))
    });
    assert_eq!(incidents.len(), 1, "{list}");
    let id = incidents[0]["id"].as_str().unwrap();
    let incident: Value = app
        .client
        .get(app.url(&format!("/api/v1/incidents/{id}")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(incident["state"], "open", "{incident}");
    assert!(
        incident["affected"]["subjects"].as_i64().unwrap() > 0,
        "people counted from the demo vault: {incident}"
    );
}
