//! Lethe's own data under rules: the subject access log, the outbox, unconfirmed subscribers,
//! idempotency keys, run history and the audit log, each pruned in short batches. Audit
//! entries go only behind a checkpoint that keeps the rest of the chain provable.

use crate::domain::retention::{OwnData, OwnDataRule};
use crate::error::AppError;
use crate::services::Caller;
use crate::store::own_data as own;
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
    Ok(db.read(own::own_data_rules)?)
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
        own::set_own_data_rule(tx, rule, now)?;
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
            let n = db.write(|tx| own::prune_own(tx, rule.target, before, batch))?;
            removed += n;
            if n < batch as usize {
                break;
            }
        }
        report.removed.push((rule.target, removed));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::audit::{Actor, AuditEvent};
    use crate::store::audit;

    fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("lethe.db")).unwrap();
        (dir, db)
    }

    fn append(db: &Db, at: DateTime<Utc>, n: usize) {
        db.write(|tx| {
            for i in 0..n {
                let e = AuditEvent::new(Actor::System, "test.event", format!("thing:{i}"));
                audit::append(tx, None, &e, at)?;
            }
            Ok::<_, AppError>(())
        })
        .unwrap();
    }

    #[test]
    fn old_audit_entries_go_behind_a_checkpoint_and_the_rest_still_verifies() {
        let (_dir, db) = db();
        let now = Utc::now();
        append(&db, now - Duration::days(3000), 5);
        append(&db, now - Duration::days(1), 3);
        assert_eq!(db.read(audit::verify).unwrap(), Ok(8));

        let report = prune_own_data(&db, now, 2, &|| false).unwrap();
        assert!(report.summary().contains("5 from audit_log"), "{report:?}");
        let checkpoint = db.read(audit::latest_checkpoint).unwrap().unwrap();
        assert_eq!((checkpoint.seq, checkpoint.removed), (5, 5));
        // The three kept entries and the entry that records the pruning.
        assert_eq!(db.read(audit::verify).unwrap(), Ok(4));
        let pruned = db
            .read(|c| {
                c.query_row(
                    "SELECT detail FROM audit_log WHERE action = 'audit.pruned'",
                    [],
                    |r| r.get::<_, String>(0),
                )
                .map_err(crate::store::StoreError::from)
            })
            .unwrap();
        assert!(pruned.contains("\"through_seq\":5"), "{pruned}");

        // Entries after the checkpoint still cannot be deleted, and a removed one is found.
        let refused = db.write(|tx| {
            tx.execute("DELETE FROM audit_log WHERE seq = 6", [])
                .map_err(crate::store::StoreError::from)
        });
        assert!(refused.is_err(), "the trigger refuses");
        db.write(|tx| {
            tx.execute_batch(
                "DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq = 6;",
            )
            .map_err(crate::store::StoreError::from)
        })
        .unwrap();
        assert!(db.read(audit::verify).unwrap().is_err());
    }

    #[test]
    fn disabled_targets_are_kept_and_others_pruned_by_their_days() {
        let (_dir, db) = db();
        let now = Utc::now();
        append(&db, now - Duration::days(3000), 2);
        db.write(|tx| {
            own::set_own_data_rule(
                tx,
                &OwnDataRule {
                    target: OwnData::AuditLog,
                    days: 30,
                    enabled: false,
                },
                now,
            )
            .map_err(AppError::from)
        })
        .unwrap();
        let report = prune_own_data(&db, now, 100, &|| false).unwrap();
        assert!(!report.removed.iter().any(|(t, _)| *t == OwnData::AuditLog));
        assert_eq!(db.read(audit::verify).unwrap(), Ok(2));
    }
}
