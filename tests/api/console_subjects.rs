//! The vault's people in the console: the list and under-age refusals, reading records with a
//! reason (and the access log that keeps it), escaping, restriction, erasure and who may do what.

use crate::helpers::{TestApp, location, spawn_app};
use reqwest::Client;
use serde_json::{Value, json};

const EMAIL: &str = "grace.hopper@example.org";
const NOTE: &str = "Asked to move the booking to Saturday";
const SCRIPT: &str = "<script>alert(1)</script>";

struct Console {
    app: TestApp,
    key: String,
}

/// aulm with a note category, a billing category under a tax-law hold, and one member of each
/// role: ada (owner), pia (privacy officer), sam (support), al (auditor).
async fn setup() -> Console {
    let app = spawn_app().await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "aulm");
    app.add_member("aulm", "pia@example.org", "privacy_officer");
    app.add_member("aulm", "sam@example.org", "support");
    app.add_member("aulm", "al@example.org", "auditor");
    let key = app.api_key(
        "aulm",
        &["records:write", "records:read", "inventory:write"],
    );
    let c = Console { app, key };
    for (kind, item, body) in [
        (
            "categories",
            "support.note",
            json!({"name": "Support notes", "sensitivity": "normal", "fields": [{"name": "text"}]}),
        ),
        (
            "categories",
            "user.financial",
            json!({"name": "Billing", "sensitivity": "high", "fields": [{"name": "plan"}]}),
        ),
        (
            "legal-holds",
            "tax-law",
            json!({"category": "user.financial", "reason": "invoices are kept ten years", "until": "2036-12-31"}),
        ),
    ] {
        let mut body = body;
        body["key"] = json!(item);
        let res = c
            .app
            .client
            .put(c.app.url(&format!("/api/v1/inventory/{kind}/{item}")))
            .bearer_auth(&c.key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    }
    c
}

impl Console {
    async fn api(&self, path: &str, body: Value) -> (u16, Value) {
        let res = self
            .app
            .client
            .post(self.app.url(path))
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn subject(&self, id: &str) {
        let (status, body) = self
            .api(
                "/api/v1/subjects",
                json!({"external_id": id, "email": EMAIL, "kind": "customer", "birth_date": "1990-05-01"}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }

    async fn note(&self, id: &str, text: &str) {
        let (status, body) = self
            .api(
                "/api/v1/records",
                json!({"records": [{"category": "support.note", "subject": id,
                    "occurred_at": "2026-11-20T10:00:00Z", "fields": {"text": text}}]}),
            )
            .await;
        assert!(status < 300, "{status} {body}");
    }

    async fn bill(&self, id: &str) {
        let (status, body) = self
            .api(
                "/api/v1/records",
                json!({"records": [{"category": "user.financial", "subject": id,
                    "occurred_at": "2026-11-20T10:00:00Z", "fields": {"plan": "pro"}}]}),
            )
            .await;
        assert!(status < 300, "{status} {body}");
    }

    /// The records as the API shows them (its own read, with its own reason).
    async fn api_records(&self, id: &str) -> Value {
        let res = self
            .app
            .client
            .get(self.app.url(&format!("/api/v1/subjects/{id}/records")))
            .bearer_auth(&self.key)
            .header("Lethe-Access-Reason", "console test check")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }

    async fn api_response(&self, path: &str) -> reqwest::Response {
        self.app
            .client
            .get(self.app.url(path))
            .bearer_auth(&self.key)
            .header("Lethe-Access-Reason", "console test check")
            .send()
            .await
            .unwrap()
    }

    async fn api_status(&self, path: &str) -> u16 {
        self.api_response(path).await.status().as_u16()
    }

    async fn api_get(&self, path: &str) -> Value {
        let res = self.api_response(path).await;
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
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

    /// POSTs a form on the subject's page, with the CSRF token of that page.
    async fn post_on(
        &self,
        client: &Client,
        id: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> (u16, String, String) {
        let page = format!("/console/w/aulm/subjects/{id}");
        let (_, csrf, _) = self.app.page(client, &page).await;
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        form.push(("csrf", &csrf));
        let res = self
            .app
            .post_form(client, &format!("{page}/{action}"), &form)
            .await;
        let status = res.status().as_u16();
        let cache = res
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let to = location(&res);
        let body = res.text().await.unwrap();
        (status, if to.is_empty() { cache } else { to }, body)
    }

    async fn read(&self, client: &Client, id: &str, reason: &str) -> (u16, String, String) {
        self.post_on(client, id, "records", &[("reason", reason)])
            .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_shows_subjects_states_and_under_age_refusals() {
    let c = setup().await;
    c.subject("cus_1").await;
    c.subject("cus_2").await;
    c.note("cus_1", NOTE).await;
    let (status, body) = c
        .api(
            "/api/v1/subjects",
            json!({"external_id": "kid_7", "email": "kid@example.org", "birth_date": "2020-01-01"}),
        )
        .await;
    assert_eq!(status, 422, "{body}");

    let owner = c.app.logged_in("ada@example.org").await;
    let (status, _, page) = c.app.page(&owner, "/console/w/aulm/subjects").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("href=\"/console/w/aulm/subjects/cus_1\""));
    assert!(page.contains("href=\"/console/w/aulm/subjects/cus_2\""));
    assert!(page.contains("2 subjects"), "{page}");
    assert!(page.contains("Refused: under the minimum age"));
    assert!(page.contains("kid_7"), "the refusal is listed");
    assert!(page.contains("apikey:"), "with who sent it");
    assert!(!page.contains(EMAIL), "no personal values on the list");
    assert!(!page.contains(NOTE));
    // The nav links the page; a later page is simply empty.
    assert!(page.contains("href=\"/console/w/aulm/subjects\" aria-current=\"page\""));
    let (status, _, later) = c.app.page(&owner, "/console/w/aulm/subjects?page=9").await;
    assert_eq!(status, 200);
    assert!(!later.contains("/subjects/cus_1\""));

    // The subject page shows states, no personal values, and logs nothing by being seen.
    let (status, _, subject) = c.app.page(&owner, "/console/w/aulm/subjects/cus_1").await;
    assert_eq!(status, 200);
    assert!(
        subject.contains("Why do you need to see this person's data?"),
        "{subject}"
    );
    assert!(!subject.contains(EMAIL));
    assert!(subject.contains("Nobody has read this person"));
    assert_eq!(c.access_log_rows(), 0);
    let (status, _, _) = c.app.page(&owner, "/console/w/aulm/subjects/nobody").await;
    assert_eq!(status, 404);

    // An auditor lists and sees a subject's page, but has no reason form and cannot read.
    let auditor = c.app.logged_in("al@example.org").await;
    let (status, _, page) = c.app.page(&auditor, "/console/w/aulm/subjects").await;
    assert_eq!(status, 200);
    assert!(page.contains("cus_1"));
    let (status, _, subject) = c.app.page(&auditor, "/console/w/aulm/subjects/cus_1").await;
    assert_eq!(status, 200);
    assert!(!subject.contains("name=\"reason\""));
    assert!(!subject.contains("/erase\""));
    let (status, _, _) = c.read(&auditor, "cus_1", "ticket 4411").await;
    assert_eq!(status, 403);
    assert_eq!(c.access_log_rows(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_records_needs_a_reason_and_lands_in_the_access_log() {
    let c = setup().await;
    c.subject("cus_1").await;
    c.note("cus_1", NOTE).await;
    c.note("cus_1", SCRIPT).await;
    let support = c.app.logged_in("sam@example.org").await;

    for bad in ["", "   ", "ab"] {
        let (status, _, page) = c.read(&support, "cus_1", bad).await;
        assert_eq!(status, 422, "reason {bad:?}");
        assert!(page.contains("id=\"reason-error\""), "{page}");
        assert!(page.contains("Reason:"), "a readable message");
        assert!(!page.contains(NOTE), "nothing is shown without a reason");
    }
    assert_eq!(c.access_log_rows(), 0, "refused reads are not logged");

    // Without the form's token: refused, nothing read.
    let res = c
        .app
        .post_form(
            &support,
            "/console/w/aulm/subjects/cus_1/records",
            &[("reason", "ticket 4411")],
        )
        .await;
    assert_eq!(res.status(), 403);
    assert_eq!(c.access_log_rows(), 0);

    let (status, cache, page) = c.read(&support, "cus_1", "ticket 4411 billing").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(cache, "no-store");
    assert!(page.contains(NOTE), "the decrypted record");
    assert!(page.contains(EMAIL), "the decrypted profile");
    assert!(page.contains("1990-05-01"));
    assert!(page.contains("support.note"));
    // askama writes `<` and `>` as numeric entities.
    assert!(
        page.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "the value comes back escaped"
    );
    assert!(!page.contains(SCRIPT), "never as markup");
    assert_eq!(c.access_log_rows(), 1);

    // The subject page now says who looked, and why.
    let (_, _, subject) = c.app.page(&support, "/console/w/aulm/subjects/cus_1").await;
    let log = subject
        .split("id=\"access-log\"")
        .nth(1)
        .expect("the access log section");
    assert!(log.contains("sam@example.org"), "{log}");
    assert!(log.contains("ticket 4411 billing"));
    assert!(
        !subject.contains(NOTE),
        "the page itself still shows no values"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restricted_person_is_read_by_the_privacy_officer_only() {
    let c = setup().await;
    c.subject("cus_1").await;
    c.note("cus_1", NOTE).await;
    let owner = c.app.logged_in("ada@example.org").await;
    let officer = c.app.logged_in("pia@example.org").await;
    let support = c.app.logged_in("sam@example.org").await;

    // Support may not restrict; without a token nobody may; a reason is required.
    let (status, _, _) = c
        .post_on(&support, "cus_1", "restrict", &[("reason", "asked")])
        .await;
    assert_eq!(status, 403);
    let res = c
        .app
        .post_form(
            &owner,
            "/console/w/aulm/subjects/cus_1/restrict",
            &[("reason", "asked")],
        )
        .await;
    assert_eq!(res.status(), 403);
    let (status, _, page) = c
        .post_on(&owner, "cus_1", "restrict", &[("reason", " ")])
        .await;
    assert_eq!(status, 422);
    assert!(page.contains("id=\"restrict-error\""));

    let (status, to, _) = c
        .post_on(
            &owner,
            "cus_1",
            "restrict",
            &[("reason", "contests accuracy (Art. 18)")],
        )
        .await;
    assert_eq!(status, 303);
    assert_eq!(to, "/console/w/aulm/subjects/cus_1?done=restricted");
    let (_, _, page) = c.app.page(&owner, &to).await;
    assert!(page.contains("Processing is now restricted."));
    assert!(page.contains("contests accuracy (Art. 18)"));
    assert!(page.contains("Lift the restriction"));
    assert!(
        c.app
            .audit_actions()
            .contains(&"subject.restricted".to_owned())
    );

    // A record arriving now is flagged.
    c.note("cus_1", "Sent while restricted").await;

    for (who, client) in [("support", &support), ("owner", &owner)] {
        let (status, cache, page) = c.read(client, "cus_1", "ticket 5120").await;
        assert_eq!(status, 403, "{who}: {page}");
        assert_eq!(cache, "no-store");
        assert!(
            page.contains("only the privacy officer may read them"),
            "{who}"
        );
        assert!(!page.contains(NOTE), "{who}");
    }
    let (status, _, page) = c.read(&officer, "cus_1", "ticket 5120").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(NOTE));
    assert!(page.contains("Arrived while processing was restricted."));
    assert_eq!(
        c.access_log_rows(),
        1,
        "only the read that happened is logged"
    );

    // Lifting it gives support the records back.
    let (status, to, _) = c.post_on(&officer, "cus_1", "unrestrict", &[]).await;
    assert_eq!(status, 303);
    assert_eq!(to, "/console/w/aulm/subjects/cus_1?done=lifted");
    let (status, _, page) = c.read(&support, "cus_1", "ticket 5121").await;
    assert_eq!(status, 200);
    assert!(page.contains(NOTE));
    let res = c
        .app
        .post_form(&owner, "/console/w/aulm/subjects/cus_1/unrestrict", &[])
        .await;
    assert_eq!(res.status(), 403, "lifting without a token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_from_the_console_needs_the_typed_id_and_reports_what_holds_keep() {
    let c = setup().await;
    c.subject("cus_1").await;
    c.note("cus_1", NOTE).await;
    c.subject("cus_2").await;
    c.note("cus_2", NOTE).await;
    c.bill("cus_2").await;
    let owner = c.app.logged_in("ada@example.org").await;
    let support = c.app.logged_in("sam@example.org").await;

    let (status, _, _) = c
        .post_on(&support, "cus_1", "erase", &[("confirm", "cus_1")])
        .await;
    assert_eq!(status, 403, "support may not erase");
    let res = c
        .app
        .post_form(
            &owner,
            "/console/w/aulm/subjects/cus_1/erase",
            &[("confirm", "cus_1")],
        )
        .await;
    assert_eq!(res.status(), 403, "no token");
    let (status, _, page) = c
        .post_on(&owner, "cus_1", "erase", &[("confirm", "cus_")])
        .await;
    assert_eq!(status, 422);
    assert!(page.contains("Nothing was erased"));
    assert_eq!(c.api_records("cus_1").await["total"], 1);

    let (status, _, page) = c
        .post_on(&owner, "cus_1", "erase", &[("confirm", "cus_1")])
        .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("cus_1 was erased."));
    assert!(page.contains("1 record was deleted"), "{page}");
    assert!(page.contains("No record is kept under a legal hold."));
    assert!(!page.contains("/erase\""), "no forms once erased");
    assert!(!page.contains("/records\""));
    // No record is theirs any more: the API says they were erased, as the console does.
    assert_eq!(c.api_status("/api/v1/subjects/cus_1/records").await, 410);

    // A record under a legal hold is kept, and the report says until when.
    let (status, _, page) = c
        .post_on(&owner, "cus_2", "erase", &[("confirm", "cus_2")])
        .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("1 record was deleted"));
    assert!(page.contains("<strong>tax-law</strong>"), "{page}");
    assert!(page.contains("until 2036-12-31"));
    assert_eq!(c.api_status("/api/v1/subjects/cus_2/records").await, 410);
    assert_eq!(
        c.api_get("/api/v1/legal-holds/tax-law/records").await["total"],
        1,
        "kept by the hold, read by the hold"
    );

    // The list shows both as erased; erasing twice is refused.
    let (_, _, list) = c.app.page(&owner, "/console/w/aulm/subjects").await;
    assert_eq!(list.matches("badge erased").count(), 2, "{list}");
    let (_, _, subject) = c.app.page(&owner, "/console/w/aulm/subjects/cus_1").await;
    assert!(subject.contains("badge erased"));
    assert!(!subject.contains("name=\"confirm\""));
    let res = c
        .app
        .post_form(
            &owner,
            "/console/w/aulm/subjects/cus_1/erase",
            &[
                ("confirm", "cus_1"),
                ("csrf", &crate::helpers::csrf_of(&subject)),
            ],
        )
        .await;
    assert_eq!(res.status(), 409);
    let erased = c
        .app
        .audit_actions()
        .iter()
        .filter(|a| *a == "subject.erased")
        .count();
    assert_eq!(erased, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_is_found_by_their_exact_e_mail_within_the_workspace_and_the_search_is_logged() {
    let c = setup().await;
    c.subject("cus_1").await;
    // Another workspace's person with the same address is not found from aulm.
    let bo = c.app.create_admin("bo@example.org");
    c.app.create_workspace(bo, "other");
    let other_key = c.app.api_key("other", &["records:write"]);
    let res = c
        .app
        .client
        .post(c.app.url("/api/v1/subjects"))
        .bearer_auth(&other_key)
        .json(&json!({"external_id": "theirs", "email": EMAIL, "kind": "customer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);

    let sam = c.app.logged_in("sam@example.org").await;
    let find = |email: &'static str| {
        let (app, sam) = (&c.app, &sam);
        async move {
            let (_, csrf, list) = app.page(sam, "/console/w/aulm/subjects").await;
            assert!(list.contains(r#"action="/console/w/aulm/subjects/find""#));
            let res = app
                .post_form(
                    sam,
                    "/console/w/aulm/subjects/find",
                    &[("email", email), ("csrf", &csrf)],
                )
                .await;
            let status = res.status().as_u16();
            let to = location(&res);
            (status, to, res.text().await.unwrap())
        }
    };
    let logged_before = c.access_log_rows();
    // Normalised as at ingestion: case and surrounding spaces do not matter.
    let (status, to, _) = find("  Grace.Hopper@Example.ORG ").await;
    assert_eq!(status, 303);
    assert_eq!(to, "/console/w/aulm/subjects/cus_1");
    assert_eq!(
        c.access_log_rows(),
        logged_before + 1,
        "the look-up is logged"
    );
    let (_, _, page) = c.app.page(&sam, &to).await;
    assert!(page.contains("Looked up by e-mail address"), "{page}");
    assert!(!page.contains(EMAIL), "the address is not shown");

    let (status, _, body) = find("nobody@example.org").await;
    assert_eq!(status, 200);
    assert!(body.contains("No person with that e-mail."), "{body}");
    assert!(
        body.contains(r#"value="nobody@example.org""#),
        "the typed value is kept"
    );
    assert!(
        c.app
            .audit_actions()
            .contains(&"subject.looked_up".to_owned())
    );

    let (status, _, body) = find("not <an> address").await;
    assert_eq!(status, 422);
    assert!(body.contains(r#"id="email-error""#), "{body}");
    assert!(
        body.contains("not &#60;an&#62; address"),
        "escaped and kept"
    );

    // Two people with one address: both are listed.
    c.subject("cus_2").await;
    let (status, _, body) = find(EMAIL).await;
    assert_eq!(status, 200);
    assert!(body.contains("2 people have that e-mail"), "{body}");
    assert!(body.contains(r#"href="/console/w/aulm/subjects/cus_1""#));
    assert!(body.contains(r#"href="/console/w/aulm/subjects/cus_2""#));
    assert!(!body.contains("theirs"), "only this workspace's people");

    // The address is in no audit entry.
    let details: Vec<String> = c
        .app
        .db
        .read(|conn| {
            let mut stmt = conn.prepare("SELECT detail || target FROM audit_log")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect::<Result<Vec<String>, _>>()
                .map_err(lethe::store::StoreError::from)
        })
        .unwrap();
    assert!(details.iter().all(|d| !d.contains("grace")), "{details:?}");
}
