//! Consent in the console: the rates page (an SVG chart drawn on the server, the table with the
//! same numbers, the share of refusals GPC made, the period choice, the empty state) and one
//! person's consent history (read with a reason, newest first, one access-log entry, refused for
//! a restricted person but to the privacy officer), and who may see which.

use crate::helpers::{TestApp, location, spawn_app};
use chrono::{Duration, Utc};
use reqwest::{Client, Method};
use serde_json::{Value, json};

const SCRIPT: &str = "<script>alert(1)</script>";

struct Shop {
    app: TestApp,
    key: String,
}

/// `shop` with three consent purposes (`analytics`, `newsletter`, `surveys`), a contract
/// purpose, the subjects `cus_1` and `cus_2`, and a member of each role: ada (owner), pia
/// (privacy officer), sam (support), al (auditor). olga owns the workspace `other`.
async fn shop() -> Shop {
    let app = spawn_app().await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "shop");
    app.add_member("shop", "pia@example.org", "privacy_officer");
    app.add_member("shop", "sam@example.org", "support");
    app.add_member("shop", "al@example.org", "auditor");
    let olga = app.create_admin("olga@example.org");
    app.create_workspace(olga, "other");
    let key = app.api_key(
        "shop",
        &["consent:write", "inventory:write", "records:write"],
    );
    let s = Shop { app, key };
    let (status, body) = s
        .call(
            Method::PUT,
            "/api/v1/inventory/categories/usage",
            json!({"key": "usage", "name": "Usage", "sensitivity": "normal"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    for (key, name, basis) in [
        ("analytics", "Site analytics", "consent"),
        ("newsletter", "Newsletter", "consent"),
        ("surveys", "Surveys", "consent"),
        ("orders", "Orders", "contract"),
    ] {
        let mut body = json!({"key": key, "name": name, "legal_basis": basis,
            "categories": ["usage"]});
        if basis == "consent" {
            body["consent_prompt"] = json!(format!("May we use {key}?"));
        }
        if key == "newsletter" {
            // Shared with a partner: Global Privacy Control refuses it.
            body["opt_out_of_sale"] = json!(true);
        }
        let (status, body) = s
            .call(
                Method::PUT,
                &format!("/api/v1/inventory/purposes/{key}"),
                body,
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    for id in ["cus_1", "cus_2"] {
        let (status, body) = s
            .call(
                Method::POST,
                "/api/v1/subjects",
                json!({"external_id": id, "kind": "customer"}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    s
}

impl Shop {
    async fn call(&self, method: Method, path: &str, body: Value) -> (u16, Value) {
        self.app.call(&self.key, method, path, Some(body)).await
    }

    async fn decide(&self, body: Value) {
        let (status, body) = self.call(Method::POST, "/api/v1/consent", body).await;
        assert_eq!(status, 201, "{body}");
    }

    /// Decisions of the last 30 days: analytics 2 granted, 1 refused; newsletter 3 refused, one
    /// of them by GPC; surveys none. One more, 40 days ago, only the 90 days see.
    async fn decisions(&self) {
        let ago = |days: i64| (Utc::now() - Duration::days(days)).to_rfc3339();
        self.decide(json!({"subject": "cus_1", "choices": {"analytics": true},
            "source": "import", "decided_at": ago(40)}))
            .await;
        self.decide(json!({"subject": "cus_2", "choices": {"analytics": true},
            "source": "import", "decided_at": ago(2)}))
            .await;
        self.decide(
            json!({"subject": "cus_1", "choices": {"analytics": true, "newsletter": false}}),
        )
        .await;
        self.decide(json!({"subject": "cus_2", "choices": {"newsletter": false}}))
            .await;
        // GPC sent: it refuses the newsletter, marked as shared, whatever was chosen.
        self.decide(
            json!({"subject": "cus_2", "choices": {"analytics": false, "newsletter": true},
            "gpc": true}),
        )
        .await;
    }

    fn access_log_rows(&self) -> i64 {
        self.app
            .db
            .read(|c| {
                c.query_row("SELECT count(*) FROM subject_access_log", [], |r| r.get(0))
                    .map_err(lethe::store::StoreError::from)
            })
            .unwrap()
    }

    /// Posts the consent history form of `id`'s page with `reason`.
    async fn history(&self, client: &Client, slug: &str, id: &str, reason: &str) -> (u16, String) {
        let (_, csrf, _) = self.app.page(client, "/console/").await;
        let res = self
            .app
            .post_form(
                client,
                &format!("/console/w/{slug}/subjects/{id}/consent"),
                &[("reason", reason), ("csrf", &csrf)],
            )
            .await;
        let status = res.status().as_u16();
        if status == 200 {
            let cache = res
                .headers()
                .get("cache-control")
                .unwrap()
                .to_str()
                .unwrap();
            assert_eq!(cache, "no-store", "a person's history is not cached");
        }
        assert_eq!(location(&res), "", "answered in place");
        (status, res.text().await.unwrap())
    }
}

/// The row of `purpose` in the rates table: its cells' text, after the name.
fn row_of(page: &str, name: &str) -> Vec<String> {
    let table = page
        .split("<table class=\"consent-rates\">")
        .nth(1)
        .unwrap_or_default();
    let row = table
        .split("<tr>")
        .find(|r| r.contains(name))
        .unwrap_or_else(|| panic!("no row for {name} in {table}"));
    row.split("<td class=\"num\">")
        .skip(1)
        .map(|c| c.split("</td>").next().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rates_page_draws_a_line_per_purpose_and_tables_the_same_numbers() {
    let s = shop().await;
    let owner = s.app.logged_in("ada@example.org").await;
    let (status, _, page) = s.app.page(&owner, "/console/w/shop/consent").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("No consent decisions yet"), "{page}");
    assert!(!page.contains("<svg"), "no chart without decisions");
    assert!(page.contains("href=\"/console/w/shop/consent\" aria-current=\"page\""));

    s.decisions().await;
    let (status, _, page) = s.app.page(&owner, "/console/w/shop/consent").await;
    assert_eq!(status, 200, "{page}");
    assert!(!page.contains("No consent decisions yet"));
    // The chart: inline SVG with presentation attributes only (the CSP allows no `style`),
    // one line per purpose with decisions, its legend and axes; described for screen readers.
    assert_eq!(page.matches("<svg xmlns").count(), 1, "{page}");
    assert_eq!(page.matches("<polyline").count(), 2, "surveys has no line");
    assert!(!page.contains("style="), "no style attribute");
    assert!(!page.contains("<style"), "no style element");
    assert!(page.contains("role=\"img\" aria-labelledby=\"chart-title chart-desc\""));
    assert!(page.contains(">Site analytics</text>") && page.contains(">Newsletter</text>"));
    assert!(page.contains(">100 %</text>") && page.contains(">0 %</text>"));
    assert!(page.contains("Day (UTC, month-day)"));
    let today = Utc::now().format("%m-%d").to_string();
    assert!(
        page.contains(&format!(">{today}</text>")),
        "the last day is named"
    );
    // The table: granted, refused, rate, refused by GPC and its share of refusals.
    assert_eq!(
        row_of(&page, "Site analytics"),
        ["2", "1", "67 %", "0", "0 %"]
    );
    assert_eq!(row_of(&page, "Newsletter"), ["0", "3", "0 %", "1", "33 %"]);
    assert_eq!(row_of(&page, "Surveys"), ["0", "0", "—", "0", "—"]);
    assert_eq!(
        row_of(&page, "All purposes"),
        ["2", "4", "33 %", "1", "25 %"]
    );
    assert!(page.contains("25 % of refusals (1 of 4)"), "{page}");
    assert!(!page.contains("Orders"), "not a consent purpose");
    // Day by day: the chart's points as rows.
    assert!(page.contains("<summary>Day by day"));

    // The period: 90 days take in the decision of 40 days ago, 7 days the same as 30 here.
    let (_, _, page) = s.app.page(&owner, "/console/w/shop/consent?days=90").await;
    assert_eq!(
        row_of(&page, "Site analytics"),
        ["3", "1", "75 %", "0", "0 %"]
    );
    assert!(page.contains("href=\"/console/w/shop/consent?days=90\" aria-current=\"page\""));
    let (_, _, page) = s.app.page(&owner, "/console/w/shop/consent?days=7").await;
    assert_eq!(
        row_of(&page, "Site analytics"),
        ["2", "1", "67 %", "0", "0 %"]
    );
    let (status, _, page) = s.app.page(&owner, "/console/w/shop/consent?days=12").await;
    assert_eq!(status, 200);
    assert!(page.contains("href=\"/console/w/shop/consent?days=30\" aria-current=\"page\""));

    // Counts only: every role sees them, and nothing is logged.
    for email in ["pia@example.org", "sam@example.org", "al@example.org"] {
        let client = s.app.logged_in(email).await;
        let (status, _, page) = s.app.page(&client, "/console/w/shop/consent").await;
        assert_eq!(status, 200, "{email}");
        assert_eq!(page.matches("<polyline").count(), 2, "{email}");
    }
    assert_eq!(s.access_log_rows(), 0);

    // Another workspace's member learns nothing, and sees only their own (empty) page.
    let olga = s.app.logged_in("olga@example.org").await;
    assert_eq!(s.app.page(&olga, "/console/w/shop/consent").await.0, 404);
    let (status, _, page) = s.app.page(&olga, "/console/w/other/consent").await;
    assert_eq!(status, 200);
    assert!(page.contains("No consent decisions yet"), "{page}");
    assert!(!page.contains("Site analytics"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persons_history_is_read_with_a_reason_newest_first_and_logged_once() {
    let s = shop().await;
    s.decisions().await;
    let support = s.app.logged_in("sam@example.org").await;
    let (status, _, subject) = s.app.page(&support, "/console/w/shop/subjects/cus_2").await;
    assert_eq!(status, 200);
    assert!(subject.contains("Show consent history"), "{subject}");
    assert!(subject.contains("action=\"/console/w/shop/subjects/cus_2/consent\""));

    // A reason is required, and said so on the subject's page.
    for bad in ["", "ab"] {
        let (status, page) = s.history(&support, "shop", "cus_2", bad).await;
        assert_eq!(status, 422, "{bad:?}");
        assert!(page.contains("id=\"consent-reason-error\""), "{page}");
    }
    assert_eq!(s.access_log_rows(), 0);

    let reason = format!("ticket 77 {SCRIPT}");
    let (status, page) = s.history(&support, "shop", "cus_2", &reason).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(s.access_log_rows(), 1, "one read, one entry");
    assert!(!page.contains(SCRIPT), "the reason is escaped");
    assert!(page.contains("ticket 77 &#60;script&#62;"));
    // Consent now, per purpose, with GPC's refusal named.
    let now = page.split("id=\"decisions\"").next().unwrap();
    assert!(now.contains("refused by Global Privacy Control"), "{now}");
    assert!(now.contains("not asked yet"), "surveys");
    // The decisions, newest first: the API's with GPC sent, the API's, then the import.
    let decisions = page.split("id=\"decisions\"").nth(1).unwrap();
    assert_eq!(decisions.matches("<tr class=\"decision\">").count(), 3);
    let gpc_sent = decisions.find("<td>sent</td>").unwrap();
    let api = decisions.rfind("(API)</td>").unwrap();
    let import = decisions.find("<td>import</td>").unwrap();
    assert!(gpc_sent < api && api < import, "{decisions}");
    assert!(decisions.contains("refused by GPC"));
    assert!(
        decisions.contains("<td>sent</td>"),
        "the GPC signal is shown"
    );
    assert!(decisions.contains("Site analytics <code class=\"key\">analytics</code>"));

    // The subject's page lists the read with its reason; the audit chain says what was read.
    let (_, _, subject) = s.app.page(&support, "/console/w/shop/subjects/cus_2").await;
    assert!(subject.contains("sam@example.org"));
    assert!(subject.contains("ticket 77 &#60;script&#62;"));
    let detail: String = s
        .app
        .db
        .read(|c| {
            c.query_row(
                "SELECT detail FROM audit_log WHERE action = 'subject.read' ORDER BY seq DESC",
                [],
                |r| r.get(0),
            )
            .map_err(lethe::store::StoreError::from)
        })
        .unwrap();
    let detail: Value = serde_json::from_str(&detail).unwrap();
    assert_eq!(detail["read"], "consent");
    assert_eq!(detail["decisions"], 3);
    assert!(
        !detail.to_string().contains("ticket"),
        "no reason in the chain"
    );

    // cus_1's history holds the decision of 40 days ago too: a history has no window.
    let (status, page) = s.history(&support, "shop", "cus_1", "ticket 78").await;
    assert_eq!(status, 200);
    assert_eq!(page.matches("<tr class=\"decision\">").count(), 2);
    let (status, _) = s.history(&support, "shop", "nobody", "ticket 79").await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_may_read_a_history_and_a_restricted_persons_is_the_privacy_officers() {
    let s = shop().await;
    s.decisions().await;
    // The auditor sees counts, not people: no form, and the post is refused.
    let auditor = s.app.logged_in("al@example.org").await;
    let (_, _, subject) = s.app.page(&auditor, "/console/w/shop/subjects/cus_1").await;
    assert!(!subject.contains("Show consent history"));
    assert_eq!(
        s.history(&auditor, "shop", "cus_1", "ticket 1").await.0,
        403
    );
    // Another workspace's member: not found, whatever their roles there.
    let olga = s.app.logged_in("olga@example.org").await;
    assert_eq!(s.history(&olga, "shop", "cus_1", "ticket 1").await.0, 404);
    assert_eq!(s.history(&olga, "other", "cus_1", "ticket 1").await.0, 404);
    assert_eq!(s.access_log_rows(), 0);

    let (status, body) = s
        .call(
            Method::POST,
            "/api/v1/subjects/cus_1/restrict",
            json!({"reason": "contests accuracy"}),
        )
        .await;
    assert!(status < 300, "{status} {body}");
    for email in ["sam@example.org", "ada@example.org"] {
        let client = s.app.logged_in(email).await;
        let (status, page) = s.history(&client, "shop", "cus_1", "ticket 2").await;
        assert_eq!(status, 403, "{email}");
        assert!(
            page.contains("only the privacy officer may read it"),
            "{page}"
        );
        assert!(!page.contains("<tr class=\"decision\">"));
    }
    assert_eq!(s.access_log_rows(), 0, "a refused read reads nothing");
    let officer = s.app.logged_in("pia@example.org").await;
    let (status, page) = s.history(&officer, "shop", "cus_1", "ticket 3").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("refused: processing is restricted"), "{page}");
    assert_eq!(page.matches("<tr class=\"decision\">").count(), 2);
    assert_eq!(s.access_log_rows(), 1);
}
