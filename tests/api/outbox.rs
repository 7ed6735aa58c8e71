//! The outbox against real parts on loopback: an SMTP sink written here receives the double
//! opt-in and the change notice; an HTTP receiver checks the webhook signature and sees a retry
//! after a 500; without SMTP the e-mail waits in the outbox, readable in the console; the Atom
//! feed lists versions and sub-processor changes.

use crate::helpers::{TestApp, spawn_app_with};
use base64::Engine;
use hmac::{KeyInit, Mac};
use lethe::config::{Config, Secret};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// Polls `check` every 50 ms until it returns Some, for at most 30 s.
pub(crate) async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) fn fast_outbox(c: &mut Config) {
    c.outbox_schedule = lethe::domain::schedule::CronSchedule::parse("* * * * * *").unwrap();
    c.outbox_retry_base = Duration::from_millis(200);
}

// ---- a tiny SMTP sink --------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub(crate) struct Mail {
    pub(crate) rcpt: Vec<String>,
    pub(crate) subject: String,
    /// The decoded text body.
    pub(crate) body: String,
}

/// Speaks just enough SMTP (no STARTTLS) and hands every message it accepts to the channel.
pub(crate) async fn smtp_sink() -> (u16, mpsc::UnboundedReceiver<Mail>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            stream.set_nodelay(true).ok();
            let tx = tx.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 sink ESMTP\r\n").await.ok()?;
                let mut rcpt = Vec::new();
                while let Some(line) = lines.next_line().await.ok()? {
                    let verb = line
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250-sink\r\n250 8BITMIME\r\n",
                        "RCPT" => {
                            rcpt.push(line[8..].trim().to_owned());
                            b"250 OK\r\n"
                        }
                        "DATA" => {
                            write.write_all(b"354 go ahead\r\n").await.ok()?;
                            let mut data = Vec::new();
                            while let Some(l) = lines.next_line().await.ok()? {
                                if l == "." {
                                    break;
                                }
                                data.push(l.strip_prefix('.').map_or(l.clone(), str::to_owned));
                            }
                            tx.send(parse_mail(std::mem::take(&mut rcpt), &data)).ok();
                            b"250 queued\r\n"
                        }
                        "QUIT" => {
                            write.write_all(b"221 bye\r\n").await.ok()?;
                            return Some(());
                        }
                        _ => b"250 OK\r\n",
                    };
                    write.write_all(reply).await.ok()?;
                }
                Some(())
            });
        }
    });
    (port, rx)
}

fn parse_mail(rcpt: Vec<String>, lines: &[String]) -> Mail {
    let split = lines
        .iter()
        .position(|l| l.is_empty())
        .unwrap_or(lines.len());
    let headers = &lines[..split];
    let header = |name: &str| {
        headers
            .iter()
            .find(|h| h.to_ascii_lowercase().starts_with(&format!("{name}:")))
            .map(|h| h[name.len() + 1..].trim().to_owned())
            .unwrap_or_default()
    };
    let raw = lines.get(split + 1..).unwrap_or_default();
    let body = match header("content-transfer-encoding")
        .to_ascii_lowercase()
        .as_str()
    {
        "base64" => String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(raw.concat())
                .expect("base64 body"),
        )
        .unwrap(),
        "quoted-printable" => decode_qp(&raw.join("\n")),
        _ => raw.join("\n"),
    };
    Mail {
        rcpt,
        subject: header("subject"),
        body,
    }
}

fn decode_qp(s: &str) -> String {
    let joined = s.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && bytes[i + 1].is_ascii_hexdigit()
            && bytes[i + 2].is_ascii_hexdigit()
        {
            let hex = [bytes[i + 1], bytes[i + 2]];
            out.push(u8::from_str_radix(std::str::from_utf8(&hex).unwrap(), 16).unwrap());
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

pub(crate) async fn next_mail(rx: &mut mpsc::UnboundedReceiver<Mail>) -> Mail {
    tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("an e-mail arrives at the sink in time")
        .expect("sink running")
}

/// The first `{base}/p/...` link in `body` that contains `marker`, as a path.
pub(crate) fn link_with(app: &TestApp, body: &str, marker: &str) -> String {
    body.split_whitespace()
        .find(|w| w.contains(marker))
        .unwrap_or_else(|| panic!("no link with {marker} in {body}"))
        .trim_start_matches(app.base.as_str())
        .to_owned()
}

// ---- helpers on Lethe ------------------------------------------------------------------------

pub(crate) async fn publish(
    app: &TestApp,
    key: &str,
    summary: &str,
    effective_at: Option<String>,
) -> i64 {
    // The check wants a category with a purpose and a rule before anything is published; the
    // recipients of these tests receive none, which it warns about: confirmed below.
    let res = app
        .client
        .put(app.url("/api/v1/inventory/categories/user.contact.email"))
        .bearer_auth(key)
        .json(&json!({"key": "user.contact.email", "name": "E-mail address", "sensitivity": "normal"}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    app.complete_for_publication(key, "user.contact.email")
        .await;
    let res = app
        .client
        .post(app.url("/api/v1/policies"))
        .bearer_auth(key)
        .json(&json!({"markdown": "# Policy\n\n{{ recipients_table() }}\n", "material": true, "summary": summary}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let v: serde_json::Value = res.json().await.unwrap();
    let res = app
        .client
        .post(app.url(&format!("/api/v1/policies/{}/publish", v["version"])))
        .bearer_auth(key)
        .json(&json!({ "effective_at": effective_at, "confirm_warnings": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        200,
        "{}",
        res.text().await.unwrap_or_default()
    );
    v["version"].as_i64().unwrap()
}

pub(crate) async fn subscribe(app: &TestApp, slug: &str, email: &str) {
    let reader = app.new_client();
    let page = reader
        .get(app.url(&format!("/p/{slug}/subscribe")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let csrf = crate::helpers::csrf_of(&page.text().await.unwrap());
    // Without the cookie's twin the form is refused.
    let forged = app
        .new_client()
        .post(app.url(&format!("/p/{slug}/subscribe")))
        .form(&[("email", email), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let res = reader
        .post(app.url(&format!("/p/{slug}/subscribe")))
        .form(&[("email", email), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("Check your inbox"));
}

pub(crate) fn count(app: &TestApp, sql: &str) -> i64 {
    app.db
        .read(|c| {
            c.query_row(sql, [], |r| r.get(0))
                .map_err(lethe::store::StoreError::from)
        })
        .unwrap()
}

// ---- the tests ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn double_opt_in_and_the_change_notice_arrive_over_smtp_once() {
    let (smtp_port, mut inbox) = smtp_sink().await;
    let app = spawn_app_with(|c| {
        fast_outbox(c);
        c.smtp_url = Some(Secret::new(format!("smtp://127.0.0.1:{smtp_port}")));
        c.mail_from = Some("Privacy at News <privacy@news.example>".into());
    })
    .await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "news");
    let key = app.api_key("news", &["inventory:read", "inventory:write"]);

    subscribe(&app, "news", "reader@example.org").await;
    let confirmation = next_mail(&mut inbox).await;
    assert_eq!(confirmation.rcpt, ["<reader@example.org>"]);
    assert!(confirmation.subject.contains("Confirm"), "{confirmation:?}");
    let confirm = link_with(&app, &confirmation.body, "/subscribe/confirm/");
    let res = app
        .new_client()
        .get(app.url(&confirm))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("You are subscribed"));
    // The link works once.
    let again = app
        .new_client()
        .get(app.url(&confirm))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);

    let version = publish(&app, &key, "We now use a payment processor", None).await;
    let notice = next_mail(&mut inbox).await;
    assert_eq!(notice.rcpt, ["<reader@example.org>"]);
    assert!(
        notice.subject.contains("news Ltd")
            && notice.subject.contains(&format!("version {version}")),
        "{notice:?}"
    );
    assert!(notice.body.contains("We now use a payment processor"));
    assert!(
        notice
            .body
            .contains(&format!("{}/p/news/privacy", app.base))
    );
    let unsubscribe = link_with(&app, &notice.body, "/unsubscribe/");

    // Exactly once: the version is recorded as announced, and announcing again finds nothing.
    assert_eq!(
        lethe::services::outbox::announce_due(&app.db, &app.vault, &app.base).unwrap(),
        0
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM outbox_messages WHERE subject LIKE '%privacy policy version%'"
        ),
        1
    );
    let sent = eventually("both messages marked sent", async || {
        let n = count(
            &app,
            "SELECT count(*) FROM outbox_messages WHERE status = 'sent'",
        );
        (n == 2).then_some(n)
    })
    .await;
    assert_eq!(sent, 2);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM delivery_attempts WHERE status = 'ok'"
        ),
        2
    );

    // The unsubscribe link asks before it acts, then removes the address.
    let reader = app.new_client();
    let page = reader.get(app.url(&unsubscribe)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csrf = crate::helpers::csrf_of(&page.text().await.unwrap());
    let res = reader
        .post(app.url(&unsubscribe))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(count(&app, "SELECT count(*) FROM policy_subscribers"), 0);
}

/// What the receiver saw: (signature valid, status answered, body).
pub type Seen = Arc<Mutex<Vec<(bool, u16, String)>>>;

/// An HTTP/1.1 receiver that checks `Lethe-Signature` with the secret in `secret`, answers 500 to
/// the first valid delivery when `fail_first`, and 200 otherwise (401 to a bad signature).
pub async fn webhook_receiver(secret: Arc<Mutex<String>>, fail_first: bool) -> (u16, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Seen = Arc::default();
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let (head, body) = loop {
                let n = stream.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break (String::new(), String::new());
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some((head, rest)) = text.split_once("\r\n\r\n") {
                    let length: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if rest.len() >= length {
                        break (head.to_owned(), rest[..length].to_owned());
                    }
                }
            };
            if head.is_empty() {
                continue;
            }
            let signature = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("lethe-signature")
                        .then(|| v.trim().to_owned())
                })
                .unwrap_or_default();
            let key = secret.lock().unwrap().clone();
            let valid = signature_is_valid(&key, &signature, &body);
            let status = {
                let mut seen = record.lock().unwrap();
                let status = if !valid {
                    401
                } else if !fail_first || seen.iter().any(|(ok, _, _)| *ok) {
                    200
                } else {
                    500
                };
                seen.push((valid, status, body));
                status
            };
            let response =
                format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            stream.write_all(response.as_bytes()).await.ok();
            stream.shutdown().await.ok();
        }
    });
    (port, seen)
}

/// The receiver's side of the contract, written out independently of Lethe's code.
fn signature_is_valid(secret: &str, header: &str, body: &str) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = value.parse::<i64>().ok(),
            Some(("v1", value)) => v1 = hex::decode(value).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    if (chrono::Utc::now().timestamp() - t).abs() > 300 {
        return false;
    }
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    mac.verify_slice(&v1).is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_webhook_is_retried_after_a_500_and_every_attempt_is_recorded() {
    let secret = Arc::new(Mutex::new(String::new()));
    let (port, seen) = webhook_receiver(secret.clone(), true).await;
    let app = spawn_app_with(|c| {
        fast_outbox(c);
        c.webhook_allow_private = true;
    })
    .await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "hooks");
    let key = app.api_key("hooks", &["inventory:read", "inventory:write"]);
    let console = app.logged_in("ada@example.org").await;

    let (status, csrf, _) = app.page(&console, "/console/w/hooks/webhooks").await;
    assert_eq!(status, 200);
    let url = format!("http://127.0.0.1:{port}/lethe");
    let res = app
        .post_form(
            &console,
            "/console/w/hooks/webhooks",
            &[("csrf", &csrf), ("url", &url)],
        )
        .await;
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    let shown = page
        .split("id=\"new-secret\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("the secret is shown once")
        .to_owned();
    assert!(shown.starts_with("whsec_"));
    *secret.lock().unwrap() = shown.clone();
    let (_, _, later) = app.page(&console, "/console/w/hooks/webhooks").await;
    assert!(
        later.contains(&url) && !later.contains(&shown),
        "secret shown again"
    );
    // Stored sealed under the instance's secrets key: not in the database file in the clear.
    let stored: String = app
        .db
        .read(|c| {
            c.query_row("SELECT secret FROM webhook_endpoints", [], |r| r.get(0))
                .map_err(lethe::store::StoreError::from)
        })
        .unwrap();
    assert!(lethe::vault::is_sealed(&stored) && !stored.contains(&shown["whsec_".len()..]));

    let version = publish(&app, &key, "Webhooks now tell you", None).await;
    let deliveries = eventually("a retry after the 500", async || {
        let seen = seen.lock().unwrap().clone();
        (seen.len() >= 2).then_some(seen)
    })
    .await;
    assert!(
        deliveries.iter().all(|(valid, _, _)| *valid),
        "{deliveries:?}"
    );
    assert_eq!(deliveries[0].1, 500);
    assert_eq!(deliveries[1].1, 200);
    let event: serde_json::Value = serde_json::from_str(&deliveries[1].2).unwrap();
    assert_eq!(event["event"], "policy.published");
    assert_eq!(event["version"], version);
    assert_eq!(event["material"], true);
    assert_eq!(event["summary"], "Webhooks now tell you");
    assert_eq!(event["url"], format!("{}/p/hooks/privacy", app.base));
    assert!(event["effective_at"].is_string());

    // Two delivery records: the 500 with its error, then the success.
    eventually("the message marked sent", async || {
        (count(
            &app,
            "SELECT count(*) FROM outbox_messages WHERE status = 'sent'",
        ) == 1)
            .then_some(())
    })
    .await;
    let attempts: Vec<(String, Option<String>)> = app
        .db
        .read(|c| {
            let mut stmt = c.prepare("SELECT status, error FROM delivery_attempts ORDER BY id")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(lethe::store::StoreError::from)
        })
        .unwrap();
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert_eq!(attempts[0].0, "error");
    assert!(attempts[0].1.as_deref().unwrap_or_default().contains("500"));
    assert_eq!(attempts[1], ("ok".to_owned(), None));
    let (_, _, page) = app.page(&console, "/console/w/hooks/webhooks").await;
    assert!(page.contains("HTTP 500") && page.contains("delivered"));

    // A support agent sees the list but may not add endpoints.
    app.add_member("hooks", "sam@example.org", "support");
    let support = app.logged_in("sam@example.org").await;
    let (status, csrf, page) = app.page(&support, "/console/w/hooks/webhooks").await;
    assert_eq!(status, 200);
    assert!(!page.contains("Add an endpoint"));
    let res = app
        .post_form(
            &support,
            "/console/w/hooks/webhooks",
            &[("csrf", &csrf), ("url", &url)],
        )
        .await;
    assert_eq!(res.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_smtp_the_email_waits_in_the_outbox_and_the_console_shows_it() {
    let app = spawn_app_with(fast_outbox).await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "quiet");
    subscribe(&app, "quiet", "reader@example.org").await;

    // A sender run delivers nothing and attempts nothing: there is no SMTP server.
    let sender = lethe::services::outbox::Sender::from_config(
        &Config::with_data_dir("unused"),
        app.vault.clone(),
    )
    .unwrap();
    let run = lethe::services::outbox::deliver_due(&app.db, &sender)
        .await
        .unwrap();
    assert_eq!(run, Default::default());
    assert_eq!(count(&app, "SELECT count(*) FROM delivery_attempts"), 0);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM outbox_messages WHERE status = 'queued' AND attempts = 0"
        ),
        1
    );

    let console = app.logged_in("ada@example.org").await;
    let (status, _, page) = app.page(&console, "/console/w/quiet/outbox").await;
    assert_eq!(status, 200);
    assert!(page.contains("No SMTP server is configured"));
    assert!(page.contains("reader@example.org") && page.contains("queued"));
    assert!(
        page.contains("/p/quiet/subscribe/confirm/"),
        "the e-mail is readable"
    );

    // Asking again at once sends nothing more: the form cannot flood an inbox.
    subscribe(&app, "quiet", "reader@example.org").await;
    assert_eq!(count(&app, "SELECT count(*) FROM outbox_messages"), 1);

    // Invalid addresses are refused with the field named.
    let reader = app.new_client();
    let form = reader
        .get(app.url("/p/quiet/subscribe"))
        .send()
        .await
        .unwrap();
    let csrf = crate::helpers::csrf_of(&form.text().await.unwrap());
    let res = reader
        .post(app.url("/p/quiet/subscribe"))
        .form(&[("email", "not an address"), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_atom_feed_has_an_entry_per_version_and_per_subprocessor_change() {
    let app = spawn_app_with(|_| {}).await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "feedy");
    // Material versions one after the other, each in force at once.
    app.set_notice_days("feedy", 0);
    let key = app.api_key("feedy", &["inventory:read", "inventory:write"]);
    let recipient = |k: &str, name: &str| json!({"key": k, "name": name, "role": "processor", "purpose": "hosting", "country": "DE", "safeguard": "not_a_transfer"});
    let put = async |k: &str, body: serde_json::Value| {
        let res = app
            .client
            .put(app.url(&format!("/api/v1/inventory/recipients/{k}")))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success());
    };
    put("host", recipient("host", "Hosting & Co <Ltd>")).await;
    publish(&app, &key, "First", None).await;
    put("mail", recipient("mail", "Mail delivery")).await;
    publish(&app, &key, "Adds mail delivery", None).await;
    let later = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    publish(&app, &key, "Scheduled", Some(later)).await;

    let res = app
        .new_client()
        .get(app.url("/p/feedy/feed.atom"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/atom+xml")
    );
    let xml = res.text().await.unwrap();
    assert!(
        xml.starts_with("<?xml") && xml.contains("<feed xmlns=\"http://www.w3.org/2005/Atom\">")
    );
    assert_eq!(xml.matches("<entry>").count(), 4, "{xml}");
    assert_eq!(xml.matches("</entry>").count(), 4);
    assert!(xml.contains("Privacy policy version 1") && xml.contains("Privacy policy version 2"));
    assert!(
        !xml.contains("version 3"),
        "a scheduled version is not in the feed yet"
    );
    assert_eq!(xml.matches("Sub-processors changed").count(), 2);
    assert!(xml.contains("Added: Mail delivery (hosting, DE)."));
    assert!(xml.contains("Hosting &amp; Co &lt;Ltd&gt;") && !xml.contains("Co <Ltd>"));
    assert_eq!(
        app.new_client()
            .get(app.url("/p/nobody/feed.atom"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_fails_after_its_attempts_and_a_failing_endpoint_is_disabled() {
    // A port nobody listens on: every delivery is refused.
    let dead = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = dead.local_addr().unwrap().port();
    drop(dead);
    let app = spawn_app_with(|c| {
        fast_outbox(c);
        c.webhook_allow_private = true;
        c.outbox_max_attempts = 2;
        c.webhook_disable_after = 3;
    })
    .await;
    let owner = app.create_admin("ada@example.org");
    let scope = app.create_workspace(owner, "flaky");
    // Material versions one after the other, each in force at once.
    app.set_notice_days("flaky", 0);
    let key = app.api_key("flaky", &["inventory:read", "inventory:write"]);
    let url = format!("http://127.0.0.1:{port}/hook");
    lethe::services::outbox::create_endpoint(
        &app.db,
        &app.vault,
        &lethe::services::Caller::system(),
        &scope,
        &url,
        None,
        true,
    )
    .unwrap();

    publish(&app, &key, "First", None).await;
    eventually("the message failed after two attempts", async || {
        (count(
            &app,
            "SELECT count(*) FROM outbox_messages WHERE status = 'failed' AND attempts = 2",
        ) == 1)
            .then_some(())
    })
    .await;
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM delivery_attempts WHERE status = 'error'"
        ),
        2
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM webhook_endpoints WHERE disabled_at IS NULL AND consecutive_failures = 2"
        ),
        1
    );

    // One more failure in a row disables the endpoint; the message is not retried.
    publish(&app, &key, "Second", None).await;
    eventually("the endpoint disabled", async || {
        (count(
            &app,
            "SELECT count(*) FROM webhook_endpoints WHERE disabled_at IS NOT NULL",
        ) == 1)
            .then_some(())
    })
    .await;
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM outbox_messages WHERE status = 'disabled' AND attempts = 1"
        ),
        1
    );
    let console = app.logged_in("ada@example.org").await;
    let (_, _, page) = app.page(&console, "/console/w/flaky/webhooks").await;
    assert!(page.contains("disabled") && page.contains("after 3 failures"));

    // Another workspace's owner neither sees nor deletes this endpoint.
    let other = app.create_admin("eve@example.org");
    app.create_workspace(other, "other");
    let eve = app.logged_in("eve@example.org").await;
    let (status, _, _) = app.page(&eve, "/console/w/flaky/webhooks").await;
    assert_eq!(status, 404);
    let (_, csrf, _) = app.page(&eve, "/console/w/other/webhooks").await;
    let endpoint: i64 = count(&app, "SELECT id FROM webhook_endpoints");
    let res = app
        .post_form(
            &eve,
            &format!("/console/w/other/webhooks/{endpoint}/delete"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status(), 404);
    assert_eq!(count(&app, "SELECT count(*) FROM webhook_endpoints"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_material_change_is_announced_at_publication_before_it_applies() {
    let (smtp_port, mut inbox) = smtp_sink().await;
    let app = spawn_app_with(|c| {
        fast_outbox(c);
        c.smtp_url = Some(Secret::new(format!("smtp://127.0.0.1:{smtp_port}")));
        c.mail_from = Some("Privacy at News <privacy@news.example>".into());
    })
    .await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "news");
    let key = app.api_key("news", &["inventory:read", "inventory:write"]);
    publish(&app, &key, "First version", None).await;
    subscribe(&app, "news", "reader@example.org").await;
    let confirmation = next_mail(&mut inbox).await;
    let confirm = link_with(&app, &confirmation.body, "/subscribe/confirm/");
    let res = app
        .new_client()
        .get(app.url(&confirm))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // Inside the 30 days' notice a material change is refused…
    let soon = (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339();
    let res = app
        .client
        .post(app.url("/api/v1/policies"))
        .bearer_auth(&key)
        .json(&json!({"markdown": "# Policy v2\n\n{{ categories_table() }}\n", "material": true, "summary": "We add a payment processor"}))
        .send()
        .await
        .unwrap();
    let draft: serde_json::Value = res.json().await.unwrap();
    let res = app
        .client
        .post(app.url(&format!("/api/v1/policies/{}/publish", draft["version"])))
        .bearer_auth(&key)
        .json(&json!({ "effective_at": soon }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let problem: serde_json::Value = res.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "effective_at", "{problem}");
    // …and an API key cannot waive the notice: that is an owner's decision in the console.
    let res = app
        .client
        .post(app.url(&format!("/api/v1/policies/{}/publish", draft["version"])))
        .bearer_auth(&key)
        .json(&json!({ "effective_at": soon, "notice_waiver": "new law" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let problem = res.text().await.unwrap();
    assert!(problem.contains("notice_waiver"), "{problem}");

    // Scheduled after the notice period, it is announced now, with the day it applies.
    let later = chrono::Utc::now() + chrono::Duration::days(31);
    let res = app
        .client
        .post(app.url(&format!("/api/v1/policies/{}/publish", draft["version"])))
        .bearer_auth(&key)
        .json(&json!({ "effective_at": later.to_rfc3339() }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let notice = next_mail(&mut inbox).await;
    let day = later.format("%Y-%m-%d").to_string();
    assert!(
        notice.subject.contains("takes effect on") && notice.subject.contains(&day),
        "{notice:?}"
    );
    assert!(
        notice
            .body
            .contains("until then the current version applies")
            && notice.body.contains("We add a payment processor"),
        "{}",
        notice.body
    );
    // The privacy center shows the coming version beside the one in force.
    let page = app.public_page("/p/news/privacy").await;
    assert!(
        page.contains("A new version takes effect on")
            && page.contains("We add a payment processor"),
        "{page}"
    );
}
