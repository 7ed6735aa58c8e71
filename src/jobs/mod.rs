//! Every scheduled job, registered in one place on the one [`scheduler::Scheduler`]. Each has its
//! own schedule option (`--<job>-schedule`); retention rules bring their own schedules.

mod retention;
pub mod scheduler;

use crate::config::Config;
use crate::domain::time::Clock;
use crate::services::{anchors, erasure, keys, outbox};
use crate::store::Db;
use crate::vault::Vault;
use scheduler::{Job, Scheduler};
use std::sync::Arc;

/// Unverified requests deleted per transaction.
const REQUESTS_BATCH: u32 = 100;

/// Verified requests carried out per batch by the `requests` job.
const FULFILMENT_BATCH: u32 = 10;

/// The scheduler with every job of a serving Lethe.
pub fn registry(
    db: Db,
    vault: Vault,
    config: Arc<Config>,
    base_url: String,
    clock: Arc<dyn Clock>,
    stop: scheduler::StopSignal,
    live: Arc<crate::store::writer::WriterStats>,
) -> Scheduler {
    let mut s = Scheduler::with_stop(db, clock, stop);
    let (idle, absolute) = (config.session_idle, config.session_absolute);
    s.add(Job::new(
        "session-cleanup",
        config.session_cleanup_schedule.clone(),
        move |run| {
            let n = crate::services::accounts::purge_expired_sessions(run.db, idle, absolute)?;
            Ok(summary(n, "expired sessions removed"))
        },
    ));
    let v = vault.clone();
    s.add(Job::new(
        "legal-holds",
        config.legal_holds_schedule.clone(),
        move |run| {
            let n = erasure::end_expired_holds(run.db, &v, run.now.date_naive())?;
            Ok(summary(n, "records whose legal hold ended deleted"))
        },
    ));
    let v = vault.clone();
    s.add(Job::new(
        "audit-anchor",
        config.audit_anchor_schedule.clone(),
        move |run| {
            let head = anchors::anchor_head(run.db, v.key_store(), run.now)?;
            Ok(head.map_or(String::new(), |h| {
                format!("audit chain anchored at entry {}", h.seq)
            }))
        },
    ));
    let v = vault.clone();
    s.add(Job::new(
        "period-keys",
        config.period_keys_schedule.clone(),
        move |run| {
            let n = keys::destroy_all_spent_period_keys(run.db, &v, run.now)?;
            Ok(summary(n, "spent period keys destroyed"))
        },
    ));
    let (v, batch) = (vault.clone(), config.retention_batch_size);
    s.add(
        Job::new(
            "vault-upgrade",
            config.period_keys_schedule.clone(),
            move |run| {
                let stop = || run.stop.is_set();
                let n = keys::upgrade_records(run.db, &v, batch, &stop)?;
                Ok(summary(n, "records re-sealed under period keys"))
            },
        )
        .at_start(),
    );
    let v = vault.clone();
    s.add(Job::new(
        "retention-claims",
        config.claims_schedule.clone(),
        move |run| {
            let n = crate::services::retention::check_all_claims(run.db, &v, run.now)?;
            Ok(if n == 0 {
                String::new()
            } else {
                format!("{n} retention claims are broken")
            })
        },
    ));
    s.add(Job::new(
        "own-data",
        config.own_data_schedule.clone(),
        move |run| {
            let report =
                crate::services::retention::prune_own_data(run.db, run.now, batch, &|| {
                    run.stop.is_set()
                })?;
            Ok(report.summary())
        },
    ));
    let (v, url) = (vault.clone(), base_url.clone());
    s.add(Job::new(
        "requests",
        config.requests_schedule.clone(),
        move |run| {
            let stop = || run.stop.is_set();
            let n = crate::services::request_intake::expire_unverified(
                run.db,
                run.now,
                REQUESTS_BATCH,
                &stop,
            )?;
            // request-fulfilment: verified requests Lethe carries out itself and has not yet
            // (a crash after the verification, a failure), in short batches.
            let done = crate::services::request_fulfilment::fulfil_due(
                run.db,
                &v,
                &url,
                run.now,
                FULFILMENT_BATCH,
                &stop,
            )?;
            // What systems attached to requests whose package expired.
            let forgotten = crate::services::request_tasks::forget_expired_data(
                run.db,
                run.now,
                REQUESTS_BATCH,
                &stop,
            )?;
            Ok([
                summary(n, "unverified requests deleted"),
                summary(done, "verified requests carried out"),
                summary(forgotten, "systems' attached data forgotten"),
            ]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("; "))
        },
    ));
    let (v, url) = (vault.clone(), base_url.clone());
    s.add(Job::new(
        "request-warnings",
        config.request_warnings_schedule.clone(),
        move |run| {
            let stop = || run.stop.is_set();
            let n = crate::services::request_desk::send_deadline_warnings(
                run.db, &v, &url, run.now, &stop,
            )?;
            Ok(summary(n, "requests' deadline warnings queued"))
        },
    ));
    let (v, url) = (vault.clone(), base_url.clone());
    s.add(Job::new(
        "incident-deadlines",
        config.incident_deadlines_schedule.clone(),
        move |run| {
            let stop = || run.stop.is_set();
            let n = crate::services::incident_deadlines::send_deadline_warnings(
                run.db, &v, &url, run.now, &stop,
            )?;
            Ok(summary(n, "incidents' 72-hour deadline warnings queued"))
        },
    ));
    let (v, url) = (vault.clone(), base_url.clone());
    s.add(Job::new(
        "incident-letters",
        config.incident_letters_schedule.clone(),
        move |run| {
            let stop = || run.stop.is_set();
            let n =
                crate::services::incident_letters::send_batches(run.db, &v, &url, run.now, &stop)?;
            Ok(summary(
                n,
                "people told of a breach (letters queued or counted without e-mail)",
            ))
        },
    ));
    match outbox::Sender::from_config(&config, vault.clone()) {
        Ok(sender) => {
            if sender.mailer.is_none() {
                tracing::info!(
                    job = "outbox",
                    "no SMTP server configured: e-mail stays in the outbox, readable in the console"
                );
            }
            s.add(Job::new(
                "outbox",
                config.outbox_schedule.clone(),
                move |run| outbox_pass(run.db, &sender, &base_url),
            ));
        }
        Err(e) => tracing::error!(job = "outbox", error = %e, "outbox sender not started"),
    }
    // backup: off unless --backup-dir is given.
    if let Some(settings) = config.backup.clone() {
        let data_dir = config.data_dir.clone();
        s.add(Job::new("backup", settings.schedule.clone(), move |run| {
            crate::services::backup::run_scheduled(run.db, &data_dir, &settings, run.now)
        }));
    }
    s.add_source(self::retention::scheduled_rules(vault, batch, Some(live)));
    s
}

fn summary(n: usize, what: &str) -> String {
    if n == 0 {
        String::new()
    } else {
        format!("{n} {what}")
    }
}

/// Announces policy versions that took effect, then delivers what is due. Delivery is network
/// I/O: it runs on the runtime from this blocking thread, with no transaction open.
fn outbox_pass(
    db: &Db,
    sender: &outbox::Sender,
    base_url: &str,
) -> Result<String, crate::error::AppError> {
    let announced = outbox::announce_due(db, &sender.vault, base_url)?;
    let delivered = tokio::runtime::Handle::current().block_on(outbox::deliver_due(db, sender))?;
    Ok(
        if announced == 0 && delivered == outbox::RunSummary::default() {
            String::new()
        } else {
            format!(
                "announced {announced} policy versions; sent {}, {} failed attempts",
                delivered.sent, delivered.failed_attempts
            )
        },
    )
}
