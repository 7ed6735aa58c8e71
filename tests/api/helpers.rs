//! `spawn_app` and the little clients the tests use.

use lethe::config::Config;
use lethe::services::{Caller, accounts, apikeys, workspaces};
use lethe::startup::Application;
use lethe::store::{Db, WorkspaceScope};
use reqwest::{Client, Response, redirect};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::Once;
use tempfile::TempDir;

static INIT: Once = Once::new();

pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub base: String,
    pub port: u16,
    /// The plain-HTTP redirect listener's port, when configured.
    pub redirect_port: Option<u16>,
    pub data_dir: TempDir,
    pub db: Db,
    pub vault: lethe::vault::Vault,
    pub cert_pem: Vec<u8>,
    /// A browser-like client: cookies, no redirects followed, trusts only Lethe's certificate.
    pub client: Client,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_in(tempfile::tempdir().expect("temp dir"), adjust).await
}

/// Starts Lethe on `data_dir` as it is (e.g. a database an older Lethe left).
pub async fn spawn_app_in(data_dir: TempDir, adjust: impl FnOnce(&mut Config)) -> TestApp {
    INIT.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
        if std::env::var("TEST_LOG").is_ok() {
            lethe::telemetry::init(Some("debug"));
        }
    });
    let mut config = Config::with_data_dir(data_dir.path());
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.workers = Some(2);
    adjust(&mut config);
    let app = Application::build(config).await.expect("app builds");
    let port = app.port();
    let redirect_port = app.redirect_port();
    let base = app.base_url.clone();
    let db = app.db.clone();
    let vault = app.vault.clone();
    let cert_pem = match &app.cert_path {
        Some(p) => std::fs::read(p).expect("certificate readable"),
        None => Vec::new(),
    };
    tokio::spawn(app.run_until_stopped());
    let client = client_for(&cert_pem);
    TestApp {
        base,
        port,
        redirect_port,
        data_dir,
        db,
        vault,
        cert_pem,
        client,
    }
}

pub fn client_for(cert_pem: &[u8]) -> Client {
    let mut builder = Client::builder()
        .cookie_store(true)
        .redirect(redirect::Policy::none());
    if !cert_pem.is_empty() {
        let cert = reqwest::Certificate::from_pem(cert_pem).expect("PEM certificate");
        builder = builder.tls_certs_only([cert]);
    }
    builder.build().expect("client builds")
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET /metrics` with `token`: the exposition text.
    pub async fn metrics(&self, token: &str) -> String {
        self.client
            .get(self.url("/metrics"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Another browser: its own cookie jar.
    pub fn new_client(&self) -> Client {
        client_for(&self.cert_pem)
    }

    pub fn create_admin(&self, email: &str) -> i64 {
        accounts::create_admin(
            &self.db,
            email,
            PASSWORD,
            accounts::OnExisting::ResetPassword,
        )
        .expect("admin created")
    }

    pub fn create_workspace(&self, owner_id: i64, slug: &str) -> WorkspaceScope {
        let input = lethe::domain::workspace::WorkspaceSettingsInput {
            legal_name: format!("{slug} Ltd"),
            contact_email: format!("privacy@{slug}.example"),
            min_age: "16".into(),
            ..Default::default()
        };
        workspaces::create(&self.db, &Caller::system(), owner_id, slug, &input)
            .expect("workspace created");
        self.scope(slug)
    }

    pub fn scope(&self, slug: &str) -> WorkspaceScope {
        self.db
            .read(|c| lethe::store::workspaces::find_by_slug(c, slug))
            .expect("lookup")
            .expect("workspace exists")
            .0
    }

    pub fn api_key(&self, slug: &str, scopes: &[&str]) -> String {
        let scope = self.scope(slug);
        apikeys::create(
            &self.db,
            &Caller::cli(),
            &scope,
            "test",
            scopes.iter().copied(),
        )
        .expect("key created")
        .secret
    }

    /// Adds `email` to `slug` with `roles` (comma-separated, e.g. `owner,privacy_officer`),
    /// creating an account with [`PASSWORD`] if needed.
    pub fn add_member(&self, slug: &str, email: &str, roles: &str) -> i64 {
        let scope = self.scope(slug);
        let roles: Vec<String> = roles.split(',').map(str::to_owned).collect();
        workspaces::add_member(
            &self.db,
            &Caller::system(),
            &scope,
            email,
            &roles,
            &self.base,
        )
        .expect("member added");
        let account = self
            .db
            .read(|c| lethe::store::staff::find_by_email(c, email))
            .expect("lookup")
            .expect("account exists");
        if account.password_hash.is_none() {
            let hash = lethe::crypto::hash_password(PASSWORD).unwrap();
            self.db
                .write(|tx| lethe::store::staff::set_password(tx, account.id, &hash))
                .expect("password set");
        }
        account.id
    }

    /// Logs `client` in through the login form, as a browser would.
    pub async fn login(&self, client: &Client, email: &str, password: &str) -> Response {
        self.login_via(client, email, password, None).await
    }

    /// A login whose request says, through a trusted proxy's `X-Forwarded-For`, that it comes
    /// from `client_ip` (the app must trust 127.0.0.1 as a proxy).
    pub async fn login_via(
        &self,
        client: &Client,
        email: &str,
        password: &str,
        client_ip: Option<&str>,
    ) -> Response {
        let page = client.get(self.url("/console/login")).send().await.unwrap();
        let csrf = csrf_of(&page.text().await.unwrap());
        let mut req = client.post(self.url("/console/login"));
        if let Some(ip) = client_ip {
            req = req.header("X-Forwarded-For", ip);
        }
        req.form(&[
            ("email", email),
            ("password", password),
            ("csrf", &csrf),
            ("next", "/console/"),
        ])
        .send()
        .await
        .unwrap()
    }

    /// A logged-in client for `email` (whose password is [`PASSWORD`]).
    pub async fn logged_in(&self, email: &str) -> Client {
        let client = self.new_client();
        let res = self.login(&client, email, PASSWORD).await;
        assert_eq!(res.status(), 303, "login of {email} failed");
        client
    }

    /// GETs a console page and returns its CSRF token with the body.
    pub async fn page(&self, client: &Client, path: &str) -> (u16, String, String) {
        let res = client.get(self.url(path)).send().await.unwrap();
        let status = res.status().as_u16();
        let body = res.text().await.unwrap();
        let csrf = csrf_of(&body);
        (status, csrf, body)
    }

    pub async fn post_form(
        &self,
        client: &Client,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Response {
        client
            .post(self.url(path))
            .form(fields)
            .send()
            .await
            .unwrap()
    }

    /// The text of a public page, fetched as a stranger (no cookies, no key).
    pub async fn public_page(&self, path: &str) -> String {
        let res = self.new_client().get(self.url(path)).send().await.unwrap();
        res.text().await.unwrap()
    }

    /// An API call with `key`: the status and the JSON body (`Null` when there is none).
    pub async fn call(
        &self,
        key: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut req = self.client.request(method, self.url(path)).bearer_auth(key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// What a data category needs before a policy stating it can be published: a purpose that
    /// uses it and a retention rule (through the API, with an `inventory:write` key).
    pub async fn complete_for_publication(&self, key: &str, category: &str) {
        let purpose = format!("uses-{}", category.replace('.', "-"));
        let rule = format!("ends-{}", category.replace('.', "-"));
        for (path, body) in [
            (
                format!("/api/v1/inventory/purposes/{purpose}"),
                serde_json::json!({"key": purpose, "name": "Running the service",
                    "legal_basis": "contract", "categories": [category]}),
            ),
            (
                format!("/api/v1/inventory/retention-rules/{rule}"),
                serde_json::json!({"key": rule, "category": category,
                    "trigger": "account_closed", "days": 30, "action": "delete"}),
            ),
        ] {
            let res = self
                .client
                .put(self.url(&path))
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert!(res.status().is_success(), "{path}: {}", res.status());
        }
    }

    /// Sets a workspace's notice period for material policy changes (30 days by default).
    pub fn set_notice_days(&self, slug: &str, days: u16) {
        let conn = rusqlite::Connection::open(self.data_dir.path().join("lethe.db")).unwrap();
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .unwrap();
        let changed = conn
            .execute(
                "UPDATE workspaces SET notice_days = ?1 WHERE slug = ?2",
                rusqlite::params![days, slug],
            )
            .unwrap();
        assert_eq!(changed, 1, "workspace {slug}");
    }

    /// Makes staff review each verified request before Lethe carries it out, so a request
    /// stays `verified` for the workflow's steps.
    pub fn review_requests(&self, slug: &str) {
        let conn = rusqlite::Connection::open(self.data_dir.path().join("lethe.db")).unwrap();
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .unwrap();
        let changed = conn
            .execute(
                "UPDATE workspaces SET review_requests = 1 WHERE slug = ?1",
                [slug],
            )
            .unwrap();
        assert_eq!(changed, 1, "workspace {slug}");
    }

    pub fn audit_actions(&self) -> Vec<String> {
        self.db
            .read(|c| {
                let mut stmt = c.prepare("SELECT action FROM audit_log ORDER BY seq")?;
                let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
                rows.collect::<Result<Vec<_>, _>>()
                    .map_err(lethe::store::StoreError::from)
            })
            .expect("audit readable")
    }
}

/// The value of the first hidden `csrf` field on a page ("" if there is none).
pub fn csrf_of(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_owned()
}

pub fn location(res: &Response) -> String {
    res.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The `lethe` binary with `args`, in an environment without any `LETHE_*` variable.
pub fn lethe(args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_lethe"));
    cmd.args(args).env_remove("RUST_LOG");
    for (k, _) in std::env::vars() {
        if k.starts_with("LETHE_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// `lethe serve` as a child process, with a client that trusts its certificate (or plain HTTP
/// with `--no-tls`).
pub struct Server {
    child: Child,
    pub base: String,
    pub client: reqwest::Client,
    /// Sent with every call, e.g. an `Idempotency-Key` or a `Lethe-Access-Reason`.
    headers: Vec<(&'static str, &'static str)>,
    /// What it printed up to the console's address.
    pub said: String,
}

/// Starts `lethe serve` on `dir` with `extra` options and reads its URL and certificate from
/// what it prints.
pub fn serve(dir: &Path, extra: &[&str]) -> Server {
    serve_with_env(dir, extra, &[])
}

/// `serve` with environment variables set for the child (e.g. proxies it must ignore).
pub fn serve_with_env(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
    let mut args = vec![
        "serve",
        "--data-dir",
        dir.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--workers",
        "1",
    ];
    args.extend_from_slice(extra);
    let mut child = lethe(&args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("lethe starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut base = None;
    let mut cert = None;
    let mut said = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        said.push_str(&line);
        said.push('\n');
        if let Some(url) = line.split("is serving ").nth(1) {
            base = Some(url.trim().to_owned());
        }
        if let Some(path) = line.trim().strip_prefix("TLS certificate: ") {
            cert = Some(std::fs::read(path.trim()).unwrap());
        }
        if line.contains("console:") {
            break;
        }
    }
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    // reqwest needs a crypto provider even for plain HTTP; spawn_app installs it too, but a test
    // that only serves must not depend on another having run first.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // With `--no-tls` no certificate is printed, and the client speaks plain HTTP.
    let mut builder = reqwest::Client::builder();
    if let Some(cert) = cert {
        builder = builder.tls_certs_only([reqwest::Certificate::from_pem(&cert).unwrap()]);
    }
    let client = builder.build().unwrap();
    Server {
        child,
        base: base.expect("URL printed"),
        client,
        headers: Vec::new(),
        said,
    }
}

impl Server {
    pub fn header(mut self, name: &'static str, value: &'static str) -> Self {
        self.headers.push((name, value));
        self
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(key);
        for (name, value) in &self.headers {
            req = req.header(*name, *value);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// SIGTERM, as a service manager stops it: Lethe shuts down cleanly. Waits (at most 30 s)
    /// for it to exit, and expects it to exit well.
    pub fn stop(mut self) {
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "lethe exited with {status}");
                return;
            }
            if std::time::Instant::now() > deadline {
                self.child.kill().unwrap();
                panic!("lethe did not stop within 30 s of SIGTERM");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// SIGKILL: no shutdown hook runs, nothing is flushed by Lethe.
    pub fn kill_9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

/// A data directory with an admin and workspace `slug`, made before any server runs on it.
pub fn prepare_workspace(dir: &Path, slug: &str) -> Db {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let db = Db::open(&dir.join("lethe.db")).unwrap();
    let owner = accounts::create_admin(
        &db,
        "ada@example.org",
        crate::helpers::PASSWORD,
        lethe::services::accounts::OnExisting::Refuse,
    )
    .unwrap();
    let input = lethe::domain::workspace::WorkspaceSettingsInput {
        legal_name: format!("{slug} Ltd"),
        contact_email: format!("privacy@{slug}.example"),
        min_age: "16".into(),
        ..Default::default()
    };
    workspaces::create(&db, &Caller::system(), owner, slug, &input).unwrap();
    db
}

/// [`prepare_workspace`] and an API key of `slug` with `scopes`, made before any server runs.
pub fn prepare_workspace_with_key(dir: &Path, slug: &str, scopes: &[&str]) -> String {
    let db = prepare_workspace(dir, slug);
    let scope = db
        .read(|c| lethe::store::workspaces::find_by_slug(c, slug))
        .unwrap()
        .unwrap()
        .0;
    apikeys::create(
        &db,
        &Caller::cli(),
        &scope,
        "prepared",
        scopes.iter().copied(),
    )
    .unwrap()
    .secret
}
