//! The vault's use cases about people: create or update a subject, close their account,
//! restrict and lift, and read their records (logged with a reason). Erasure is in `erasure.rs`.

use super::Caller;
use crate::domain::ValidationErrors;
use crate::domain::audit::Actor;
use crate::domain::subject::{Profile, SubjectInput, SubjectRefusal, parse_external_id};
use crate::error::AppError;
use crate::store::records::{self, AccessEntry, StoredRecord};
use crate::store::subjects::{self, NewSubject, SubjectRow};
use crate::store::{Connection, Transaction};
use crate::store::{Db, StoreError, WorkspaceScope, audit, workspaces};
use crate::vault::{self, KeyPurpose, KeyRing, SecretKey, Vault, VaultError};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

pub use super::subject_list::{SubjectPage, SubjectSummary, list, list_after};

impl From<VaultError> for AppError {
    fn from(e: VaultError) -> Self {
        match e {
            VaultError::Store(s) => s.into(),
            other => AppError::internal(other),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Restriction {
    pub since: DateTime<Utc>,
    pub reason: String,
}

/// A subject as the API and the console show it. The profile is absent once erased.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SubjectView {
    pub external_id: String,
    pub kind: String,
    pub email: Option<String>,
    pub birth_date: Option<NaiveDate>,
    pub closed_at: Option<DateTime<Utc>>,
    pub restricted: Option<Restriction>,
    /// Objections and withdrawals of consent the person made through requests (only when one
    /// subject is read).
    pub objections: Vec<super::request_fulfilment::ObjectionView>,
    pub erased_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HeldView {
    /// The legal hold's key.
    pub hold: String,
    /// Its last day; absent while the hold has no end date.
    pub until: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RecordView {
    pub id: String,
    pub category: String,
    pub occurred_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    #[schema(value_type = Object)]
    pub fields: Map<String, Value>,
    pub flagged_restricted: bool,
    /// Set when erasure kept the record under a legal hold.
    pub held: Option<HeldView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SubjectRecords {
    pub subject: SubjectView,
    pub total: i64,
    pub records: Vec<RecordView>,
}

/// Who reads a person's data, and why: written to the subject access log, and the read (without
/// the reason) to the audit chain.
#[derive(Debug, Clone)]
pub struct Reader {
    pub caller: Caller,
    pub staff_id: Option<i64>,
    pub label: String,
    /// The privacy officer may read a restricted person's records.
    pub may_read_restricted: bool,
    pub reason: String,
}

impl Reader {
    pub fn new(caller: &Caller, may_read_restricted: bool, reason: String) -> Reader {
        let (staff_id, label) = match &caller.actor {
            Actor::Staff { id, email } => (Some(*id), email.clone()),
            Actor::ApiKey { name, .. } => (None, format!("API key '{name}'")),
            Actor::Cli => (None, "shell".into()),
            Actor::System => (None, "Lethe".into()),
        };
        Reader {
            caller: caller.clone(),
            staff_id,
            label,
            may_read_restricted,
            reason,
        }
    }
}

/// A reason for looking at someone's data: required, short, one line.
pub fn parse_reason(raw: &str) -> Result<String, ValidationErrors> {
    let reason =
        crate::domain::text(raw, 500, false).map_err(|m| ValidationErrors::single("reason", m))?;
    if reason.chars().count() < 4 {
        return Err(ValidationErrors::single(
            "reason",
            "say why you need to see this person's data (e.g. a ticket number)",
        ));
    }
    Ok(reason)
}

fn not_found(external_id: &str) -> AppError {
    AppError::NotFound(format!("subject '{external_id}'"))
}

pub(super) fn find(
    conn: &Connection,
    scope: &WorkspaceScope,
    external_id: &str,
) -> Result<SubjectRow, AppError> {
    subjects::by_external_id(conn, scope, external_id)?.ok_or_else(|| not_found(external_id))
}

pub(super) fn view(
    row: &SubjectRow,
    key: Option<&SecretKey>,
    scope: &WorkspaceScope,
) -> Result<SubjectView, AppError> {
    let profile: Profile = match (&row.sealed_profile, key) {
        (Some(sealed), Some(key)) => {
            let bytes = key
                .open(&vault::profile_aad(scope, &row.external_id), sealed)
                .map_err(AppError::internal)?;
            serde_json::from_slice(&bytes).map_err(AppError::internal)?
        }
        _ => Profile::default(),
    };
    Ok(SubjectView {
        external_id: row.external_id.clone(),
        kind: row.kind.clone(),
        email: profile.email,
        birth_date: profile.birth_date,
        closed_at: row.closed_at,
        restricted: row.restricted_at.map(|since| Restriction {
            since,
            reason: restriction_reason(row, key, scope),
        }),
        objections: Vec::new(),
        erased_at: row.erased_at,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// Why the person's processing is restricted, opened with their key (empty when it cannot be).
pub fn restriction_reason(
    row: &SubjectRow,
    key: Option<&SecretKey>,
    scope: &WorkspaceScope,
) -> String {
    match (&row.restricted_reason_sealed, key) {
        (Some(sealed), Some(key)) => {
            open_reason(key, scope, &row.external_id, "restriction", sealed)
        }
        // An older Lethe's plain reason, until the start-up sealing has run.
        _ => row.restricted_reason.clone(),
    }
}

pub(super) fn seal_reason(
    key: &SecretKey,
    scope: &WorkspaceScope,
    external_id: &str,
    what: &str,
    reason: &str,
) -> Result<Vec<u8>, vault::SealError> {
    key.seal(
        &vault::reason_aad(scope, external_id, what),
        reason.as_bytes(),
    )
}

/// A sealed reason in words; one that does not open says so rather than failing the page.
fn open_reason(
    key: &SecretKey,
    scope: &WorkspaceScope,
    external_id: &str,
    what: &str,
    sealed: &[u8],
) -> String {
    key.open(&vault::reason_aad(scope, external_id, what), sealed)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .unwrap_or_else(|| "(the reason cannot be read)".to_owned())
}

pub fn subject_key(
    vault: &Vault,
    scope: &WorkspaceScope,
    row: &SubjectRow,
) -> Result<Option<SecretKey>, AppError> {
    match &row.key_id {
        Some(id) => Ok(vault.keys(scope, &[id.as_str()])?.remove(id)),
        None => Ok(None),
    }
}

/// Creates or updates a subject by `external_id`. `Ok(true)` when created. A person under the
/// workspace's minimum age is refused, and the refusal is audited so staff see it.
pub fn put(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    caller: &Caller,
    input: SubjectInput,
    today: NaiveDate,
) -> Result<(bool, SubjectView), AppError> {
    let min_age = db
        .read(|c| workspaces::get(c, scope).map_err(AppError::from))?
        .settings
        .min_age;
    let subject = match input.clone().validate(min_age, today) {
        Ok(s) => s,
        Err(SubjectRefusal::Invalid(errors)) => return Err(errors.into()),
        Err(SubjectRefusal::UnderAge { min_age }) => {
            let now = Utc::now();
            let target = parse_external_id(&input.external_id).unwrap_or_default();
            // Only the id and the rule are kept: nothing else about a child is stored.
            let event = caller
                .event("subject.refused_under_age", target)
                .detail(json!({"min_age": min_age}));
            db.write(|tx| audit::append(tx, Some(scope), &event, now).map_err(AppError::from))?;
            return Err(ValidationErrors::single(
                "birth_date",
                format!(
                    "the person is younger than this workspace's minimum age of {min_age}: nothing about them was stored"
                ),
            )
            .into());
        }
    };
    let profile = serde_json::to_vec(&subject.profile()).map_err(AppError::internal)?;
    let aad = vault::profile_aad(scope, &subject.external_id);
    let email_index = match &subject.email {
        Some(e) => Some(vault.email_index(scope, e.as_str())?),
        None => None,
    };
    let existing = db.read(|c| {
        subjects::by_external_id(c, scope, &subject.external_id).map_err(AppError::from)
    })?;
    let now = Utc::now();
    if let Some(row) = existing {
        if let Some(at) = row.erased_at {
            return Err(AppError::Conflict(format!(
                "subject '{}' was erased on {}; a new account needs a new external_id",
                row.external_id,
                at.date_naive()
            )));
        }
        let key = subject_key(vault, scope, &row)?.ok_or_else(|| {
            AppError::internal(anyhow::anyhow!("subject {} has no data key", row.id))
        })?;
        let sealed = key.seal(&aad, &profile)?;
        let event = caller.event("subject.updated", &subject.external_id);
        db.write(|tx| {
            subjects::update_profile(
                tx,
                scope,
                row.id,
                &subject.kind,
                email_index.as_deref(),
                &sealed,
                now,
            )?;
            audit::append(tx, Some(scope), &event, now)?;
            Ok::<_, AppError>(())
        })?;
        let row = db.read(|c| find(c, scope, &subject.external_id))?;
        return Ok((false, view(&row, Some(&key), scope)?));
    }
    let label = uuid::Uuid::new_v4().to_string();
    let (key_id, key) = vault.create_key(scope, KeyPurpose::Subject, &label)?;
    let sealed = key.seal(&aad, &profile)?;
    let event = caller.event("subject.created", &subject.external_id);
    let inserted = db.write(|tx| {
        subjects::insert(
            tx,
            scope,
            &NewSubject {
                external_id: &subject.external_id,
                kind: &subject.kind,
                email_index: email_index.as_deref(),
                sealed_profile: &sealed,
                key_id: &key_id,
            },
            now,
        )?;
        audit::append(tx, Some(scope), &event, now)?;
        Ok::<_, StoreError>(())
    });
    if let Err(e) = inserted {
        // The key was made for a row that does not exist: do not leave it behind.
        vault.destroy_key(scope, &key_id, vault::DestroyReason::Unused)?;
        return match e {
            // Another request created the same subject a moment ago: update it instead.
            StoreError::Conflict(_) => put(db, vault, scope, caller, input, today),
            other => Err(other.into()),
        };
    }
    let row = db.read(|c| find(c, scope, &subject.external_id))?;
    Ok((true, view(&row, Some(&key), scope)?))
}

/// The subject without its records (profile included: a read, so it is logged).
pub fn get(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    reader: &Reader,
    external_id: &str,
) -> Result<SubjectView, AppError> {
    let row = db.read(|c| find(c, scope, external_id))?;
    let key = subject_key(vault, scope, &row)?;
    let mut v = view(&row, key.as_ref(), scope)?;
    v.objections = super::request_fulfilment::objections(db, scope, external_id)?;
    log_access(
        db,
        scope,
        &row,
        key.as_ref(),
        reader,
        json!({"read": "profile"}),
    )?;
    Ok(v)
}

/// Subjects with this e-mail address, found through the blind index.
pub fn find_by_email(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    reader: &Reader,
    email: &str,
) -> Result<Vec<SubjectView>, AppError> {
    let email =
        crate::domain::Email::parse(email).map_err(|m| ValidationErrors::single("email", m))?;
    let index = vault.email_index(scope, email.as_str())?;
    let rows = db.read(|c| subjects::by_email_index(c, scope, &index).map_err(AppError::from))?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let key = subject_key(vault, scope, row)?;
        out.push(view(row, key.as_ref(), scope)?);
        let what = json!({"read": "profile", "found_by": "email"});
        log_access(db, scope, row, key.as_ref(), reader, what)?;
    }
    Ok(out)
}

/// Writes the read to the subject access log (with the reason, sealed under the person's key)
/// and, in the same transaction, to the audit chain as `subject.read` with `what` was read and
/// the log row's id. The reason is free text that may name people, so it stays out of the chain,
/// whose entries outlive it, and goes with the person's key when they are erased.
pub(super) fn log_access(
    db: &Db,
    scope: &WorkspaceScope,
    row: &SubjectRow,
    key: Option<&SecretKey>,
    reader: &Reader,
    mut what: Value,
) -> Result<(), AppError> {
    let now = Utc::now();
    let sealed = key
        .filter(|_| !reader.reason.is_empty())
        .map(|k| seal_reason(k, scope, &row.external_id, "access", &reader.reason))
        .transpose()?;
    db.write(|tx| {
        let entry = records::log_access(
            tx,
            scope,
            row.id,
            reader.staff_id,
            &reader.label,
            sealed.as_deref(),
            now,
        )?;
        if let Some(detail) = what.as_object_mut() {
            detail.insert("access_log".into(), json!(entry));
            if row.restricted_at.is_some() {
                detail.insert("restricted".into(), json!(true));
            }
        }
        let event = reader
            .caller
            .event("subject.read", &row.external_id)
            .detail(what);
        audit::append(tx, Some(scope), &event, now)?;
        Ok(())
    })
}

/// Records that the person's account ended (retention rules may count from it).
pub fn close(
    db: &Db,
    scope: &WorkspaceScope,
    caller: &Caller,
    external_id: &str,
    at: Option<DateTime<Utc>>,
) -> Result<DateTime<Utc>, AppError> {
    let now = Utc::now();
    let at = at.unwrap_or(now);
    if at > now + chrono::Duration::hours(1) {
        return Err(ValidationErrors::single("closed_at", "is in the future").into());
    }
    if at < crate::domain::time::earliest() {
        return Err(ValidationErrors::single("closed_at", "is before 1970").into());
    }
    db.write(|tx| {
        let row = find(tx, scope, external_id)?;
        if row.erased_at.is_some() {
            return Err(AppError::Conflict(format!(
                "subject '{external_id}' was erased"
            )));
        }
        subjects::close(tx, scope, row.id, at)?;
        audit::append(
            tx,
            Some(scope),
            &caller.event("subject.closed", external_id),
            now,
        )?;
        Ok(at)
    })
}

/// Restricts processing (GDPR Art. 18): records stay, readers other than the privacy officer
/// are refused, and new records are flagged. `None` lifts the restriction.
pub fn set_restriction(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    caller: &Caller,
    external_id: &str,
    reason: Option<&str>,
) -> Result<(), AppError> {
    let reason = reason
        .map(|r| {
            crate::domain::text(r, 500, false).map_err(|m| ValidationErrors::single("reason", m))
        })
        .transpose()?;
    let now = Utc::now();
    let row = db.read(|c| find(c, scope, external_id))?;
    let key = subject_key(vault, scope, &row)?;
    let sealed = match (&reason, &key) {
        (Some(r), Some(k)) => Some(seal_reason(k, scope, external_id, "restriction", r)?),
        (Some(_), None) => {
            return Err(AppError::Conflict(format!(
                "subject '{external_id}' was erased"
            )));
        }
        (None, _) => None,
    };
    db.write(|tx| restrict_in(tx, scope, caller, external_id, sealed.as_deref(), now))
}

/// Sets (`Some`, the reason sealed with the person's key) or lifts (`None`) the restriction in
/// the caller's transaction, with its audit entry; an erased person is refused.
pub(super) fn restrict_in(
    tx: &Transaction<'_>,
    scope: &WorkspaceScope,
    caller: &Caller,
    external_id: &str,
    sealed: Option<&[u8]>,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let row = find(tx, scope, external_id)?;
    if row.erased_at.is_some() {
        return Err(AppError::Conflict(format!(
            "subject '{external_id}' was erased"
        )));
    }
    let action = if sealed.is_some() {
        "subject.restricted"
    } else {
        "subject.restriction_lifted"
    };
    subjects::set_restricted(tx, scope, row.id, sealed.map(|r| (r, now)), now)?;
    // The reason is sealed with the person; the chain, which outlives them, only says
    // that one was given.
    let event = caller
        .event(action, external_id)
        .detail(json!({"reason_given": sealed.is_some()}));
    audit::append(tx, Some(scope), &event, now)?;
    Ok(())
}

/// A person's records, decrypted, newest first; the read is logged with the reader's reason.
pub fn read_records(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    reader: &Reader,
    external_id: &str,
    limit: u32,
    offset: u32,
) -> Result<SubjectRecords, AppError> {
    // The restriction is checked in the same read as the records are taken: a restriction
    // committed in between cannot be missed.
    let (row, stored, total) = db.read_snapshot(|c| {
        let row = find(c, scope, external_id)?;
        if row.erased_at.is_some() {
            return Err(erased(external_id));
        }
        if row.restricted_at.is_some() && !reader.may_read_restricted {
            return Err(AppError::Forbidden(format!(
                "processing of subject '{external_id}' is restricted: their records are kept but only the privacy officer may read them"
            )));
        }
        let stored = records::for_subject(c, scope, row.id, limit, offset)?;
        let total = records::count_for_subject(c, scope, row.id)?;
        Ok::<_, AppError>((row, stored, total))
    })?;
    let mut key_ids = records::key_ids(&stored);
    key_ids.extend(row.key_id.as_deref());
    let keys = vault.key_ring(scope, &key_ids)?;
    let subject = view(&row, row.key_id.as_deref().and_then(|k| keys.get(k)), scope)?;
    let records = stored
        .iter()
        .map(|r| open_record(scope, r, &keys))
        .collect::<Result<Vec<_>, _>>()?;
    let mut categories: Vec<&str> = records.iter().map(|r| r.category.as_str()).collect();
    categories.sort_unstable();
    categories.dedup();
    let what = json!({
        "read": "records",
        "records": records.len(),
        "offset": offset,
        "total": total,
        "categories": categories,
    });
    let subject_key = row.key_id.as_deref().and_then(|k| keys.get(k));
    log_access(db, scope, &row, subject_key, reader, what)?;
    Ok(SubjectRecords {
        subject,
        total,
        records,
    })
}

/// The answer about an erased person's records: none are theirs any more, and those a legal
/// hold keeps are read by that hold (the console says the same on the person's page).
pub fn erased(external_id: &str) -> AppError {
    AppError::Gone(format!(
        "Subject '{external_id}' was erased: their profile is gone and their data key destroyed. \
         Records a legal hold keeps are no longer theirs; they are read by their hold."
    ))
}

pub(crate) fn open_record(
    scope: &WorkspaceScope,
    r: &StoredRecord,
    keys: &KeyRing,
) -> Result<RecordView, AppError> {
    let key = keys
        .record_key(&r.key_id, r.period_key_id.as_deref())
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("record {} has no data key", r.id)))?;
    let bytes = key
        .open(&vault::record_aad(scope, &r.id), &r.sealed_fields)
        .map_err(AppError::internal)?;
    let fields = serde_json::from_slice(&bytes).map_err(AppError::internal)?;
    Ok(RecordView {
        id: r.id.clone(),
        category: r.category.clone(),
        occurred_at: r.occurred_at,
        received_at: r.received_at,
        fields,
        flagged_restricted: r.flagged_restricted,
        held: r.hold_key.clone().map(|hold| HeldView {
            hold,
            until: r.held_until.clone(),
        }),
    })
}

/// Who has looked at this person, and why (the reasons opened with the person's key).
pub fn access_log(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    external_id: &str,
) -> Result<Vec<AccessEntry>, AppError> {
    let (row, mut entries) = db.read(|c| {
        let row = find(c, scope, external_id)?;
        let entries = records::access_log(c, scope, row.id, 200)?;
        Ok::<_, AppError>((row, entries))
    })?;
    let key = subject_key(vault, scope, &row)?;
    for e in &mut entries {
        if let (Some(sealed), Some(key)) = (&e.reason_sealed, &key) {
            e.reason = open_reason(key, scope, &row.external_id, "access", sealed);
        }
    }
    Ok(entries)
}

/// Seals the free-text reasons an older Lethe stored in the clear (access log, restrictions)
/// under each person's key, and empties the plain columns; a reason whose person has no key any
/// more is dropped. Runs at start, before anything is served. Returns how many it sealed.
pub fn seal_stored_reasons(db: &Db, vault: &Vault) -> Result<usize, AppError> {
    let mut sealed = 0;
    loop {
        let batch = db.read(|c| records::plain_access_reasons(c, 500))?;
        if batch.is_empty() {
            break;
        }
        for (id, scope, subject_id, reason) in batch {
            let row = db.read(|c| subjects::by_id(c, &scope, subject_id))?;
            let blob = match &row {
                Some(row) => subject_key(vault, &scope, row)?
                    .map(|k| seal_reason(&k, &scope, &row.external_id, "access", &reason))
                    .transpose()?,
                None => None,
            };
            db.write(|tx| records::seal_access_reason(tx, id, blob.as_deref()))?;
            sealed += 1;
        }
    }
    for (scope, subject_id) in db.read(subjects::plain_restriction_reasons)? {
        let Some(row) = db.read(|c| subjects::by_id(c, &scope, subject_id))? else {
            continue;
        };
        let blob = subject_key(vault, &scope, &row)?
            .map(|k| {
                seal_reason(
                    &k,
                    &scope,
                    &row.external_id,
                    "restriction",
                    &row.restricted_reason,
                )
            })
            .transpose()?;
        db.write(|tx| subjects::seal_restriction_reason(tx, row.id, blob.as_deref()))?;
        sealed += 1;
    }
    if sealed > 0 {
        db.checkpoint_truncate()?;
    }
    Ok(sealed)
}
