//! Where each policy version stands at a moment: a draft, scheduled (published, effective
//! later), in force, or superseded; and which version a version's changes are best read against.

use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VersionState {
    /// Not published: editable, and can be deleted.
    Draft,
    /// Published, taking effect later.
    Scheduled,
    /// The version people are bound by now.
    InForce,
    /// Published and in force once, replaced since.
    Superseded,
}

impl VersionState {
    /// For people: "in force", "scheduled"…
    pub fn label(&self) -> &'static str {
        match self {
            VersionState::Draft => "draft",
            VersionState::Scheduled => "scheduled",
            VersionState::InForce => "in force",
            VersionState::Superseded => "superseded",
        }
    }
}

/// A version's number and, once published, the moment it takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dated {
    pub version: i64,
    /// `None` for a draft.
    pub effective_at: Option<DateTime<Utc>>,
}

/// A workspace's versions seen at one moment.
#[derive(Debug, Clone)]
pub struct Timeline {
    versions: Vec<Dated>,
    now: DateTime<Utc>,
    in_force: Option<i64>,
}

impl Timeline {
    pub fn new(versions: impl IntoIterator<Item = Dated>, now: DateTime<Utc>) -> Self {
        let versions: Vec<Dated> = versions.into_iter().collect();
        // The one with the latest start not after now; of two starting together, the later
        // version (the same rule as the store's `current`).
        let in_force = versions
            .iter()
            .filter_map(|d| d.effective_at.filter(|t| *t <= now).map(|t| (t, d.version)))
            .max()
            .map(|(_, version)| version);
        Timeline {
            versions,
            now,
            in_force,
        }
    }

    pub fn in_force(&self) -> Option<i64> {
        self.in_force
    }

    fn find(&self, version: i64) -> Option<&Dated> {
        self.versions.iter().find(|d| d.version == version)
    }

    /// The state of `version`; `None` when there is no such version.
    pub fn state(&self, version: i64) -> Option<VersionState> {
        let d = self.find(version)?;
        Some(match d.effective_at {
            None => VersionState::Draft,
            Some(_) if self.in_force == Some(version) => VersionState::InForce,
            Some(t) if t > self.now => VersionState::Scheduled,
            Some(_) => VersionState::Superseded,
        })
    }

    /// What `version`'s changes are read against when no version is named: for a draft or a
    /// scheduled version, the version in force (what readers have now); for one in force or
    /// superseded, the published version it replaced. Without either, the newest published
    /// version before it; `None` when nothing was published before.
    pub fn default_base(&self, version: i64) -> Option<i64> {
        let d = self.find(version)?;
        let earlier_published = |limit: Option<(DateTime<Utc>, i64)>| {
            self.versions
                .iter()
                .filter(|o| o.version != version)
                .filter_map(|o| o.effective_at.map(|t| (t, o.version)))
                .filter(|k| limit.is_none_or(|l| *k < l))
                .max()
                .map(|(_, v)| v)
        };
        match self.state(version)? {
            VersionState::Draft | VersionState::Scheduled => self
                .in_force
                .filter(|v| *v != version)
                .or_else(|| earlier_published(None).filter(|v| *v < version)),
            VersionState::InForce | VersionState::Superseded => {
                earlier_published(d.effective_at.map(|t| (t, version)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn at(day: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default() + Duration::days(day)
    }

    fn timeline(today: i64) -> Timeline {
        Timeline::new(
            [
                Dated {
                    version: 1,
                    effective_at: Some(at(0)),
                },
                Dated {
                    version: 2,
                    effective_at: Some(at(10)),
                },
                Dated {
                    version: 3,
                    effective_at: Some(at(20)),
                },
                Dated {
                    version: 4,
                    effective_at: None,
                },
            ],
            at(today),
        )
    }

    #[test]
    fn states_follow_the_clock() {
        let states = |today| {
            let t = timeline(today);
            (1..=4)
                .map(|v| t.state(v).map(|s| s.label()).unwrap_or("none"))
                .collect::<Vec<_>>()
        };
        assert_eq!(states(-1), ["scheduled", "scheduled", "scheduled", "draft"]);
        assert_eq!(states(5), ["in force", "scheduled", "scheduled", "draft"]);
        assert_eq!(states(10), ["superseded", "in force", "scheduled", "draft"]);
        assert_eq!(
            states(25),
            ["superseded", "superseded", "in force", "draft"]
        );
        assert_eq!(timeline(5).state(9), None);
    }

    #[test]
    fn changes_are_read_against_the_version_in_force() {
        let t = timeline(12);
        assert_eq!(t.in_force(), Some(2));
        assert_eq!(
            t.default_base(4),
            Some(2),
            "a draft: against the one in force"
        );
        assert_eq!(
            t.default_base(3),
            Some(2),
            "scheduled: against the one in force"
        );
        assert_eq!(
            t.default_base(2),
            Some(1),
            "in force: against what it replaced"
        );
        assert_eq!(t.default_base(1), None, "nothing before the first");
        // Nothing in force yet: a draft is read against the newest published version.
        let t = timeline(-1);
        assert_eq!(t.default_base(4), Some(3));
        assert_eq!(t.default_base(1), None);
    }
}
