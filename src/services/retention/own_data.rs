//! Lethe's own data under rules: the subject access log, the outbox, unconfirmed subscribers,
//! idempotency keys, run history, the audit log and answered data subject requests, each pruned
//! in short batches. Audit entries go only behind a checkpoint that keeps the rest of the chain
//! provable. Each pruned request is audited in its workspace (`request.pruned`), in the batch's
//! transaction.

use crate::domain::retention::{OwnData, OwnDataRule};
use crate::error::AppError;
use crate::services::Caller;
use crate::store::own_data as own;
use crate::store::{Db, audit};
use chrono::{DateTime, Duration, Utc};

/// Requests pruned per transaction at most, whatever the batch size: each takes its timeline
/// and links along and writes an audit entry, so the write lock is held briefly.
const REQUESTS_PER_BATCH: u32 = 100;

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
    let caller = Caller::system();
    for rule in own_data_rules(db)?.into_iter().filter(|r| r.enabled) {
        let before = now - Duration::days(i64::from(rule.days));
        if rule.target == OwnData::AuditLog {
            db.write(|tx| audit::checkpoint_before(tx, before, now))?;
        }
        let batch = match rule.target {
            OwnData::AnsweredRequests => batch.min(REQUESTS_PER_BATCH),
            _ => batch,
        };
        let mut removed = 0;
        loop {
            if stop() {
                report.removed.push((rule.target, removed));
                return Ok(report);
            }
            let n = db.write(|tx| {
                let pruned = own::prune_own(tx, rule.target, before, batch)?;
                for r in &pruned.requests {
                    let event = caller
                        .event("request.pruned", &r.id)
                        .detail(serde_json::json!({
                            "type": r.kind.as_str(),
                            "state": r.state.as_str(),
                            "answered_at": crate::domain::time::format(r.completed_at),
                            "rule": rule.target.key(),
                            "days": rule.days,
                        }));
                    audit::append(tx, Some(&r.scope), &event, now)?;
                }
                Ok::<_, AppError>(pruned.rows)
            })?;
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

    /// Runs SQL in a test fixture.
    fn sql(db: &Db, batch: &str) {
        db.read(|c| {
            c.execute_batch(batch)
                .map_err(crate::store::StoreError::from)
        })
        .unwrap();
    }

    fn ids(db: &Db, query: &str) -> Vec<String> {
        db.read(|c| {
            let mut stmt = c.prepare(query)?;
            let rows = stmt
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok::<_, crate::store::StoreError>(rows)
        })
        .unwrap()
    }

    #[test]
    fn answered_requests_go_with_their_timelines_and_links_and_objections_stay() {
        use crate::domain::time::{Clock, FixedClock, format};
        use crate::store::WorkspaceScope;
        let (_dir, db) = db();
        let clock = FixedClock::new("2030-06-01T00:00:00Z".parse().unwrap());
        let ago = |days: i64| format(clock.now() - Duration::days(days));
        let t = ago(4000);
        sql(
            &db,
            &format!(
                "INSERT INTO workspaces (id, slug, legal_name, contact_email, created_at, updated_at) \
                 VALUES (1, 'a', 'A', 'privacy@a.example', '{t}', '{t}');
                 INSERT INTO subjects (id, workspace_id, external_id, created_at, updated_at) \
                 VALUES (7, 1, 'cus_1', '{t}', '{t}');"
            ),
        );
        // (id, kind, state, received, answered): answered 1100 and 1200 days ago, 10 days ago,
        // and one still open after 2000 days.
        let answered = |days: i64| Some(ago(days));
        for (id, kind, state, received, completed) in [
            (
                "old-objection",
                "objection",
                "completed",
                ago(1130),
                answered(1100),
            ),
            ("old-denied", "access", "denied", ago(1230), answered(1200)),
            ("recent", "access", "completed", ago(40), answered(10)),
            ("open", "correction", "in_progress", ago(2000), None),
        ] {
            let purpose = if kind == "objection" {
                "'marketing'"
            } else {
                "NULL"
            };
            let denial = if state == "denied" {
                "'identity_not_verified'"
            } else {
                "NULL"
            };
            let completed = completed.map_or("NULL".to_owned(), |c| format!("'{c}'"));
            sql(
                &db,
                &format!(
                    "INSERT INTO requests (id, workspace_id, kind, state, law, received_at, due_at, \
                     subject_id, purpose_key, denial_reason, completed_at, updated_at) VALUES \
                     ('{id}', 1, '{kind}', '{state}', 'gdpr', '{received}', '{received}', 7, \
                     {purpose}, {denial}, {completed}, '{received}');
                     INSERT INTO request_events (workspace_id, request_id, at, actor, what) \
                     VALUES (1, '{id}', '{received}', 'lethe', 'received'), \
                            (1, '{id}', '{received}', 'lethe', 'verified');
                     INSERT INTO request_links (workspace_id, request_id, purpose, digest, created_at) \
                     VALUES (1, '{id}', 'status', substr(hex('{id}') || printf('%064d', 0), 1, 64), '{received}');
                     INSERT INTO request_warnings (workspace_id, request_id, threshold, due_at, sent_at) \
                     VALUES (1, '{id}', '7_days', '{received}', '{received}');"
                ),
            );
        }
        let at = ago(1100);
        sql(
            &db,
            &format!(
                "INSERT INTO subject_objections (workspace_id, subject_id, kind, purpose_key, at, request_id) \
                 VALUES (1, 7, 'objection', 'marketing', '{at}', 'old-objection');"
            ),
        );

        // Default rule: three years (1095 days). One request a batch, to walk the loop.
        let report = prune_own_data(&db, clock.now(), 1, &|| false).unwrap();
        assert!(
            report.summary().contains("2 from answered_requests"),
            "{report:?}"
        );
        let every = |table: &str| {
            ids(
                &db,
                &format!("SELECT DISTINCT request_id FROM {table} ORDER BY request_id"),
            )
        };
        assert_eq!(
            ids(&db, "SELECT id FROM requests ORDER BY id"),
            ["open", "recent"]
        );
        for table in ["request_events", "request_links", "request_warnings"] {
            assert_eq!(every(table), ["open", "recent"], "{table}");
        }
        // The objection is still in force, no longer pointing at its request.
        let scope = WorkspaceScope::for_tests(1);
        let objections =
            crate::services::request_fulfilment::objections(&db, &scope, "cus_1").unwrap();
        assert_eq!(objections.len(), 1);
        assert_eq!(objections[0].purpose.as_deref(), Some("marketing"));
        assert_eq!(objections[0].request, None);
        // Each pruned request is audited in its workspace.
        let pruned = ids(
            &db,
            "SELECT target FROM audit_log WHERE action = 'request.pruned' \
             AND workspace_id = 1 ORDER BY seq",
        );
        assert_eq!(
            pruned,
            ["old-denied", "old-objection"],
            "oldest answer first"
        );

        // Three years on, the recent one goes too; the open one never does.
        clock.advance(Duration::days(1100));
        prune_own_data(&db, clock.now(), 100, &|| false).unwrap();
        assert_eq!(ids(&db, "SELECT id FROM requests"), ["open"]);
        assert_eq!(every("request_events"), ["open"]);
    }
}
