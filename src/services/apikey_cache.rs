//! Live API keys checked in the last second, kept in memory so that an API request does not
//! wait for a database read (and a hop to a blocking thread) before its work starts.
//!
//! A revocation takes effect at once: [`services::apikeys::revoke`](super::apikeys::revoke)
//! forgets the key after its transaction commits, and a check that read the key's row before
//! that commit cannot put it back (it is kept only if no key was forgotten while it read, the
//! `generation` below). Keys change only through this process (the CLI creates keys but never
//! revokes one); should another process ever revoke one, a kept key is read again after
//! [`KeyCache::FRESH_FOR`], which also keeps `last_used_at` as current as before.
//!
//! Entries are keyed by the SHA-256 of the presented secret, never the secret itself, and only
//! live keys are kept: a wrong key costs the same read as before and takes no room.

use super::apikeys::ApiKeyInfo;
use crate::store::WorkspaceScope;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Live keys by the digest of their secret; one per server.
#[derive(Default)]
pub struct KeyCache(Mutex<Kept>);

#[derive(Default)]
struct Kept {
    /// Bumped whenever a key is forgotten: a read that started before cannot be kept.
    generation: u64,
    keys: HashMap<[u8; 32], Checked>,
}

struct Checked {
    scope: WorkspaceScope,
    info: ApiKeyInfo,
    at: Instant,
}

/// Where a check of a presented key stands: read the key while this generation holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation(u64);

impl KeyCache {
    /// How long a checked key is trusted without reading it again.
    pub const FRESH_FOR: Duration = Duration::from_secs(1);
    /// More live keys than any instance has; past it, everything is read again.
    const MAX_KEYS: usize = 4096;

    fn kept(&self) -> std::sync::MutexGuard<'_, Kept> {
        // The map holds no invariant a panicking holder could break halfway.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The workspace and key for `presented`, if it was found live less than
    /// [`Self::FRESH_FOR`] before `now`.
    pub fn get(&self, presented: &str, now: Instant) -> Option<(WorkspaceScope, ApiKeyInfo)> {
        let digest = digest(presented);
        let kept = self.kept();
        let checked = kept.keys.get(&digest)?;
        let fresh = now
            .checked_duration_since(checked.at)
            .is_some_and(|age| age < Self::FRESH_FOR);
        fresh.then(|| (checked.scope, checked.info.clone()))
    }

    /// Taken before a key is read from the database, handed to [`Self::keep`] after.
    pub fn generation(&self) -> Generation {
        Generation(self.kept().generation)
    }

    /// Keeps a key found live by a read that started at `read_from`, unless a key was forgotten
    /// since (the read may predate that revocation).
    pub fn keep(
        &self,
        presented: &str,
        scope: WorkspaceScope,
        info: &ApiKeyInfo,
        read_from: Generation,
        at: Instant,
    ) {
        if info.revoked_at.is_some() {
            return;
        }
        let mut kept = self.kept();
        if kept.generation != read_from.0 {
            return;
        }
        if kept.keys.len() >= Self::MAX_KEYS {
            kept.keys.clear();
        }
        let checked = Checked {
            scope,
            info: info.clone(),
            at,
        };
        kept.keys.insert(digest(presented), checked);
    }

    /// Forgets the key `id` (called after its revocation commits) and every read under way.
    pub fn forget(&self, id: &str) {
        let mut kept = self.kept();
        kept.generation = kept.generation.wrapping_add(1);
        kept.keys.retain(|_, checked| checked.info.id != id);
    }
}

fn digest(presented: &str) -> [u8; 32] {
    Sha256::digest(presented.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn key(id: &str) -> ApiKeyInfo {
        ApiKeyInfo {
            id: id.into(),
            name: "backend".into(),
            prefix: "lk_abc".into(),
            scopes: vec![],
            created_by: "cli".into(),
            created_at: Utc::now(),
            last_used_at: None,
            revoked_at: None,
        }
    }

    fn scope() -> WorkspaceScope {
        WorkspaceScope::for_tests(7)
    }

    #[test]
    fn a_kept_key_serves_for_one_second_then_is_read_again() {
        let cache = KeyCache::default();
        let t0 = Instant::now();
        assert!(cache.get("secret-a", t0).is_none(), "nothing kept yet");
        cache.keep("secret-a", scope(), &key("k1"), cache.generation(), t0);
        let (found, info) = cache.get("secret-a", t0).expect("kept");
        assert_eq!((found, info.id.as_str()), (scope(), "k1"));
        let almost = t0 + KeyCache::FRESH_FOR - Duration::from_millis(1);
        assert!(cache.get("secret-a", almost).is_some());
        assert!(cache.get("secret-a", t0 + KeyCache::FRESH_FOR).is_none());
        assert!(
            cache.get("secret-b", t0).is_none(),
            "another secret is not the kept key"
        );
        let later = t0 + Duration::from_secs(5);
        cache.keep("secret-c", scope(), &key("k3"), cache.generation(), later);
        assert!(
            cache.get("secret-c", t0).is_none(),
            "a clock before the check does not trust it"
        );
    }

    #[test]
    fn forgetting_a_key_drops_it_and_only_it() {
        let cache = KeyCache::default();
        let t0 = Instant::now();
        cache.keep("secret-a", scope(), &key("k1"), cache.generation(), t0);
        cache.keep("secret-b", scope(), &key("k2"), cache.generation(), t0);
        cache.forget("k1");
        assert!(
            cache.get("secret-a", t0).is_none(),
            "the revoked key is gone"
        );
        assert!(cache.get("secret-b", t0).is_some(), "another key stays");
    }

    #[test]
    fn a_read_that_started_before_a_revocation_is_not_kept() {
        let cache = KeyCache::default();
        let t0 = Instant::now();
        // A check reads the key's row (live), then the key is revoked and forgotten, then the
        // check finishes: what it read may be older than the revocation.
        let read_from = cache.generation();
        cache.forget("k1");
        cache.keep("secret-a", scope(), &key("k1"), read_from, t0);
        assert!(cache.get("secret-a", t0).is_none());
        // A read that starts after it is kept.
        cache.keep("secret-a", scope(), &key("k1"), cache.generation(), t0);
        assert!(cache.get("secret-a", t0).is_some());
    }

    #[test]
    fn a_revoked_key_is_never_kept() {
        let cache = KeyCache::default();
        let t0 = Instant::now();
        let mut revoked = key("k1");
        revoked.revoked_at = Some(Utc::now());
        cache.keep("secret-a", scope(), &revoked, cache.generation(), t0);
        assert!(cache.get("secret-a", t0).is_none());
    }

    #[test]
    fn past_its_bound_the_cache_starts_again() {
        let cache = KeyCache::default();
        let t0 = Instant::now();
        for i in 0..KeyCache::MAX_KEYS {
            let id = format!("k{i}");
            cache.keep(&format!("s{i}"), scope(), &key(&id), cache.generation(), t0);
        }
        assert!(cache.get("s0", t0).is_some());
        cache.keep("one-more", scope(), &key("kx"), cache.generation(), t0);
        assert!(cache.get("one-more", t0).is_some());
        assert!(cache.get("s0", t0).is_none(), "the full map was cleared");
        assert_eq!(cache.kept().keys.len(), 1);
    }
}
