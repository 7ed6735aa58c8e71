//! Key lifetimes: period keys handed to ingestion, period keys destroyed once nothing sealed in
//! their week is left, and records from before period keys upgraded to them at start.
//!
//! Order matters (see ARCHITECTURE.md, "Durable before destroyed"): a key is first listed as
//! retiring in a durable `lethe.db` transaction that also proves nothing is sealed under it,
//! then forgotten by the key store, then unlisted. A crash in between is finished at start.

use crate::domain::keys::Period;
use crate::error::AppError;
use crate::store::{Db, WorkspaceScope, key_retirements, records, workspaces};
use crate::vault::{self, KeyPurpose, SecretKey, Vault};
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;

/// A period's week is kept open this long after it ends, for records that arrive late.
pub const LATE_ARRIVALS: Duration = Duration::days(2);

/// The key of a period, made on first use. A key that is being destroyed is never handed out:
/// its destruction is finished here and a new key made for the label.
pub fn period_key(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    period: &Period,
) -> Result<(String, SecretKey), AppError> {
    let label = period.label();
    for _ in 0..3 {
        let (id, key) = vault.shared_key(scope, KeyPurpose::Period, &label)?;
        if !db.read(|c| key_retirements::any_retired(c, &[id.as_str()]))? {
            return Ok((id, key));
        }
        finish_destruction(db, vault, scope, &id)?;
    }
    Err(AppError::internal(anyhow::anyhow!(
        "the period key {label} keeps being retired"
    )))
}

/// The period keys of a batch of records, one look-up per distinct period.
pub fn period_keys<'a>(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    periods: impl IntoIterator<Item = &'a Period>,
) -> Result<HashMap<Period, (String, SecretKey)>, AppError> {
    let mut out = HashMap::new();
    for p in periods {
        if !out.contains_key(p) {
            out.insert(p.clone(), period_key(db, vault, scope, p)?);
        }
    }
    Ok(out)
}

fn finish_destruction(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    key_id: &str,
) -> Result<(), AppError> {
    vault.destroy_key(scope, key_id, vault::DestroyReason::PeriodSpent)?;
    db.write(|tx| key_retirements::done(tx, key_id).map_err(AppError::from))
}

/// Finishes destructions a crash cut short. Run at start.
pub fn finish_retirements(db: &Db, vault: &Vault) -> Result<usize, AppError> {
    let pending = db.read(|c| key_retirements::pending(c).map_err(AppError::from))?;
    for (scope, key_id) in &pending {
        finish_destruction(db, vault, scope, key_id)?;
    }
    Ok(pending.len())
}

/// Destroys every period key of the workspace whose week is over (late arrivals included) and
/// under which nothing is sealed any more. Returns how many went.
pub fn destroy_spent_period_keys(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    let mut destroyed = 0;
    for (key_id, label) in vault.labels_of(scope, KeyPurpose::Period)? {
        let Some(period) = Period::parse_label(&label) else {
            tracing::warn!(label, "a period key with an unreadable label is kept");
            continue;
        };
        if period.ends() + LATE_ARRIVALS > now {
            continue;
        }
        // Most keys of past weeks still seal records: a read says so without an fsync.
        if db.read(|c| records::period_key_in_use(c, &key_id))? {
            continue;
        }
        let retired = db.write_durable(|tx| {
            if records::period_key_in_use(tx, &key_id)? {
                return Ok::<_, AppError>(false);
            }
            key_retirements::retire(tx, scope, &key_id, "period spent", now)?;
            Ok(true)
        })?;
        if retired {
            finish_destruction(db, vault, scope, &key_id)?;
            destroyed += 1;
        }
    }
    Ok(destroyed)
}

/// The period-keys job: spent period keys of every workspace.
pub fn destroy_all_spent_period_keys(
    db: &Db,
    vault: &Vault,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    let mut n = 0;
    for scope in db.read(|c| workspaces::all_scopes(c).map_err(AppError::from))? {
        n += destroy_spent_period_keys(db, vault, &scope, now)?;
    }
    Ok(n)
}

/// Records sealed before period keys existed are re-sealed under their owner's key derived
/// with their period's key, `batch` at a time; returns how many were upgraded. Resumable: each
/// batch commits on its own, and what is left is simply what still has no period key.
pub fn upgrade_records(
    db: &Db,
    vault: &Vault,
    batch: u32,
    stop: &dyn Fn() -> bool,
) -> Result<usize, AppError> {
    let mut total = 0;
    for scope in db.read(|c| workspaces::all_scopes(c).map_err(AppError::from))? {
        loop {
            if stop() {
                return Ok(total);
            }
            let rows = db.read(|c| records::without_period(c, &scope, batch))?;
            if rows.is_empty() {
                break;
            }
            let periods: Vec<Period> = rows
                .iter()
                .map(|r| Period::of(&r.category, r.occurred_at))
                .collect();
            let period_keys = period_keys(db, vault, &scope, &periods)?;
            let ring = vault.key_ring(&scope, &records::key_ids(&rows))?;
            let mut resealed = Vec::with_capacity(rows.len());
            for (r, period) in rows.iter().zip(&periods) {
                let Some(owner) = ring.get(&r.key_id) else {
                    // Its person's key is gone (erased a moment ago): nothing to upgrade.
                    continue;
                };
                let aad = vault::record_aad(&scope, &r.id);
                let plain = zeroize::Zeroizing::new(
                    owner
                        .open(&aad, &r.sealed_fields)
                        .map_err(AppError::internal)?,
                );
                let (period_id, period_key) = &period_keys[period];
                let sealed = owner.derive_with(period_key).seal(&aad, &plain)?;
                resealed.push((r, period_id.clone(), sealed));
            }
            let changed = db.write(|tx| {
                let mut n = 0;
                for (r, period_id, sealed) in &resealed {
                    if records::set_period_key(tx, &scope, &r.id, &r.key_id, period_id, sealed)? {
                        n += 1;
                    }
                }
                Ok::<_, AppError>(n)
            })?;
            total += changed;
            if changed == 0 {
                // Everything left changed under us (erased meanwhile); the next pass sees.
                break;
            }
        }
    }
    Ok(total)
}

/// Records a finished `lethe keys rotate` in the audit chain: which master key (by id, never its
/// value) wrapped the data keys before and after, and how many were re-wrapped. The re-wrap
/// itself is one `keys.db` transaction; this entry follows it in `lethe.db`.
pub fn record_master_key_rotation(
    db: &Db,
    old_id: &str,
    new_id: &str,
    rewrapped: usize,
) -> Result<(), AppError> {
    let event = super::Caller::cli()
        .event("keys.master_rotated", "instance")
        .detail(serde_json::json!({
            "old_master_key": old_id,
            "new_master_key": new_id,
            "data_keys_rewrapped": rewrapped,
        }));
    db.write(|tx| crate::store::audit::append(tx, None, &event, Utc::now()))?;
    Ok(())
}
