//! The tamper-evident audit log: what is recorded, the console page, and `lethe audit verify`.

use crate::helpers::spawn_app;
use std::process::Command;

fn verify(dir: &std::path::Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lethe"))
        .args(["audit", "verify", "--data-dir"])
        .arg(dir)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_passes_on_an_intact_log_and_names_the_first_edited_entry() {
    let app = spawn_app().await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "aulm");
    app.api_key("aulm", &["records:read"]);
    app.add_member("aulm", "bob@example.org", "support");
    app.logged_in("ada@example.org").await;
    let actions = app.audit_actions();
    for expected in [
        "staff.admin_create",
        "workspace.create",
        "apikey.create",
        "member.add",
        "staff.login",
    ] {
        assert!(
            actions.contains(&expected.to_owned()),
            "{expected} missing from {actions:?}"
        );
    }
    let (code, out) = verify(app.data_dir.path());
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("{} entries checked", actions.len())),
        "{out}"
    );

    // Someone with SQL access rewrites history (the trigger is only a speed bump).
    let conn = rusqlite::Connection::open(app.data_dir.path().join("lethe.db")).unwrap();
    let err = conn.execute(
        "UPDATE audit_log SET actor = 'someone else' WHERE seq = 3",
        [],
    );
    assert!(
        err.is_err(),
        "the append-only trigger should refuse plain edits"
    );
    conn.execute_batch("DROP TRIGGER audit_log_no_update; UPDATE audit_log SET actor = 'someone else' WHERE seq = 3;")
        .unwrap();
    let (code, out) = verify(app.data_dir.path());
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("entry 3 was altered"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_entry_breaks_the_chain() {
    let app = spawn_app().await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "aulm");
    app.api_key("aulm", &["records:read"]);
    let conn = rusqlite::Connection::open(app.data_dir.path().join("lethe.db")).unwrap();
    conn.execute_batch("DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq = 2;")
        .unwrap();
    let (code, out) = verify(app.data_dir.path());
    assert_eq!(code, 1);
    assert!(out.contains("entry 3 does not follow"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_audit_page_filters() {
    let app = spawn_app().await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "aulm");
    app.api_key("aulm", &["records:read"]);
    app.add_member("aulm", "bob@example.org", "auditor");
    let bob = app.logged_in("bob@example.org").await;
    let (status, _, page) = app.page(&bob, "/console/w/aulm/audit").await;
    assert_eq!(status, 200);
    assert!(page.contains("apikey.create") && page.contains("member.add"));
    let (_, _, page) = app.page(&bob, "/console/w/aulm/audit?action=apikey.").await;
    assert!(page.contains("apikey.create") && !page.contains("member.add"));
    let (status, _, _) = app
        .page(&bob, "/console/w/aulm/audit?since=yesterday")
        .await;
    assert_eq!(status, 422);
    // Logins belong to no workspace: the instance log, for administrators only.
    assert_eq!(app.page(&bob, "/console/audit").await.0, 403);
    let ada = app.logged_in("ada@example.org").await;
    let (status, _, page) = app.page(&ada, "/console/audit").await;
    assert_eq!(status, 200);
    assert!(page.contains("staff.login"));
}
