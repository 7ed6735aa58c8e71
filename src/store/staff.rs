//! Staff accounts, their second factor and recovery codes, and one-time links (setup, invite,
//! password reset).
//! Staff are instance-wide: they reach workspaces through memberships.

use super::{StoreError, ts, unique_violation};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

#[derive(Debug, Clone)]
pub struct StaffAccount {
    pub id: i64,
    pub email: String,
    pub password_hash: Option<String>,
    pub is_admin: bool,
    pub totp_secret: Option<String>,
    pub totp_enabled: bool,
    pub totp_last_step: Option<i64>,
}

// `failed_logins` and `locked_until` are left over from the hard lock that counted failures per
// account (anyone could lock anyone out); failures are now counted per network, in memory.
const COLUMNS: &str = "id, email, password_hash, is_admin, totp_secret, totp_enabled, \
                       totp_last_step";

fn from_row(r: &Row<'_>) -> rusqlite::Result<StaffAccount> {
    Ok(StaffAccount {
        id: r.get(0)?,
        email: r.get(1)?,
        password_hash: r.get(2)?,
        is_admin: r.get(3)?,
        totp_secret: r.get(4)?,
        totp_enabled: r.get(5)?,
        totp_last_step: r.get(6)?,
    })
}

pub fn create(
    conn: &Connection,
    email: &str,
    password_hash: Option<&str>,
    is_admin: bool,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO staff (email, password_hash, is_admin, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![email, password_hash, is_admin, ts(now)],
    )
    .map_err(|e| unique_violation(e, format!("a staff account for {email} already exists")))?;
    Ok(conn.last_insert_rowid())
}

pub fn get(conn: &Connection, id: i64) -> Result<Option<StaffAccount>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM staff WHERE id = ?1"),
            [id],
            from_row,
        )
        .optional()?)
}

pub fn find_by_email(conn: &Connection, email: &str) -> Result<Option<StaffAccount>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM staff WHERE email = ?1"),
            [email],
            from_row,
        )
        .optional()?)
}

pub fn count_admins(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row(
        "SELECT count(*) FROM staff WHERE is_admin = 1 AND password_hash IS NOT NULL",
        [],
        |r| r.get(0),
    )?)
}

pub fn first_admin_email(conn: &Connection) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT email FROM staff WHERE is_admin = 1 AND password_hash IS NOT NULL ORDER BY id LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?)
}

pub fn set_password(conn: &Connection, id: i64, hash: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE staff SET password_hash = ?2, failed_logins = 0, locked_until = NULL WHERE id = ?1",
        params![id, hash],
    )?;
    Ok(())
}

pub fn set_admin(conn: &Connection, id: i64, is_admin: bool) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE staff SET is_admin = ?2 WHERE id = ?1",
        params![id, is_admin],
    )?;
    Ok(())
}

/// Stores a secret that is not active until [`enable_totp`] confirms a code from it.
pub fn set_pending_totp(conn: &Connection, id: i64, secret: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE staff SET totp_secret = ?2, totp_enabled = 0, totp_last_step = NULL WHERE id = ?1",
        params![id, secret],
    )?;
    Ok(())
}

pub fn enable_totp(conn: &Connection, id: i64, step: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE staff SET totp_enabled = 1, totp_last_step = ?2 WHERE id = ?1",
        params![id, step],
    )?;
    Ok(())
}

pub fn disable_totp(conn: &Connection, id: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE staff SET totp_secret = NULL, totp_enabled = 0, totp_last_step = NULL WHERE id = ?1",
        [id],
    )?;
    conn.execute("DELETE FROM recovery_codes WHERE staff_id = ?1", [id])?;
    Ok(())
}

/// Records the step of an accepted code. Fails (returns false) if a newer or equal step was
/// already accepted, which closes the race between two logins with the same code.
pub fn advance_totp_step(conn: &Connection, id: i64, step: i64) -> Result<bool, StoreError> {
    let n = conn.execute(
        "UPDATE staff SET totp_last_step = ?2 \
         WHERE id = ?1 AND (totp_last_step IS NULL OR totp_last_step < ?2)",
        params![id, step],
    )?;
    Ok(n == 1)
}

pub fn replace_recovery_codes(
    conn: &Connection,
    id: i64,
    hashes: &[String],
) -> Result<(), StoreError> {
    conn.execute("DELETE FROM recovery_codes WHERE staff_id = ?1", [id])?;
    let mut stmt =
        conn.prepare("INSERT INTO recovery_codes (staff_id, code_hash) VALUES (?1, ?2)")?;
    for h in hashes {
        stmt.execute(params![id, h])?;
    }
    Ok(())
}

/// Marks an unused recovery code as used; false if there is none with that digest.
pub fn use_recovery_code(
    conn: &Connection,
    id: i64,
    hash: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = conn.execute(
        "UPDATE recovery_codes SET used_at = ?3 WHERE staff_id = ?1 AND code_hash = ?2 AND used_at IS NULL",
        params![id, hash, ts(now)],
    )?;
    Ok(n == 1)
}

pub fn unused_recovery_codes(conn: &Connection, id: i64) -> Result<i64, StoreError> {
    Ok(conn.query_row(
        "SELECT count(*) FROM recovery_codes WHERE staff_id = ?1 AND used_at IS NULL",
        [id],
        |r| r.get(0),
    )?)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    Setup,
    Invite,
    /// A forgotten password's reset link (e-mailed; migration 0012).
    Reset,
}

impl TokenPurpose {
    fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::Setup => "setup",
            TokenPurpose::Invite => "invite",
            TokenPurpose::Reset => "reset",
        }
    }
}

pub fn create_token(
    conn: &Connection,
    purpose: TokenPurpose,
    staff_id: Option<i64>,
    token_hash: &str,
    now: DateTime<Utc>,
    expires: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO one_time_tokens (token_hash, purpose, staff_id, created_at, expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![token_hash, purpose.as_str(), staff_id, ts(now), ts(expires)],
    )?;
    Ok(())
}

/// Ends every unused link of this purpose (a new setup link replaces the old one).
pub fn expire_tokens(
    conn: &Connection,
    purpose: TokenPurpose,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE one_time_tokens SET used_at = ?2 WHERE purpose = ?1 AND used_at IS NULL",
        params![purpose.as_str(), ts(now)],
    )?;
    Ok(())
}

/// Ends every unused link of this purpose for one account (a new reset link replaces the older
/// ones; a used one ends the rest). Returns how many ended.
pub fn expire_tokens_of(
    conn: &Connection,
    purpose: TokenPurpose,
    staff_id: i64,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "UPDATE one_time_tokens SET used_at = ?3 \
         WHERE purpose = ?1 AND staff_id = ?2 AND used_at IS NULL",
        params![purpose.as_str(), staff_id, ts(now)],
    )?)
}

/// A valid (unused, unexpired) token: `Some(staff_id)` (which is None for setup links).
pub fn find_token(
    conn: &Connection,
    purpose: TokenPurpose,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<Option<i64>>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT staff_id FROM one_time_tokens \
             WHERE token_hash = ?1 AND purpose = ?2 AND used_at IS NULL AND expires_at > ?3",
            params![token_hash, purpose.as_str(), ts(now)],
            |r| r.get(0),
        )
        .optional()?)
}

/// Uses a token up; false if it was already used (a replayed link).
pub fn consume_token(
    conn: &Connection,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = conn.execute(
        "UPDATE one_time_tokens SET used_at = ?2 WHERE token_hash = ?1 AND used_at IS NULL",
        params![token_hash, ts(now)],
    )?;
    Ok(n == 1)
}

/// Accounts whose TOTP seed is still stored in the clear (from before secrets were sealed).
pub fn unsealed_totp_secrets(conn: &Connection) -> Result<Vec<(i64, String)>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT id, totp_secret FROM staff WHERE totp_secret IS NOT NULL AND totp_secret NOT LIKE 'sealed:%'",
    )?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Replaces the stored seed by its sealed form; enrolment state is unchanged.
pub fn replace_totp_secret(conn: &Connection, id: i64, sealed: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE staff SET totp_secret = ?2 WHERE id = ?1",
        rusqlite::params![id, sealed],
    )?;
    Ok(())
}
