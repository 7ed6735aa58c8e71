//! Webhooks cannot be pointed inward, with the real binary: proxies in Lethe's environment are
//! never used (a proxy would resolve the target itself, past the address check), a name that
//! resolves to loopback is refused, and the stored errors say no more than "refused" or "failed".

use crate::helpers::serve_with_env;
use lethe::services::{Caller, accounts, apikeys, outbox, workspaces};
use lethe::store::Db;
use reqwest::Method;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;

/// A listener that only counts who connects to it.
async fn counting_listener() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    (port, connections)
}

/// A workspace with an `inventory:write` key and the two endpoints, written as an older Lethe
/// (or one run with `--webhook-allow-private`) would have stored them.
fn prepare(dir: &Path, endpoints: &[&str]) -> String {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let db = Db::open(&dir.join("lethe.db")).unwrap();
    let vault = lethe::vault::Vault::open(dir, None).unwrap();
    let owner = accounts::create_admin(
        &db,
        "ada@example.org",
        crate::helpers::PASSWORD,
        lethe::services::accounts::OnExisting::Refuse,
    )
    .unwrap();
    let input = lethe::domain::workspace::WorkspaceSettingsInput {
        legal_name: "hooks Ltd".into(),
        contact_email: "privacy@hooks.example".into(),
        min_age: "16".into(),
        ..Default::default()
    };
    workspaces::create(&db, &Caller::system(), owner, "hooks", &input).unwrap();
    let scope = db
        .read(|c| lethe::store::workspaces::find_by_slug(c, "hooks"))
        .unwrap()
        .unwrap()
        .0;
    for url in endpoints {
        outbox::create_endpoint(&db, &vault, &Caller::system(), &scope, url, None, true).unwrap();
    }
    apikeys::create(
        &db,
        &Caller::cli(),
        &scope,
        "ssrf",
        ["inventory:read", "inventory:write"],
    )
    .unwrap()
    .secret
}

fn attempt_errors(dir: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(dir.join("lethe.db")).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    let mut stmt = conn
        .prepare("SELECT coalesce(error, 'ok') FROM delivery_attempts ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxies_in_the_environment_are_ignored_and_loopback_names_are_refused() {
    let (proxy_port, proxied) = counting_listener().await;
    let (receiver_port, received) = counting_listener().await;
    let dir = tempfile::tempdir().unwrap();
    // `localhost` resolves to loopback; `.invalid` never resolves (RFC 6761), but a proxy would
    // take it without a look-up.
    let inward = format!("http://localhost:{receiver_port}/hook");
    let key = prepare(dir.path(), &[inward.as_str(), "http://hooks.invalid/hook"]);
    let proxy = format!("http://127.0.0.1:{proxy_port}");
    let env: Vec<(&str, &str)> = [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ]
    .into_iter()
    .map(|name| (name, proxy.as_str()))
    .chain([("NO_PROXY", ""), ("no_proxy", "")])
    .collect();
    let server = serve_with_env(dir.path(), &["--outbox-schedule", "* * * * * *"], &env);

    // A material version, published: one `policy.published` event per endpoint.
    let category = "user.contact.email";
    for (path, body) in [
        (
            format!("/api/v1/inventory/categories/{category}"),
            json!({"key": category, "name": "E-mail address", "sensitivity": "normal"}),
        ),
        (
            "/api/v1/inventory/purposes/service".to_owned(),
            json!({"key": "service", "name": "Running the service",
                   "legal_basis": "contract", "categories": [category]}),
        ),
        (
            "/api/v1/inventory/retention-rules/closed".to_owned(),
            json!({"key": "closed", "category": category,
                   "trigger": "account_closed", "days": 30, "action": "delete"}),
        ),
    ] {
        let (status, body) = server.call(Method::PUT, &path, &key, Some(body)).await;
        assert!(status < 300, "{path}: {status} {body}");
    }
    let (status, draft) = server
        .call(
            Method::POST,
            "/api/v1/policies",
            &key,
            Some(json!({"markdown": "# Policy\n\n{{ recipients_table() }}\n",
                        "material": true, "summary": "Hooks"})),
        )
        .await;
    assert_eq!(status, 201, "{draft}");
    let (status, body) = server
        .call(
            Method::POST,
            &format!("/api/v1/policies/{}/publish", draft["version"]),
            &key,
            Some(json!({"confirm_warnings": true})),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let errors = loop {
        let errors = attempt_errors(dir.path());
        if errors.len() >= 2 {
            break errors;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no delivery attempts: {errors:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    server.kill_9();

    assert_eq!(proxied.load(Ordering::SeqCst), 0, "the proxy was used");
    assert_eq!(
        received.load(Ordering::SeqCst),
        0,
        "a loopback target was reached"
    );
    let mut errors = errors[..2].to_vec();
    errors.sort();
    // Nothing of the OS's words ("connection refused", "dns error"): only what kind of failure.
    assert_eq!(errors, ["failed", "refused"]);
}
