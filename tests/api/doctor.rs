//! `lethe doctor` on a real data directory, with the real binary: a healthy one passes what it
//! controls, and each break (a readable master key, an expired certificate, a rewritten audit
//! entry, a failed backup, an incident past its 72 hours) fails under its own check's name.

use crate::helpers::{Server, lethe, prepare_workspace, serve};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const EVERY_CHECK: [&str; 13] = [
    "data directory",
    "file modes",
    "master key",
    "master key in backups",
    "tls certificate",
    "smtp",
    "backups",
    "audit chain",
    "database integrity",
    "deadlines",
    "outbox",
    "retention claims",
    "disk space",
];

/// Exit code and the findings of `lethe doctor --json`.
fn doctor(dir: &Path) -> (i32, Vec<Value>) {
    let out = lethe(&["doctor", "--data-dir", dir.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let findings: Vec<Value> = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "doctor --json did not print JSON ({e}): {text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap(), findings)
}

fn status_of<'a>(findings: &'a [Value], check: &str) -> (&'a str, String) {
    let f = findings
        .iter()
        .find(|f| f["check"] == check)
        .unwrap_or_else(|| panic!("no check {check} in {findings:?}"));
    (f["status"].as_str().unwrap(), f["finding"].to_string())
}

/// `lethe serve` on `dir`, once it answers (its SIGTERM handler is in place by then).
async fn serving(dir: &Path) -> Server {
    let server = serve(dir, &[]);
    let res = server
        .client
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    server
}

/// A data directory as a first start leaves it: made by Lethe (mode 0700), a workspace,
/// `keys.db`, a certificate. The temporary folder holding it is returned to keep it alive.
async fn prepared() -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("data");
    drop(prepare_workspace(&dir, "aulm"));
    serving(&dir).await.stop();
    (root, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_data_directory_passes_and_only_what_is_off_warns() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("data");
    drop(prepare_workspace(&dir, "aulm"));
    let server = serving(&dir).await;
    // Beside a running server: read-only connections, no lock taken.
    let (code, live) = doctor(&dir);
    server.stop();
    let (after, findings) = doctor(&dir);
    for (code, findings) in [(code, &live), (after, &findings)] {
        let names: Vec<&str> = findings
            .iter()
            .map(|f| f["check"].as_str().unwrap())
            .collect();
        assert_eq!(names, EVERY_CHECK, "--json lists every check");
        for check in [
            "data directory",
            "file modes",
            "master key",
            "master key in backups",
            "tls certificate",
            "audit chain",
            "database integrity",
            "deadlines",
            "outbox",
            "retention claims",
        ] {
            let (status, finding) = status_of(findings, check);
            assert_eq!(status, "pass", "{check}: {finding}");
        }
        for check in ["smtp", "backups"] {
            let (status, finding) = status_of(findings, check);
            assert_eq!(status, "warn", "{check}: {finding}");
        }
        // The one check this directory does not control: the machine's own disk. Under 2%
        // free it fails, as it should, and the exit code says so.
        let disk = rustix::fs::statvfs(&dir).unwrap();
        let nearly_full = (disk.f_bavail as f64) * 100.0 / (disk.f_blocks as f64) < 2.0;
        let (status, finding) = status_of(findings, "disk space");
        assert_eq!(status == "fail", nearly_full, "disk space: {finding}");
        let expected = if nearly_full { 2 } else { 1 };
        assert_eq!(
            code, expected,
            "a warning and no failure exits 1 (2 on a nearly full disk): {findings:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_data_directory_fails_naming_each_break() {
    let (_root, dir) = prepared().await;
    let d = dir.as_path();
    std::fs::set_permissions(d.join("master.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let conn = rusqlite::Connection::open(d.join("lethe.db")).unwrap();
    conn.execute_batch(
        "DROP TRIGGER IF EXISTS audit_log_no_update; \
         UPDATE audit_log SET detail = 'rewritten' WHERE seq = (SELECT min(seq) FROM audit_log);",
    )
    .unwrap();
    let ten_days_ago = lethe::store::ts(chrono::Utc::now() - chrono::Duration::days(10));
    conn.execute(
        "INSERT INTO backup_runs (started_at, finished_at, folder, ok, error) \
         VALUES (?1, ?1, '', 0, 'disk full')",
        [&ten_days_ago],
    )
    .unwrap();
    // Two incidents detected four days ago with no notice and no decision: the open one is
    // overdue; the closed one is not counted (the deadline job's rule).
    let four_days_ago = lethe::store::ts(chrono::Utc::now() - chrono::Duration::days(4));
    for (id, state, closed_at) in [
        ("inc-open", "open", None),
        ("inc-closed", "closed", Some(&four_days_ago)),
    ] {
        conn.execute(
            "INSERT INTO incidents (id, workspace_id, title, detected_at, risk, state, closed_at, \
             created_at, updated_at) \
             VALUES (?1, (SELECT id FROM workspaces WHERE slug = 'aulm'), 'Lost laptop', ?2, \
             'risk', ?3, ?4, ?2, ?2)",
            rusqlite::params![id, &four_days_ago, state, closed_at],
        )
        .unwrap();
    }
    drop(conn);
    // A certificate that ended yesterday in place of the generated one.
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    let yesterday = chrono::Utc::now().date_naive() - chrono::Days::new(1);
    params.not_after = rcgen::date_time_ymd(
        chrono::Datelike::year(&yesterday),
        chrono::Datelike::month(&yesterday) as u8,
        chrono::Datelike::day(&yesterday) as u8,
    );
    let key = rcgen::KeyPair::generate().unwrap();
    let expired = params.self_signed(&key).unwrap();
    std::fs::write(d.join("tls").join("cert.pem"), expired.pem()).unwrap();
    std::fs::write(d.join("tls").join("key.pem"), key.serialize_pem()).unwrap();

    let (code, findings) = doctor(d);
    assert_eq!(code, 2, "{findings:?}");
    let (status, finding) = status_of(&findings, "tls certificate");
    assert_eq!(status, "fail");
    assert!(finding.contains("expired"), "{finding}");
    let (status, finding) = status_of(&findings, "deadlines");
    assert_eq!(status, "fail");
    assert!(
        finding.contains("aulm: 0 request(s) past their deadline, 1 incident(s)"),
        "{finding}"
    );
    let (status, finding) = status_of(&findings, "file modes");
    assert_eq!(status, "fail");
    assert!(finding.contains("master.key"), "{finding}");
    let (status, finding) = status_of(&findings, "audit chain");
    assert_eq!(status, "fail", "{finding}");
    let (status, finding) = status_of(&findings, "backups");
    assert_eq!(status, "fail");
    assert!(finding.contains("disk full"), "{finding}");

    // The table says the same to a person.
    let out = lethe(&["doctor", "--data-dir", d.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let table = String::from_utf8_lossy(&out.stdout);
    for line in [
        "FAIL   file modes",
        "FAIL   tls certificate",
        "FAIL   audit chain",
        "FAIL   backups",
        "FAIL   deadlines",
    ] {
        assert!(table.contains(line), "{line} missing from:\n{table}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_of_the_master_key_in_a_backup_folder_fails() {
    let (_root, dir) = prepared().await;
    let folder = dir.join("backups").join("lethe-20260101T000000Z");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::copy(dir.join("master.key"), folder.join("master.key")).unwrap();
    let (code, findings) = doctor(&dir);
    assert_eq!(code, 2);
    let (status, finding) = status_of(&findings, "master key in backups");
    assert_eq!(status, "fail");
    assert!(finding.contains("lethe-20260101T000000Z"), "{finding}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_older_than_its_schedule_fails_and_a_recent_one_passes() {
    let (root, dir) = prepared().await;
    let backups = root.path().join("backups");
    std::fs::create_dir_all(&backups).unwrap();
    let conn = rusqlite::Connection::open(dir.join("lethe.db")).unwrap();
    let record = |days: i64| {
        let at = lethe::store::ts(chrono::Utc::now() - chrono::Duration::days(days));
        conn.execute(
            "INSERT INTO backup_runs (started_at, finished_at, folder, ok) VALUES (?1, ?1, 'f', 1)",
            [&at],
        )
        .unwrap();
    };
    // Checked as `lethe serve` runs it: a daily backup into `backups`.
    let check = || {
        let out = lethe(&[
            "doctor",
            "--data-dir",
            dir.to_str().unwrap(),
            "--backup-dir",
            backups.to_str().unwrap(),
            "--json",
        ])
        .output()
        .unwrap();
        let findings: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        let (status, finding) = status_of(&findings, "backups");
        (status.to_owned(), finding)
    };
    record(10);
    let (status, finding) = check();
    assert_eq!(status, "fail", "{finding}");
    assert!(
        finding.contains("older than the schedule allows"),
        "{finding}"
    );
    record(0);
    let (status, finding) = check();
    assert_eq!(status, "pass", "{finding}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administrators_see_the_checks_in_the_console() {
    let app = crate::helpers::spawn_app().await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "aulm");
    app.add_member("aulm", "bob@example.org", "auditor");
    let bob = app.logged_in("bob@example.org").await;
    assert_eq!(app.page(&bob, "/console/doctor").await.0, 403);
    let ada = app.logged_in("ada@example.org").await;
    let (status, _, page) = app.page(&ada, "/console/doctor").await;
    assert_eq!(status, 200);
    for check in EVERY_CHECK {
        assert!(
            page.contains(&format!("<td>{check}</td>")),
            "{check} missing"
        );
    }
    assert!(page.contains("Health checks"));
}
