//! What a consent decision is checked against that only the workspace's content changes: the
//! workspace (its consent origins, its name for the receipt), its consent purposes and the
//! policy versions in force. Every decision runs on the group-commit writer, one after another,
//! so reading these four times per decision was a fifth of the writer's time; they are kept per
//! workspace instead, with the content version they were read at (`store::content_versions`,
//! bumped by triggers on every change to the workspace, its purposes and its policy versions).
//!
//! A kept copy serves only while that version is still the stored one, read in the writer's
//! own transaction, and only until the next scheduled policy version comes into force (a
//! change no write announces). The writer holds the write lock while it reads, so nothing can
//! change between the version read and the decision's insert: the check is exactly as fresh as
//! reading everything again.

use crate::domain::workspace::Workspace;
use crate::error::AppError;
use crate::store::{Connection, WorkspaceScope, content_versions, inventory, policies, workspaces};
use chrono::{DateTime, Utc};

use super::read_cache::{Shelf, Versioned};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The workspace's consent rules at one content version.
#[derive(Debug)]
pub struct ConsentRules {
    pub scope: WorkspaceScope,
    pub workspace: Workspace,
    /// The consent purposes' keys, in key order.
    pub purposes: Vec<String>,
    /// The purposes Global Privacy Control refuses.
    pub sold: Vec<String>,
    /// Purpose key → name, for the receipt.
    pub names: BTreeMap<String, String>,
    pub policy_version: Option<i64>,
    pub consent_version: Option<i64>,
}

struct Kept {
    rules: Arc<ConsentRules>,
    read: ReadAt,
}

impl Versioned for Kept {
    fn version(&self) -> i64 {
        self.read.version
    }

    fn serves(&self, version: i64, now: DateTime<Utc>) -> bool {
        self.read.serves(version, now)
    }
}

/// When kept rules were read: the content version, the instant, and until when the versions
/// in force hold.
#[derive(Debug, Clone, Copy)]
struct ReadAt {
    version: i64,
    read_at: DateTime<Utc>,
    /// The next scheduled policy version's start: the versions in force change then.
    valid_until: Option<DateTime<Utc>>,
}

impl ReadAt {
    fn serves(&self, version: i64, now: DateTime<Utc>) -> bool {
        self.version == version
            && now >= self.read_at
            && self.valid_until.is_none_or(|until| now < until)
    }
}

/// The kept rules, one entry per workspace that recorded a decision; one per server.
#[derive(Default)]
pub struct ConsentRulesCache(Shelf<Kept>);

/// Which workspace: the API key's, or the one a banner names by slug.
pub enum Whose<'a> {
    Workspace(&'a WorkspaceScope),
    Slug(&'a str),
}

impl ConsentRulesCache {
    /// The rules of `whose` workspace at `now`, read on `c` (the writer's connection, in its
    /// transaction): one indexed read when a kept copy serves. `None`: no workspace has that
    /// slug.
    pub fn rules(
        &self,
        c: &Connection,
        whose: Whose<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<Arc<ConsentRules>>, AppError> {
        let (scope, version) = match whose {
            Whose::Workspace(scope) => (*scope, content_versions::of(c, scope)?),
            Whose::Slug(slug) => match content_versions::by_slug(c, slug)? {
                Some(found) => found,
                None => return Ok(None),
            },
        };
        if let Some(version) = version
            && let Some(kept) = self.0.fresh(&scope, version, now)
        {
            return Ok(Some(kept.rules.clone()));
        }
        let rules = Arc::new(read(c, scope, now)?);
        // Without a stored version (a row removed by hand) nothing may be kept.
        if let Some(version) = version {
            let valid_until = policies::next_start_after(c, &scope, now)?;
            let read = ReadAt {
                version,
                read_at: now,
                valid_until,
            };
            self.0.keep(
                &scope,
                &Arc::new(Kept {
                    rules: rules.clone(),
                    read,
                }),
            );
        }
        Ok(Some(rules))
    }
}

fn read(
    c: &Connection,
    scope: WorkspaceScope,
    now: DateTime<Utc>,
) -> Result<ConsentRules, AppError> {
    let workspace = workspaces::get(c, &scope)?;
    let all = inventory::consent_purposes(c, &scope)?;
    let sold = all
        .iter()
        .filter(|p| p.sold)
        .map(|p| p.key.clone())
        .collect();
    let names = all
        .iter()
        .map(|p| (p.key.clone(), p.name.clone()))
        .collect();
    let purposes = all.into_iter().map(|p| p.key).collect();
    let (policy_version, consent_version) = policies::versions_in_force(c, &scope, now)?;
    Ok(ConsentRules {
        scope,
        workspace,
        purposes,
        sold,
        names,
        policy_version,
        consent_version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn kept_rules_serve_only_their_version_and_until_the_next_policy_starts() {
        let now = Utc::now();
        let read = |valid_until| ReadAt {
            version: 7,
            read_at: now,
            valid_until,
        };
        let hour = read(Some(now + Duration::hours(1)));
        assert!(hour.serves(7, now));
        assert!(!hour.serves(8, now), "a change since they were read");
        assert!(
            !hour.serves(7, now + Duration::hours(1)),
            "a version came into force"
        );
        assert!(
            !hour.serves(7, now - Duration::hours(1)),
            "a clock that went back"
        );
        assert!(read(None).serves(7, now + Duration::days(400)));
    }
}
