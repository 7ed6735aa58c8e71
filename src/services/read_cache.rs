//! Reads that many clients repeat and few writes change, built once per workspace and kept in
//! memory: the inventory as JSON, the privacy center's policy page.
//!
//! A kept copy carries the workspace's content version it was built at (`store::content_versions`,
//! bumped by triggers on every row it is built from), and is served only while that version is
//! still the stored one: one indexed read per request. The policy page also depends on the
//! time (a scheduled version comes into force without any write), so it is kept only until the
//! next scheduled version's start. Copies are keyed by workspace id, which the caller's proof of
//! access (an API key's scope, a privacy center's slug) names; nothing is shared between
//! workspaces.

use crate::domain::workspace::Workspace;
use crate::error::AppError;
use crate::store::policies::{self, PolicyVersion};
use crate::store::{Db, StoreError, WorkspaceScope, content_versions, inventory, workspaces};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// A built response body, ready to serve.
#[derive(Debug)]
pub struct Cached {
    pub body: Vec<u8>,
    /// A strong entity tag of the body (quoted), for `If-None-Match`.
    pub etag: String,
    /// The workspace's content version the body was built at.
    version: i64,
    /// The body is wrong from this instant on, whatever the version (a scheduled policy).
    valid_until: Option<DateTime<Utc>>,
}

impl Cached {
    fn new(body: Vec<u8>, version: i64, valid_until: Option<DateTime<Utc>>) -> Cached {
        let digest = crate::crypto::sha256_hex(&body);
        let etag = format!("\"{}\"", &digest[..32]);
        Cached {
            body,
            etag,
            version,
            valid_until,
        }
    }

    /// A body that never changes while the server runs (an embedded file), under the tag given.
    pub fn from_static(body: Vec<u8>, etag: String) -> Cached {
        Cached {
            body,
            etag,
            version: -1,
            valid_until: None,
        }
    }
}

impl Versioned for Cached {
    fn version(&self) -> i64 {
        self.version
    }

    fn serves(&self, version: i64, now: DateTime<Utc>) -> bool {
        self.version == version && self.valid_until.is_none_or(|t| now < t)
    }
}

/// A copy kept on a [`Shelf`]: the workspace's content version it was built at, and whether it
/// still serves at a stored version and instant.
pub(super) trait Versioned {
    fn version(&self) -> i64;
    fn serves(&self, version: i64, now: DateTime<Utc>) -> bool;
}

/// One kind of kept copy, by workspace id. At most one entry per workspace that exists. Also
/// what `consent_rules` keeps its rules on.
pub(super) struct Shelf<T>(RwLock<HashMap<i64, Arc<T>>>);

impl<T> Default for Shelf<T> {
    fn default() -> Self {
        Shelf(RwLock::new(HashMap::new()))
    }
}

impl<T: Versioned> Shelf<T> {
    pub(super) fn fresh(
        &self,
        scope: &WorkspaceScope,
        version: i64,
        now: DateTime<Utc>,
    ) -> Option<Arc<T>> {
        // A poisoned lock only means another request panicked while holding it; the map is
        // still whole (inserts are single operations), so keep using it.
        let map = self.0.read().unwrap_or_else(|e| e.into_inner());
        map.get(&scope.id())
            .filter(|c| c.serves(version, now))
            .cloned()
    }

    pub(super) fn keep(&self, scope: &WorkspaceScope, entry: &Arc<T>) {
        let mut map = self.0.write().unwrap_or_else(|e| e.into_inner());
        // A slower builder must not replace a copy built at a newer version.
        if map
            .get(&scope.id())
            .is_none_or(|c| c.version() <= entry.version())
        {
            map.insert(scope.id(), entry.clone());
        }
    }
}

/// What the privacy center's policy page shows, read at one instant from one snapshot.
pub struct PolicyPageFacts {
    pub workspace: Workspace,
    /// The version in force.
    pub current: Option<PolicyVersion>,
    /// The next version to come into force, if one is scheduled.
    pub scheduled: Option<PolicyVersion>,
}

/// What the consent banner's configuration is built from, read at one instant from one
/// snapshot.
pub struct ConsentFacts {
    pub workspace: Workspace,
    pub inventory: crate::domain::inventory::Inventory,
    /// The number of the policy version in force.
    pub policy_version: Option<i64>,
    /// The number of the newest material version in force.
    pub consent_version: Option<i64>,
}

/// The cache, one per server, in the web layer's state.
#[derive(Default)]
pub struct ReadCache {
    inventories: Shelf<Cached>,
    policy_pages: Shelf<Cached>,
    consent_configs: Shelf<Cached>,
}

impl ReadCache {
    /// The workspace's whole inventory as JSON (`domain::inventory::Inventory`).
    pub fn inventory_json(&self, db: &Db, scope: &WorkspaceScope) -> Result<Arc<Cached>, AppError> {
        let now = Utc::now();
        let version = db.read(|c| content_versions::of(c, scope))?;
        if let Some(hit) = version.and_then(|v| self.inventories.fresh(scope, v, now)) {
            return Ok(hit);
        }
        // The version and what it versions from one snapshot, so a change committed in between
        // cannot be kept under the older version.
        let (version, inventory) = db.read_snapshot(|c| {
            Ok::<_, StoreError>((content_versions::of(c, scope)?, inventory::load(c, scope)?))
        })?;
        let body = serde_json::to_vec(&inventory).map_err(AppError::internal)?;
        Ok(self.kept(&self.inventories, scope, body, version, None))
    }

    /// The policy page of the privacy center at `slug`, rendered by `render` when no kept copy
    /// serves; `None` when no workspace has that slug.
    pub fn policy_page(
        &self,
        db: &Db,
        slug: &str,
        render: impl FnOnce(&PolicyPageFacts) -> Result<String, AppError>,
    ) -> Result<Option<Arc<Cached>>, AppError> {
        let now = Utc::now();
        let Some((scope, version)) = db.read(|c| content_versions::by_slug(c, slug))? else {
            return Ok(None);
        };
        if let Some(hit) = version.and_then(|v| self.policy_pages.fresh(&scope, v, now)) {
            return Ok(Some(hit));
        }
        let (version, facts) = db.read_snapshot(|c| {
            let version = content_versions::of(c, &scope)?;
            // Of versions starting at the same instant, the newest is the one that will be in
            // force (as `policies::current` orders them), so it is the one announced.
            let scheduled = policies::list(c, &scope)?
                .into_iter()
                .filter(|v| v.published && v.effective_at.is_some_and(|t| t > now))
                .min_by_key(|v| v.effective_at);
            let facts = PolicyPageFacts {
                workspace: workspaces::get(c, &scope)?,
                current: policies::current(c, &scope, now)?,
                scheduled,
            };
            Ok::<_, StoreError>((version, facts))
        })?;
        let body = render(&facts)?.into_bytes();
        // Which version is in force and which is announced change when the next one starts.
        let valid_until = facts.scheduled.as_ref().and_then(|v| v.effective_at);
        Ok(Some(self.kept(
            &self.policy_pages,
            &scope,
            body,
            version,
            valid_until,
        )))
    }

    /// The consent banner's configuration of the workspace at `slug`, built by `build` when no
    /// kept copy serves; `None` when no workspace has that slug. Like the policy page, kept
    /// until the content changes or the next scheduled policy version comes into force.
    pub fn consent_config(
        &self,
        db: &Db,
        slug: &str,
        build: impl FnOnce(&ConsentFacts) -> Result<Vec<u8>, AppError>,
    ) -> Result<Option<Arc<Cached>>, AppError> {
        let now = Utc::now();
        let Some((scope, version)) = db.read(|c| content_versions::by_slug(c, slug))? else {
            return Ok(None);
        };
        if let Some(hit) = version.and_then(|v| self.consent_configs.fresh(&scope, v, now)) {
            return Ok(Some(hit));
        }
        let (version, facts, valid_until) = db.read_snapshot(|c| {
            let version = content_versions::of(c, &scope)?;
            let (policy_version, consent_version) = policies::versions_in_force(c, &scope, now)?;
            let facts = ConsentFacts {
                workspace: workspaces::get(c, &scope)?,
                inventory: inventory::load(c, &scope)?,
                policy_version,
                consent_version,
            };
            let valid_until = policies::next_start_after(c, &scope, now)?;
            Ok::<_, StoreError>((version, facts, valid_until))
        })?;
        let body = build(&facts)?;
        Ok(Some(self.kept(
            &self.consent_configs,
            &scope,
            body,
            version,
            valid_until,
        )))
    }

    fn kept(
        &self,
        shelf: &Shelf<Cached>,
        scope: &WorkspaceScope,
        body: Vec<u8>,
        version: Option<i64>,
        valid_until: Option<DateTime<Utc>>,
    ) -> Arc<Cached> {
        // Without a version there is nothing to tell a stale copy by: serve it, keep nothing.
        let entry = Arc::new(Cached::new(body, version.unwrap_or(-1), valid_until));
        if version.is_some() {
            shelf.keep(scope, &entry);
        }
        entry
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn a_copy_serves_its_version_until_its_end_only() {
        let now = Utc::now();
        let forever = Cached::new(b"x".to_vec(), 3, None);
        assert!(forever.serves(3, now));
        assert!(!forever.serves(4, now));
        let until = Cached::new(b"x".to_vec(), 3, Some(now + Duration::seconds(1)));
        assert!(until.serves(3, now));
        assert!(!until.serves(3, now + Duration::seconds(1)));
    }

    #[test]
    fn an_older_build_does_not_replace_a_newer_one() {
        let shelf = Shelf::default();
        let scope = WorkspaceScope::for_tests(1);
        let now = Utc::now();
        shelf.keep(&scope, &Arc::new(Cached::new(b"new".to_vec(), 5, None)));
        shelf.keep(&scope, &Arc::new(Cached::new(b"old".to_vec(), 4, None)));
        assert_eq!(
            shelf.fresh(&scope, 5, now).map(|c| c.body.clone()),
            Some(b"new".to_vec())
        );
        assert!(shelf.fresh(&WorkspaceScope::for_tests(2), 5, now).is_none());
    }
}
