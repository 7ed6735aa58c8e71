//! Outbox throughput: e-mail messages per second from the outbox to a local SMTP sink, beside a
//! baseline that sends the same messages with the same lettre transport and no outbox (no claim,
//! no attempt records, no status updates).
//!
//! Run with `cargo bench --bench outbox`. `BENCH_MESSAGES` (default 2000) messages each way; the
//! sink is a minimal SMTP server on 127.0.0.1 in the same process. Both sides keep ten messages
//! in flight (the outbox delivers a claimed batch of ten concurrently over lettre's connection
//! pool). One SMTP conversation costs about 40 ms on loopback: lettre writes the end of DATA as a
//! separate small segment and does not set TCP_NODELAY, so it waits for the sink's delayed ACK.

// Test and measurement code: a failed step is a failed run, so it may unwrap (see [lints] in
// Cargo.toml).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use lethe::config::{Config, Secret};
use lethe::services::outbox::{OutboxKey, Outgoing, Sender, deliver_due, queue};
use lethe::store::Db;
use lethe::store::outbox::Kind;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

async fn sink(received: Arc<AtomicU64>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            // Without it, each reply waits on the client's delayed ACK (about 40 ms).
            stream.set_nodelay(true).ok();
            let received = received.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 sink ESMTP\r\n").await.ok()?;
                while let Some(line) = lines.next_line().await.ok()? {
                    let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250-sink\r\n250 8BITMIME\r\n",
                        "DATA" => {
                            write.write_all(b"354 go ahead\r\n").await.ok()?;
                            while let Some(l) = lines.next_line().await.ok()? {
                                if l == "." {
                                    break;
                                }
                            }
                            received.fetch_add(1, Ordering::Relaxed);
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
    port
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let n: u64 = std::env::var("BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let received = Arc::new(AtomicU64::new(0));
        let port = sink(received.clone()).await;
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::with_data_dir(dir.path());
        config.smtp_url = Some(Secret::new(format!("smtp://127.0.0.1:{port}")));
        config.mail_from = Some("Bench <bench@lethe.test>".into());
        let vault = lethe::vault::Vault::open(dir.path(), None).expect("vault opens");
        let sender = Sender::from_config(&config, vault.clone()).unwrap();
        let mailer = sender.mailer.clone().unwrap();
        let body = "A policy change notice of a typical length.\n".repeat(10);

        // Baseline: the same transport, no outbox, the same ten messages in flight at a time.
        let started = Instant::now();
        for chunk in (0..n).collect::<Vec<_>>().chunks(10) {
            let mut running = tokio::task::JoinSet::new();
            for i in chunk {
                let (mailer, body) = (mailer.clone(), body.clone());
                let to = format!("reader{i}@example.org");
                running.spawn(async move { mailer.send(&to, "Baseline", &body).await });
            }
            while let Some(done) = running.join_next().await {
                done.unwrap().unwrap();
            }
        }
        let baseline = started.elapsed();
        assert_eq!(received.load(Ordering::Relaxed), n);

        // The outbox: queue n messages, then let the sender deliver them.
        let db = Db::open(&config.db_path()).unwrap();
        let owner = lethe::services::accounts::create_admin(&db, "bench@example.org", "a long bench passphrase", lethe::services::accounts::OnExisting::Refuse).unwrap();
        let input = lethe::domain::workspace::WorkspaceSettingsInput {
            legal_name: "Bench Ltd".into(),
            contact_email: "privacy@bench.example".into(),
            min_age: "16".into(),
            ..Default::default()
        };
        lethe::services::workspaces::create(&db, &lethe::services::Caller::system(), owner, "bench", &input).unwrap();
        let scope = db
            .read(|c| lethe::store::workspaces::find_by_slug(c, "bench"))
            .unwrap()
            .unwrap()
            .0;
        let now = chrono::Utc::now();
        // Queued as Lethe queues them: recipient and body sealed under the workspace's key.
        let key = OutboxKey::load(&vault, &scope).unwrap();
        db.write(|tx| {
            for i in 0..n {
                let to = format!("reader{i}@example.org");
                queue(
                    tx,
                    &key,
                    &Outgoing {
                        kind: Kind::Email,
                        recipient: &to,
                        endpoint_id: None,
                        subscriber_id: None,
                        subject: "Outbox",
                        body: &body,
                    },
                    now,
                )?;
            }
            Ok::<_, lethe::error::AppError>(())
        })
        .unwrap();
        received.store(0, Ordering::Relaxed);
        let started = Instant::now();
        let mut sent = 0;
        while sent < n as usize {
            let run = deliver_due(&db, &sender).await.unwrap();
            assert_eq!(run.failed_attempts, 0);
            sent += run.sent;
        }
        let through_outbox = started.elapsed();
        assert_eq!(received.load(Ordering::Relaxed), n);

        let rate = |d: std::time::Duration| n as f64 / d.as_secs_f64();
        println!("outbox throughput to a local SMTP sink, {n} messages each:");
        println!(
            "  baseline (lettre, no outbox): {:>8.0} messages/s ({:.2} s)",
            rate(baseline),
            baseline.as_secs_f64()
        );
        println!(
            "  lethe outbox (claim, send, record): {:>8.0} messages/s ({:.2} s), {:.0}% of baseline",
            rate(through_outbox),
            through_outbox.as_secs_f64(),
            100.0 * baseline.as_secs_f64() / through_outbox.as_secs_f64()
        );
    });
}
