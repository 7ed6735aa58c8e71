//! The console in a real browser: headless Chromium, driven over the W3C WebDriver protocol by a
//! chromedriver this test starts itself on a free loopback port.
//!
//! Chromium trusts Lethe's self-signed certificate and nothing else: the certificate's public key
//! is pinned with `--ignore-certificate-errors-spki-list`, as an operator who was given that
//! certificate would add it, rather than switching certificate checks off.
//!
//! Chromium and chromedriver come from the Debian packages `chromium` and `chromium-driver`
//! (`.ci/run` installs them). Without them this test fails; it never skips.

// The console at phone width: its own file, a child module so it shares this one's helpers.
#[path = "browser_phone.rs"]
mod phone;
// The privacy center's request form.
#[path = "browser_requests.rs"]
mod requests;
// The consent banner on an operator's page.
#[path = "browser_consent.rs"]
mod consent;
// The breach register's pages.
#[path = "browser_incidents.rs"]
mod incidents;

#[path = "browser_evidence.rs"]
mod evidence;

use crate::helpers::{self, PASSWORD};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long to wait for an element, a URL or chromedriver itself.
const WAIT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(100);
/// The key under which WebDriver returns an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_logs_in_and_out_of_the_console_in_chromium() {
    let started = Instant::now();
    let app = helpers::spawn_app().await;
    let admin = app.create_admin("ada@example.org");
    app.create_workspace(admin, "aulm");
    let spki = spki_sha256_base64(&app.cert_pem);
    let mut browser = Browser::launch(&spki).await;
    let path_of = |url: &str| {
        url.strip_prefix(app.base.as_str())
            .unwrap_or_else(|| panic!("the browser left Lethe ({}): {url}", app.base))
            .to_owned()
    };

    // A wrong password re-renders the form with an error.
    browser.goto(&app.url("/console/login")).await;
    browser.wait_for("#email").await;
    let title = browser.title().await;
    assert!(title.starts_with("Log in"), "login page title: {title}");
    browser.type_into("#email", "ada@example.org").await;
    browser.type_into("#password", "not the password").await;
    browser.click("button[type=submit]").await;
    let error = browser.wait_for("#login-error").await;
    let error_text = browser.text(&error).await;
    assert!(!error_text.trim().is_empty(), "#login-error is empty");
    assert!(path_of(&browser.url().await).starts_with("/console/login"));

    // The right password lands on the dashboard.
    browser.clear("#email").await;
    browser.type_into("#email", "ada@example.org").await;
    browser.type_into("#password", PASSWORD).await;
    browser.click("button[type=submit]").await;
    browser
        .wait_for_url("the dashboard", |url| path_of(url) == "/console/")
        .await;
    let heading = browser.wait_for("main h1").await;
    assert_eq!(browser.text(&heading).await, "Workspaces");
    let workspace = browser
        .wait_for("ul.cards li.card h2 a[href='/console/w/aulm/']")
        .await;
    assert_eq!(browser.text(&workspace).await, "aulm Ltd");
    assert!(
        browser.find("html[lang='en']").await.is_some(),
        "<html> lacks lang=\"en\""
    );
    let source = browser.source().await;
    assert!(
        source.contains("<html lang=\"en\">"),
        "page source lacks <html lang=\"en\">"
    );
    assert_eq!(browser.title().await, "Workspaces · Lethe");

    // The stylesheet loaded under the page's CSP and applies: the top bar is dark.
    let styled = browser
        .script(
            "const sheets = [...document.styleSheets].map(s => [s.href, s.cssRules.length]);\
             const bar = getComputedStyle(document.querySelector('header.topbar')).backgroundColor;\
             return {sheets, bar};",
        )
        .await;
    let sheets = styled["sheets"].as_array().cloned().unwrap_or_default();
    assert!(
        sheets
            .iter()
            .any(|s| s[0].as_str() == Some(&app.url("/static/console.css"))
                && s[1].as_u64().unwrap_or(0) > 0),
        "console.css did not load: {styled}"
    );
    assert_eq!(
        styled["bar"], "rgb(36, 41, 47)",
        "console.css does not apply: {styled}"
    );
    let console = browser.console_log().await;
    for message in &console {
        println!("browser console: {message}");
    }
    let refused: Vec<&String> = console
        .iter()
        .filter(|m| m.contains("Content Security Policy") || m.contains("Refused to"))
        .collect();
    assert!(
        refused.is_empty(),
        "the page broke its own CSP: {refused:#?}"
    );

    let shot = browser.screenshot().await;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    let file = dir.join("console-dashboard.png");
    std::fs::write(&file, &shot).expect("screenshot written");
    println!("screenshot of the dashboard: {}", file.display());

    // Create an API key with the form, as an owner would; its secret is shown once.
    browser.goto(&app.url("/console/w/aulm/keys")).await;
    browser.wait_for("#name").await;
    browser.type_into("#name", "billing system").await;
    browser
        .click("input[name='scope'][value='records:write']")
        .await;
    browser
        .click("form[action='/console/w/aulm/keys'] button[type=submit]")
        .await;
    let key = browser.wait_for("#new-key").await;
    let secret = browser.text(&key).await;
    assert!(secret.starts_with("lethe_"), "new key: {secret}");
    let key_api = app
        .client
        .get(app.url("/api/v1/workspace"))
        .bearer_auth(secret.trim())
        .send()
        .await
        .unwrap();
    assert_eq!(key_api.status(), 200, "the key made in the browser works");
    std::fs::write(dir.join("console-keys.png"), browser.screenshot().await)
        .expect("screenshot written");

    // The public privacy center renders the published policy, styled, under the same CSP.
    lethe::services::demo::load(&app.db, &app.vault).expect("demo policy published");
    browser.goto(&app.url("/p/aulm/privacy")).await;
    let policy_heading = browser.wait_for("article.policy h1").await;
    assert_eq!(
        browser.text(&policy_heading).await,
        "Privacy policy of aulm Ltd"
    );
    assert!(
        browser.find("article.policy table").await.is_some(),
        "the inventory tables render"
    );
    std::fs::write(dir.join("privacy-aulm.png"), browser.screenshot().await)
        .expect("screenshot written");
    // The console's inventory and policy pages of the same workspace.
    for (path, heading, shot) in [
        (
            "/console/w/aulm/inventory",
            "Inventory",
            "console-inventory.png",
        ),
        (
            "/console/w/aulm/policy",
            "Privacy policy",
            "console-policy.png",
        ),
    ] {
        browser.goto(&app.url(path)).await;
        let h1 = browser.wait_for("main h1").await;
        assert_eq!(browser.text(&h1).await, heading, "{path}");
        std::fs::write(dir.join(shot), browser.screenshot().await).expect("screenshot written");
    }

    // A person's records, opened with a reason; the read then shows in their access log.
    seed_subject(&app).await;
    browser.goto(&app.url("/console/w/aulm/subjects")).await;
    browser
        .click("table.subjects a[href='/console/w/aulm/subjects/cus_1']")
        .await;
    browser
        .type_into("#reason", "ticket 4411: booking question")
        .await;
    browser.click("form.read-form button[type=submit]").await;
    let value = browser.wait_for("ol.records .record dd.value").await;
    assert_eq!(
        browser.text(&value).await,
        "Asked to move the booking to Saturday"
    );
    std::fs::write(dir.join("subject-records.png"), browser.screenshot().await)
        .expect("screenshot written");
    browser
        .goto(&app.url("/console/w/aulm/subjects/cus_1"))
        .await;
    let entry = browser.wait_for("table.access-log tbody tr").await;
    let logged = browser.text(&entry).await;
    assert!(
        logged.contains("ada@example.org") && logged.contains("ticket 4411: booking question"),
        "access log entry: {logged}"
    );
    std::fs::write(dir.join("subject.png"), browser.screenshot().await)
        .expect("screenshot written");

    // Retention: a dry run, then a run started by hand, from the retention page.
    seed_old_note_and_rule(&app).await;
    browser.goto(&app.url("/console/w/aulm/retention")).await;
    let rule = browser.wait_for("#rule-notes-after-30-days").await;
    let rule_text = browser.text(&rule).await;
    assert!(
        rule_text.contains("deleted 30 days after collection") && rule_text.contains("next:"),
        "the rule, what it does and its next runs: {rule_text}"
    );
    browser
        .click("#rule-notes-after-30-days form[action$='/retention/dry-run'] button")
        .await;
    // The click navigates: wait for the report's text, not for an element the old page
    // may also have had (it goes stale under our feet).
    browser
        .wait_for_text("main section.record", "Would delete 1")
        .await;
    assert!(
        !browser.source().await.contains("Called to cancel"),
        "the example is masked"
    );
    std::fs::write(
        dir.join("retention-dry-run.png"),
        browser.screenshot().await,
    )
    .expect("screenshot written");
    browser.goto(&app.url("/console/w/aulm/retention")).await;
    browser
        .click("#rule-notes-after-30-days form[action$='/retention/run'] button")
        .await;
    browser.wait_for_text("p.notice", "Started 1 run").await;
    let mut completed = false;
    for _ in 0..50 {
        browser.goto(&app.url("/console/w/aulm/retention")).await;
        let last = browser.wait_for("#rule-notes-after-30-days").await;
        if browser.text(&last).await.contains("completed") {
            completed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(
        completed,
        "the run completed and shows as the rule's last run"
    );
    let last = browser.wait_for("#rule-notes-after-30-days").await;
    let text = browser.text(&last).await;
    assert!(
        text.contains("1 deleted") && text.contains("holds"),
        "{text}"
    );
    std::fs::write(
        dir.join("console-retention.png"),
        browser.screenshot().await,
    )
    .expect("screenshot written");
    browser.goto(&app.url("/p/aulm/retention")).await;
    let status = browser.wait_for("p.status").await;
    assert!(browser.text(&status).await.contains("Every promise held"));
    std::fs::write(
        dir.join("privacy-retention.png"),
        browser.screenshot().await,
    )
    .expect("screenshot written");

    // A new policy draft goes through the review: the check, when it may apply, the diff against
    // the version in force and the text; publishing it puts it in force.
    browser.goto(&app.url("/console/w/aulm/policy")).await;
    browser
        .click("form[action='/console/w/aulm/policy/new'] button")
        .await;
    browser
        .wait_for_url("the new draft", |url| {
            path_of(url) == "/console/w/aulm/policy/2"
        })
        .await;
    browser
        .click("a[href='/console/w/aulm/policy/2/publish']")
        .await;
    // The support notes added above have no purpose yet: the review names it, offers no button.
    browser
        .wait_for_text(
            "section[aria-labelledby='check-h']",
            "data category 'support.note': no purpose uses it",
        )
        .await;
    assert!(
        browser
            .find("form[action='/console/w/aulm/policy/2/publish']")
            .await
            .is_none(),
        "no publish form while the check has errors"
    );
    let key = app.api_key("aulm", &["inventory:write"]);
    call_all(
        &app,
        &key,
        [(
            reqwest::Method::PUT,
            "/api/v1/inventory/purposes/support-notes",
            json!({"key": "support-notes", "name": "Keeping notes of support requests",
                   "legal_basis": "contract", "categories": ["support.note"]}),
        )],
    )
    .await;
    browser
        .goto(&app.url("/console/w/aulm/policy/2/publish"))
        .await;
    let check = browser
        .wait_for_text(
            "section[aria-labelledby='check-h']",
            "complete and consistent",
        )
        .await;
    assert!(!check.contains("Error"), "{check}");
    browser
        .wait_for_text("#diff-h", "Changes from version 1, in force now")
        .await;
    std::fs::write(
        dir.join("console-publish-review.png"),
        browser.screenshot().await,
    )
    .expect("screenshot written");
    browser
        .click("form[action='/console/w/aulm/policy/2/publish'] button[type=submit]")
        .await;
    browser
        .wait_for_url("the policy list", |url| {
            path_of(url) == "/console/w/aulm/policy"
        })
        .await;
    browser.wait_for_text("main table", "in force").await;
    browser.goto(&app.url("/console/")).await;

    // Log out from the top bar: back to the login page, and the session is gone.
    browser
        .click("header.topbar form[action='/console/logout'] button")
        .await;
    browser
        .wait_for_url("the login page", |url| {
            path_of(url).starts_with("/console/login")
        })
        .await;
    browser.wait_for("#email").await;
    let notice = browser.wait_for("p.notice").await;
    assert_eq!(browser.text(&notice).await, "You are logged out.");
    browser.goto(&app.url("/console/")).await;
    browser
        .wait_for_url("the login page after logout", |url| {
            path_of(url).starts_with("/console/login")
        })
        .await;

    browser.quit().await;
    println!("browser test took {:.1?}", started.elapsed());
}

/// A note category, the subject `cus_1` and one note about them, through the API.
async fn seed_subject(app: &helpers::TestApp) {
    let key = app.api_key("aulm", &["records:write", "inventory:write"]);
    let calls = [
        (
            reqwest::Method::PUT,
            "/api/v1/inventory/categories/support.note",
            json!({"key": "support.note", "name": "Support notes", "sensitivity": "normal",
                   "fields": [{"name": "text"}]}),
        ),
        (
            reqwest::Method::POST,
            "/api/v1/subjects",
            json!({"external_id": "cus_1", "email": "grace.hopper@example.org", "kind": "customer"}),
        ),
        (
            reqwest::Method::POST,
            "/api/v1/records",
            json!({"records": [{"category": "support.note", "subject": "cus_1",
                   "occurred_at": "2026-11-20T10:00:00Z",
                   "fields": {"text": "Asked to move the booking to Saturday"}}]}),
        ),
    ];
    call_all(app, &key, calls).await;
}

/// Makes API calls that must all succeed.
async fn call_all(
    app: &helpers::TestApp,
    key: &str,
    calls: impl IntoIterator<Item = (reqwest::Method, &str, Value)>,
) {
    for (method, path, body) in calls {
        let res = app
            .client
            .request(method, app.url(path))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            res.status().is_success(),
            "{path}: {}",
            res.text().await.unwrap()
        );
    }
}

/// A note of `cus_1` from 60 days ago and a rule that deletes notes after 30 days.
async fn seed_old_note_and_rule(app: &helpers::TestApp) {
    let key = app.api_key("aulm", &["records:write", "inventory:write"]);
    let old = (chrono::Utc::now() - chrono::Duration::days(60)).to_rfc3339();
    let calls = [
        (
            reqwest::Method::POST,
            "/api/v1/records",
            json!({"records": [{"category": "support.note", "subject": "cus_1",
                   "occurred_at": old, "fields": {"text": "Called to cancel the old booking"}}]}),
        ),
        (
            reqwest::Method::PUT,
            "/api/v1/inventory/retention-rules/notes-after-30-days",
            json!({"key": "notes-after-30-days", "category": "support.note",
                   "trigger": "collected", "days": 30, "action": "delete",
                   "schedule": "0 4 * * *"}),
        ),
    ];
    call_all(app, &key, calls).await;
}

/// Base64 of the SHA-256 of the certificate's DER SubjectPublicKeyInfo: what
/// `--ignore-certificate-errors-spki-list` wants. Cross-checked with `openssl` when it is there.
fn spki_sha256_base64(cert_pem: &[u8]) -> String {
    let pem = std::str::from_utf8(cert_pem).expect("PEM is text");
    let b64: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE-----"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    let der = BASE64.decode(b64.trim()).expect("certificate base64");
    let pin = BASE64.encode(Sha256::digest(subject_public_key_info(&der)));
    if let Some(theirs) = openssl_spki_pin(cert_pem) {
        assert_eq!(pin, theirs, "SPKI pin disagrees with openssl");
    }
    pin
}

/// Certificate ::= SEQUENCE { tbsCertificate, ... }; TBSCertificate ::= SEQUENCE { [0] version
/// OPTIONAL, serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo, ... }.
fn subject_public_key_info(cert: &[u8]) -> &[u8] {
    let (_, certificate) = der_element(cert);
    let (_, tbs) = der_element(der_content(certificate));
    let mut rest = der_content(tbs);
    if rest[0] == 0xa0 {
        rest = der_element(rest).0;
    }
    for _ in 0..5 {
        rest = der_element(rest).0;
    }
    let (_, spki) = der_element(rest);
    assert_eq!(spki[0], 0x30, "SubjectPublicKeyInfo is not a SEQUENCE");
    spki
}

/// Splits one DER element (tag, length, content) off the front: (what follows, the element).
fn der_element(input: &[u8]) -> (&[u8], &[u8]) {
    let (header, len) = der_header(input);
    let (element, rest) = input.split_at(header + len);
    (rest, element)
}

fn der_content(element: &[u8]) -> &[u8] {
    let (header, len) = der_header(element);
    &element[header..header + len]
}

/// (header length, content length) of a DER element with a one-byte tag.
fn der_header(input: &[u8]) -> (usize, usize) {
    assert!(input.len() >= 2, "truncated DER");
    let first = input[1] as usize;
    if first < 0x80 {
        return (2, first);
    }
    let n = first & 0x7f;
    assert!(
        (1..=4).contains(&n) && input.len() >= 2 + n,
        "bad DER length"
    );
    let len = input[2..2 + n]
        .iter()
        .fold(0usize, |acc, b| (acc << 8) | *b as usize);
    assert!(input.len() >= 2 + n + len, "truncated DER");
    (2 + n, len)
}

fn openssl_spki_pin(cert_pem: &[u8]) -> Option<String> {
    let found = Command::new("which")
        .arg("openssl")
        .stdout(Stdio::null())
        .status();
    if !found.is_ok_and(|s| s.success()) {
        return None;
    }
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(cert_pem)
        .expect("PEM to openssl");
    let out = child.wait_with_output().expect("openssl finishes");
    assert!(
        out.status.success(),
        "openssl failed on Lethe's certificate"
    );
    Some(
        String::from_utf8(out.stdout)
            .expect("base64")
            .trim()
            .to_owned(),
    )
}

/// A headless Chromium session, with the chromedriver and the profile directory it owns.
/// Dropping it (also when the test panics) ends the session, then kills chromedriver.
struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:PORT`
    driver: String,
    driver_port: u16,
    session: Option<String>,
    chromedriver: Child,
    log: PathBuf,
    _profile: TempDir,
}

struct WebDriverError {
    error: String,
    message: String,
}

impl std::fmt::Display for WebDriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.message)
    }
}

impl Browser {
    async fn launch(spki_pin: &str) -> Self {
        Self::launch_sized(spki_pin, (1280, 900)).await
    }

    /// A browser whose window is `width` x `height` pixels.
    async fn launch_sized(spki_pin: &str, size: (u32, u32)) -> Self {
        Self::launch_with(spki_pin, size, &[]).await
    }

    /// A browser with more command-line switches (e.g. `--host-resolver-rules`, so a test site
    /// on loopback has a real domain name and a parent domain for cookies).
    async fn launch_with(spki_pin: &str, (width, height): (u32, u32), extra: &[&str]) -> Self {
        for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            assert!(
                Path::new(path).exists(),
                "{path} is missing: the browser test needs the Debian packages chromium and \
                 chromium-driver (`apt-get install chromium chromium-driver`; .ci/run installs them). \
                 Missing package: {package}"
            );
        }
        let profile = tempfile::tempdir().expect("profile directory");
        let log = profile.path().join("chromedriver.log");
        let port = free_port();
        let chromedriver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("WebDriver client");
        let mut browser = Browser {
            http,
            driver: format!("http://127.0.0.1:{port}"),
            driver_port: port,
            session: None,
            chromedriver,
            log,
            _profile: profile,
        };
        browser.wait_until_driver_ready().await;
        let user_data = browser._profile.path().join("chromium");
        let mut args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-quic".to_owned(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", user_data.display()),
            format!("--ignore-certificate-errors-spki-list={spki_pin}"),
        ];
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "acceptInsecureCerts": false,
                    // Chromium keeps a window at least 500 pixels wide; the viewport is set
                    // to the size asked for (a desktop browser's, no touch, no mobile zoom).
                    "goog:chromeOptions": {
                        "binary": CHROMIUM,
                        "args": args,
                        "mobileEmulation": { "deviceMetrics": {
                            "width": width, "height": height, "pixelRatio": 1.0,
                            "mobile": false, "touch": false,
                        } },
                    },
                    "goog:loggingPrefs": { "browser": "ALL" },
                }
            }
        });
        let url = format!("{}/session", browser.driver);
        let created = browser
            .send(browser.http.post(url).json(&capabilities))
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "chromedriver could not start Chromium: {e}{}",
                    browser.log_tail()
                )
            });
        let id = created["sessionId"]
            .as_str()
            .expect("session id")
            .to_owned();
        browser.session = Some(id);
        browser
    }

    async fn wait_until_driver_ready(&mut self) {
        let deadline = Instant::now() + WAIT;
        let status = format!("{}/status", self.driver);
        loop {
            if let Ok(Some(exit)) = self.chromedriver.try_wait() {
                panic!("chromedriver exited at start ({exit}){}", self.log_tail());
            }
            if let Ok(res) = self.http.get(&status).send().await
                && let Ok(body) = res.json::<Value>().await
                && body["value"]["ready"] == true
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver not ready within {WAIT:?}{}",
                self.log_tail()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = log
            .lines()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!(
            "\n--- chromedriver log (last lines) ---\n{}",
            tail.join("\n")
        )
    }

    /// Sends a WebDriver command and returns its `value`, or the WebDriver error.
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value, WebDriverError> {
        let res = request.send().await.map_err(|e| WebDriverError {
            error: "transport".into(),
            message: e.to_string(),
        })?;
        let ok = res.status().is_success();
        let body: Value = res.json().await.map_err(|e| WebDriverError {
            error: "bad response".into(),
            message: e.to_string(),
        })?;
        let value = body.get("value").cloned().unwrap_or(Value::Null);
        if ok {
            Ok(value)
        } else {
            Err(WebDriverError {
                error: value["error"]
                    .as_str()
                    .unwrap_or("unknown error")
                    .to_owned(),
                message: value["message"].as_str().unwrap_or_default().to_owned(),
            })
        }
    }

    fn endpoint(&self, path: &str) -> String {
        let session = self.session.as_deref().expect("an open session");
        format!("{}/session/{session}{path}", self.driver)
    }

    async fn get(&self, path: &str) -> Value {
        self.send(self.http.get(self.endpoint(path)))
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.send(self.http.post(self.endpoint(path)).json(&body))
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    /// Signs in through the console's login form as `email` (with the tests' password) and
    /// waits for the dashboard.
    async fn log_in(&self, app: &helpers::TestApp, email: &str) {
        self.goto(&app.url("/console/login")).await;
        self.type_into("#email", email).await;
        self.type_into("#password", PASSWORD).await;
        self.click("button[type=submit]").await;
        self.wait_for_url("the dashboard", |url| url.ends_with("/console/"))
            .await;
    }

    async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
        let title = self.title().await;
        assert!(
            title != "Privacy error",
            "Chromium refused Lethe's certificate at {url}: the SPKI pin does not match it"
        );
    }

    async fn url(&self) -> String {
        self.get("/url")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn title(&self) -> String {
        self.get("/title")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn source(&self) -> String {
        self.get("/source")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The element matching a CSS selector now, if any.
    async fn find(&self, css: &str) -> Option<String> {
        let body = json!({ "using": "css selector", "value": css });
        match self
            .send(self.http.post(self.endpoint("/element")).json(&body))
            .await
        {
            Ok(v) => Some(v[ELEMENT].as_str().expect("element reference").to_owned()),
            Err(e) if e.error == "no such element" => None,
            Err(e) => panic!("finding {css}: {e}"),
        }
    }

    /// Polls for an element matching `css` for up to [`WAIT`].
    async fn wait_for(&self, css: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(element) = self.find(css).await {
                return element;
            }
            if Instant::now() >= deadline {
                panic!(
                    "no element matches `{css}` after {WAIT:?}; the browser is at {}{}",
                    self.url().await,
                    self.page_summary().await
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Polls for up to [`WAIT`] until an element matching `css` holds `needle` in its text;
    /// an element that goes stale because the page navigated is looked up again.
    async fn wait_for_text(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        let mut last = String::new();
        loop {
            if let Some(element) = self.find(css).await {
                let path = format!("/element/{element}/text");
                match self.send(self.http.get(self.endpoint(&path))).await {
                    Ok(text) => {
                        last = text.as_str().unwrap_or_default().to_owned();
                        if last.contains(needle) {
                            return last;
                        }
                    }
                    Err(e) if e.error == "stale element reference" => {}
                    Err(e) => panic!("reading the text of {css}: {e}"),
                }
            }
            if Instant::now() >= deadline {
                panic!(
                    "no `{css}` says {needle:?} after {WAIT:?} (last seen: {last:?}); the browser is at {}{}",
                    self.url().await,
                    self.page_summary().await
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Polls the current URL for up to [`WAIT`] until `wanted` holds.
    async fn wait_for_url(&self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let url = self.url().await;
            if wanted(&url) {
                return url;
            }
            if Instant::now() >= deadline {
                panic!(
                    "did not reach {what} after {WAIT:?}; the browser is at {url}{}",
                    self.page_summary().await
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The title and the start of the visible text, for failure messages.
    async fn page_summary(&self) -> String {
        let text = self
            .script("return document.body ? document.body.innerText : '';")
            .await;
        let text: String = text
            .as_str()
            .unwrap_or_default()
            .chars()
            .take(400)
            .collect();
        format!(" ({:?})\n--- page text ---\n{text}", self.title().await)
    }

    async fn type_into(&self, css: &str, text: &str) {
        let element = self.wait_for(css).await;
        self.post(
            &format!("/element/{element}/value"),
            json!({ "text": text }),
        )
        .await;
    }

    async fn clear(&self, css: &str) {
        let element = self.wait_for(css).await;
        self.post(&format!("/element/{element}/clear"), json!({}))
            .await;
    }

    async fn click(&self, css: &str) {
        let element = self.wait_for(css).await;
        self.post(&format!("/element/{element}/click"), json!({}))
            .await;
    }

    async fn text(&self, element: &str) -> String {
        self.get(&format!("/element/{element}/text"))
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn script(&self, body: &str) -> Value {
        self.post("/execute/sync", json!({ "script": body, "args": [] }))
            .await
    }

    /// The browser console's messages since the last call (chromedriver's log extension).
    async fn console_log(&self) -> Vec<String> {
        let entries = self.post("/se/log", json!({ "type": "browser" })).await;
        entries
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A PNG of the viewport.
    async fn screenshot(&self) -> Vec<u8> {
        let b64 = self.get("/screenshot").await;
        let png = BASE64
            .decode(b64.as_str().expect("screenshot base64"))
            .expect("screenshot decodes");
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n"),
            "screenshot is not a PNG"
        );
        png
    }

    /// Ends the session (Chromium quits); Drop then stops chromedriver.
    async fn quit(&mut self) {
        if self.session.is_some() {
            let url = self.endpoint("");
            self.session = None;
            if let Err(e) = self.send(self.http.delete(url)).await {
                panic!("deleting the WebDriver session: {e}");
            }
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Async is not available here (the test may be unwinding): a plain HTTP/1.1 DELETE so
        // chromedriver closes Chromium, then kill chromedriver itself.
        if let Some(session) = self.session.take()
            && let Ok(mut stream) = TcpStream::connect((Ipv4Addr::LOCALHOST, self.driver_port))
        {
            let _ = stream.set_read_timeout(Some(WAIT));
            let request = format!(
                "DELETE /session/{session} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\
                 Content-Length: 0\r\nConnection: close\r\n\r\n",
                self.driver_port
            );
            if stream.write_all(request.as_bytes()).is_ok() {
                // chromedriver answers once Chromium has quit; the start of the answer is enough.
                let _ = stream.read(&mut [0; 512]);
            }
        }
        let _ = self.chromedriver.kill();
        let _ = self.chromedriver.wait();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a free port");
    listener.local_addr().expect("bound").port()
}
