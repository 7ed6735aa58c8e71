//! Backups and restores with the real binary: a backup taken while `lethe serve` ingests
//! verifies, a flipped byte is named, the master key is in no backup file, and the restore
//! drill: erasures and destroyed keys since the backup stay done after a restore into a new
//! directory.

use crate::helpers::{lethe, serve};
use crate::retention_crash::{prepare_data_dir, rfc3339};
use reqwest::Method;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

const CATEGORY: &str = "support.ticket";

fn arg(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `lethe backup create`, which prints the new folder alone on standard output.
fn backup_create(data: &Path, to: &Path) -> PathBuf {
    // The short form, `lethe backup --to DIR` (the same as `lethe backup create --to DIR`).
    let out = lethe(&["backup", "--data-dir", arg(data), "--to", arg(to)])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// `lethe backup verify`: success, and everything it said.
fn backup_verify(folder: &Path) -> (bool, String) {
    let out = lethe(&["backup", "verify", arg(folder)]).output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

async fn put_category(server: &crate::helpers::Server, key: &str) {
    let body = json!({"key": CATEGORY, "name": "Support tickets", "sensitivity": "normal",
                      "fields": [{"name": "message"}]});
    let (status, body) = server
        .call(
            Method::PUT,
            &format!("/api/v1/inventory/categories/{CATEGORY}"),
            key,
            Some(body),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

async fn add_subject(server: &crate::helpers::Server, key: &str, id: &str) {
    let (status, body) = server
        .call(
            Method::POST,
            "/api/v1/subjects",
            key,
            Some(json!({"external_id": id})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

fn tickets(subject: &str, at: chrono::DateTime<chrono::Utc>, n: usize, text: &str) -> Value {
    json!({"records": (0..n).map(|i| json!({
        "category": CATEGORY, "subject": subject, "occurred_at": rfc3339(at),
        "fields": {"message": format!("{text} {i}")}
    })).collect::<Vec<_>>()})
}

async fn ingest(server: &crate::helpers::Server, key: &str, batch: Value) {
    let (status, body) = server
        .call(Method::POST, "/api/v1/records", key, Some(batch))
        .await;
    assert_eq!(status, 201, "{body}");
}

/// Every file under `dir`, by name.
fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    out
}

fn holds(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_during_heavy_ingestion_verifies_and_a_flipped_byte_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let backups = tempfile::tempdir().unwrap();
    let key = prepare_data_dir(
        dir.path(),
        "aulm",
        &["records:write", "records:read", "inventory:write"],
    );
    let server = std::sync::Arc::new(serve(dir.path(), &[]));
    put_category(&server, &key).await;
    add_subject(&server, &key, "cus_1").await;

    // Ingest without pause while the backup runs.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ingestion = {
        let (server, key, stop) = (server.clone(), key.clone(), stop.clone());
        tokio::spawn(async move {
            let mut batches = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let batch = tickets("cus_1", chrono::Utc::now(), 200, "my parcel is late");
                ingest(&server, &key, batch).await;
                batches += 1;
            }
            batches
        })
    };
    // Let the database grow past a few thousand pages first.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let (data, to) = (dir.path().to_owned(), backups.path().to_owned());
    let folder = tokio::task::spawn_blocking(move || backup_create(&data, &to))
        .await
        .unwrap();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let batches = ingestion.await.unwrap();
    assert!(batches >= 3, "ingestion ran during the backup ({batches})");

    let name = folder.file_name().unwrap().to_str().unwrap().to_owned();
    assert!(name.starts_with("lethe-"), "{name}");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(folder.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(
        manifest["created_at"].as_str().unwrap().len(),
        27,
        "{manifest}"
    );
    assert_eq!(manifest["lethe_version"], env!("CARGO_PKG_VERSION"));
    assert!(manifest["schema_version"].as_i64().unwrap() >= 25);
    assert!(manifest["audit_head"]["seq"].as_i64().unwrap() > 0);
    let names: Vec<&str> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["lethe.db", "keys.db"]);
    let (ok, said) = backup_verify(&folder);
    assert!(ok, "{said}");
    assert!(said.contains("audit chain intact"), "{said}");

    // Only the two databases and the manifest: the master key is in no file of the backup.
    let master_hex = std::fs::read_to_string(dir.path().join("master.key")).unwrap();
    let master = hex::decode(master_hex.trim()).unwrap();
    assert_eq!(master.len(), 32);
    for (file, bytes) in files_under(backups.path()) {
        assert!(!holds(&bytes, &master), "{file} holds the master key");
        assert!(
            !holds(&bytes, master_hex.trim().as_bytes()),
            "{file} holds the master key in hex"
        );
        assert!(!file.ends_with("master.key"), "{file}");
    }

    // One byte flipped in the middle of the copy.
    let copy = folder.join("lethe.db");
    let mut bytes = std::fs::read(&copy).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&copy, &bytes).unwrap();
    let (ok, said) = backup_verify(&folder);
    assert!(!ok, "{said}");
    assert!(
        said.contains("lethe.db: SHA-256 does not match the manifest"),
        "{said}"
    );
    std::sync::Arc::into_inner(server).unwrap().stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restore_into_a_new_directory_the_erased_stay_erased_and_spent_weeks_unreadable() {
    let old_dir = tempfile::tempdir().unwrap();
    let backups = tempfile::tempdir().unwrap();
    let key = prepare_data_dir(
        old_dir.path(),
        "aulm",
        &[
            "records:write",
            "records:read",
            "inventory:write",
            "retention:write",
        ],
    );
    // The period-keys job stays out of the way: the test destroys the spent key itself.
    let server = serve(old_dir.path(), &["--period-keys-schedule", "0 0 1 1 *"])
        .header("Lethe-Access-Reason", "restore drill");
    put_category(&server, &key).await;
    let rule = json!({"key": "tickets-30d", "category": CATEGORY, "trigger": "collected",
                      "days": 30, "action": "delete", "schedule": "@daily"});
    let (status, body) = server
        .call(
            Method::PUT,
            "/api/v1/inventory/retention-rules/tickets-30d",
            &key,
            Some(rule),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    add_subject(&server, &key, "cus_keep").await;
    add_subject(&server, &key, "cus_erase").await;
    let now = chrono::Utc::now();
    ingest(&server, &key, tickets("cus_keep", now, 3, "keep recent")).await;
    ingest(
        &server,
        &key,
        tickets(
            "cus_keep",
            now - chrono::Duration::days(60),
            4,
            "keep spent week",
        ),
    )
    .await;
    ingest(&server, &key, tickets("cus_erase", now, 5, "erase me")).await;

    // The backup, taken while serving.
    let (data, to) = (old_dir.path().to_owned(), backups.path().to_owned());
    let folder = tokio::task::spawn_blocking(move || backup_create(&data, &to))
        .await
        .unwrap();

    // After it: one person erased, and the old week's records deleted by retention.
    let (status, body) = server
        .call(
            Method::POST,
            "/api/v1/subjects/cus_erase/erase",
            &key,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let out = lethe(&["retention", "run", "--data-dir", arg(old_dir.path())])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // No restore under a running server.
    let out = lethe(&[
        "restore",
        "--data-dir",
        arg(old_dir.path()),
        "--from",
        arg(&folder),
    ])
    .output()
    .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("stop `lethe serve` first"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    server.stop();

    // The spent week's key goes, driven through the service at a set time.
    let spent_key: String = {
        let db = lethe::store::Db::open(&old_dir.path().join("lethe.db")).unwrap();
        let vault = lethe::vault::Vault::open(old_dir.path(), None).unwrap();
        let later = now + chrono::Duration::hours(1);
        let scope = crate::retention_crash::workspace_scope(&db, "aulm");
        let weeks_before: Vec<(String, String)> = vault
            .labels_of(&scope, lethe::vault::KeyPurpose::Period)
            .unwrap();
        let destroyed =
            lethe::services::keys::destroy_all_spent_period_keys(&db, &vault, later).unwrap();
        assert_eq!(destroyed, 1, "the old week's key");
        let after = vault
            .labels_of(&scope, lethe::vault::KeyPurpose::Period)
            .unwrap();
        weeks_before
            .into_iter()
            .find(|w| !after.contains(w))
            .unwrap()
            .0
    };
    let journal = std::fs::read_to_string(old_dir.path().join("erasure-journal.log")).unwrap();
    assert!(journal.contains("\"kind\":\"subject_erased\""), "{journal}");
    assert!(journal.contains(&spent_key), "{journal}");
    assert!(journal.contains("\"reason\":\"period_spent\""), "{journal}");
    assert!(
        !journal.contains("cus_erase"),
        "no external id in the journal"
    );

    // A new directory on a new machine: the master key (kept apart) and the backup.
    let new_dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        old_dir.path().join("master.key"),
        new_dir.path().join("master.key"),
    )
    .unwrap();
    let out = lethe(&[
        "restore",
        "--data-dir",
        arg(new_dir.path()),
        "--from",
        arg(&folder),
    ])
    .output()
    .unwrap();
    assert!(!out.status.success(), "refused without a journal");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no erasure journal"));
    let old_journal = old_dir.path().join("erasure-journal.log");
    let out = lethe(&[
        "restore",
        "--data-dir",
        arg(new_dir.path()),
        "--from",
        arg(&folder),
        "--journal",
        arg(&old_journal),
    ])
    .output()
    .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("1 people erased again"), "{said}");
    assert!(new_dir.path().join("restore-report.json").is_file());
    assert!(!new_dir.path().join("restore-pending.json").exists());

    let server = serve(new_dir.path(), &[]).header("Lethe-Access-Reason", "restore drill");
    let (status, body) = server
        .call(
            Method::GET,
            "/api/v1/subjects/cus_erase/records",
            &key,
            None,
        )
        .await;
    assert_eq!(status, 410, "the erased person stays erased: {body}");
    let (status, page) = server
        .call(
            Method::GET,
            "/api/v1/subjects/cus_keep/records?limit=100",
            &key,
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 3, "only the recent records: {page}");
    for r in page["records"].as_array().unwrap() {
        let message = r["fields"]["message"].as_str().unwrap();
        assert!(message.starts_with("keep recent"), "{message}");
    }
    server.stop();

    // The spent week's key is not in the restored key store; nothing under it is left.
    let keys_db = rusqlite::Connection::open(new_dir.path().join("keys.db")).unwrap();
    let n: i64 = keys_db
        .query_row(
            "SELECT count(*) FROM data_keys WHERE id = ?1",
            [&spent_key],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 0);
    let lethe_db = rusqlite::Connection::open(new_dir.path().join("lethe.db")).unwrap();
    let n: i64 = lethe_db
        .query_row(
            "SELECT count(*) FROM records WHERE period_key_id = ?1",
            [&spent_key],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 0);
}

/// The dashboard's text until it contains `wanted` (at most 30 s).
async fn dashboard_until(
    app: &crate::helpers::TestApp,
    client: &reqwest::Client,
    wanted: &str,
) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (status, _, body) = app.page(client, "/console/").await;
        assert_eq!(status, 200);
        if body.contains(wanted) || std::time::Instant::now() > deadline {
            return body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backup_job_makes_backups_the_dashboard_tells_owners_of_and_warns_when_one_failed() {
    let backups = tempfile::tempdir().unwrap();
    let target = backups.path().join("target");
    // A file where the backup directory should be: the first runs fail.
    std::fs::write(&target, "not a directory").unwrap();
    let settings = lethe::services::backup::BackupSettings {
        dir: target.clone(),
        schedule: lethe::domain::schedule::CronSchedule::parse("*/2 * * * * *").unwrap(),
        policy: lethe::domain::backup::RotationPolicy {
            keep_daily: 7,
            keep_weekly: 4,
            keep_keys_days: 7,
        },
    };
    let app = crate::helpers::spawn_app_with(|c| c.backup = Some(settings)).await;
    let owner = app.create_admin("owner@example.org");
    app.create_workspace(owner, "aulm");
    app.add_member("aulm", "support@example.org", "support");
    let client = app.logged_in("owner@example.org").await;

    let body = dashboard_until(&app, &client, "failed").await;
    assert!(body.contains("The last backup, "), "{body}");
    assert!(body.contains("role=\"alert\""), "{body}");
    assert!(body.contains("There is no good one yet."), "{body}");

    std::fs::remove_file(&target).unwrap();
    let body = dashboard_until(&app, &client, "Last backup: just now.").await;
    assert!(body.contains("Last backup: just now."), "{body}");
    let folders: Vec<_> = std::fs::read_dir(&target)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        folders.iter().any(|f| f.starts_with("lethe-")),
        "{folders:?}"
    );
    // Rotation keeps the newest of the day: never more than one complete backup here.
    let complete = folders.iter().filter(|f| !f.ends_with(".partial")).count();
    assert!(complete <= 2, "{folders:?}");

    // A support agent, owner of nothing, is not told.
    let client = app.logged_in("support@example.org").await;
    let (_, _, body) = app.page(&client, "/console/").await;
    assert!(!body.contains("backup"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_cut_short_is_finished_before_the_server_answers() {
    let dir = tempfile::tempdir().unwrap();
    let backups = tempfile::tempdir().unwrap();
    let key = prepare_data_dir(
        dir.path(),
        "aulm",
        &["records:write", "records:read", "inventory:write"],
    );
    let server = serve(dir.path(), &[]).header("Lethe-Access-Reason", "restore drill");
    put_category(&server, &key).await;
    add_subject(&server, &key, "cus_1").await;
    ingest(
        &server,
        &key,
        tickets("cus_1", chrono::Utc::now(), 3, "erase me"),
    )
    .await;
    let (data, to) = (dir.path().to_owned(), backups.path().to_owned());
    let folder = tokio::task::spawn_blocking(move || backup_create(&data, &to))
        .await
        .unwrap();
    let (status, body) = server
        .call(
            Method::POST,
            "/api/v1/subjects/cus_1/erase",
            &key,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    server.stop();

    // `lethe restore` put the copies in place and wrote its marker, then died before the
    // journal's replay: the backup's cus_1 is back, readable, for now.
    lethe::services::restore::stage(&folder, dir.path(), None, chrono::Utc::now()).unwrap();
    let marker = dir.path().join(lethe::services::restore::MARKER_FILE_NAME);
    assert!(marker.exists());

    // The next start finishes it before it answers anything.
    let server = serve(dir.path(), &[]).header("Lethe-Access-Reason", "restore drill");
    let (status, body) = server
        .call(
            Method::GET,
            "/api/v1/subjects/cus_1/records?limit=100",
            &key,
            None,
        )
        .await;
    assert_eq!(status, 410, "erased again at start: {}", body["subject"]);
    server.stop();
    assert!(!marker.exists(), "the restore is finished");
    let report: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join(lethe::services::restore::REPORT_FILE_NAME)).unwrap(),
    )
    .unwrap();
    assert_eq!(report["subjects_erased"], 1, "{report}");
}
