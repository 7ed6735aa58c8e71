//! The `lethe` binary from the shell: help, configuration errors, admin and key creation, and
//! refusing a database from a newer Lethe.

use crate::helpers::{PASSWORD, lethe, spawn_app_with};
use std::io::Write;
use std::process::{Command, Output, Stdio};

fn run_with_stdin(mut cmd: Command, input: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn help_explains_every_serve_option() {
    let out = lethe(&["serve", "--help"]).output().unwrap();
    assert!(out.status.success());
    let help = text(&out.stdout);
    for option in [
        "--data-dir",
        "--listen",
        "--tls-cert",
        "--tls-key",
        "--no-tls",
        "--http-redirect-listen",
        "--acme-domain",
        "--acme-email",
        "--acme-directory",
        "--acme-ca-root",
        "--hostname",
        "--public-url",
        "--max-body-bytes",
        "--session-idle-minutes",
        "--session-absolute-hours",
        "--demo",
        "--config",
        "LETHE_LISTEN",
    ] {
        assert!(help.contains(option), "serve --help lacks {option}");
    }
    let top = text(&lethe(&["--help"]).output().unwrap().stdout);
    for cmd in ["serve", "admin", "apikey", "audit", "demo"] {
        assert!(top.contains(cmd), "--help lacks {cmd}");
    }
}

#[test]
fn a_bad_value_stops_start_up_with_one_line_naming_the_option() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let cases: Vec<(Command, &str)> = vec![
        (
            lethe(&["serve", "--data-dir", d, "--listen", "nonsense"]),
            "--listen",
        ),
        (
            {
                let mut c = lethe(&["serve", "--data-dir", d]);
                c.env("LETHE_MAX_BODY_BYTES", "12");
                c
            },
            "--max-body-bytes",
        ),
        (
            {
                let mut c = lethe(&["serve", "--data-dir", d]);
                c.env("LETHE_SESSION_IDLE_MINUTES", "many");
                c
            },
            "--session-idle-minutes",
        ),
        (
            lethe(&["serve", "--data-dir", d, "--tls-cert", "/nonexistent.pem"]),
            "--tls-key",
        ),
        (
            lethe(&[
                "serve",
                "--data-dir",
                d,
                "--no-tls",
                "--acme-domain",
                "privacy.example.com",
            ]),
            "--acme-domain",
        ),
        (
            lethe(&[
                "serve",
                "--data-dir",
                d,
                "--acme-domain",
                "privacy.example.com",
                "--acme-ca-root",
                "/nonexistent.pem",
            ]),
            "--acme-ca-root",
        ),
    ];
    for (mut cmd, option) in cases {
        let out = cmd.output().unwrap();
        assert!(!out.status.success(), "{option} accepted");
        let err = text(&out.stderr);
        assert!(err.contains(option), "{option}: {err}");
        assert!(
            err.trim().lines().filter(|l| !l.trim().is_empty()).count() <= 3,
            "{option}: {err}"
        );
    }
    // A TOML file with a typo names the key.
    let file = dir.path().join("lethe.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:0\"\nmax_bdy_bytes = 10\n").unwrap();
    let out = lethe(&["serve", "--config", file.to_str().unwrap(), "--data-dir", d])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("--config") && err.contains("max_bdy_bytes"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_create_reads_the_password_from_stdin_and_apikey_create_prints_only_the_key() {
    let app = spawn_app_with(|_| {}).await;
    let d = app.data_dir.path().to_str().unwrap().to_owned();
    let out = run_with_stdin(
        lethe(&[
            "admin",
            "create",
            "--data-dir",
            &d,
            "--email",
            "root@example.org",
        ]),
        &format!("{PASSWORD}\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains(PASSWORD));
    assert_eq!(
        app.login(&app.new_client(), "root@example.org", PASSWORD)
            .await
            .status(),
        303
    );
    // A weak password is refused.
    let out = run_with_stdin(
        lethe(&[
            "admin",
            "create",
            "--data-dir",
            &d,
            "--email",
            "weak@example.org",
        ]),
        "short\n",
    );
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("12 characters"));
    // There is no way to pass a password as an argument.
    let out = lethe(&[
        "admin",
        "create",
        "--data-dir",
        &d,
        "--email",
        "x@example.org",
        "--password",
        "p",
    ])
    .output()
    .unwrap();
    assert!(!out.status.success());

    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "aulm");
    let out = lethe(&[
        "apikey",
        "create",
        "--data-dir",
        &d,
        "--workspace",
        "aulm",
        "--scope",
        "audit:read",
        "--scope",
        "records:write",
    ])
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(
        stdout.lines().count(),
        1,
        "only the key on stdout: {stdout}"
    );
    let key = stdout.trim();
    let res = app
        .client
        .get(app.url("/api/v1/audit"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let out = lethe(&[
        "apikey",
        "create",
        "--data-dir",
        &d,
        "--workspace",
        "aulm",
        "--scope",
        "records:delete",
    ])
    .output()
    .unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("records:delete"));
    let out = lethe(&[
        "apikey",
        "create",
        "--data-dir",
        &d,
        "--workspace",
        "nope",
        "--scope",
        "records:read",
    ])
    .output()
    .unwrap();
    assert!(text(&out.stderr).contains("no workspace 'nope'"));
}

#[test]
fn a_database_from_a_newer_lethe_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("lethe.db");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch("CREATE TABLE future (x); PRAGMA user_version = 999;")
            .unwrap();
    }
    let before = std::fs::read(&db).unwrap();
    let out = lethe(&[
        "audit",
        "verify",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("schema version 999") && err.contains("newer"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "the newer database was modified"
    );
    assert!(!dir.path().join("lethe.db-wal").exists());
}

#[test]
fn demo_builds_the_two_workspaces_and_prints_a_login() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = lethe(&["demo", "--data-dir", d]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("aulm")
            && stdout.contains("aufum")
            && stdout.contains("owner@demo.example")
    );
    // Running it again keeps the workspaces and gives a new password.
    let again = text(&lethe(&["demo", "--data-dir", d]).output().unwrap().stdout);
    assert_ne!(stdout, again);
    let conn = rusqlite::Connection::open(dir.path().join("lethe.db")).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM workspaces", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_create_on_an_existing_email_refuses_unless_reset_password_is_given() {
    let app = spawn_app_with(|_| {}).await;
    let d = app.data_dir.path().to_str().unwrap().to_owned();
    app.create_admin("ada@example.org");
    let new_password = "a whole new passphrase";
    let create = |extra: &[&str]| {
        let mut args = vec![
            "admin",
            "create",
            "--data-dir",
            &d,
            "--email",
            "Ada@example.org",
        ];
        args.extend_from_slice(extra);
        run_with_stdin(lethe(&args), &format!("{new_password}\n"))
    };
    let out = create(&[]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("already exists") && err.contains("--reset-password"),
        "{err}"
    );
    // The old password still works; the new one does not.
    assert_eq!(
        app.login(&app.new_client(), "ada@example.org", new_password)
            .await
            .status(),
        401
    );
    assert_eq!(
        app.login(&app.new_client(), "ada@example.org", PASSWORD)
            .await
            .status(),
        303
    );

    let out = create(&["--reset-password"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        app.login(&app.new_client(), "ada@example.org", new_password)
            .await
            .status(),
        303
    );
    assert_eq!(
        app.audit_actions()
            .iter()
            .filter(|a| *a == "staff.admin_create")
            .count(),
        2,
        "the first creation and the reset are audited, the refusal changes nothing"
    );
}

#[test]
fn the_first_start_says_where_the_master_key_is_and_to_back_it_up() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let server = crate::helpers::serve(dir.path(), &[]);
    let key_file = dir.path().join("master.key");
    let said = server.said.clone();
    server.kill_9();
    assert!(
        said.contains(&key_file.display().to_string()) && said.contains("back it up"),
        "{said}"
    );
    assert!(said.contains("cannot be read"), "{said}");
    // Later starts say nothing about it.
    let server = crate::helpers::serve(dir.path(), &[]);
    let said = server.said.clone();
    server.kill_9();
    assert!(!said.contains("back it up"), "{said}");

    // A key from the environment: the operator is told to keep that value.
    let dir = tempfile::tempdir().unwrap();
    let key = "ab".repeat(32);
    let server =
        crate::helpers::serve_with_env(dir.path(), &[], &[("LETHE_MASTER_KEY", key.as_str())]);
    let said = server.said.clone();
    server.kill_9();
    assert!(
        said.contains("LETHE_MASTER_KEY") && said.contains("cannot be read"),
        "{said}"
    );
    assert!(!dir.path().join("master.key").exists());
}
