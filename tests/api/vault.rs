//! The vault through the API: subjects, ingestion rules, atomic and idempotent batches,
//! restriction, reading, erasure by crypto-shredding, and what the files on disk hold.

use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use serde_json::{Value, json};

pub const PHONE: &str = "+4915112345678";
pub const MESSAGE: &str = "Your table for four is confirmed for Friday";
pub const EMAIL: &str = "grace.hopper@example.org";

/// Categories with every kind of field handling, and a hold on billing records.
pub fn vault_inventory() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        (
            "categories",
            "usage.message_log",
            json!({"name": "Message log", "sensitivity": "normal", "fields": [
                {"name": "recipient_number"}, {"name": "status"},
                {"name": "preview", "handling": "preview", "preview_chars": 12}]}),
        ),
        (
            "categories",
            "user.financial",
            json!({"name": "Billing", "sensitivity": "high", "fields": [
                {"name": "plan"}, {"name": "payment_note", "handling": "refuse_card"},
                {"name": "card", "handling": "mask_card"}]}),
        ),
        (
            "categories",
            "user.device.ip_address",
            json!({"name": "IP address", "sensitivity": "normal", "subject_optional": true,
                   "fields": [{"name": "ip", "handling": "ip_country"}, {"name": "path"}]}),
        ),
        (
            "legal-holds",
            "tax-law",
            json!({"category": "user.financial", "reason": "invoices are kept ten years for tax law", "until": "2036-12-31"}),
        ),
    ]
}

pub struct Vault {
    pub app: TestApp,
    pub key: String,
}

pub async fn setup_in(app: TestApp) -> Vault {
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "aulm");
    let key = app.api_key(
        "aulm",
        &[
            "records:write",
            "records:read",
            "inventory:write",
            "audit:read",
            "requests:write",
            "requests:read",
        ],
    );
    for (kind, item, mut body) in vault_inventory() {
        body["key"] = json!(item);
        let res = app
            .client
            .put(app.url(&format!("/api/v1/inventory/{kind}/{item}")))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    }
    Vault { app, key }
}

pub async fn setup() -> Vault {
    setup_in(spawn_app().await).await
}

impl Vault {
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
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

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let res = self
            .app
            .client
            .get(self.app.url(path))
            .bearer_auth(&self.key)
            .header("Lethe-Access-Reason", "ticket 4411")
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn subject(&self, external_id: &str) {
        let (status, body) = self
            .post(
                "/api/v1/subjects",
                json!({"external_id": external_id, "email": EMAIL, "kind": "customer", "birth_date": "1990-05-01"}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }

    pub async fn records(&self, records: Value) -> (u16, Value) {
        self.post("/api/v1/records", json!({ "records": records }))
            .await
    }

    pub fn count(&self, sql: &str) -> i64 {
        self.app
            .db
            .read(|c| {
                c.query_row(sql, [], |r| r.get(0))
                    .map_err(lethe::store::StoreError::from)
            })
            .unwrap()
    }

    pub fn stored_records(&self) -> i64 {
        self.count("SELECT count(*) FROM records")
    }
}

pub fn message(subject: &str, preview: &str) -> Value {
    json!({"category": "usage.message_log", "subject": subject, "occurred_at": "2026-11-20T10:00:00Z",
           "fields": {"recipient_number": PHONE, "status": "delivered", "preview": preview}})
}

pub fn billing(subject: &str, fields: Value) -> Value {
    json!({"category": "user.financial", "subject": subject, "occurred_at": "2026-11-20T10:00:00Z", "fields": fields})
}

fn problems(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["field"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_checked_sealed_and_read_back_with_their_rules_applied() {
    let v = setup().await;
    v.subject("cus_1").await;
    let (status, receipt) = v
        .records(json!([
            message("cus_1", MESSAGE),
            billing("cus_1", json!({"plan": "pro", "card": "4111 1111 1111 1111"})),
            billing("cus_1", json!({"card": "4111-1111-1111-1111"})),
            // Sixteen digits that fail the Luhn check are not a card number.
            billing("cus_1", json!({"payment_note": "order 4111 1111 1111 1112"})),
            {"category": "user.device.ip_address", "occurred_at": "2026-11-20T10:00:00Z",
             "fields": {"ip": "203.0.113.77", "path": "/pricing"}},
        ]))
        .await;
    assert_eq!(status, 201, "{receipt}");
    assert_eq!(receipt["stored"], 5);

    let (status, page) = v.get("/api/v1/subjects/cus_1/records").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 4, "the visitor's record has no subject");
    assert_eq!(page["subject"]["email"], EMAIL);
    let fields: Vec<&Value> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["fields"])
        .collect();
    assert!(
        fields.iter().any(|f| f["preview"] == "Your table f"),
        "{page}"
    );
    assert!(fields.iter().any(|f| f["card"] == "**** **** **** 1111"));
    assert!(fields.iter().any(|f| f["card"] == "****-****-****-1111"));
    assert!(
        fields
            .iter()
            .any(|f| f["payment_note"] == "order 4111 1111 1111 1112")
    );
    assert!(!page.to_string().contains("4111 1111 1111 1111"));

    // The read was logged with the reason the client gave (sealed with the person, opened here).
    let log = lethe::services::subjects::access_log(
        &v.app.db,
        &v.app.vault,
        &v.app.scope("aulm"),
        "cus_1",
    )
    .unwrap();
    assert_eq!(
        format!("{} / {}", log[0].actor, log[0].reason),
        "API key 'test' / ticket 4411"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn card_numbers_in_any_format_are_refused_where_the_category_says_so() {
    let v = setup().await;
    v.subject("cus_1").await;
    for card in [
        "4111111111111111",
        "4111 1111 1111 1111",
        "5555-5555-5555-4444",
        "card 3782 822463 10005 expires soon",
    ] {
        let (status, body) = v
            .records(json!([billing("cus_1", json!({"payment_note": card}))]))
            .await;
        assert_eq!(status, 422, "{card}: {body}");
        assert_eq!(problems(&body), ["records[0].fields.payment_note"]);
        assert!(
            !body.to_string().contains(&card.replace(' ', "")[..8]),
            "the number is not echoed: {body}"
        );
    }
    // A card number in a field that does not declare card handling is refused too.
    let (status, body) = v
        .records(json!([message("cus_1", "pay with 4111111111111111")]))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(v.stored_records(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_with_one_bad_record_stores_nothing_and_names_every_problem() {
    let v = setup().await;
    v.subject("cus_1").await;
    let (status, body) = v
        .records(json!([
            message("cus_1", "fine"),
            {"category": "usage.message_log", "subject": "cus_1", "occurred_at": "2026-11-20T10:00:00Z",
             "fields": {"recipient_number": PHONE, "colour": "blue"}},
            message("nobody", "who?"),
            {"category": "usage.message_log", "occurred_at": "2026-11-20T10:00:00Z", "fields": {}},
        ]))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        problems(&body),
        ["records[1].fields.colour", "records[3].subject",],
        "{body}"
    );
    // Unknown subjects are checked once the rules pass.
    let (status, body) = v
        .records(json!([message("cus_1", "fine"), message("nobody", "who?")]))
        .await;
    assert_eq!(status, 422);
    assert_eq!(problems(&body), ["records[1].subject"], "{body}");
    assert_eq!(v.stored_records(), 0);

    // Malformed bodies are 400, unknown media types 415.
    let res = v
        .app
        .client
        .post(v.app.url("/api/v1/records"))
        .bearer_auth(&v.key)
        .header("content-type", "application/json")
        .body("{\"records\": [")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let res = v
        .app
        .client
        .post(v.app.url("/api/v1/records"))
        .bearer_auth(&v.key)
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_batch_with_the_same_idempotency_key_is_stored_once() {
    let v = setup().await;
    v.subject("cus_1").await;
    let body = json!({"records": [message("cus_1", "one"), message("cus_1", "two")]});
    let send = |key: &'static str, body: Value| {
        v.app
            .client
            .post(v.app.url("/api/v1/records"))
            .bearer_auth(&v.key)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let first = send("batch-7", body.clone()).await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again = send("batch-7", body.clone()).await.unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(first, again, "the same receipt");
    assert_eq!(v.stored_records(), 2);

    let other = json!({"records": [message("cus_1", "three")]});
    let reused = send("batch-7", other).await.unwrap();
    assert_eq!(reused.status(), 422);
    assert_eq!(v.stored_records(), 2);

    // NDJSON: one record per line.
    let ndjson = format!(
        "{}\n{}\n",
        message("cus_1", "four"),
        message("cus_1", "five")
    );
    let res = v
        .app
        .client
        .post(v.app.url("/api/v1/records"))
        .bearer_auth(&v.key)
        .header("content-type", "application/x-ndjson")
        .body(ndjson)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(v.stored_records(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_under_the_minimum_age_are_refused_and_the_refusal_is_audited() {
    let v = setup().await;
    let today = chrono::Utc::now().date_naive();
    let fifteen = today
        .with_year(today.year() - 15)
        .unwrap_or(today - chrono::Duration::days(15 * 365));
    let (status, body) = v
        .post(
            "/api/v1/subjects",
            json!({"external_id": "kid_1", "email": "kid@example.org", "birth_date": fifteen}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("minimum age of 16"),
        "{body}"
    );
    assert_eq!(v.count("SELECT count(*) FROM subjects"), 0);
    assert!(
        v.app
            .audit_actions()
            .contains(&"subject.refused_under_age".to_owned())
    );
    let (_, audit) = v.get("/api/v1/audit").await;
    assert!(
        !audit.to_string().contains("kid@example.org"),
        "no e-mail in the audit log"
    );
    // Sixteen today is old enough.
    let sixteen = today.with_year(today.year() - 16).unwrap_or(today);
    let (status, _) = v
        .post(
            "/api/v1/subjects",
            json!({"external_id": "teen_1", "birth_date": sixteen}),
        )
        .await;
    assert_eq!(status, 201);
}

use chrono::Datelike;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subjects_are_found_by_email_updated_closed_and_restricted() {
    let v = setup().await;
    v.subject("cus_1").await;
    let (status, found) = v
        .get("/api/v1/subjects?email=Grace.Hopper@example.org")
        .await;
    assert_eq!(status, 200);
    assert_eq!(found[0]["external_id"], "cus_1");
    let (_, none) = v.get("/api/v1/subjects?email=other@example.org").await;
    assert_eq!(none, json!([]));
    // Without an address the answer is every subject, a page at a time (tests/api/subject_lists.rs).
    let (status, page) = v.get("/api/v1/subjects").await;
    assert_eq!(status, 200, "{page}");
    assert!(page["subjects"].is_array(), "{page}");
    let (status, body) = v.get("/api/v1/subjects?email=not-an-address").await;
    assert_eq!(status, 422, "{body}");

    // Updating by external_id moves the e-mail index along.
    let (status, _) = v
        .post(
            "/api/v1/subjects",
            json!({"external_id": "cus_1", "email": "new@example.org"}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, old) = v
        .get("/api/v1/subjects?email=grace.hopper@example.org")
        .await;
    assert_eq!(old, json!([]));

    let (status, closed) = v
        .post(
            "/api/v1/subjects/cus_1/close",
            json!({"closed_at": "2026-11-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(status, 200, "{closed}");
    assert_eq!(closed["closed_at"], "2026-11-01T00:00:00Z");

    let (status, _) = v
        .post(
            "/api/v1/subjects/cus_1/restrict",
            json!({"reason": "accuracy contested"}),
        )
        .await;
    assert_eq!(status, 204);
    let (status, receipt) = v.records(json!([message("cus_1", "after")])).await;
    assert_eq!(status, 201);
    assert_eq!(receipt["records"][0]["flagged_restricted"], true);
    let (status, body) = v.get("/api/v1/subjects/cus_1/records").await;
    assert_eq!(status, 403, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("restricted"));
    assert_eq!(v.stored_records(), 1, "records stay stored");
    let (status, _) = v.post("/api/v1/subjects/cus_1/unrestrict", json!({})).await;
    assert_eq!(status, 204);
    let (status, page) = v.get("/api/v1/subjects/cus_1/records").await;
    assert_eq!(status, 200);
    assert_eq!(page["records"][0]["flagged_restricted"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ip_fields_keep_the_network_and_derive_the_country_from_the_operators_file() {
    let csv_dir = tempfile::tempdir().unwrap();
    let csv = csv_dir.path().join("ip-country.csv");
    std::fs::write(
        &csv,
        "203.0.113.0,203.0.113.255,NZ\n2001:db8::,2001:db8:ffff:ffff:ffff:ffff:ffff:ffff,DE\n",
    )
    .unwrap();
    let app = spawn_app_with(|c| c.ip_country_file = Some(csv.clone())).await;
    let v = setup_in(app).await;
    v.subject("cus_1").await;
    let ip = |ip: &str| {
        json!({"category": "user.device.ip_address", "subject": "cus_1", "occurred_at": "2026-11-20T10:00:00Z",
               "fields": {"ip": ip}})
    };
    let (status, body) = v
        .records(json!([
            ip("203.0.113.77"),
            ip("2001:db8:1:2::9"),
            ip("192.0.2.1")
        ]))
        .await;
    assert_eq!(status, 201, "{body}");
    let (_, page) = v.get("/api/v1/subjects/cus_1/records").await;
    let mut seen: Vec<(String, Value)> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["fields"]["ip"].as_str().unwrap().to_owned(),
                r["fields"]["ip_country"].clone(),
            )
        })
        .collect();
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        seen,
        [
            ("192.0.2.0/24".to_owned(), Value::Null),
            ("2001:db8:1::/48".to_owned(), json!("DE")),
            ("203.0.113.0/24".to_owned(), json!("NZ")),
        ]
    );
    let (status, body) = v.records(json!([ip("not an ip")])).await;
    assert_eq!(status, 422, "{body}");
}
