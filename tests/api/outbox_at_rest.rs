//! The outbox at rest: a subscriber's address, the e-mails queued for them and the working links
//! in those e-mails are in no file of the data directory in the clear, neither when Lethe writes
//! them nor after the first start on a database an older Lethe wrote in the clear; unsubscribing
//! deletes the mail still queued for the person; an SMTP reply that echoes the address is stored
//! masked.

use crate::helpers::{TestApp, spawn_app, spawn_app_in, spawn_app_with};
use crate::outbox::{count, eventually, fast_outbox, link_with, publish, subscribe};
use crate::vault_at_rest::{contains, data_files};
use lethe::config::Secret;
use lethe::services::outbox::{self as service, OpenedMessage};
use lethe::store::WorkspaceScope;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

const ADDRESS: &str = "rest.reader@example.org";

/// The workspace's messages as staff see them (opened), newest first.
fn opened(app: &TestApp, scope: &WorkspaceScope) -> Vec<OpenedMessage> {
    service::recent_messages(&app.db, &app.vault, scope, 100).unwrap()
}

/// The body of the newest message to `to` whose subject contains `subject`.
fn body_of(app: &TestApp, scope: &WorkspaceScope, to: &str, subject: &str) -> String {
    opened(app, scope)
        .into_iter()
        .filter(|m| m.message.subject.contains(subject))
        .filter_map(|m| m.content)
        .find(|c| c.recipient == to)
        .unwrap_or_else(|| panic!("no '{subject}' e-mail to {to}"))
        .body
}

/// The token at the end of a link path.
fn token_of(path: &str) -> String {
    path.rsplit('/').next().unwrap_or_default().to_owned()
}

fn assert_in_no_file(app: &TestApp, plaintexts: &[&str]) {
    let files = data_files(app.data_dir.path());
    assert!(files.iter().any(|(name, _)| name == "lethe.db"));
    for (name, bytes) in &files {
        for p in plaintexts {
            assert!(
                !contains(bytes, p.as_bytes()),
                "{name} holds '{p}' in the clear"
            );
        }
    }
}

async fn unsubscribe(app: &TestApp, path: &str) {
    let reader = app.new_client();
    let page = reader.get(app.url(path)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csrf = crate::helpers::csrf_of(&page.text().await.unwrap());
    let res = reader
        .post(app.url(path))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_subscriber_address_nor_link_token_is_in_any_file() {
    let app = spawn_app().await;
    let owner = app.create_admin("ada@example.org");
    let scope = app.create_workspace(owner, "rest");
    let key = app.api_key("rest", &["inventory:read", "inventory:write"]);

    subscribe(&app, "rest", ADDRESS).await;
    // The token is read from the message opened through the service: it is not in the database.
    let confirm = link_with(
        &app,
        &body_of(&app, &scope, ADDRESS, "Confirm"),
        "/confirm/",
    );
    let confirm_token = token_of(&confirm);
    assert_eq!(confirm_token.len(), 43, "{confirm}");
    // Staff read the queued e-mail on the console, opened.
    let console = app.logged_in("ada@example.org").await;
    let (status, _, page) = app.page(&console, "/console/w/rest/outbox").await;
    assert_eq!(status, 200);
    assert!(page.contains(ADDRESS) && page.contains(&confirm), "{page}");
    assert_in_no_file(&app, &[ADDRESS, &confirm_token]);
    let stored = count(
        &app,
        "SELECT count(*) FROM policy_subscribers WHERE email_index IS NOT NULL AND email_sealed IS NOT NULL",
    );
    assert_eq!(stored, 1);

    // The link from the sealed body works.
    let res = app
        .new_client()
        .get(app.url(&confirm))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // The change notice and its unsubscribe link are sealed too.
    publish(&app, &key, "A material change", None).await;
    service::announce_due(&app.db, &app.vault, &app.base).unwrap();
    let notice = body_of(&app, &scope, ADDRESS, "privacy policy version");
    let unsubscribe_token = token_of(&link_with(&app, &notice, "/unsubscribe/"));
    assert_in_no_file(&app, &[ADDRESS, &confirm_token, &unsubscribe_token]);

    // The address is found again by its blind index: a second request sends nothing more.
    let before = count(&app, "SELECT count(*) FROM outbox_messages");
    subscribe(&app, "rest", &ADDRESS.to_uppercase()).await;
    assert_eq!(count(&app, "SELECT count(*) FROM outbox_messages"), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsubscribing_deletes_the_mail_still_queued_for_the_person() {
    let app = spawn_app().await;
    let owner = app.create_admin("ada@example.org");
    let scope = app.create_workspace(owner, "leave");
    let key = app.api_key("leave", &["inventory:read", "inventory:write"]);
    subscribe(&app, "leave", ADDRESS).await;
    subscribe(&app, "leave", "stays@example.org").await;
    let confirm = link_with(
        &app,
        &body_of(&app, &scope, ADDRESS, "Confirm"),
        "/confirm/",
    );
    let res = app
        .new_client()
        .get(app.url(&confirm))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    publish(&app, &key, "A material change", None).await;
    service::announce_due(&app.db, &app.vault, &app.base).unwrap();
    // Without SMTP everything waits: two confirmations and the notice.
    let notice = body_of(&app, &scope, ADDRESS, "privacy policy version");
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM outbox_messages WHERE status = 'queued'"
        ),
        3
    );

    unsubscribe(&app, &link_with(&app, &notice, "/unsubscribe/")).await;
    let left = opened(&app, &scope);
    assert!(
        left.iter()
            .all(|m| m.content.as_ref().is_some_and(|c| c.recipient != ADDRESS)),
        "no queued mail to the person is left: {left:?}"
    );
    assert_eq!(left.len(), 1, "the other person's confirmation stays");
    assert_eq!(count(&app, "SELECT count(*) FROM policy_subscribers"), 1);
}

/// The schema as it was before subscribers and messages were sealed.
const OLD_MIGRATIONS: [&str; 5] = [
    include_str!("../../migrations/0001_appliance.sql"),
    include_str!("../../migrations/0002_inventory.sql"),
    include_str!("../../migrations/0003_policies.sql"),
    include_str!("../../migrations/0004_outbox.sql"),
    include_str!("../../migrations/0005_vault.sql"),
];

const OLD_ADDRESS: &str = "old.reader@example.org";
const OLD_CONFIRM: &str = "oldConfirmToken0123456789abcdefghijklmnopqr";
const OLD_UNSUBSCRIBE: &str = "oldUnsubscribeToken0123456789abcdefghijklm";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_an_older_lethe_stored_in_the_clear_is_sealed_at_the_first_start() {
    // A data directory as an older Lethe left it: addresses, bodies with working links, and an
    // SMTP reply that echoes the address, all in the clear.
    let dir = tempfile::tempdir().unwrap();
    {
        let conn = rusqlite::Connection::open(dir.path().join("lethe.db")).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        for sql in OLD_MIGRATIONS {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 5).unwrap();
        let t = "2026-01-01T00:00:00.000000Z";
        conn.execute(
            "INSERT INTO workspaces (id, slug, legal_name, contact_email, created_at, updated_at) \
             VALUES (1, 'legacy', 'Legacy Ltd', 'privacy@legacy.example', ?1, ?1)",
            [t],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO policy_subscribers (id, workspace_id, email, confirmed_at, unsubscribe_digest, created_at) \
             VALUES (1, 1, ?1, ?2, ?3, ?2)",
            rusqlite::params![OLD_ADDRESS, t, lethe::crypto::sha256_hex(OLD_UNSUBSCRIBE)],
        )
        .unwrap();
        let rejected = format!("SMTP: permanent error (550): 5.1.1 <{OLD_ADDRESS}>: unknown");
        conn.execute(
            "INSERT INTO outbox_messages (id, workspace_id, kind, recipient, subject, body, status, \
             attempts, next_attempt_at, created_at, last_error) VALUES \
             (1, 1, 'email', ?1, 'Confirm: privacy policy updates', ?2, 'failed', 1, ?3, ?3, ?4), \
             (2, 1, 'email', ?1, 'Legacy Ltd: privacy policy version 2 is in effect', ?5, 'queued', 0, ?3, ?3, NULL)",
            rusqlite::params![
                OLD_ADDRESS,
                format!("Confirm: https://lethe.example/p/legacy/subscribe/confirm/{OLD_CONFIRM}\n"),
                t,
                rejected,
                format!("Unsubscribe: https://lethe.example/p/legacy/unsubscribe/{OLD_UNSUBSCRIBE}\n"),
            ],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO delivery_attempts (message_id, at, status, latency_ms, error) VALUES (1, ?1, 'error', 3, ?2)",
            rusqlite::params![t, rejected],
        )
        .unwrap();
    }
    let before = data_files(dir.path());
    assert!(
        before
            .iter()
            .any(|(_, bytes)| contains(bytes, OLD_ADDRESS.as_bytes())),
        "the old database holds the address in the clear"
    );

    let app = spawn_app_in(dir, |_| {}).await;
    assert_in_no_file(&app, &[OLD_ADDRESS, OLD_CONFIRM, OLD_UNSUBSCRIBE]);
    for staged in ["unsealed_policy_subscribers", "unsealed_outbox_messages"] {
        assert_eq!(count(&app, &format!("SELECT count(*) FROM {staged}")), 0);
    }
    assert_eq!(
        lethe::services::outbox::seal_stored_plaintext(&app.db, &app.vault).unwrap(),
        0,
        "once is enough"
    );

    // Sealed, not lost: staff still read both messages, and the stored error is masked.
    let scope = app.scope("legacy");
    let messages = opened(&app, &scope);
    assert_eq!(messages.len(), 2);
    for m in &messages {
        assert_eq!(m.content.as_ref().unwrap().recipient, OLD_ADDRESS);
    }
    assert!(
        messages[1]
            .content
            .as_ref()
            .unwrap()
            .body
            .contains(OLD_CONFIRM)
    );
    let masked = "SMTP: permanent error (550): 5.1.1 <[address]>: unknown";
    assert_eq!(messages[1].message.last_error.as_deref(), Some(masked));
    assert_eq!(messages[1].attempts[0].error.as_deref(), Some(masked));

    // The address is found by its new blind index: asking again sends nothing.
    subscribe(&app, "legacy", OLD_ADDRESS).await;
    assert_eq!(count(&app, "SELECT count(*) FROM outbox_messages"), 2);
    // The old notice's link still unsubscribes, and deletes the notice still queued.
    unsubscribe(&app, &format!("/p/legacy/unsubscribe/{OLD_UNSUBSCRIBE}")).await;
    let left = opened(&app, &scope);
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].message.status, "failed");
    assert_eq!(count(&app, "SELECT count(*) FROM policy_subscribers"), 0);
}

/// An SMTP server that refuses every recipient, echoing the address as real servers do.
async fn refusing_smtp() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 sink ESMTP\r\n").await.ok()?;
                while let Some(line) = lines.next_line().await.ok()? {
                    let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
                    let reply = match verb.as_str() {
                        "EHLO" | "HELO" => "250-sink\r\n250 8BITMIME\r\n".to_owned(),
                        "RCPT" => format!(
                            "550 5.1.1 {}: Recipient address rejected: User unknown\r\n",
                            line.get(8..).unwrap_or_default().trim()
                        ),
                        "QUIT" => {
                            write.write_all(b"221 bye\r\n").await.ok()?;
                            return Some(());
                        }
                        _ => "250 OK\r\n".to_owned(),
                    };
                    write.write_all(reply.as_bytes()).await.ok()?;
                }
                Some(())
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smtp_reply_that_echoes_the_address_is_stored_masked() {
    let port = refusing_smtp().await;
    let app = spawn_app_with(|c| {
        fast_outbox(c);
        c.smtp_url = Some(Secret::new(format!("smtp://127.0.0.1:{port}")));
        c.mail_from = Some("Privacy <privacy@refused.example>".into());
    })
    .await;
    let owner = app.create_admin("ada@example.org");
    let scope = app.create_workspace(owner, "refused");
    subscribe(&app, "refused", ADDRESS).await;
    eventually("a refused delivery attempt", async || {
        (count(
            &app,
            "SELECT count(*) FROM delivery_attempts WHERE status = 'error'",
        ) > 0)
            .then_some(())
    })
    .await;
    let message = opened(&app, &scope).remove(0);
    let error = message.attempts[0].error.clone().unwrap_or_default();
    assert!(
        error.contains("550") && error.contains("<[address]>"),
        "the reply is kept, the address masked: {error}"
    );
    assert!(!error.to_lowercase().contains(ADDRESS));
    assert_eq!(message.message.last_error, Some(error));
    assert_in_no_file(&app, &[ADDRESS]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_reset_mail_keeps_its_link_and_address_only_sealed() {
    const STAFF: &str = "reset.staff@example.org";
    let (port, mut inbox) = crate::outbox::smtp_sink().await;
    let app = spawn_app_with(|c| {
        fast_outbox(c);
        c.smtp_url = Some(Secret::new(format!("smtp://127.0.0.1:{port}")));
        c.mail_from = Some("Lethe <lethe@acme.example>".into());
    })
    .await;
    app.create_admin(STAFF);
    let client = app.new_client();
    let (_, csrf, _) = app.page(&client, "/console/login/forgot").await;
    let res = app
        .post_form(
            &client,
            "/console/login/forgot",
            &[("email", STAFF), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status(), 200);
    let mail = crate::outbox::next_mail(&mut inbox).await;
    let link = link_with(&app, &mail.body, "/console/reset/");
    let token = token_of(&link);
    assert_eq!(token.len(), 43, "{link}");
    eventually("the reset mail marked sent", async || {
        let sent =
            "SELECT count(*) FROM outbox_messages WHERE workspace_id IS NULL AND status = 'sent'";
        (count(&app, sent) == 1).then_some(())
    })
    .await;
    // The link's token is in no file, neither is the mail's text. (The address itself is the
    // staff account's login name, which `staff.email` holds; the message's row does not.)
    assert_in_no_file(&app, &[&token, "choose a new password, open this link"]);
    let in_message = count(
        &app,
        &format!(
            "SELECT count(*) FROM outbox_messages WHERE instr(CAST(sealed AS TEXT), '{STAFF}') \
             OR instr(subject, '{STAFF}') OR instr(coalesce(last_error, ''), '{STAFF}')"
        ),
    );
    assert_eq!(in_message, 0);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM outbox_messages WHERE workspace_id IS NULL AND sealed IS NOT NULL"
        ),
        1
    );
}
