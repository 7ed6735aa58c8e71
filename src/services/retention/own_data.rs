//! Lethe's own data under rules: the subject access log, the outbox, unconfirmed subscribers,
//! idempotency keys, run history and the audit log, each pruned in short batches. Audit
//! entries go only behind a checkpoint that keeps the rest of the chain provable.

use crate::domain::retention::{OwnData, OwnDataRule};
use crate::error::AppError;
use crate::services::Caller;
use crate::store::retention as runs;
use crate::store::{Db, audit};
use chrono::{DateTime, Duration, Utc};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnDataReport {
    pub removed: Vec<(OwnData, usize)>,
}

impl OwnDataReport {
    pub fn summary(&self) -> String {
        self.removed
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(t, n)| format!("{n} from {}", t.key()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

pub fn own_data_rules(db: &Db) -> Result<Vec<OwnDataRule>, AppError> {
    Ok(db.read(runs::own_data_rules)?)
}

/// Changes one of Lethe's own rules (instance administrators only; the caller checks).
pub fn set_own_data_rule(db: &Db, caller: &Caller, rule: &OwnDataRule) -> Result<(), AppError> {
    if rule.days > 36_500 {
        return Err(crate::domain::ValidationErrors::single(
            "days",
            "must be at most 36500 (100 years)",
        )
        .into());
    }
    let now = Utc::now();
    db.write(|tx| {
        runs::set_own_data_rule(tx, rule, now)?;
        let event = caller
            .event("retention.own_data_rule.put", rule.target.key())
            .detail(serde_json::json!({"days": rule.days, "enabled": rule.enabled}));
        audit::append(tx, None, &event, now)?;
        Ok(())
    })
}

/// Prunes every enabled target, `batch` rows per transaction, until nothing older than its rule
/// is left or `stop` asks.
pub fn prune_own_data(
    db: &Db,
    now: DateTime<Utc>,
    batch: u32,
    stop: &dyn Fn() -> bool,
) -> Result<OwnDataReport, AppError> {
    let mut report = OwnDataReport::default();
    for rule in own_data_rules(db)?.into_iter().filter(|r| r.enabled) {
        let before = now - Duration::days(i64::from(rule.days));
        if rule.target == OwnData::AuditLog {
            db.write(|tx| audit::checkpoint_before(tx, before, now))?;
        }
        let mut removed = 0;
        loop {
            if stop() {
                report.removed.push((rule.target, removed));
                return Ok(report);
            }
            let n = db.write(|tx| runs::prune_own(tx, rule.target, before, batch))?;
            removed += n;
            if n < batch as usize {
                break;
            }
        }
        report.removed.push((rule.target, removed));
    }
    Ok(report)
}
