//! Erasure by crypto-shredding: a person's records are deleted and their data key destroyed, so
//! every copy of what it sealed (backups included) becomes unreadable; records a legal hold must
//! keep are first re-sealed under the hold's own key, which dies when the hold ends.

use super::Caller;
use super::subjects::find;
use crate::domain::inventory::LegalHold;
use crate::domain::retention::governing_hold;
use crate::error::AppError;
use crate::store::subjects::SubjectRow;
use crate::store::{Db, Transaction, WorkspaceScope, audit, inventory, records, subjects};
use crate::vault::{self, DestroyReason, KeyPurpose, Vault};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KeptRecords {
    pub hold: String,
    pub reason: String,
    pub until: Option<String>,
    pub category: String,
    pub records: usize,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErasureReport {
    pub external_id: String,
    pub erased_at: DateTime<Utc>,
    /// Records deleted, their key destroyed.
    pub deleted_records: usize,
    /// Records a legal hold keeps, re-sealed under the hold's key until its end date.
    pub kept: Vec<KeptRecords>,
}

/// Erases a person: records under a legal hold are re-sealed under the hold's key, the rest
/// are deleted, the profile and e-mail index are dropped, and the person's data key is
/// destroyed, which makes any copy of their records (backups included) unreadable.
pub fn erase_subject(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    caller: &Caller,
    external_id: &str,
    today: NaiveDate,
) -> Result<ErasureReport, AppError> {
    let now = Utc::now();
    let holds = db
        .read(|c| inventory::load(c, scope).map_err(AppError::from))?
        .legal_holds;
    // Durable before the key goes: a power loss must not keep the rows and lose the key.
    let (report, subject_id, key_id) = db.write_durable(|tx| {
        let row = find(tx, scope, external_id)?;
        erase_in(tx, vault, scope, caller, &row, &holds, today, now)
    })?;
    destroy_subject_key(db, vault, scope, subject_id, external_id, &key_id)?;
    Ok(report)
}

/// The erasure's rows, in the caller's transaction, which must be durable
/// (`Db::write_durable`): records under a hold re-sealed, the rest deleted, the subject marked
/// erased and audited. Returns the report, the subject's row id and the key to destroy with
/// [`destroy_subject_key`] once the transaction has committed, never before.
#[allow(
    clippy::too_many_arguments,
    reason = "the erasure's inputs; grouping them would only rename the list"
)]
pub(super) fn erase_in(
    tx: &Transaction<'_>,
    vault: &Vault,
    scope: &WorkspaceScope,
    caller: &Caller,
    row: &SubjectRow,
    holds: &[LegalHold],
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Result<(ErasureReport, i64, String), AppError> {
    let external_id = row.external_id.as_str();
    if let Some(at) = row.erased_at {
        return Err(AppError::Conflict(format!(
            "subject '{external_id}' was already erased on {}",
            at.date_naive()
        )));
    }
    let key_id = row
        .key_id
        .clone()
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("subject {} has no data key", row.id)))?;
    let own = records::sealed_under(tx, scope, row.id, &key_id)?;
    let mut kept: Vec<KeptRecords> = Vec::new();
    if !own.is_empty() {
        let keys = vault.key_ring(scope, &records::key_ids(&own))?;
        for r in &own {
            let Some(hold) = governing_hold(holds, &r.category, today) else {
                continue;
            };
            let record_key = keys
                .record_key(&r.key_id, r.period_key_id.as_deref())
                .ok_or_else(|| {
                    AppError::internal(anyhow::anyhow!("record {} has no data key", r.id))
                })?;
            let until = hold.until.map(|d| d.to_string());
            let label = format!("{}:{}", hold.key, until.as_deref().unwrap_or("open"));
            let (hold_key_id, hold_key) = vault.shared_key(scope, KeyPurpose::Hold, &label)?;
            let aad = vault::record_aad(scope, &r.id);
            let plain = zeroize::Zeroizing::new(
                record_key
                    .open(&aad, &r.sealed_fields)
                    .map_err(AppError::internal)?,
            );
            let sealed = hold_key.seal(&aad, &plain)?;
            records::reseal_under_hold(
                tx,
                scope,
                &r.id,
                &hold_key_id,
                &sealed,
                &hold.key,
                until.as_deref(),
            )?;
            match kept
                .iter_mut()
                .find(|k| k.hold == hold.key && k.category == r.category)
            {
                Some(k) => k.records += 1,
                None => kept.push(KeptRecords {
                    hold: hold.key.clone(),
                    reason: hold.reason.clone(),
                    until,
                    category: r.category.clone(),
                    records: 1,
                }),
            }
        }
    }
    let deleted = records::delete_sealed_under(tx, scope, row.id, &key_id)?;
    subjects::mark_erased(tx, scope, row.id, now)?;
    let kept_count: usize = kept.iter().map(|k| k.records).sum();
    let event = caller
        .event("subject.erased", external_id)
        .detail(json!({"deleted_records": deleted, "kept_records": kept_count}));
    audit::append(tx, Some(scope), &event, now)?;
    let report = ErasureReport {
        external_id: external_id.to_owned(),
        erased_at: now,
        deleted_records: deleted,
        kept,
    };
    Ok((report, row.id, key_id))
}

/// Journals an erasure, then destroys the person's data key (journaled too) and forgets it:
/// only after the transaction that deleted what it protects has committed durably. Each line is
/// on disk before the next step, so the erasure is acknowledged only once a restore could
/// replay it; a crash in between is finished at start, journaling again (replay is idempotent).
pub(super) fn destroy_subject_key(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    subject_id: i64,
    external_id: &str,
    key_id: &str,
) -> Result<(), AppError> {
    vault.journal_subject_erased(scope, external_id, key_id)?;
    vault.destroy_key(scope, key_id, DestroyReason::SubjectErased)?;
    db.write(|tx| subjects::forget_key(tx, scope, subject_id).map_err(AppError::from))
}

/// Retention has run its course for a closed account: nothing of the person is left but their
/// profile and key. Both go as in an erasure (durably first, then the key), recorded as an
/// expiry rather than a request.
pub fn expire_subject(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    subject_id: i64,
    external_id: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let key_id = db.write_durable(|tx| {
        let row = find(tx, scope, external_id)?;
        if row.erased_at.is_some() || records::count_for_subject(tx, scope, row.id)? > 0 {
            return Ok::<_, AppError>(None);
        }
        subjects::mark_erased(tx, scope, row.id, now)?;
        let event = super::Caller::system()
            .event("subject.expired", external_id)
            .detail(json!({"reason": "every record past its retention rule; account closed"}));
        audit::append(tx, Some(scope), &event, now)?;
        Ok(row.key_id)
    })?;
    if let Some(key_id) = key_id {
        destroy_subject_key(db, vault, scope, subject_id, external_id, &key_id)?;
    }
    Ok(())
}

/// Finishes erasures that stopped between the two files (records erased, key not yet
/// destroyed). Run at start-up.
pub fn finish_interrupted_erasures(db: &Db, vault: &Vault) -> Result<usize, AppError> {
    let pending = db.read(|c| subjects::keys_to_destroy(c).map_err(AppError::from))?;
    for (scope, subject_id, external_id, key_id) in &pending {
        destroy_subject_key(db, vault, scope, *subject_id, external_id, key_id)?;
    }
    Ok(pending.len())
}

/// Ends legal holds: records an erasure kept under a hold are deleted, and the hold's key
/// destroyed, once the hold as the inventory now states it has ended (its last day is before
/// `today`) or was lifted (deleted). A hold extended since the erasure keeps its records.
/// Returns how many records went.
pub fn end_expired_holds(db: &Db, vault: &Vault, today: NaiveDate) -> Result<usize, AppError> {
    let mut ended = 0;
    // Each workspace's holds are read once, however many hold keys it has.
    let mut holds_of: std::collections::HashMap<i64, Vec<LegalHold>> = Default::default();
    for (scope, key_id, label) in vault.hold_keys()? {
        let hold_key = label.rsplit_once(':').map_or(label.as_str(), |(k, _)| k);
        if let std::collections::hash_map::Entry::Vacant(slot) = holds_of.entry(scope.id()) {
            let inventory = db.read(|c| inventory::load(c, &scope).map_err(AppError::from))?;
            slot.insert(inventory.legal_holds);
        }
        let current = holds_of[&scope.id()].iter().find(|h| h.key == hold_key);
        if current.is_some_and(|h| h.until.is_none_or(|u| u >= today)) {
            continue;
        }
        let now = Utc::now();
        let deleted = db.write_durable(|tx| {
            let n = records::delete_sealed_by(tx, &scope, &key_id)?;
            let why = if current.is_some() { "ended" } else { "lifted" };
            let event = super::Caller::system()
                .event("legal_hold.released", hold_key)
                .detail(json!({"deleted_records": n, "hold": why}));
            audit::append(tx, Some(&scope), &event, now)?;
            Ok::<_, AppError>(n)
        })?;
        vault.destroy_key(&scope, &key_id, DestroyReason::HoldEnded)?;
        ended += deleted;
    }
    Ok(ended)
}
