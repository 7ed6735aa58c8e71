//! The letters to people a breach affected (GDPR Art. 34): one per incident, who was told, and
//! what became of each message (a trigger copies the outbox's status into `incident_recipients`,
//! which keeps it after the outbox has forgotten the message).

use super::{StoreError, WorkspaceScope, opt_time_at, time_at, ts};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

/// A letter as stored.
#[derive(Debug, Clone)]
pub struct LetterRow {
    pub incident_id: String,
    pub workspace_id: i64,
    pub subject: String,
    pub body: String,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    /// The categories (the systems' included) fixed when it was sent, as a JSON list.
    pub categories: String,
    pub window_from: Option<DateTime<Utc>>,
    pub window_to: DateTime<Utc>,
    /// Subjects with a larger id are still to be looked at.
    pub position: i64,
    pub finished_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "incident_id, workspace_id, subject, body, requested_by, requested_at, \
     categories, window_from, window_to, position, finished_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<LetterRow> {
    Ok(LetterRow {
        incident_id: r.get(0)?,
        workspace_id: r.get(1)?,
        subject: r.get(2)?,
        body: r.get(3)?,
        requested_by: r.get(4)?,
        requested_at: time_at(r, 5)?,
        categories: r.get(6)?,
        window_from: opt_time_at(r, 7)?,
        window_to: time_at(r, 8)?,
        position: r.get(9)?,
        finished_at: opt_time_at(r, 10)?,
    })
}

/// A new letter, before its first batch.
pub struct NewLetter<'a> {
    pub incident_id: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    pub requested_by: &'a str,
    pub categories_json: &'a str,
    pub window_from: Option<DateTime<Utc>>,
    pub window_to: DateTime<Utc>,
}

pub fn insert(
    tx: &Transaction<'_>,
    scope: &WorkspaceScope,
    l: &NewLetter<'_>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO incident_letters (incident_id, workspace_id, subject, body, requested_by, \
         requested_at, categories, window_from, window_to) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            l.incident_id,
            scope.id(),
            l.subject,
            l.body,
            l.requested_by,
            ts(now),
            l.categories_json,
            l.window_from.map(ts),
            ts(l.window_to)
        ],
    )?;
    Ok(())
}

pub fn get(
    conn: &Connection,
    scope: &WorkspaceScope,
    incident_id: &str,
) -> Result<Option<LetterRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM incident_letters WHERE incident_id = ?1 AND workspace_id = ?2"
        ))?
        .query_row(params![incident_id, scope.id()], row)
        .optional()?)
}

/// Letters still being sent, in every workspace, oldest first (the job's list), each with
/// its workspace.
pub fn sending(conn: &Connection) -> Result<Vec<(WorkspaceScope, LetterRow)>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM incident_letters INDEXED BY incident_letters_sending \
         WHERE finished_at IS NULL ORDER BY requested_at"
    ))?;
    let rows = stmt.query_map([], |r| {
        let letter = row(r)?;
        Ok((WorkspaceScope::new(letter.workspace_id), letter))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A person the letter is for, with what their address is sealed in.
#[derive(Debug, Clone)]
pub struct Addressee {
    pub subject_id: i64,
    pub external_id: String,
    pub key_id: Option<String>,
    pub sealed_profile: Option<Vec<u8>>,
}

/// The next `limit` people, by id after `after`, not erased, with a record of the letter's
/// categories that occurred in its window. Each candidate is checked on `records_subject`
/// (its own records in the window), so a batch reads at most its people's records.
pub fn next_addressees(
    conn: &Connection,
    letter: &LetterRow,
    after: i64,
    limit: u32,
) -> Result<Vec<Addressee>, StoreError> {
    let from = ts(letter
        .window_from
        .unwrap_or_else(crate::domain::time::earliest));
    let mut stmt = conn.prepare_cached(
        "SELECT s.id, s.external_id, s.key_id, s.sealed_profile FROM subjects s \
         WHERE s.workspace_id = ?1 AND s.id > ?2 AND s.erased_at IS NULL \
           AND EXISTS (SELECT 1 FROM records r INDEXED BY records_subject \
                       WHERE r.workspace_id = ?1 AND r.subject_id = s.id \
                         AND r.occurred_at >= ?3 AND r.occurred_at <= ?4 \
                         AND r.category IN (SELECT value FROM json_each(?5))) \
         ORDER BY s.id LIMIT ?6",
    )?;
    let rows = stmt.query_map(
        params![
            letter.workspace_id,
            after,
            from,
            ts(letter.window_to),
            letter.categories,
            limit
        ],
        |r| {
            Ok(Addressee {
                subject_id: r.get(0)?,
                external_id: r.get(1)?,
                key_id: r.get(2)?,
                sealed_profile: r.get(3)?,
            })
        },
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Records that a person was told (their message, or none without an e-mail); false when they
/// already were (a batch done again after a crash).
pub fn record_recipient(
    tx: &Transaction<'_>,
    scope: &WorkspaceScope,
    incident_id: &str,
    subject_id: i64,
    outbox_id: Option<i64>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let delivery = if outbox_id.is_some() {
        "queued"
    } else {
        "no_email"
    };
    let n = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO incident_recipients \
             (incident_id, workspace_id, subject_id, outbox_id, delivery, told_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            incident_id,
            scope.id(),
            subject_id,
            outbox_id,
            delivery,
            ts(now)
        ])?;
    Ok(n == 1)
}

/// Whether the person was told already.
pub fn was_told(conn: &Connection, incident_id: &str, subject_id: i64) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM incident_recipients WHERE incident_id = ?1 AND subject_id = ?2",
        )?
        .query_row(params![incident_id, subject_id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Saves the job's place, and the time it finished when it did.
pub fn advance(
    tx: &Transaction<'_>,
    scope: &WorkspaceScope,
    incident_id: &str,
    position: i64,
    finished_at: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE incident_letters SET position = ?3, finished_at = ?4 \
         WHERE incident_id = ?1 AND workspace_id = ?2",
    )?
    .execute(params![
        incident_id,
        scope.id(),
        position,
        finished_at.map(ts)
    ])?;
    Ok(())
}

/// How many people were told, by what became of their message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deliveries {
    pub queued: i64,
    pub sent: i64,
    pub failed: i64,
    pub disabled: i64,
    pub no_email: i64,
}

impl Deliveries {
    /// People recorded as told, with or without an e-mail.
    pub fn people(&self) -> i64 {
        self.queued + self.sent + self.failed + self.disabled + self.no_email
    }
}

pub fn deliveries(
    conn: &Connection,
    scope: &WorkspaceScope,
    incident_id: &str,
) -> Result<Deliveries, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT delivery, count(*) FROM incident_recipients \
         WHERE incident_id = ?1 AND workspace_id = ?2 GROUP BY delivery",
    )?;
    let mut out = Deliveries::default();
    let rows = stmt.query_map(params![incident_id, scope.id()], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })?;
    for pair in rows {
        let (delivery, n) = pair?;
        match delivery.as_str() {
            "queued" => out.queued = n,
            "sent" => out.sent = n,
            "failed" => out.failed = n,
            "disabled" => out.disabled = n,
            "no_email" => out.no_email = n,
            other => {
                return Err(StoreError::Sqlite(
                    rusqlite::Error::FromSqlConversionFailure(
                        0,
                        rusqlite::types::Type::Text,
                        format!("'{other}' is not a known delivery").into(),
                    ),
                ));
            }
        }
    }
    Ok(out)
}

/// A letter one person received, for their page.
#[derive(Debug, Clone)]
pub struct ToldRow {
    pub incident_id: String,
    pub title: String,
    pub subject: String,
    pub delivery: String,
    pub told_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// The letters a person was sent (or counted for, without an e-mail), newest first.
pub fn told(
    conn: &Connection,
    scope: &WorkspaceScope,
    subject_id: i64,
) -> Result<Vec<ToldRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT r.incident_id, i.title, l.subject, r.delivery, r.told_at, r.delivered_at \
         FROM incident_recipients r \
         JOIN incidents i ON i.id = r.incident_id \
         JOIN incident_letters l ON l.incident_id = r.incident_id \
         WHERE r.workspace_id = ?1 AND r.subject_id = ?2 ORDER BY r.told_at DESC",
    )?;
    let rows = stmt.query_map(params![scope.id(), subject_id], |r| {
        Ok(ToldRow {
            incident_id: r.get(0)?,
            title: r.get(1)?,
            subject: r.get(2)?,
            delivery: r.get(3)?,
            told_at: time_at(r, 4)?,
            delivered_at: opt_time_at(r, 5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
