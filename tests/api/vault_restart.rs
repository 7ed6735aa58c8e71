//! The vault across process boundaries, with the real binary: an acknowledged batch survives
//! `kill -9`, and `lethe keys rotate` re-wraps every key so the same records read back.

use crate::helpers::{lethe, serve};
use serde_json::{Value, json};

fn batch() -> Value {
    json!({"records": (0..50).map(|i| json!({
        "category": "support.ticket", "subject": "cus_1", "occurred_at": "2026-11-20T10:00:00Z",
        "fields": {"message": format!("ticket number {i}: my parcel did not arrive")}
    })).collect::<Vec<_>>()})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_records_survive_kill_9_and_a_master_key_rotation() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let key = crate::helpers::prepare_workspace_with_key(
        dir.path(),
        "aulm",
        &["records:write", "records:read", "inventory:write"],
    );
    use reqwest::Method;

    let server = serve(dir.path(), &[]).header("Idempotency-Key", "restart-batch-1");
    let category = json!({"key": "support.ticket", "name": "Support tickets", "sensitivity": "normal",
                          "fields": [{"name": "message"}]});
    let (status, _) = server
        .call(
            Method::PUT,
            "/api/v1/inventory/categories/support.ticket",
            &key,
            Some(category),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = server
        .call(
            Method::POST,
            "/api/v1/subjects",
            &key,
            Some(json!({"external_id": "cus_1"})),
        )
        .await;
    assert_eq!(status, 201);
    let (status, receipt) = server
        .call(Method::POST, "/api/v1/records", &key, Some(batch()))
        .await;
    assert_eq!(status, 201, "{receipt}");
    // Killed the moment the answer arrived.
    server.kill_9();

    let server = serve(dir.path(), &[]).header("Idempotency-Key", "restart-batch-1");
    let (status, page) = server
        .call(
            Method::GET,
            "/api/v1/subjects/cus_1/records?limit=1000",
            &key,
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 50, "every acknowledged record is there");
    let mut stored: Vec<&str> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let mut acknowledged: Vec<&str> = receipt["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    stored.sort_unstable();
    acknowledged.sort_unstable();
    assert_eq!(stored, acknowledged);
    // The retry after the crash is recognised: the same receipt, nothing stored twice.
    let (status, replay) = server
        .call(Method::POST, "/api/v1/records", &key, Some(batch()))
        .await;
    assert_eq!(status, 200);
    assert_eq!(replay, receipt);

    // No rotation under a running server: it holds the old master key in memory.
    let out = lethe(&["keys", "rotate", "--data-dir", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("stop `lethe serve` first"));
    server.kill_9();

    let before = std::fs::read(dir.path().join("master.key")).unwrap();
    let keys: i64 = rusqlite::Connection::open(dir.path().join("keys.db"))
        .unwrap()
        .query_row("SELECT count(*) FROM data_keys", [], |r| r.get(0))
        .unwrap();
    assert!(keys >= 2, "the person's key and their records' week key");
    let out = lethe(&["keys", "rotate", "--data-dir", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("re-wrapped {keys} data keys")),
        "every key, once"
    );
    let after = std::fs::read(dir.path().join("master.key")).unwrap();
    assert_ne!(before, after, "a new master key");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("older backups of keys.db still need the old master key"),
        "{said}"
    );
    let rotations: Vec<String> = rusqlite::Connection::open(dir.path().join("lethe.db"))
        .unwrap()
        .prepare("SELECT detail FROM audit_log WHERE action = 'keys.master_rotated'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rotations.len(), 1, "the rotation is audited once");
    assert!(
        rotations[0].contains(&format!("\"data_keys_rewrapped\":{keys}")),
        "{}",
        rotations[0]
    );

    let server = serve(dir.path(), &[]).header("Idempotency-Key", "restart-batch-1");
    let (status, again) = server
        .call(
            Method::GET,
            "/api/v1/subjects/cus_1/records?limit=1000",
            &key,
            None,
        )
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        again["records"], page["records"],
        "the same records, read under the new key"
    );
    server.kill_9();
}
