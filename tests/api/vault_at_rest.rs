//! The vault at rest: what erasure leaves, how long a legal hold keeps records, and that no
//! plaintext of a person (nor a destroyed key, nor a staff secret) is in any file on disk.

use crate::vault::{EMAIL, MESSAGE, PHONE, billing, message, setup};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_deletes_records_destroys_the_key_and_keeps_what_a_hold_requires() {
    let v = setup().await;
    v.subject("cus_1").await;
    v.subject("cus_2").await;
    let (status, _) = v
        .records(json!([
            message("cus_1", MESSAGE),
            message("cus_1", "second"),
            billing("cus_1", json!({"plan": "pro"})),
            message("cus_2", "someone else"),
        ]))
        .await;
    assert_eq!(status, 201);
    let key_id: String = v
        .app
        .db
        .read(|c| {
            c.query_row(
                "SELECT key_id FROM subjects WHERE external_id = 'cus_1'",
                [],
                |r| r.get(0),
            )
            .map_err(lethe::store::StoreError::from)
        })
        .unwrap();
    let keys_db = v.app.data_dir.path().join("keys.db");
    let key_exists = |id: &str| -> bool {
        let conn = rusqlite::Connection::open(&keys_db).unwrap();
        conn.query_row("SELECT count(*) FROM data_keys WHERE id = ?1", [id], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap()
            == 1
    };
    assert!(key_exists(&key_id));
    let wrapped: Vec<u8> = rusqlite::Connection::open(&keys_db)
        .unwrap()
        .query_row(
            "SELECT wrapped FROM data_keys WHERE id = ?1",
            [&key_id],
            |r| r.get(0),
        )
        .unwrap();

    let (status, report) = v.post("/api/v1/subjects/cus_1/erase", json!({})).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["deleted_records"], 2);
    assert_eq!(report["kept"][0]["hold"], "tax-law");
    assert_eq!(report["kept"][0]["records"], 1);
    assert_eq!(report["kept"][0]["until"], "2036-12-31");
    assert!(!key_exists(&key_id), "the subject's data key is gone");
    // Gone from the bytes too: not in a freed page, not in the write-ahead log.
    for (name, bytes) in data_files(v.app.data_dir.path()) {
        assert!(
            !contains(&bytes, &wrapped),
            "{name} still holds the destroyed key"
        );
    }
    assert_eq!(v.stored_records(), 2, "the held record and cus_2's");

    // What is left is the held record, no longer the person's: read by its hold, under the
    // hold's key. The profile is gone.
    let (status, problem) = v.get("/api/v1/subjects/cus_1/records").await;
    assert_eq!(status, 410, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("was erased"),
        "{problem}"
    );
    let (status, page) = v.get("/api/v1/legal-holds/tax-law/records").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 1);
    assert_eq!(page["records"][0]["fields"]["plan"], "pro");
    assert_eq!(page["records"][0]["held"]["hold"], "tax-law");
    let (_, subject) = v.get("/api/v1/subjects/cus_1").await;
    assert_eq!(subject["email"], Value::Null);
    let (_, found) = v.get(&format!("/api/v1/subjects?email={EMAIL}")).await;
    assert_eq!(
        found.as_array().unwrap().len(),
        1,
        "only cus_2 is still found"
    );

    // Nothing more is stored about an erased person, and they are not erased twice.
    let (status, body) = v.records(json!([message("cus_1", "late")])).await;
    assert_eq!(status, 422, "{body}");
    let (status, _) = v.post("/api/v1/subjects/cus_1/erase", json!({})).await;
    assert_eq!(status, 409);
    let (status, _) = v
        .post("/api/v1/subjects", json!({"external_id": "cus_1"}))
        .await;
    assert_eq!(status, 409);
    // The other person is untouched.
    let (status, other) = v.get("/api/v1/subjects/cus_2/records").await;
    assert_eq!(status, 200);
    assert_eq!(other["records"][0]["fields"]["preview"], "someone else");
    assert!(v.app.audit_actions().contains(&"subject.erased".to_owned()));
}

/// Every file of the data directory, byte for byte.
pub(crate) fn data_files(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

const REQUEST_EMAIL: &str = "ada.byron@example.net";
const REQUEST_DETAILS: &str = "I moved to Lisbon and my old landlord still writes to you";
const EXTENSION_REASON: &str = "Her archived tickets are on tape at the Leeds office";
const DENIAL_TEXT: &str = "Caller could not name the account she says is hers";
const READ_REASON: &str = "Ticket 7781: she asked about her late husband's account";
const RESTRICT_REASON: &str = "Contests the accuracy of her address after the divorce";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_plaintext_of_a_person_reaches_the_database_or_key_files() {
    let v = setup().await;
    v.subject("cus_1").await;
    let (status, _) = v
        .records(json!([
            {"category": "usage.message_log", "subject": "cus_1", "occurred_at": "2026-11-20T10:00:00Z",
             "fields": {"recipient_number": PHONE, "status": MESSAGE}},
        ]))
        .await;
    assert_eq!(status, 201);
    // A reader's reason and a restriction's reason are free text about the person.
    let res = v
        .app
        .client
        .get(v.app.url("/api/v1/subjects/cus_1/records"))
        .bearer_auth(&v.key)
        .header("Lethe-Access-Reason", READ_REASON)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let page: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        page["records"][0]["fields"]["status"], MESSAGE,
        "stored, readable"
    );
    let (status, _) = v
        .post(
            "/api/v1/subjects/cus_1/restrict",
            json!({"reason": RESTRICT_REASON}),
        )
        .await;
    assert_eq!(status, 204);
    let (_, subject) = v.get("/api/v1/subjects/cus_1").await;
    assert_eq!(
        subject["restricted"]["reason"], RESTRICT_REASON,
        "readable with the key"
    );
    let log = lethe::services::subjects::access_log(
        &v.app.db,
        &v.app.vault,
        &v.app.scope("aulm"),
        "cus_1",
    )
    .unwrap();
    assert!(log.iter().any(|e| e.reason == READ_REASON));
    // A request's address, what the person wrote, and staff's texts about it (staff review
    // requests here, so they stay open for those texts).
    v.app.review_requests("aulm");
    let (status, matched) = v
        .post(
            "/api/v1/requests",
            json!({"type": "access", "email": EMAIL, "details": REQUEST_DETAILS}),
        )
        .await;
    assert_eq!(status, 201, "{matched}");
    assert_eq!(matched["subject"], "cus_1");
    let id = matched["id"].as_str().unwrap();
    let (status, extended) = v
        .post(
            &format!("/api/v1/requests/{id}/extend"),
            json!({"reason": EXTENSION_REASON}),
        )
        .await;
    assert_eq!(status, 200, "{extended}");
    let (status, other) = v
        .post(
            "/api/v1/requests",
            json!({"type": "export", "email": REQUEST_EMAIL, "details": REQUEST_DETAILS}),
        )
        .await;
    assert_eq!(status, 201, "{other}");
    let other_id = other["id"].as_str().unwrap();
    let (status, denied) = v
        .post(
            &format!("/api/v1/requests/{other_id}/deny"),
            json!({"reason": "identity_not_verified", "text": DENIAL_TEXT}),
        )
        .await;
    assert_eq!(status, 200, "{denied}");
    let (status, read) = v.get(&format!("/api/v1/requests/{other_id}")).await;
    assert_eq!(status, 200);
    assert_eq!(read["email"], REQUEST_EMAIL, "readable with the key");
    assert_eq!(read["details"], REQUEST_DETAILS);
    assert_eq!(read["denial"]["text"], DENIAL_TEXT);

    let files = data_files(v.app.data_dir.path());
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        names.contains(&"lethe.db") && names.contains(&"keys.db"),
        "{names:?}"
    );
    for (name, bytes) in &files {
        for secret in [
            EMAIL,
            PHONE,
            MESSAGE,
            "1990-05-01",
            READ_REASON,
            RESTRICT_REASON,
            REQUEST_EMAIL,
            REQUEST_DETAILS,
            EXTENSION_REASON,
            DENIAL_TEXT,
        ] {
            assert!(
                !contains(bytes, secret.as_bytes()),
                "{name} holds '{secret}' in the clear"
            );
        }
    }
    // The master key and both databases (with their logs) are owner-only.
    #[cfg(unix)]
    for name in [
        "master.key",
        "lethe.db",
        "lethe.db-wal",
        "keys.db",
        "keys.db-wal",
    ] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(v.app.data_dir.path().join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_an_older_lethe_stored_in_the_clear_are_sealed_at_start() {
    let v = setup().await;
    let admin = v.app.create_admin("old@example.org");
    let scope = v.app.scope("aulm");
    // As an older Lethe left them: a TOTP seed and a webhook secret in the clear.
    v.app
        .db
        .write(|tx| {
            tx.execute(
                "UPDATE staff SET totp_secret = 'JBSWY3DPEHPK3PXP' WHERE id = ?1",
                [admin],
            )?;
            tx.execute(
                "INSERT INTO webhook_endpoints (workspace_id, url, secret, events, created_by, created_at) \
                 VALUES (?1, 'https://hooks.example.org/x', 'whsec_plain', 'policy.published', 'test', '2026-01-01T00:00:00.000000Z')",
                [scope.id()],
            )?;
            Ok::<_, lethe::store::StoreError>(())
        })
        .unwrap();
    let sealed = lethe::services::secrets::seal_stored_secrets(&v.app.db, &v.app.vault).unwrap();
    assert_eq!(sealed, 2);
    assert_eq!(
        lethe::services::secrets::seal_stored_secrets(&v.app.db, &v.app.vault).unwrap(),
        0,
        "once is enough"
    );
    let account = v
        .app
        .db
        .read(|c| lethe::store::staff::find_by_email(c, "old@example.org"))
        .unwrap()
        .unwrap();
    assert!(lethe::vault::is_sealed(
        account.totp_secret.as_deref().unwrap()
    ));
    assert_eq!(
        lethe::services::accounts::totp_secret(&v.app.vault, &account).unwrap(),
        Some("JBSWY3DPEHPK3PXP".to_owned())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reasons_an_older_lethe_stored_in_the_clear_are_sealed_at_start() {
    let v = setup().await;
    v.subject("cus_1").await;
    let scope = v.app.scope("aulm");
    // As an older Lethe left them: a reader's reason and a restriction's reason in the clear.
    v.app
        .db
        .write(|tx| {
            tx.execute(
                "INSERT INTO subject_access_log (workspace_id, subject_id, actor, reason, at) \
                 SELECT workspace_id, id, 'ada@example.org', ?1, '2026-01-01T00:00:00.000000Z' \
                 FROM subjects WHERE external_id = 'cus_1'",
                [READ_REASON],
            )?;
            tx.execute(
                "UPDATE subjects SET restricted_at = '2026-01-01T00:00:00.000000Z', \
                 restricted_reason = ?1 WHERE external_id = 'cus_1'",
                [RESTRICT_REASON],
            )?;
            Ok::<_, lethe::store::StoreError>(())
        })
        .unwrap();
    let sealed = lethe::services::subjects::seal_stored_reasons(&v.app.db, &v.app.vault).unwrap();
    assert_eq!(sealed, 2);
    assert_eq!(
        lethe::services::subjects::seal_stored_reasons(&v.app.db, &v.app.vault).unwrap(),
        0,
        "once is enough"
    );
    let log =
        lethe::services::subjects::access_log(&v.app.db, &v.app.vault, &scope, "cus_1").unwrap();
    assert_eq!(log[0].reason, READ_REASON, "still readable, now sealed");
    let (_, subject) = v.get("/api/v1/subjects/cus_1").await;
    assert_eq!(subject["restricted"]["reason"], RESTRICT_REASON);
    for (name, bytes) in &data_files(v.app.data_dir.path()) {
        for secret in [READ_REASON, RESTRICT_REASON] {
            assert!(
                !contains(bytes, secret.as_bytes()),
                "{name} holds '{secret}'"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_kept_under_a_hold_go_when_the_hold_ends_or_is_lifted() {
    let v = setup().await;
    for id in ["cus_1", "cus_2"] {
        v.subject(id).await;
    }
    let (status, _) = v
        .records(json!([
            billing("cus_1", json!({"plan": "pro"})),
            billing("cus_2", json!({"plan": "team"})),
        ]))
        .await;
    assert_eq!(status, 201);
    let (status, _) = v.post("/api/v1/subjects/cus_1/erase", json!({})).await;
    assert_eq!(status, 200);
    let end = |day: &str| {
        lethe::services::erasure::end_expired_holds(&v.app.db, &v.app.vault, day.parse().unwrap())
            .unwrap()
    };
    assert_eq!(end("2036-12-31"), 0, "the hold's last day still keeps them");
    assert_eq!(v.stored_records(), 2);
    let (_, page) = v.get("/api/v1/legal-holds/tax-law/records").await;
    assert_eq!(page["total"], 1, "{page}");
    assert_eq!(end("2037-01-01"), 1);
    let (_, page) = v.get("/api/v1/legal-holds/tax-law/records").await;
    assert_eq!(page["total"], 0, "{page}");
    assert!(
        v.app
            .audit_actions()
            .contains(&"legal_hold.released".to_owned())
    );

    // A hold that is lifted (deleted from the inventory) releases what it kept at once.
    let (status, _) = v.post("/api/v1/subjects/cus_2/erase", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(v.stored_records(), 1);
    // The console says so before anyone deletes the hold.
    let console = v.app.logged_in("ada@example.org").await;
    let (status, _, page) = v
        .app
        .page(&console, "/console/w/aulm/inventory/legal-holds/tax-law")
        .await;
    assert_eq!(status, 200);
    assert!(
        page.contains("This hold keeps 1 record of people who were erased"),
        "{page}"
    );
    let res = v
        .app
        .client
        .delete(v.app.url("/api/v1/inventory/legal-holds/tax-law"))
        .bearer_auth(&v.key)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    assert_eq!(end("2026-11-22"), 1);
    assert_eq!(v.stored_records(), 0);
    let hold_keys = rusqlite::Connection::open(v.app.data_dir.path().join("keys.db"))
        .unwrap()
        .query_row(
            "SELECT count(*) FROM data_keys WHERE purpose = 'hold'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .unwrap();
    assert_eq!(hold_keys, 0, "the holds' keys are destroyed");
}

/// Records sealed before week keys existed (under their person's key alone) are re-sealed at
/// start under the person's key and their week's key, and read back the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_sealed_before_week_keys_are_upgraded_and_read_the_same() {
    use lethe::store::StoreError;
    let v = setup().await;
    v.subject("cus_1").await;
    let (status, _) = v
        .records(json!([
            message("cus_1", MESSAGE),
            message("cus_1", "second")
        ]))
        .await;
    assert_eq!(status, 201);
    let (_, before) = v.get("/api/v1/subjects/cus_1/records").await;
    let scope = v.app.scope("aulm");
    // Make them look like an older Lethe's: sealed under the person's key alone.
    let rows: Vec<(String, String, String, Vec<u8>)> = v
        .app
        .db
        .read(|c| {
            let mut stmt =
                c.prepare("SELECT id, key_id, period_key_id, sealed_fields FROM records")?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<Result<_, _>>()?;
            Ok::<_, StoreError>(rows)
        })
        .unwrap();
    for (id, key_id, period_key_id, sealed) in &rows {
        let ring = v
            .app
            .vault
            .key_ring(&scope, &[key_id.as_str(), period_key_id.as_str()])
            .unwrap();
        let aad = lethe::vault::record_aad(&scope, id);
        let plain = ring
            .record_key(key_id, Some(period_key_id))
            .unwrap()
            .open(&aad, sealed)
            .unwrap();
        let old = ring.get(key_id).unwrap().seal(&aad, &plain).unwrap();
        v.app
            .db
            .write(|tx| {
                tx.execute(
                    "UPDATE records SET sealed_fields = ?2, period_key_id = NULL WHERE id = ?1",
                    rusqlite::params![id, old],
                )
                .map_err(StoreError::from)
            })
            .unwrap();
    }
    let upgraded =
        lethe::services::keys::upgrade_records(&v.app.db, &v.app.vault, 1, &|| false).unwrap();
    assert_eq!(
        upgraded, 2,
        "one batch of one at a time, until none is left"
    );
    let left: i64 = v
        .app
        .db
        .read(|c| {
            c.query_row(
                "SELECT count(*) FROM records WHERE period_key_id IS NULL",
                [],
                |r| r.get(0),
            )
            .map_err(StoreError::from)
        })
        .unwrap();
    assert_eq!(left, 0);
    let (_, after) = v.get("/api/v1/subjects/cus_1/records").await;
    assert_eq!(after["records"], before["records"]);
    assert_eq!(
        lethe::services::keys::upgrade_records(&v.app.db, &v.app.vault, 10, &|| false).unwrap(),
        0,
        "nothing twice"
    );
}
