//! A forgotten password, reset through an e-mailed link.
//!
//! Asking never tells whether an account exists: the caller answers the same whatever happens
//! here. For an active account (one with a password) a single-use link that expires after
//! [`RESET_LINK_MINUTES`] is queued as instance mail through the outbox, sealed under the
//! instance's outbox key; only the token's digest is stored, and a new request ends the account's
//! older links. Using the link sets the password, ends every session of the account and is
//! audited; it leaves the second factor alone, so an enrolled account still needs its code.

use super::outbox::{OutboxKey, Outgoing, queue};
use super::{Caller, emails};
use crate::crypto;
use crate::domain::network::IpRange;
use crate::domain::staff::check_new_password;
use crate::domain::{Email, ValidationErrors};
use crate::error::AppError;
use crate::store::outbox::Kind;
use crate::store::staff::TokenPurpose;
use crate::store::{Db, audit, sessions, staff};
use crate::vault::Vault;
use chrono::{DateTime, Duration, Utc};

/// How long a reset link works.
pub const RESET_LINK_MINUTES: i64 = 30;

/// Queues a reset link for the account of `email`, if there is an active one; does nothing
/// otherwise. The answer is the same either way (no account enumeration), and so is the audit
/// log's silence for unknown addresses (strangers' typing is not instance history).
pub fn request(
    db: &Db,
    vault: &Vault,
    email: &str,
    caller: &Caller,
    base_url: &str,
) -> Result<(), AppError> {
    let Ok(email) = Email::parse(email.trim()) else {
        return Ok(());
    };
    let now = Utc::now();
    let Some(account) = db
        .read(|c| staff::find_by_email(c, email.as_str()))?
        .filter(|a| a.password_hash.is_some())
    else {
        return Ok(());
    };
    let key = OutboxKey::load_instance(vault)?;
    let token = crypto::random_token(32);
    let link = format!("{base_url}/console/reset/{token}");
    let mail = emails::render(&emails::PasswordReset {
        account: &account.email,
        asked_at: now.format("%Y-%m-%d %H:%M").to_string(),
        network: caller
            .ip
            .map(|ip| IpRange::client_network(ip).to_string())
            .unwrap_or_else(|| "unknown".into()),
        minutes: RESET_LINK_MINUTES,
        link: &link,
    })?;
    db.write(|tx| {
        staff::expire_tokens_of(tx, TokenPurpose::Reset, account.id, now)?;
        staff::create_token(
            tx,
            TokenPurpose::Reset,
            Some(account.id),
            &crypto::sha256_hex(&token),
            now,
            expiry(now),
        )?;
        queue(
            tx,
            &key,
            &Outgoing {
                kind: Kind::Email,
                recipient: &account.email,
                endpoint_id: None,
                subscriber_id: None,
                subject: &mail.subject,
                body: &mail.body,
            },
            now,
        )?;
        let event = caller.event(
            "staff.password_reset_requested",
            format!("staff:{}", account.id),
        );
        audit::append(tx, None, &event, now)?;
        Ok(())
    })
}

fn expiry(now: DateTime<Utc>) -> DateTime<Utc> {
    now + Duration::minutes(RESET_LINK_MINUTES)
}

/// The e-mail of the account a live (unused, unexpired, newest) reset link is for.
pub fn account_of(db: &Db, token: &str) -> Result<Option<String>, AppError> {
    let hash = crypto::sha256_hex(token);
    db.read(|c| -> Result<_, AppError> {
        let Some(Some(staff_id)) = staff::find_token(c, TokenPurpose::Reset, &hash, Utc::now())?
        else {
            return Ok(None);
        };
        Ok(staff::get(c, staff_id)?.map(|a| a.email))
    })
}

/// The answer to a link that is unknown, used, expired or replaced by a newer one.
pub fn dead_link() -> AppError {
    AppError::NotFound(format!(
        "password reset link: it was used already, has expired (links work for \
         {RESET_LINK_MINUTES} minutes) or a newer one was sent. Ask for a new one from the login \
         page"
    ))
}

/// Uses a reset link: sets the new password, ends every session of the account and the
/// account's other reset links, and records it in the instance audit log. The second factor is
/// untouched.
pub fn complete(
    db: &Db,
    token: &str,
    password: &str,
    confirm: &str,
    caller: &Caller,
) -> Result<(), AppError> {
    let email = account_of(db, token)?.ok_or_else(dead_link)?;
    let mut errors = ValidationErrors::default();
    check_new_password(&mut errors, "password", password, confirm, &email);
    errors.into_result()?;
    let hash = crypto::hash_password(password)?;
    let token_hash = crypto::sha256_hex(token);
    let now = Utc::now();
    db.write(|tx| {
        // Checked again under the write lock: two submissions of one link, one wins.
        let Some(Some(staff_id)) = staff::find_token(tx, TokenPurpose::Reset, &token_hash, now)?
        else {
            return Err(dead_link());
        };
        if !staff::consume_token(tx, &token_hash, now)? {
            return Err(dead_link());
        }
        staff::expire_tokens_of(tx, TokenPurpose::Reset, staff_id, now)?;
        staff::set_password(tx, staff_id, &hash)?;
        let ended = sessions::delete_for_staff(tx, staff_id)?;
        let event = caller
            .event("staff.password_reset", format!("staff:{staff_id}"))
            .detail(serde_json::json!({ "sessions_ended": ended }));
        audit::append(tx, None, &event, now)?;
        Ok(())
    })
}
