//! Requests carried out in the vault: erasure (what a legal hold keeps named in the answer),
//! restriction, objection, "we hold no data about you", a correction left for staff, and
//! another workspace's key refused.

use crate::vault::{EMAIL, billing, message, setup};
use serde_json::{Value, json};

async fn create(v: &crate::vault::Vault, body: Value) -> Value {
    let (status, view) = v.post("/api/v1/requests", body).await;
    assert_eq!(status, 201, "{view}");
    view
}

fn whats(view: &Value) -> Vec<String> {
    view["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["what"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_request_erases_the_person_and_names_what_a_hold_keeps() {
    let v = setup().await;
    v.subject("cus_1").await;
    let (status, _) = v
        .records(json!([
            message("cus_1", "hello"),
            billing("cus_1", json!({"plan": "pro"}))
        ]))
        .await;
    assert_eq!(status, 201);
    let view = create(&v, json!({"type": "erasure", "external_id": "cus_1"})).await;
    assert_eq!(view["state"], "completed", "{view}");
    assert_eq!(
        whats(&view),
        ["received", "verified", "started", "completed"]
    );
    let answer = view["answer"].as_str().unwrap();
    assert!(answer.contains("tax-law"), "{answer}");
    assert!(
        answer.contains("invoices are kept ten years for tax law"),
        "{answer}"
    );
    assert!(answer.contains("2036-12-31"), "{answer}");
    // Erased as by the subjects API: records gone but the held one, the person's key destroyed.
    let (status, _) = v.get("/api/v1/subjects/cus_1/records").await;
    assert_eq!(status, 410);
    assert_eq!(v.stored_records(), 1, "only the held billing record stays");
    // The answer went to the person? (no e-mail given: nothing queued); the audit has both.
    let (status, again) = v
        .post(
            &format!("/api/v1/requests/{}/fulfil", view["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(status, 409, "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restriction_request_restricts_reads_as_a_manual_restriction_does() {
    let v = setup().await;
    v.subject("cus_1").await;
    let (status, _) = v.records(json!([message("cus_1", "hello")])).await;
    assert_eq!(status, 201);
    let (status, _) = v.get("/api/v1/subjects/cus_1/records").await;
    assert_eq!(status, 200);
    let view = create(&v, json!({"type": "restriction", "external_id": "cus_1"})).await;
    assert_eq!(view["state"], "completed", "{view}");
    assert!(view["answer"].as_str().unwrap().contains("restricted"));
    let (status, body) = v.get("/api/v1/subjects/cus_1/records").await;
    assert_eq!(status, 403, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("restricted"));
    let (status, subject) = v.get("/api/v1/subjects/cus_1").await;
    assert_eq!(status, 200);
    let reason = subject["restricted"]["reason"].as_str().unwrap();
    assert!(reason.contains(view["id"].as_str().unwrap()), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_objection_is_recorded_on_the_subject_and_shown() {
    let v = setup().await;
    v.subject("cus_1").await;
    let res = v
        .app
        .client
        .put(v.app.url("/api/v1/inventory/purposes/marketing"))
        .bearer_auth(&v.key)
        .json(
            &json!({"key": "marketing", "name": "Newsletters", "legal_basis": "consent",
                      "categories": ["usage.message_log"]}),
        )
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    let view = create(
        &v,
        json!({"type": "objection", "external_id": "cus_1", "purpose": "marketing"}),
    )
    .await;
    assert_eq!(view["state"], "completed", "{view}");
    assert!(view["answer"].as_str().unwrap().contains("marketing"));
    let withdrawal = create(&v, json!({"type": "withdrawal", "external_id": "cus_1"})).await;
    assert_eq!(withdrawal["state"], "completed", "{withdrawal}");
    let (status, subject) = v.get("/api/v1/subjects/cus_1").await;
    assert_eq!(status, 200);
    let objections = subject["objections"].as_array().unwrap();
    assert_eq!(objections.len(), 2, "{subject}");
    assert_eq!(objections[0]["kind"], "objection");
    assert_eq!(objections[0]["purpose"], "marketing");
    assert_eq!(objections[0]["request"], view["id"]);
    assert_eq!(objections[1]["kind"], "withdrawal");
    assert!(objections[1]["purpose"].is_null());
}

/// Rows of `table` that belong to the request `id`.
fn rows_of(v: &crate::vault::Vault, table: &str, id: &str) -> i64 {
    v.app
        .db
        .read(|c| {
            c.query_row(
                &format!("SELECT count(*) FROM {table} WHERE request_id = ?1"),
                [id],
                |r| r.get(0),
            )
            .map_err(lethe::store::StoreError::from)
        })
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answered_requests_are_pruned_by_lethes_own_rule_and_objections_stay_in_force() {
    use chrono::Duration;
    use lethe::domain::time::{Clock, FixedClock};
    use lethe::services::retention::prune_own_data;
    let v = setup().await;
    v.subject("cus_1").await;
    let res = v
        .app
        .client
        .put(v.app.url("/api/v1/inventory/purposes/marketing"))
        .bearer_auth(&v.key)
        .json(
            &json!({"key": "marketing", "name": "Newsletters", "legal_basis": "consent",
                      "categories": ["usage.message_log"]}),
        )
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    let objection = create(
        &v,
        json!({"type": "objection", "external_id": "cus_1", "purpose": "marketing"}),
    )
    .await;
    assert_eq!(objection["state"], "completed", "{objection}");
    let answered = objection["id"].as_str().unwrap().to_owned();
    let open = create(&v, json!({"type": "correction", "external_id": "cus_1"})).await;
    assert_eq!(open["state"], "in_progress", "{open}");
    let open = open["id"].as_str().unwrap().to_owned();
    assert!(rows_of(&v, "request_events", &answered) > 0);

    let db = v.app.db.clone();
    let clock = FixedClock::new(chrono::Utc::now());
    let prune = |now| {
        let db = db.clone();
        async move {
            tokio::task::spawn_blocking(move || prune_own_data(&db, now, 100, &|| false))
                .await
                .unwrap()
                .unwrap()
        }
    };
    // Under three years (the default, 1095 days): kept.
    clock.advance(Duration::days(1090));
    prune(clock.now()).await;
    let (status, _) = v.get(&format!("/api/v1/requests/{answered}")).await;
    assert_eq!(status, 200);

    // Past it: the answered request goes with its timeline; the open one stays, however old.
    clock.advance(Duration::days(10));
    let report = prune(clock.now()).await;
    assert!(
        report.summary().contains("1 from answered_requests"),
        "{report:?}"
    );
    let (status, _) = v.get(&format!("/api/v1/requests/{answered}")).await;
    assert_eq!(status, 404);
    assert_eq!(rows_of(&v, "request_events", &answered), 0);
    let (status, kept) = v.get(&format!("/api/v1/requests/{open}")).await;
    assert_eq!((status, kept["state"].as_str()), (200, Some("in_progress")));
    assert!(rows_of(&v, "request_events", &open) > 0);

    // The objection is still recorded on the subject, no longer naming its request.
    let (status, subject) = v.get("/api/v1/subjects/cus_1").await;
    assert_eq!(status, 200);
    let objections = subject["objections"].as_array().unwrap();
    assert_eq!(objections.len(), 1, "{subject}");
    assert_eq!(objections[0]["purpose"], "marketing");
    assert!(objections[0]["request"].is_null(), "{subject}");
    assert!(v.app.audit_actions().contains(&"request.pruned".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_address_is_answered_we_hold_no_data_about_you() {
    let v = setup().await;
    v.subject("cus_1").await;
    let view = create(
        &v,
        json!({"type": "erasure", "email": "nobody@example.net"}),
    )
    .await;
    assert_eq!(view["state"], "completed", "{view}");
    assert!(view["subject"].is_null());
    assert!(
        view["answer"]
            .as_str()
            .unwrap()
            .contains("We hold no data about you")
    );
    // The person is told in the completion e-mail (sealed in the outbox): one more message
    // than verification alone.
    let queued = v.count("SELECT count(*) FROM outbox_messages");
    assert_eq!(queued, 2, "verification and completion e-mails");
    // The known person is untouched.
    let (status, _) = v.get("/api/v1/subjects/cus_1").await;
    assert_eq!(status, 200);
    let _ = EMAIL;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correction_stays_with_staff() {
    let v = setup().await;
    v.subject("cus_1").await;
    let view = create(
        &v,
        json!({"type": "correction", "external_id": "cus_1", "details": "my birth date is wrong"}),
    )
    .await;
    assert_eq!(view["state"], "in_progress", "{view}");
    let started = view["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["what"] == "started")
        .unwrap();
    assert!(started["detail"].as_str().unwrap().contains("staff"));
    let id = view["id"].as_str().unwrap();
    let (status, again) = v
        .post(&format!("/api/v1/requests/{id}/fulfil"), json!({}))
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["state"], "in_progress");
    let (status, done) = v
        .post(&format!("/api/v1/requests/{id}/complete"), json!({}))
        .await;
    assert_eq!(status, 200, "{done}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_workspaces_key_cannot_fulfil() {
    let v = setup().await;
    v.subject("cus_1").await;
    let view = create(&v, json!({"type": "correction", "external_id": "cus_1"})).await;
    let owner = v.app.create_admin("eve@example.org");
    v.app.create_workspace(owner, "other");
    let other = v.app.api_key("other", &["requests:write", "requests:read"]);
    let id = view["id"].as_str().unwrap();
    let res = v
        .app
        .client
        .post(v.app.url(&format!("/api/v1/requests/{id}/fulfil")))
        .bearer_auth(&other)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 404);
}
