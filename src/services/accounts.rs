//! Staff accounts: first set-up, login with lockout, the second factor, sessions, invitations.

use super::Caller;
use super::login_guard::LoginGuard;
use crate::crypto;
use crate::domain::audit::Actor;
use crate::domain::staff::check_new_password;
use crate::domain::{Email, ValidationErrors, totp};
use crate::error::AppError;
pub use crate::store::sessions::{Session, Stage};
pub use crate::store::staff::StaffAccount;
use crate::store::staff::TokenPurpose;
use crate::store::{Db, audit, sessions, staff};
use crate::vault::Vault;
use chrono::{Duration, Utc};
use std::time::Duration as StdDuration;
use std::time::Instant;

pub const SETUP_LINK_HOURS: i64 = 24;
pub const INVITE_LINK_DAYS: i64 = 7;
const RECOVERY_CODES: usize = 10;

/// A session just started: the cookie value (shown once) and the stage it is in.
pub struct NewSession {
    pub token: String,
    pub stage: Stage,
}

fn start_session(
    conn: &crate::store::Connection,
    staff_id: i64,
    stage: Stage,
) -> Result<NewSession, AppError> {
    let token = crypto::random_token(32);
    let csrf = crypto::random_token(32);
    sessions::create(
        conn,
        &crypto::sha256_hex(&token),
        staff_id,
        &csrf,
        stage,
        Utc::now(),
    )?;
    Ok(NewSession { token, stage })
}

fn actor_of(account: &StaffAccount) -> Actor {
    Actor::Staff {
        id: account.id,
        email: account.email.clone(),
    }
}

/// Login with e-mail and password. Wrong credentials get the same answer whether or not the
/// e-mail has an account, and take the same time (a dummy hash is verified). Failures slow
/// further tries for that e-mail from the same network (`LoginGuard`), again alike for every
/// e-mail: nothing tells which accounts exist, and nobody can lock an owner out.
pub fn login(
    db: &Db,
    guard: &LoginGuard,
    email: &str,
    password: &str,
    caller: &Caller,
) -> Result<NewSession, AppError> {
    let wrong =
        || AppError::Unauthorized("That e-mail and password do not match an account.".into());
    let email = email.trim().to_lowercase();
    let started = Instant::now();
    if let Some(wait) = guard.wait(&email, caller.ip, started) {
        return Err(slow_down(wait));
    }
    let account = db.read(|c| staff::find_by_email(c, &email))?;
    let hash = account
        .as_ref()
        .and_then(|a| a.password_hash.as_deref())
        .unwrap_or(crypto::dummy_password_hash());
    let password_ok = crypto::verify_password(password, hash);
    let Some(account) = account.filter(|a| a.password_hash.is_some()) else {
        guard.failed(&email, caller.ip, started);
        return Err(wrong());
    };
    let now = Utc::now();
    let who = Caller {
        actor: actor_of(&account),
        ip: caller.ip,
    };
    let outcome = db.write(|tx| -> Result<Result<NewSession, AppError>, AppError> {
        if !password_ok {
            let event = who.event("staff.login_failed", format!("staff:{}", account.id));
            audit::append(tx, None, &event, now)?;
            return Ok(Err(wrong()));
        }
        let stage = if account.totp_enabled {
            Stage::Totp
        } else {
            Stage::Full
        };
        let session = start_session(tx, account.id, stage)?;
        if stage == Stage::Full {
            let event = who.event("staff.login", format!("staff:{}", account.id));
            audit::append(tx, None, &event, now)?;
        }
        Ok(Ok(session))
    })?;
    match &outcome {
        Ok(_) => guard.succeeded(&email, caller.ip),
        Err(_) => guard.failed(&email, caller.ip, started),
    }
    outcome
}

/// The answer while an account must wait before its next try from this network.
fn slow_down(wait: StdDuration) -> AppError {
    AppError::TooManyRequests(format!(
        "Too many failed attempts for this account from your network. Try again in {} \
         second(s).",
        wait.as_secs().max(1)
    ))
}

/// The second step of a login: a TOTP code or a recovery code. Starts a new, full session (a new
/// id, so a session id seen before login is worthless after it).
pub fn complete_second_factor(
    db: &Db,
    vault: &Vault,
    guard: &LoginGuard,
    pending_token: &str,
    code: &str,
    caller: &Caller,
) -> Result<NewSession, AppError> {
    let pending_hash = crypto::sha256_hex(pending_token);
    let now = Utc::now();
    db.write(|tx| -> Result<Result<NewSession, AppError>, AppError> {
        let session = sessions::get(tx, &pending_hash)?
            .filter(|s| s.stage == Stage::Totp)
            .ok_or_else(|| AppError::Unauthorized("Your login has expired; start again.".into()))?;
        let account = staff::get(tx, session.staff_id)?
            .ok_or_else(|| AppError::Unauthorized("Your login has expired; start again.".into()))?;
        // Codes are counted per account and network, like passwords.
        let guarded = format!("staff:{}", account.id);
        let started = Instant::now();
        if let Some(wait) = guard.wait(&guarded, caller.ip, started) {
            return Ok(Err(slow_down(wait)));
        }
        let secret = totp_secret(vault, &account)?.unwrap_or_default();
        let secret = secret.as_str();
        let unix = u64::try_from(now.timestamp()).unwrap_or_default();
        let accepted = match totp::verify(secret, code, unix, account.totp_last_step) {
            Some(step) => staff::advance_totp_step(tx, account.id, step)?,
            None => {
                let normalized = normalize_recovery_code(code);
                !normalized.is_empty()
                    && staff::use_recovery_code(
                        tx,
                        account.id,
                        &crypto::sha256_hex(&normalized),
                        now,
                    )?
            }
        };
        let who = Caller {
            actor: actor_of(&account),
            ip: caller.ip,
        };
        if !accepted {
            let event = who.event(
                "staff.second_factor_failed",
                format!("staff:{}", account.id),
            );
            audit::append(tx, None, &event, now)?;
            guard.failed(&guarded, caller.ip, started);
            return Ok(Err(AppError::Unauthorized(
                "That code is not valid (or was already used).".into(),
            )));
        }
        guard.succeeded(&guarded, caller.ip);
        sessions::delete(tx, &pending_hash)?;
        let full = start_session(tx, account.id, Stage::Full)?;
        let event = who
            .event("staff.login", format!("staff:{}", account.id))
            .detail(serde_json::json!({ "second_factor": true }));
        audit::append(tx, None, &event, now)?;
        Ok(Ok(full))
    })?
}

fn normalize_recovery_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// A live session and its account, or None when it is unknown or has timed out (then it is
/// deleted). Refreshes `last_seen_at` at most once a minute.
pub fn resolve_session(
    db: &Db,
    token: &str,
    idle: StdDuration,
    absolute: StdDuration,
) -> Result<Option<(Session, StaffAccount)>, AppError> {
    let id_hash = crypto::sha256_hex(token);
    let now = Utc::now();
    let found = db.read(|c| -> Result<_, AppError> {
        let Some(session) = sessions::get(c, &id_hash)? else {
            return Ok(None);
        };
        let account = staff::get(c, session.staff_id)?;
        Ok(account.map(|a| (session, a)))
    })?;
    let Some((session, account)) = found else {
        return Ok(None);
    };
    let idle = Duration::from_std(idle).unwrap_or(Duration::minutes(30));
    let absolute = Duration::from_std(absolute).unwrap_or(Duration::hours(12));
    if session.last_seen_at + idle < now || session.created_at + absolute < now {
        db.write(|tx| sessions::delete(tx, &id_hash))?;
        return Ok(None);
    }
    if now - session.last_seen_at > Duration::seconds(60) {
        db.read(|c| sessions::touch(c, &id_hash, now))?;
    }
    Ok(Some((session, account)))
}

pub fn logout(db: &Db, token: &str, caller: &Caller) -> Result<(), AppError> {
    let id_hash = crypto::sha256_hex(token);
    db.write(|tx| {
        if sessions::get(tx, &id_hash)?.is_some() {
            sessions::delete(tx, &id_hash)?;
            audit::append(
                tx,
                None,
                &caller.event("staff.logout", target_of(&caller.actor)),
                Utc::now(),
            )?;
        }
        Ok::<_, AppError>(())
    })
}

fn target_of(actor: &Actor) -> String {
    match actor {
        Actor::Staff { id, .. } => format!("staff:{id}"),
        other => other.label(),
    }
}

/// When no administrator exists yet: a fresh one-time link to create the first one (older links
/// stop working). None once an administrator exists.
pub fn setup_link(db: &Db, base_url: &str) -> Result<Option<String>, AppError> {
    db.write(|tx| {
        if staff::count_admins(tx)? > 0 {
            return Ok(None);
        }
        let now = Utc::now();
        staff::expire_tokens(tx, TokenPurpose::Setup, now)?;
        let token = crypto::random_token(32);
        staff::create_token(
            tx,
            TokenPurpose::Setup,
            None,
            &crypto::sha256_hex(&token),
            now,
            now + Duration::hours(SETUP_LINK_HOURS),
        )?;
        Ok(Some(format!("{base_url}/console/setup/{token}")))
    })
}

pub fn setup_link_is_valid(db: &Db, token: &str) -> Result<bool, AppError> {
    let hash = crypto::sha256_hex(token);
    Ok(db
        .read(|c| staff::find_token(c, TokenPurpose::Setup, &hash, Utc::now()))?
        .is_some())
}

fn parse_credentials(
    email: &str,
    password: &str,
    confirm: &str,
) -> Result<Email, ValidationErrors> {
    let mut errors = ValidationErrors::default();
    let email = errors.check("email", Email::parse(email));
    match &email {
        Some(e) => check_new_password(&mut errors, "password", password, confirm, e.as_str()),
        None if password != confirm => {
            errors.add("password_confirm", "does not match the password");
        }
        None => {}
    }
    errors.into_result()?;
    email.ok_or_else(|| ValidationErrors::single("email", "is required"))
}

/// Uses a setup link to create the first administrator.
pub fn complete_setup(
    db: &Db,
    token: &str,
    email: &str,
    password: &str,
    confirm: &str,
    caller: &Caller,
) -> Result<i64, AppError> {
    let email = parse_credentials(email, password, confirm)?;
    let hash = crypto::hash_password(password)?;
    let token_hash = crypto::sha256_hex(token);
    let now = Utc::now();
    db.write(|tx| {
        if staff::find_token(tx, TokenPurpose::Setup, &token_hash, now)?.is_none()
            || !staff::consume_token(tx, &token_hash, now)?
        {
            return Err(AppError::NotFound(
                "setup link (it was used already, or has expired)".into(),
            ));
        }
        let id = staff::create(tx, email.as_str(), Some(&hash), true, now)?;
        let event = caller
            .event("staff.setup", format!("staff:{id}"))
            .detail(serde_json::json!({ "email": email.as_str(), "admin": true }));
        audit::append(tx, None, &event, now)?;
        Ok(id)
    })
}

/// What `lethe admin create` does with an e-mail that already has an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnExisting {
    /// Refuse, naming the option that would reset the password.
    Refuse,
    /// Set the new password (and make the account an administrator); its sessions end.
    ResetPassword,
}

/// `lethe admin create`: an administrator; an existing account is refused unless
/// `on_existing` says to reset its password (then it is made administrator with the new one).
pub fn create_admin(
    db: &Db,
    email: &str,
    password: &str,
    on_existing: OnExisting,
) -> Result<i64, AppError> {
    let email = parse_credentials(email, password, password)?;
    let hash = crypto::hash_password(password)?;
    let now = Utc::now();
    db.write(|tx| {
        let (id, reset) = match staff::find_by_email(tx, email.as_str())? {
            Some(existing) if on_existing == OnExisting::ResetPassword => {
                staff::set_password(tx, existing.id, &hash)?;
                staff::set_admin(tx, existing.id, true)?;
                sessions::delete_for_staff(tx, existing.id)?;
                (existing.id, true)
            }
            Some(_) => {
                return Err(AppError::Conflict(format!(
                    "An account for {} already exists; its password was not changed. Give \
                     --reset-password to set a new one.",
                    email.as_str()
                )));
            }
            None => (
                staff::create(tx, email.as_str(), Some(&hash), true, now)?,
                false,
            ),
        };
        staff::expire_tokens(tx, TokenPurpose::Setup, now)?;
        let event = Caller::cli()
            .event("staff.admin_create", format!("staff:{id}"))
            .detail(serde_json::json!({ "email": email.as_str(), "password_reset": reset }));
        audit::append(tx, None, &event, now)?;
        Ok(id)
    })
}

/// The e-mail an invitation link is for, if the link is live.
pub fn invitation(db: &Db, token: &str) -> Result<Option<String>, AppError> {
    let hash = crypto::sha256_hex(token);
    db.read(|c| -> Result<_, AppError> {
        let Some(Some(staff_id)) = staff::find_token(c, TokenPurpose::Invite, &hash, Utc::now())?
        else {
            return Ok(None);
        };
        Ok(staff::get(c, staff_id)?.map(|a| a.email))
    })
}

pub fn accept_invitation(
    db: &Db,
    token: &str,
    password: &str,
    confirm: &str,
    caller: &Caller,
) -> Result<(), AppError> {
    let email = invitation(db, token)?.ok_or_else(|| {
        AppError::NotFound("invitation (it was used already, or has expired)".into())
    })?;
    parse_credentials(&email, password, confirm)?;
    let hash = crypto::hash_password(password)?;
    let token_hash = crypto::sha256_hex(token);
    let now = Utc::now();
    db.write(|tx| {
        let Some(Some(staff_id)) = staff::find_token(tx, TokenPurpose::Invite, &token_hash, now)?
        else {
            return Err(AppError::NotFound("invitation".into()));
        };
        if !staff::consume_token(tx, &token_hash, now)? {
            return Err(AppError::NotFound("invitation".into()));
        }
        staff::set_password(tx, staff_id, &hash)?;
        audit::append(
            tx,
            None,
            &caller.event("staff.invitation_accepted", format!("staff:{staff_id}")),
            now,
        )?;
        Ok(())
    })
}

/// Starts TOTP enrolment: a new secret that becomes active once a code from it is confirmed.
pub fn begin_totp(db: &Db, vault: &Vault, staff_id: i64) -> Result<String, AppError> {
    let secret = totp::generate_secret();
    let sealed = vault.seal_secret(&totp_context(staff_id), &secret)?;
    db.write(|tx| staff::set_pending_totp(tx, staff_id, &sealed))?;
    Ok(secret)
}

pub(crate) fn totp_context(staff_id: i64) -> String {
    format!("totp/{staff_id}")
}

/// The account's TOTP seed in the clear (it is stored sealed under the instance's secrets key).
pub fn totp_secret(vault: &Vault, account: &StaffAccount) -> Result<Option<String>, AppError> {
    account
        .totp_secret
        .as_deref()
        .map(|s| vault.open_secret(&totp_context(account.id), s))
        .transpose()
        .map_err(AppError::from)
}

/// Confirms enrolment with a code from the app; returns the recovery codes, shown once.
pub fn confirm_totp(
    db: &Db,
    vault: &Vault,
    account: &StaffAccount,
    code: &str,
    caller: &Caller,
) -> Result<Vec<String>, AppError> {
    let secret = totp_secret(vault, account)?
        .filter(|_| !account.totp_enabled)
        .ok_or_else(|| AppError::Conflict("Start the enrolment first.".into()))?;
    let secret = secret.as_str();
    let now = Utc::now();
    let unix = u64::try_from(now.timestamp()).unwrap_or_default();
    let step = totp::verify(secret, code, unix, None).ok_or_else(|| {
        ValidationErrors::single("code", "is not the current code of your authenticator app")
    })?;
    let codes: Vec<String> = (0..RECOVERY_CODES)
        .map(|_| crypto::random_code(16))
        .collect();
    let hashes: Vec<String> = codes.iter().map(crypto::sha256_hex).collect();
    db.write(|tx| {
        staff::enable_totp(tx, account.id, step)?;
        staff::replace_recovery_codes(tx, account.id, &hashes)?;
        audit::append(
            tx,
            None,
            &caller.event("staff.totp_enabled", format!("staff:{}", account.id)),
            now,
        )?;
        Ok::<_, AppError>(())
    })?;
    Ok(codes
        .into_iter()
        .map(|c| format!("{}-{}-{}-{}", &c[0..4], &c[4..8], &c[8..12], &c[12..16]))
        .collect())
}

/// Turns TOTP off after checking the password again.
pub fn disable_totp(
    db: &Db,
    account: &StaffAccount,
    password: &str,
    caller: &Caller,
) -> Result<(), AppError> {
    let ok = account
        .password_hash
        .as_deref()
        .is_some_and(|h| crypto::verify_password(password, h));
    if !ok {
        return Err(ValidationErrors::single("password", "is not your current password").into());
    }
    db.write(|tx| {
        staff::disable_totp(tx, account.id)?;
        audit::append(
            tx,
            None,
            &caller.event("staff.totp_disabled", format!("staff:{}", account.id)),
            Utc::now(),
        )?;
        Ok(())
    })
}

/// Changes the signed-in person's password: the current one must match, the new one is given
/// twice and follows the password rules. Every other session of theirs ends; the one that
/// made the change (`current_session`, its cookie value) stays.
pub fn change_password(
    db: &Db,
    account: &StaffAccount,
    current_session: &str,
    current: &str,
    new: &str,
    confirm: &str,
    caller: &Caller,
) -> Result<usize, AppError> {
    let hash = account
        .password_hash
        .as_deref()
        .unwrap_or(crypto::dummy_password_hash());
    let mut errors = ValidationErrors::default();
    if !crypto::verify_password(current, hash) || account.password_hash.is_none() {
        errors.add("current_password", "is not your current password");
    }
    check_new_password(&mut errors, "new_password", new, confirm, &account.email);
    errors.into_result()?;
    let new_hash = crypto::hash_password(new)?;
    let keep = crypto::sha256_hex(current_session);
    let now = Utc::now();
    db.write(|tx| {
        staff::set_password(tx, account.id, &new_hash)?;
        let ended = sessions::delete_others_for_staff(tx, account.id, &keep)?;
        let event = caller
            .event("staff.password_changed", format!("staff:{}", account.id))
            .detail(serde_json::json!({ "other_sessions_ended": ended }));
        audit::append(tx, None, &event, now)?;
        Ok(ended)
    })
}

pub fn unused_recovery_codes(db: &Db, staff_id: i64) -> Result<i64, AppError> {
    Ok(db.read(|c| staff::unused_recovery_codes(c, staff_id))?)
}

/// Removes sessions past their idle or absolute limit. Run by the scheduler.
pub fn purge_expired_sessions(
    db: &Db,
    idle: StdDuration,
    absolute: StdDuration,
) -> Result<usize, AppError> {
    let now = Utc::now();
    let idle = Duration::from_std(idle).unwrap_or(Duration::minutes(30));
    let absolute = Duration::from_std(absolute).unwrap_or(Duration::hours(12));
    Ok(db.read(|c| sessions::delete_expired(c, now - idle, now - absolute))?)
}
