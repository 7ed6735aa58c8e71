//! API keys: minted with scopes, shown once, stored as digests, revocable.

use super::Caller;
use super::apikey_cache::KeyCache;
use crate::crypto;
use crate::domain::ValidationErrors;
use crate::domain::apikey::{NewApiKey, Scope};
use crate::domain::text;
use crate::error::AppError;
pub use crate::store::apikeys::ApiKeyInfo;
use crate::store::apikeys::NewKeyRow;
use crate::store::{Db, WorkspaceScope, apikeys, audit};
use chrono::Utc;
use std::time::Instant;

/// A new key: its stored description and the secret, which is never available again.
pub struct CreatedKey {
    pub info: ApiKeyInfo,
    pub secret: String,
}

pub fn create<'a>(
    db: &Db,
    caller: &Caller,
    scope: &WorkspaceScope,
    name: &str,
    scopes: impl IntoIterator<Item = &'a str>,
) -> Result<CreatedKey, AppError> {
    let mut errors = ValidationErrors::default();
    let name = errors.check("name", text(name, 100, false));
    let scopes = errors.check("scopes", Scope::parse_list(scopes));
    errors.clone().into_result()?;
    let (Some(name), Some(scopes)) = (name, scopes) else {
        return Err(errors.into());
    };
    let key = NewApiKey::generate();
    let id = uuid::Uuid::now_v7().to_string();
    let now = Utc::now();
    let created_by = caller.actor.label();
    db.write(|tx| {
        apikeys::create(
            tx,
            scope,
            &NewKeyRow {
                id: &id,
                name: &name,
                prefix: &key.prefix,
                secret_hash: &crypto::sha256_hex(&key.secret),
                scopes: &scopes,
                created_by: &created_by,
            },
            now,
        )?;
        let names: Vec<_> = scopes.iter().map(|s| s.as_str()).collect();
        let event = caller
            .event("apikey.create", format!("apikey:{id}"))
            .detail(serde_json::json!({ "name": name, "scopes": names, "prefix": key.prefix }));
        audit::append(tx, Some(scope), &event, now)?;
        Ok(CreatedKey {
            info: apikeys::get(tx, scope, &id)?,
            secret: key.secret,
        })
    })
}

/// Revokes a key: from the commit on, it authenticates nothing (it is forgotten from `keys`).
pub fn revoke(
    db: &Db,
    keys: &KeyCache,
    caller: &Caller,
    scope: &WorkspaceScope,
    id: &str,
) -> Result<(), AppError> {
    let now = Utc::now();
    let revoked = db.write(|tx| {
        apikeys::revoke(tx, scope, id, now)?;
        audit::append(
            tx,
            Some(scope),
            &caller.event("apikey.revoke", format!("apikey:{id}")),
            now,
        )?;
        Ok(())
    });
    // After the commit, whatever it did: a check that read the row before cannot keep it.
    keys.forget(id);
    revoked
}

/// The workspace and key behind a presented bearer secret, read from the database (the caller
/// asked `keys` first); records its use and keeps a live key in `keys`.
pub fn authenticate(
    db: &Db,
    keys: &KeyCache,
    presented: &str,
) -> Result<Option<(WorkspaceScope, ApiKeyInfo)>, AppError> {
    let read_from = keys.generation();
    let found = db.read(|c| apikeys::authenticate(c, presented))?;
    if let Some((scope, info)) = &found {
        let stale = info
            .last_used_at
            .is_none_or(|t| Utc::now() - t > chrono::Duration::seconds(60));
        if stale {
            db.read(|c| apikeys::touch(c, &info.id, Utc::now()))?;
        }
        keys.keep(presented, *scope, info, read_from, Instant::now());
    }
    Ok(found)
}

/// The workspace's keys (never their secrets).
pub fn list(db: &Db, scope: &WorkspaceScope) -> Result<Vec<ApiKeyInfo>, AppError> {
    db.read(|c| Ok(apikeys::list(c, scope)?))
}
