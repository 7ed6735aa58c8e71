//! Retention rules on the scheduler: one job per enabled rule, each on its own schedule.

use super::scheduler::{Job, JobSource};
use crate::error::AppError;
use crate::services::Caller;
use crate::services::retention::{RunRequest, job_name, run_rule};
use crate::store::{Db, inventory, retention as runs};
use crate::vault::Vault;
use std::sync::Arc;

/// The scheduler's jobs for every enabled rule of every workspace, each on its own schedule;
/// a rule with a run cut short is due at once, to resume it.
pub fn scheduled_rules(
    vault: Vault,
    batch: u32,
    live: Option<Arc<crate::store::writer::WriterStats>>,
) -> JobSource {
    Arc::new(move |db: &Db| {
        let (rules, open) = db.read(|c| {
            Ok::<_, AppError>((
                inventory::all_retention_rules(c)?,
                runs::rules_with_open_runs(c)?,
            ))
        })?;
        let mut jobs = Vec::new();
        for (scope, rule) in rules.into_iter().filter(|(_, r)| r.enabled) {
            let resume = open.iter().any(|(w, k)| *w == scope.id() && *k == rule.key);
            let (vault, live) = (vault.clone(), live.clone());
            let schedule = rule.schedule.clone();
            let mut job = Job::new(job_name(&scope, &rule.key), schedule, move |run| {
                let req = RunRequest {
                    rule: &rule,
                    started_by: if resume { "resume" } else { "schedule" }.into(),
                    batch,
                    resume_only: resume,
                    live: live.clone(),
                };
                let stop = || run.stop.is_set();
                let o = run_rule(
                    run.db,
                    &vault,
                    &scope,
                    &Caller::system(),
                    &req,
                    true,
                    &stop,
                    &mut |_| {},
                )?;
                if o.status == "nothing" {
                    return Ok(String::new());
                }
                Ok(format!(
                    "rule '{}': run {} {}: {}",
                    rule.key, o.run_id, o.status, o.counts
                ))
            });
            job.due_now = resume;
            jobs.push(job);
        }
        Ok(jobs)
    })
}
