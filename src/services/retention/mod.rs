//! Retention: the inventory's rules run on their schedules (or by hand, or dry), over the vault
//! and over Lethe's own data, and their claims are checked against what is stored.
//!
//! - `runner`: one rule's run in batches that survive a crash and resume;
//! - `dry_run`: what a run would do, with masked examples;
//! - `claims`: each rule's promise counted against the data;
//! - `own_data`: Lethe's own tables under their rules (audit log behind a checkpoint);
//! - here: starting runs (lease, audit, what follows a run), the scheduler's rule jobs, and the
//!   views the API and the console show.

mod claims;
mod dry_run;
mod own_data;
mod runner;
mod status;

pub use claims::{check_all_claims, check_claims};
pub use dry_run::{DryRunReport, Example, dry_run};
pub use own_data::{OwnDataReport, own_data_rules, prune_own_data, set_own_data_rule};
pub use status::{
    ClaimView, DailyClaim, JobSuccesses, RuleMetrics, RuleStatus, RunView, SubjectFate,
    broken_claims, get_run, list_runs, metrics, published_claims, rule_statuses, subject_fates,
};

use super::Caller;
use crate::domain::inventory::{Inventory, RetentionRule, RetentionTrigger};
use crate::domain::retention::{self, RunCounts};
use crate::error::AppError;
use crate::store::retention as runs;
use crate::store::writer::WriterStats;
use crate::store::{Db, WorkspaceScope, audit, inventory, jobs, subjects};
use crate::vault::Vault;
use chrono::{DateTime, Utc};
use serde_json::json;
use std::sync::Arc;

/// A run to make.
pub struct RunRequest<'a> {
    pub rule: &'a RetentionRule,
    /// "schedule", "resume", or who started it by hand.
    pub started_by: String,
    /// Records per transaction.
    pub batch: u32,
    /// Only resume an unfinished run; do not start a new one (the scheduler's resume jobs,
    /// which may find that another process finished it meanwhile).
    pub resume_only: bool,
    /// The live record writer of this process, if any: before each batch's transaction the run
    /// lets its queued batches through first, so a job never makes live writes wait on it.
    pub live: Option<Arc<WriterStats>>,
}

/// Where a run got to, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub counts: RunCounts,
    /// Records the run will look at in all (an estimate while it runs).
    pub total: u64,
}

#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub run_id: i64,
    /// `completed`, `interrupted` (it resumes at the next start) or `nothing` (nothing to
    /// resume).
    pub status: &'static str,
    pub counts: RunCounts,
}

fn lease_name(scope: &WorkspaceScope) -> String {
    format!("retention/{}", scope.id())
}

/// The scheduler's name of a rule's job.
pub fn job_name(scope: &WorkspaceScope, rule_key: &str) -> String {
    format!("retention/{}/{rule_key}", scope.id())
}

/// Who runs retention in a workspace now, if anyone (for a clear refusal or a notice).
pub fn run_in_progress(db: &Db, scope: &WorkspaceScope) -> Result<bool, AppError> {
    let now = Utc::now();
    Ok(db
        .read(|c| jobs::lease_holder(c, &lease_name(scope), now))?
        .is_some())
}

/// Runs a rule now (or resumes its unfinished run): one run at a time per workspace, so it waits
/// for another run of the workspace to end when `wait` (the scheduler, the shell), and is refused
/// with a conflict otherwise. After the run, the rule's claim is checked and people whose account
/// closed long enough ago and of whom nothing is left lose their key.
#[allow(clippy::too_many_arguments)]
pub fn run_rule(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    caller: &Caller,
    req: &RunRequest<'_>,
    wait: bool,
    stop: &dyn Fn() -> bool,
    progress: &mut dyn FnMut(&Progress),
) -> Result<RunOutcome, AppError> {
    let holder = uuid::Uuid::new_v4().to_string();
    if !runner::take_lease(db, scope, &holder, wait, stop)? {
        return Ok(RunOutcome {
            run_id: 0,
            status: "interrupted",
            counts: RunCounts::default(),
        });
    }
    let result = run_holding_lease(db, vault, scope, caller, req, &holder, stop, progress);
    release(db, scope, &holder);
    result
}

#[allow(clippy::too_many_arguments)]
fn run_holding_lease(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    caller: &Caller,
    req: &RunRequest<'_>,
    holder: &str,
    stop: &dyn Fn() -> bool,
    progress: &mut dyn FnMut(&Progress),
) -> Result<RunOutcome, AppError> {
    if req.resume_only
        && db
            .read(|c| runs::open_run(c, scope, &req.rule.key))?
            .is_none()
    {
        return Ok(RunOutcome {
            run_id: 0,
            status: "nothing",
            counts: RunCounts::default(),
        });
    }
    let result = runner::run(db, vault, scope, req, holder, stop, progress);
    match &result {
        Ok(o) if o.status == "completed" => {
            after_run(db, vault, scope, caller, req.rule, o)?;
        }
        Ok(_) => {}
        // The run row stays `running`: the next pass resumes it from its last batch.
        Err(e) => tracing::error!(rule = %req.rule.key, error = %e, "retention run failed"),
    }
    result
}

fn release(db: &Db, scope: &WorkspaceScope, holder: &str) {
    if let Err(e) = db.write(|tx| jobs::release_lease(tx, &lease_name(scope), holder)) {
        tracing::error!(error = %e, "releasing a retention lease failed; it expires by itself");
    }
}

/// Runs started by hand ([`start_in_background`]) go in two steps so the caller learns the run
/// ids at once: [`start_runs`] takes the workspace's lease (or refuses: another run is in
/// progress) and writes a run row per rule; [`finish_runs`], in the background, runs them and
/// lets the lease go. Rows written but never run (a crash in between) resume at the next start.
struct StartedRuns {
    holder: String,
    runs: Vec<(RetentionRule, i64)>,
}

fn start_runs(
    db: &Db,
    scope: &WorkspaceScope,
    caller: &Caller,
    rules: Vec<RetentionRule>,
) -> Result<StartedRuns, AppError> {
    let holder = uuid::Uuid::new_v4().to_string();
    runner::take_lease(db, scope, &holder, false, &|| false)?;
    let now = Utc::now();
    let started_by = caller.actor.label();
    let made = db.write(|tx| {
        let mut out = Vec::new();
        for rule in rules {
            let id = match runs::open_run(tx, scope, &rule.key)? {
                Some(open) => open.id,
                None => runs::start_run(
                    tx,
                    scope,
                    &runs::NewRun {
                        rule_key: &rule.key,
                        category: &rule.category,
                        action: rule.action,
                        started_by: &started_by,
                        dry_run: false,
                        cutoff: retention::cutoff(&rule, now),
                        now,
                    },
                )?,
            };
            out.push((rule, id));
        }
        Ok::<_, AppError>(out)
    });
    match made {
        Ok(runs) => Ok(StartedRuns { holder, runs }),
        Err(e) => {
            release(db, scope, &holder);
            Err(e)
        }
    }
}

/// A run by hand from the API or the console: one rule, or every enabled one, started now and
/// carried on in the background (`stop` is asked between batches, e.g. at shutdown). Returns
/// each rule with its run's id at once.
#[allow(clippy::too_many_arguments)]
pub fn start_in_background(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    caller: &Caller,
    rule: Option<&str>,
    batch: u32,
    live: Option<Arc<WriterStats>>,
    stop: Arc<dyn Fn() -> bool + Send + Sync>,
) -> Result<Vec<(String, i64)>, AppError> {
    let rules = rules_to_run(db, scope, rule)?;
    if rules.is_empty() {
        return Err(crate::domain::ValidationErrors::single(
            "rule",
            "this workspace has no enabled retention rule: name one to run it by hand",
        )
        .into());
    }
    let started = start_runs(db, scope, caller, rules)?;
    let ids = started
        .runs
        .iter()
        .map(|(r, id)| (r.key.clone(), *id))
        .collect();
    let (db, vault, scope, caller) = (db.clone(), vault.clone(), *scope, caller.clone());
    tokio::task::spawn_blocking(move || {
        finish_runs(&db, &vault, &scope, &caller, started, batch, live, &|| {
            stop()
        });
    });
    Ok(ids)
}

/// Runs what [`start_runs`] wrote, one rule after the other, then lets the lease go.
#[allow(clippy::too_many_arguments)]
fn finish_runs(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    caller: &Caller,
    started: StartedRuns,
    batch: u32,
    live: Option<Arc<WriterStats>>,
    stop: &dyn Fn() -> bool,
) -> Vec<Result<RunOutcome, AppError>> {
    let mut out = Vec::new();
    for (rule, _) in &started.runs {
        let req = RunRequest {
            rule,
            started_by: caller.actor.label(),
            batch,
            resume_only: true,
            live: live.clone(),
        };
        out.push(run_holding_lease(
            db,
            vault,
            scope,
            caller,
            &req,
            &started.holder,
            stop,
            &mut |_| {},
        ));
    }
    release(db, scope, &started.holder);
    out
}

fn after_run(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    caller: &Caller,
    rule: &RetentionRule,
    outcome: &RunOutcome,
) -> Result<(), AppError> {
    let now = Utc::now();
    let event = caller
        .event("retention.run", format!("retention_rule:{}", rule.key))
        .detail(json!({ "run": outcome.run_id, "counts": outcome.counts }));
    db.write(|tx| audit::append(tx, Some(scope), &event, now))?;
    let inventory = db.read(|c| inventory::load(c, scope))?;
    if rule.trigger == RetentionTrigger::AccountClosed {
        expire_spent_subjects(db, vault, scope, &inventory, now)?;
    }
    claims::check_rule(db, scope, &inventory, rule, now)?;
    Ok(())
}

/// People whose account closed longer ago than the longest rule counted from closure, and of
/// whom nothing is left: their profile goes and their key is destroyed, so nothing of them is
/// readable in any copy. Returns how many.
pub fn expire_spent_subjects(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    inventory: &Inventory,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    let Some(longest) = inventory
        .retention_rules
        .iter()
        .filter(|r| r.trigger == RetentionTrigger::AccountClosed)
        .map(|r| r.days)
        .max()
    else {
        return Ok(0);
    };
    let closed_before = now - chrono::Duration::days(i64::from(longest));
    let spent = db.read(|c| subjects::closed_and_spent(c, scope, closed_before))?;
    for (id, external_id) in &spent {
        super::erasure::expire_subject(db, vault, scope, *id, external_id, now)?;
    }
    Ok(spent.len())
}

/// The rules (of a workspace) to run by hand: one by key, or every enabled one.
pub fn rules_to_run(
    db: &Db,
    scope: &WorkspaceScope,
    rule: Option<&str>,
) -> Result<Vec<RetentionRule>, AppError> {
    let rules = db.read(|c| inventory::load(c, scope))?.retention_rules;
    match rule {
        Some(key) => rules
            .into_iter()
            .find(|r| r.key == key)
            .map(|r| vec![r])
            .ok_or_else(|| AppError::NotFound(format!("retention rule '{key}'"))),
        None => Ok(rules.into_iter().filter(|r| r.enabled).collect()),
    }
}
