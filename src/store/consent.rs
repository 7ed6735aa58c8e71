//! Consent decisions (migration 0021): written by the group-commit writer (`writer.rs`), read
//! here. A visitor arrives already as its keyed digest (services::consent).

use super::{StoreError, WorkspaceScope, time_at, ts};
use crate::domain::consent::{Choice, ConsentSource, Decision};
use chrono::{DateTime, Utc};
use rusqlite::types::Type;
use rusqlite::{Connection, params};

/// Whose decision it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Person {
    /// A subject of the vault, by its row id.
    Subject(i64),
    /// A visitor, by the keyed digest of the banner's visitor id.
    Visitor(Vec<u8>),
}

/// A decision to store.
#[derive(Debug, Clone)]
pub struct NewDecision {
    pub scope: WorkspaceScope,
    pub id: String,
    pub person: Person,
    pub source: ConsentSource,
    pub gpc: bool,
    pub policy_version: Option<i64>,
    pub consent_version: Option<i64>,
    pub banner_version: Option<String>,
    pub network: Option<String>,
    pub user_agent: Option<String>,
    pub decided_at: DateTime<Utc>,
    pub choices: Vec<Choice>,
}

/// What came of a decision handed to the writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecisionOutcome {
    Stored,
    /// The subject was erased meanwhile: nothing is recorded about them any more.
    SubjectErased,
}

/// Inserts a decision and its choices in the caller's transaction (the writer's savepoint).
pub fn insert(conn: &Connection, d: &NewDecision) -> Result<DecisionOutcome, StoreError> {
    let w = d.scope.id();
    let (subject, visitor) = match &d.person {
        Person::Subject(id) => {
            let erased: bool = conn
                .prepare_cached(
                    "SELECT erased_at IS NOT NULL FROM subjects WHERE workspace_id = ?1 AND id = ?2",
                )?
                .query_row(params![w, id], |r| r.get(0))?;
            if erased {
                return Ok(DecisionOutcome::SubjectErased);
            }
            (Some(*id), None)
        }
        Person::Visitor(digest) => (None, Some(digest.as_slice())),
    };
    conn.prepare_cached(
        "INSERT INTO consent_records (id, workspace_id, subject_id, visitor_index, source, gpc, \
         policy_version, consent_version, banner_version, network, user_agent, decided_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        d.id,
        w,
        subject,
        visitor,
        d.source.as_str(),
        d.gpc,
        d.policy_version,
        d.consent_version,
        d.banner_version,
        d.network,
        d.user_agent,
        ts(d.decided_at)
    ])?;
    let mut choice = conn.prepare_cached(
        "INSERT INTO consent_choices (record_id, purpose_key, granted, reason) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for c in &d.choices {
        choice.execute(params![d.id, c.purpose, c.granted, c.reason])?;
    }
    Ok(DecisionOutcome::Stored)
}

const COLUMNS: &str = "r.id, r.source, r.decided_at, r.consent_version, c.purpose_key, \
                       c.granted, c.reason";

/// A person's decisions, newest first, at most `limit` of them.
pub fn decisions(
    conn: &Connection,
    scope: &WorkspaceScope,
    person: &Person,
    limit: u32,
) -> Result<Vec<Decision>, StoreError> {
    let (column, value): (&str, rusqlite::types::Value) = match person {
        Person::Subject(id) => ("subject_id", (*id).into()),
        Person::Visitor(d) => ("visitor_index", d.clone().into()),
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM (SELECT * FROM consent_records WHERE workspace_id = ?1 \
         AND {column} = ?2 ORDER BY decided_at DESC, id DESC LIMIT ?3) r \
         JOIN consent_choices c ON c.record_id = r.id ORDER BY r.decided_at DESC, r.id DESC"
    ))?;
    let rows = stmt.query(params![scope.id(), value, limit])?;
    collect_decisions(rows, |_| false)
}

/// A subject's decisions, newest first, only as many as it takes to find their latest choice on
/// each of `purposes` (at most `limit`): what their consent now is derived from. Usually their
/// latest decision answers every purpose, and that one is all that is read.
pub fn latest_decisions(
    conn: &Connection,
    scope: &WorkspaceScope,
    subject_id: i64,
    purposes: &[String],
    limit: u32,
) -> Result<Vec<Decision>, StoreError> {
    let mut stmt = conn.prepare_cached(&subject_newest_first())?;
    let rows = stmt.query(params![scope.id(), subject_id])?;
    let mut missing: Vec<&str> = purposes.iter().map(String::as_str).collect();
    collect_decisions(rows, |done| {
        // Called when a decision is complete: it may answer some of what is missing.
        if let Some(d) = done.last() {
            missing.retain(|p| !d.choices.iter().any(|c| c.purpose == *p));
        }
        missing.is_empty() || done.len() >= limit as usize
    })
}

/// A subject's decisions with their choices, newest first (`?1` the workspace, `?2` the subject).
/// No LIMIT and no subquery: SQLite walks `consent_records_by_subject` newest first (its entries
/// end in the primary key, `id`, so the order needs no sort) and produces rows only as they are
/// asked for, so stopping early reads no more pages.
fn subject_newest_first() -> String {
    format!(
        "SELECT {COLUMNS} FROM consent_records r JOIN consent_choices c ON c.record_id = r.id \
         WHERE r.workspace_id = ?1 AND r.subject_id = ?2 ORDER BY r.decided_at DESC, r.id DESC"
    )
}

/// Groups rows of `COLUMNS` (ordered by decision) into decisions, until `enough` says so; it is
/// asked each time a decision is complete, with the decisions so far.
fn collect_decisions(
    mut rows: rusqlite::Rows<'_>,
    mut enough: impl FnMut(&[Decision]) -> bool,
) -> Result<Vec<Decision>, StoreError> {
    let mut out: Vec<Decision> = Vec::new();
    while let Some(r) = rows.next()? {
        let id: String = r.get(0)?;
        let choice = Choice {
            purpose: r.get(4)?,
            granted: r.get(5)?,
            reason: r.get(6)?,
        };
        match out.last_mut() {
            Some(d) if d.id == id => d.choices.push(choice),
            _ => {
                // A new decision: the one before it is complete.
                if !out.is_empty() && enough(&out) {
                    return Ok(out);
                }
                let source: String = r.get(1)?;
                out.push(Decision {
                    id,
                    source: ConsentSource::parse(&source).ok_or_else(|| {
                        rusqlite::Error::FromSqlConversionFailure(
                            1,
                            Type::Text,
                            format!("'{source}' is not a consent source").into(),
                        )
                    })?,
                    decided_at: time_at(r, 2)?,
                    consent_version: r.get(3)?,
                    choices: vec![choice],
                })
            }
        }
    }
    Ok(out)
}

/// A subject's decision with everything stored about how it was taken (the console's history).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionDetail {
    pub id: String,
    pub decided_at: DateTime<Utc>,
    pub source: ConsentSource,
    /// The client sent Global Privacy Control.
    pub gpc: bool,
    pub policy_version: Option<i64>,
    pub consent_version: Option<i64>,
    pub banner_version: Option<String>,
    /// The user-agent family ("Firefox"), never the whole header.
    pub user_agent: Option<String>,
    pub choices: Vec<Choice>,
}

/// A subject's decisions in detail, newest first, at most `limit` of them.
pub fn subject_history(
    conn: &Connection,
    scope: &WorkspaceScope,
    subject_id: i64,
    limit: u32,
) -> Result<Vec<DecisionDetail>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT r.id, r.decided_at, r.source, r.gpc, r.policy_version, r.consent_version, \
         r.banner_version, r.user_agent, c.purpose_key, c.granted, c.reason \
         FROM (SELECT * FROM consent_records WHERE workspace_id = ?1 AND subject_id = ?2 \
         ORDER BY decided_at DESC, id DESC LIMIT ?3) r \
         JOIN consent_choices c ON c.record_id = r.id \
         ORDER BY r.decided_at DESC, r.id DESC, c.purpose_key",
    )?;
    let mut rows = stmt.query(params![scope.id(), subject_id, limit])?;
    let mut out: Vec<DecisionDetail> = Vec::new();
    while let Some(r) = rows.next()? {
        let id: String = r.get(0)?;
        let choice = Choice {
            purpose: r.get(8)?,
            granted: r.get(9)?,
            reason: r.get(10)?,
        };
        match out.last_mut() {
            Some(d) if d.id == id => d.choices.push(choice),
            _ => {
                let source: String = r.get(2)?;
                out.push(DecisionDetail {
                    id,
                    decided_at: time_at(r, 1)?,
                    source: ConsentSource::parse(&source).ok_or_else(|| {
                        rusqlite::Error::FromSqlConversionFailure(
                            2,
                            Type::Text,
                            format!("'{source}' is not a consent source").into(),
                        )
                    })?,
                    gpc: r.get(3)?,
                    policy_version: r.get(4)?,
                    consent_version: r.get(5)?,
                    banner_version: r.get(6)?,
                    user_agent: r.get(7)?,
                    choices: vec![choice],
                })
            }
        }
    }
    Ok(out)
}

/// One purpose's decisions on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayRate {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    pub purpose: String,
    pub granted: i64,
    pub refused: i64,
    /// Of the refusals, those Global Privacy Control made.
    pub by_gpc: i64,
}

/// Decisions per purpose and day since `from`, for the console's chart. (`reason IS 'gpc'`,
/// not `=`: a NULL reason must count 0, or a day without GPC sums to NULL.)
pub fn daily_rates(
    conn: &Connection,
    scope: &WorkspaceScope,
    from: DateTime<Utc>,
) -> Result<Vec<DayRate>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT substr(r.decided_at, 1, 10) AS day, c.purpose_key, sum(c.granted), \
         sum(1 - c.granted), sum(c.reason IS 'gpc') \
         FROM consent_records r JOIN consent_choices c ON c.record_id = r.id \
         WHERE r.workspace_id = ?1 AND r.decided_at >= ?2 \
         GROUP BY day, c.purpose_key ORDER BY day, c.purpose_key",
    )?;
    let rows = stmt
        .query_map(params![scope.id(), ts(from)], |r| {
            Ok(DayRate {
                day: r.get(0)?,
                purpose: r.get(1)?,
                granted: r.get(2)?,
                refused: r.get(3)?,
                by_gpc: r.get(4)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Deletes, across workspaces, at most `limit` decisions made before `cutoff` that no longer
/// prove anything current: a visitor's (their cookie is long gone), or a subject's that a newer
/// decision of theirs covers for every purpose it answered. Returns how many.
pub fn prune(conn: &Connection, cutoff: DateTime<Utc>, limit: u32) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "DELETE FROM consent_records WHERE id IN ( \
           SELECT r.id FROM consent_records r WHERE r.decided_at < ?1 AND ( \
             r.visitor_index IS NOT NULL OR NOT EXISTS ( \
               SELECT 1 FROM consent_choices c WHERE c.record_id = r.id AND NOT EXISTS ( \
                 SELECT 1 FROM consent_records n JOIN consent_choices nc ON nc.record_id = n.id \
                 WHERE n.workspace_id = r.workspace_id AND n.subject_id = r.subject_id \
                 AND nc.purpose_key = c.purpose_key \
                 AND (n.decided_at > r.decided_at OR (n.decided_at = r.decided_at AND n.id > r.id))))) \
           LIMIT ?2)",
        params![ts(cutoff), limit],
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Db;
    use chrono::TimeZone;

    fn fixture() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("lethe.db")).unwrap();
        let t = "'2026-01-01T00:00:00.000000Z'";
        db.read(|c| {
            c.execute_batch(&format!(
                "INSERT INTO workspaces (id, slug, legal_name, contact_email, created_at, updated_at) \
                 VALUES (1, 'a', 'A', 'privacy@a.example', {t}, {t}); \
                 INSERT INTO subjects (id, workspace_id, external_id, kind, key_id, created_at, updated_at) \
                 VALUES (1, 1, 'cus_1', 'customer', 'k1', {t}, {t});"
            ))
            .map_err(StoreError::from)
        })
        .unwrap();
        (dir, db)
    }

    fn day(d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, d, 12, 0, 0).unwrap()
    }

    fn decide(db: &Db, id: &str, person: Person, at: DateTime<Utc>, choices: &[(&str, bool)]) {
        let d = NewDecision {
            scope: WorkspaceScope::new(1),
            id: id.into(),
            person,
            source: ConsentSource::Banner,
            gpc: false,
            policy_version: None,
            consent_version: None,
            banner_version: None,
            network: None,
            user_agent: None,
            decided_at: at,
            choices: choices
                .iter()
                .map(|(p, g)| Choice {
                    purpose: (*p).into(),
                    granted: *g,
                    reason: None,
                })
                .collect(),
        };
        db.write(|tx| insert(tx, &d)).unwrap();
    }

    fn ids(db: &Db) -> Vec<String> {
        db.read(|c| {
            let mut s = c.prepare("SELECT id FROM consent_records ORDER BY id")?;
            let rows = s.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
            Ok::<_, StoreError>(rows)
        })
        .unwrap()
    }

    #[test]
    fn pruning_keeps_each_subjects_latest_decision_per_purpose() {
        let (_dir, db) = fixture();
        let me = || Person::Subject(1);
        // a: ads and news; b: ads only (covers a's ads, not its news); c: news (covers the rest).
        decide(&db, "a", me(), day(1), &[("ads", true), ("news", true)]);
        decide(&db, "b", me(), day(2), &[("ads", false)]);
        decide(
            &db,
            "v",
            Person::Visitor(vec![7; 32]),
            day(2),
            &[("ads", true)],
        );
        let pruned = db.write(|tx| prune(tx, day(3), 100)).unwrap();
        assert_eq!(pruned, 1, "only the visitor's: a still proves 'news'");
        assert_eq!(ids(&db), ["a", "b"]);
        decide(&db, "c", me(), day(4), &[("news", false)]);
        let pruned = db.write(|tx| prune(tx, day(3), 100)).unwrap();
        assert_eq!(pruned, 1, "a is now covered on every purpose");
        assert_eq!(ids(&db), ["b", "c"]);
        // Nothing from the cutoff on goes, however superseded (c by d).
        decide(&db, "d", me(), day(5), &[("news", true)]);
        assert_eq!(db.write(|tx| prune(tx, day(4), 100)).unwrap(), 0);
        let history = db
            .read(|c| decisions(c, &WorkspaceScope::new(1), &me(), 10))
            .unwrap();
        let order: Vec<&str> = history.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(order, ["d", "c", "b"], "newest first");
    }

    #[test]
    fn the_latest_decisions_stop_once_every_purpose_is_answered() {
        let (_dir, db) = fixture();
        let me = || Person::Subject(1);
        decide(&db, "a", me(), day(1), &[("ads", true), ("news", true)]);
        decide(&db, "b", me(), day(2), &[("ads", false)]);
        decide(&db, "c", me(), day(3), &[("news", false), ("maps", true)]);
        decide(&db, "d", me(), day(4), &[("ads", true)]);
        let w = WorkspaceScope::new(1);
        let read = |purposes: &[&str], limit: u32| -> Vec<String> {
            let purposes: Vec<String> = purposes.iter().map(|p| (*p).to_owned()).collect();
            db.read(|c| latest_decisions(c, &w, 1, &purposes, limit))
                .unwrap()
                .into_iter()
                .map(|d| d.id)
                .collect()
        };
        assert_eq!(read(&["ads"], 100), ["d"]);
        assert_eq!(read(&["ads", "news"], 100), ["d", "c"]);
        assert_eq!(read(&["news", "ads", "maps"], 100), ["d", "c"]);
        // A purpose never answered: every decision, up to the limit.
        assert_eq!(read(&["ads", "never"], 100), ["d", "c", "b", "a"]);
        assert_eq!(read(&["never"], 3), ["d", "c", "b"]);
        // Each decision comes whole, as `decisions` reads it.
        let whole = db.read(|c| decisions(c, &w, &me(), 10)).unwrap();
        let latest = db
            .read(|c| latest_decisions(c, &w, 1, &["news".to_owned()], 10))
            .unwrap();
        assert_eq!(latest[..], whole[..2]);
        // SQLite walks the subject's index in order: no sort of all their decisions first.
        let plan: Vec<String> = db
            .read(|c| {
                let sql = format!("EXPLAIN QUERY PLAN {}", subject_newest_first());
                let mut s = c.prepare(&sql)?;
                let rows = s
                    .query_map([1, 1], |r| r.get::<_, String>(3))?
                    .collect::<Result<_, _>>()?;
                Ok::<_, StoreError>(rows)
            })
            .unwrap();
        assert!(
            plan.iter()
                .any(|p| p.contains("consent_records_by_subject")),
            "{plan:?}"
        );
        assert!(!plan.iter().any(|p| p.contains("TEMP B-TREE")), "{plan:?}");
    }
}
