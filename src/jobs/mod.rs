//! Scheduled jobs. Each job has a cron schedule (6 fields, seconds first); the scheduler sleeps
//! until the next firing, runs the job off the async workers and re-arms. Later capabilities
//! (retention, request deadlines, the outbox) register their jobs here.

use crate::config::Config;
use crate::store::Db;
use chrono::Utc;
use std::sync::Arc;

/// Starts every job on the current tokio runtime. The returned handles end with the runtime.
pub fn spawn_all(db: Db, config: Arc<Config>) -> Vec<tokio::task::JoinHandle<()>> {
    let idle = config.session_idle;
    let absolute = config.session_absolute;
    vec![spawn(
        "session-cleanup",
        config.session_cleanup_schedule.clone(),
        db,
        move |db| {
            let n = crate::services::accounts::purge_expired_sessions(db, idle, absolute)?;
            Ok(format!("removed {n} expired sessions"))
        },
    )]
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
