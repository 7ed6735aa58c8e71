//! Ingestion: a batch of records is checked against the categories' rules, each record is sealed
//! under its subject's data key (or the workspace's key for records without a person), and the
//! batch goes to the group-commit writer, which answers once it is durable.

use crate::domain::ValidationErrors;
use crate::domain::ip_country::IpCountryTable;
use crate::domain::keys::Period;
use crate::domain::record::{Receipt, prepare_batch};
use crate::error::AppError;
pub use crate::store::writer::Idempotency;
use crate::store::writer::{Batch, BatchOutcome, GroupWriter, NewRecord};
use crate::store::{Db, WorkspaceScope, inventory, records, subjects};
use crate::vault::{self, KeyPurpose, SecretKey, Vault};
use chrono::Utc;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// Where a batch went.
#[derive(Debug)]
pub enum Ingested {
    Stored(Receipt),
    /// A retry of a batch already stored under the same `Idempotency-Key`: nothing new.
    Replayed(Receipt),
}

fn key_reused() -> AppError {
    ValidationErrors::single(
        "Idempotency-Key",
        "was already used for a different request body; send a new key for a new batch",
    )
    .into()
}

/// Checks, seals and stores a batch: all of it or, with a 422 naming every problem, none.
pub async fn ingest(
    db: &Db,
    vault: &Vault,
    writer: &GroupWriter,
    countries: Arc<IpCountryTable>,
    scope: WorkspaceScope,
    records: Vec<Value>,
    idempotency: Option<Idempotency>,
) -> Result<Ingested, AppError> {
    // A period key may start to be destroyed between sealing and storing (a record for a week
    // long past); the writer then refuses the batch and it is sealed again under a new key.
    for _ in 0..3 {
        let (db2, vault2, countries) = (db.clone(), vault.clone(), countries.clone());
        let (raw, idem) = (records.clone(), idempotency.clone());
        let prepared = tokio::task::spawn_blocking(move || {
            seal_batch(&db2, &vault2, &countries, scope, raw, idem.as_ref())
        })
        .await
        .map_err(AppError::internal)??;
        let batch = match prepared {
            Sealed::Earlier(outcome) => return outcome,
            Sealed::Batch(records) => Batch {
                scope,
                idempotency: idempotency.clone(),
                records,
            },
        };
        match writer.submit(batch).await? {
            BatchOutcome::KeyRetired => continue,
            outcome => return answer(outcome),
        }
    }
    Err(AppError::internal(anyhow::anyhow!(
        "a period key kept being retired while the batch was stored"
    )))
}

/// What the API answers for what the writer did.
fn answer(outcome: BatchOutcome) -> Result<Ingested, AppError> {
    match outcome {
        BatchOutcome::Stored(r) => Ok(Ingested::Stored(r)),
        BatchOutcome::Replayed(r) => Ok(Ingested::Replayed(r)),
        BatchOutcome::KeyReused => Err(key_reused()),
        BatchOutcome::SubjectErased(_) => Err(AppError::Conflict(
            "a subject of this batch was erased while it was being stored; nothing was stored"
                .into(),
        )),
        BatchOutcome::KeyRetired => Err(AppError::Conflict(
            "a key of this batch was being destroyed while it was stored; nothing was stored: \
             send it again"
                .into(),
        )),
    }
}

/// Checks, seals and stores a batch in one ordinary transaction, without the group-commit
/// writer: for the shell and the demo, not for the API's hot path.
pub fn ingest_now(
    db: &Db,
    vault: &Vault,
    countries: &IpCountryTable,
    scope: WorkspaceScope,
    records: Vec<Value>,
) -> Result<Receipt, AppError> {
    // Without an idempotency key there is no earlier answer to replay.
    let Sealed::Batch(records) = seal_batch(db, vault, countries, scope, records, None)? else {
        return Err(AppError::internal(anyhow::anyhow!(
            "no earlier batch to replay"
        )));
    };
    let batch = Batch {
        scope,
        idempotency: None,
        records,
    };
    match answer(db.write(|tx| crate::store::writer::write_now(tx, &batch))?)? {
        Ingested::Stored(r) | Ingested::Replayed(r) => Ok(r),
    }
}

enum Sealed {
    /// Answered from an earlier batch with the same idempotency key.
    Earlier(Result<Ingested, AppError>),
    Batch(Vec<NewRecord>),
}

fn seal_batch(
    db: &Db,
    vault: &Vault,
    countries: &IpCountryTable,
    scope: WorkspaceScope,
    raw: Vec<Value>,
    idempotency: Option<&Idempotency>,
) -> Result<Sealed, AppError> {
    // A retry gets its first answer, even if the inventory changed since.
    if let Some(idem) = idempotency
        && let Some((digest, receipt)) =
            db.read(|c| records::idempotent_receipt(c, &scope, &idem.key))?
    {
        if digest != idem.request_digest {
            return Ok(Sealed::Earlier(Err(key_reused())));
        }
        let receipt = serde_json::from_str(&receipt).map_err(AppError::internal)?;
        return Ok(Sealed::Earlier(Ok(Ingested::Replayed(receipt))));
    }
    let categories = db.read(|c| inventory::categories(c, &scope))?;
    let now = Utc::now();
    let prepared = prepare_batch(raw, &categories, countries, now)?;

    // Resolve each named subject once; unknown and erased ones are errors of their records.
    let mut errors = ValidationErrors::default();
    let mut subject_keys: HashMap<String, (i64, String)> = HashMap::new();
    db.read(|c| {
        for (i, r) in prepared.iter().enumerate() {
            let Some(external_id) = &r.subject else {
                continue;
            };
            if subject_keys.contains_key(external_id) {
                continue;
            }
            match subjects::by_external_id(c, &scope, external_id)? {
                Some(s) if s.erased_at.is_some() => errors.add(
                    &format!("records[{i}].subject"),
                    format!("subject '{external_id}' was erased: nothing more may be stored about them"),
                ),
                Some(s) => match s.key_id {
                    Some(key_id) => {
                        subject_keys.insert(external_id.clone(), (s.id, key_id));
                    }
                    None => errors.add(&format!("records[{i}].subject"), "has no data key"),
                },
                None => errors.add(
                    &format!("records[{i}].subject"),
                    format!("subject '{external_id}' is not known: create it with POST /api/v1/subjects first"),
                ),
            }
        }
        Ok::<_, AppError>(())
    })?;
    errors.into_result()?;

    let ids: Vec<&str> = subject_keys.values().map(|(_, k)| k.as_str()).collect();
    let keys = vault.keys(&scope, &ids)?;
    let unlinked: Option<(String, SecretKey)> = if prepared.iter().any(|r| r.subject.is_none()) {
        Some(vault.shared_key(&scope, KeyPurpose::Unlinked, "records")?)
    } else {
        None
    };
    let periods: Vec<Period> = prepared
        .iter()
        .map(|r| Period::of(&r.category, r.occurred_at))
        .collect();
    let period_keys = super::keys::period_keys(db, vault, &scope, &periods)?;
    let mut out = Vec::with_capacity(prepared.len());
    for (r, period) in prepared.into_iter().zip(&periods) {
        let (subject_id, key_id, key) = match &r.subject {
            Some(external_id) => {
                let (subject_id, key_id) = &subject_keys[external_id];
                let key = keys.get(key_id).ok_or_else(|| {
                    AppError::internal(anyhow::anyhow!(
                        "data key of subject {subject_id} is missing"
                    ))
                })?;
                (Some(*subject_id), key_id.clone(), key)
            }
            None => {
                let (key_id, key) = unlinked
                    .as_ref()
                    .ok_or_else(|| AppError::internal(anyhow::anyhow!("no workspace key")))?;
                (None, key_id.clone(), key)
            }
        };
        let (period_key_id, period_key) = &period_keys[period];
        let id = uuid::Uuid::now_v7().to_string();
        let plain =
            zeroize::Zeroizing::new(serde_json::to_vec(&r.fields).map_err(AppError::internal)?);
        out.push(NewRecord {
            sealed_fields: key
                .derive_with(period_key)
                .seal(&vault::record_aad(&scope, &id), &plain)?,
            id,
            subject_id,
            category: r.category,
            occurred_at: r.occurred_at,
            key_id,
            period_key_id: Some(period_key_id.clone()),
        });
    }
    Ok(Sealed::Batch(out))
}
