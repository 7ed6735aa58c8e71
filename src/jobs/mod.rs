//! Scheduled jobs. Each job has a cron schedule (6 fields, seconds first); the scheduler sleeps
//! until the next firing, runs the job off the async workers and re-arms. Later capabilities
//! (retention, request deadlines) register their jobs here. The outbox sender is one.

use crate::config::Config;
use crate::services::outbox;
use crate::store::Db;
use chrono::Utc;
use std::sync::Arc;

/// Starts every job on the current tokio runtime. The returned handles end with the runtime.
/// `base_url` is where people reach this server, for links in what the outbox sends.
pub fn spawn_all(
    db: Db,
    vault: crate::vault::Vault,
    config: Arc<Config>,
    base_url: String,
) -> Vec<tokio::task::JoinHandle<()>> {
    let idle = config.session_idle;
    let absolute = config.session_absolute;
    let hold_vault = vault.clone();
    let mut jobs = vec![spawn(
        "legal-holds",
        config.session_cleanup_schedule.clone(),
        db.clone(),
        move |db| {
            let today = Utc::now().date_naive();
            let n = crate::services::erasure::end_expired_holds(db, &hold_vault, today)?;
            Ok(format!("deleted {n} records whose legal hold ended"))
        },
    )];
    jobs.push(spawn(
        "session-cleanup",
        config.session_cleanup_schedule.clone(),
        db.clone(),
        move |db| {
            let n = crate::services::accounts::purge_expired_sessions(db, idle, absolute)?;
            let keys = crate::services::records::purge_idempotency_keys(db)?;
            Ok(format!(
                "removed {n} expired sessions and {keys} idempotency keys older than a day"
            ))
        },
    ));
    match outbox::Sender::from_config(&config, vault) {
        Ok(sender) => jobs.push(spawn_outbox(
            config.outbox_schedule.clone(),
            db,
            sender,
            base_url,
        )),
        Err(e) => tracing::error!(job = "outbox", error = %e, "outbox sender not started"),
    }
    jobs
}

/// The outbox job: announce policy versions that took effect, then deliver what is due. It is
/// async (delivery is network I/O); database work still runs off the async workers.
fn spawn_outbox(
    schedule: cron::Schedule,
    db: Db,
    sender: outbox::Sender,
    base_url: String,
) -> tokio::task::JoinHandle<()> {
    const NAME: &str = "outbox";
    if sender.mailer.is_none() {
        tracing::info!(
            job = NAME,
            "no SMTP server configured: e-mail stays in the outbox, readable in the console"
        );
    }
    tokio::spawn(async move {
        loop {
            let Some(next) = schedule.upcoming(Utc).next() else {
                tracing::warn!(job = NAME, "schedule has no future firing; job stopped");
                return;
            };
            let wait = (next - Utc::now()).to_std().unwrap_or_default();
            tokio::time::sleep(wait).await;
            let (base, vault) = (base_url.clone(), sender.vault.clone());
            match db
                .run(move |db| outbox::announce_due(db, &vault, &base))
                .await
            {
                Ok(0) => {}
                Ok(n) => tracing::info!(job = NAME, "announced {n} policy versions"),
                Err(e) => {
                    tracing::error!(job = NAME, error = %e, "announcing policy versions failed")
                }
            }
            match outbox::deliver_due(&db, &sender).await {
                Ok(s) if s == outbox::RunSummary::default() => {}
                Ok(s) => tracing::info!(
                    job = NAME,
                    sent = s.sent,
                    failed = s.failed_attempts,
                    "outbox run"
                ),
                Err(e) => tracing::error!(job = NAME, error = %e, "outbox run failed"),
            }
        }
    })
}

fn spawn(
    name: &'static str,
    schedule: cron::Schedule,
    db: Db,
    job: impl Fn(&Db) -> Result<String, crate::error::AppError> + Send + Sync + 'static,
) -> tokio::task::JoinHandle<()> {
    let job = Arc::new(job);
    tokio::spawn(async move {
        loop {
            let Some(next) = schedule.upcoming(Utc).next() else {
                tracing::warn!(job = name, "schedule has no future firing; job stopped");
                return;
            };
            let wait = (next - Utc::now()).to_std().unwrap_or_default();
            tokio::time::sleep(wait).await;
            let (db, job) = (db.clone(), job.clone());
            match tokio::task::spawn_blocking(move || job(&db)).await {
                Ok(Ok(summary)) => tracing::info!(job = name, "{summary}"),
                Ok(Err(e)) => tracing::error!(job = name, error = %e, "job failed"),
                Err(e) => tracing::error!(job = name, error = %e, "job panicked"),
            }
        }
    })
}
