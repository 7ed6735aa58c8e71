//! Backups as rules: the manifest a backup folder carries, the folder's name, which backups a
//! rotation keeps, whether the last backup is late, and the erasure journal's entries.
//!
//! A backup is one folder `lethe-<YYYYMMDDTHHMMSSZ>` holding copies of `lethe.db` and `keys.db`
//! and `manifest.json`. The two files rotate apart: copies of `lethe.db` are kept by day and by
//! week, copies of `keys.db` only for a few days, so a key destroyed today is gone from every
//! backup once the last `keys.db` copy that held it is rotated away.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

pub const MANIFEST_FILE_NAME: &str = "manifest.json";
/// The manifest's own format; a newer one is refused rather than half understood.
pub const MANIFEST_FORMAT: u32 = 1;
const FOLDER_PREFIX: &str = "lethe-";
const FOLDER_STAMP: &str = "%Y%m%dT%H%M%SZ";

/// The audit chain's newest entry in the copy of `lethe.db`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    pub seq: i64,
    pub hash: String,
}

/// One copied file as the manifest records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    pub name: String,
    pub size: u64,
    /// Lower-case hex.
    pub sha256: String,
    /// When a rotation removed the file from the folder (copies of `keys.db` go first); the
    /// stored time form. Verify does not look for a removed file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// When the copy began (stored time form): everything committed before it is in the copy,
    /// so a restore replays the journal's entries from this instant on.
    pub created_at: String,
    pub lethe_version: String,
    /// `lethe.db`'s migration number.
    pub schema_version: i64,
    pub audit_head: Option<ChainHead>,
    pub files: Vec<ManifestFile>,
}

impl Manifest {
    pub fn file(&self, name: &str) -> Option<&ManifestFile> {
        self.files.iter().find(|f| f.name == name)
    }
}

/// The folder name of a backup begun at `at`: sortable, one per second.
pub fn folder_name(at: DateTime<Utc>) -> String {
    format!("{FOLDER_PREFIX}{}", at.format(FOLDER_STAMP))
}

/// When the backup in folder `name` was begun; None for a name that is not a backup's.
pub fn folder_time(name: &str) -> Option<DateTime<Utc>> {
    let stamp = name.strip_prefix(FOLDER_PREFIX)?;
    NaiveDateTime::parse_from_str(stamp, FOLDER_STAMP)
        .ok()
        .map(|t| t.and_utc())
}

/// How many copies to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationPolicy {
    /// The newest backup of each of the last N days that have one.
    pub keep_daily: u32,
    /// The newest backup of each of the last M ISO weeks that have one.
    pub keep_weekly: u32,
    /// Copies of `keys.db` younger than this many days; older ones are removed.
    pub keep_keys_days: u32,
}

/// A backup folder rotation looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupEntry {
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub has_keys: bool,
}

/// What a rotation does: folders deleted whole, and folders whose `keys.db` copy goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RotationPlan {
    pub delete: Vec<String>,
    pub drop_keys: Vec<String>,
}

/// Which backups to delete and which lose their `keys.db`, at `now`. The newest backup of each
/// of the last `keep_daily` days and of the last `keep_weekly` weeks is kept (a backup may count
/// for both); every other one is deleted. A kept backup older than `keep_keys_days` days loses its
/// `keys.db` copy.
pub fn plan_rotation(
    backups: &[BackupEntry],
    now: DateTime<Utc>,
    policy: RotationPolicy,
) -> RotationPlan {
    let mut newest_first: Vec<&BackupEntry> = backups.iter().collect();
    newest_first.sort_by_key(|b| std::cmp::Reverse(b.created_at));
    let mut keep = BTreeSet::new();
    keep_newest_per(&newest_first, policy.keep_daily, &mut keep, |t| {
        t.date_naive()
    });
    keep_newest_per(&newest_first, policy.keep_weekly, &mut keep, |t| {
        week_of(t.date_naive())
    });
    let keys_until = now - Duration::days(i64::from(policy.keep_keys_days));
    let mut plan = RotationPlan::default();
    for b in newest_first.iter().rev() {
        if !keep.contains(&b.name) {
            plan.delete.push(b.name.clone());
        } else if b.has_keys && b.created_at <= keys_until {
            plan.drop_keys.push(b.name.clone());
        }
    }
    plan
}

/// Keeps the newest backup of each of the first `n` distinct periods, newest first.
fn keep_newest_per<P: PartialEq>(
    newest_first: &[&BackupEntry],
    n: u32,
    keep: &mut BTreeSet<String>,
    period: impl Fn(DateTime<Utc>) -> P,
) {
    let mut seen: Vec<P> = Vec::new();
    for b in newest_first {
        let p = period(b.created_at);
        if seen.contains(&p) {
            continue;
        }
        if seen.len() >= n as usize {
            return;
        }
        seen.push(p);
        keep.insert(b.name.clone());
    }
}

/// The Monday of the ISO week a day falls in.
fn week_of(day: NaiveDate) -> NaiveDate {
    day - Duration::days(i64::from(day.weekday().num_days_from_monday()))
}

/// How overdue the last backup may be before the console warns: twice the schedule's interval,
/// but at least 36 hours for a daily one (a backup at 03:30 that ran at 03:31 yesterday is not
/// late at 15:00 today).
pub fn allowed_age(interval: Duration) -> Duration {
    let twice = interval * 2;
    if interval >= Duration::hours(24) {
        twice.min(interval + Duration::hours(12))
    } else {
        twice
    }
}

/// What the console says about the last backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackupHealth {
    /// Scheduled backups are off (no `--backup-dir`).
    Off,
    /// On, and no backup was made yet.
    Never,
    Fine,
    /// The last one is older than the schedule allows.
    Late,
    /// The last one failed.
    Failed,
}

pub fn health(
    last: Option<(DateTime<Utc>, bool)>,
    interval: Option<Duration>,
    now: DateTime<Utc>,
) -> BackupHealth {
    let Some(interval) = interval else {
        return BackupHealth::Off;
    };
    match last {
        None => BackupHealth::Never,
        Some((_, false)) => BackupHealth::Failed,
        Some((at, true)) if now - at > allowed_age(interval) => BackupHealth::Late,
        Some(_) => BackupHealth::Fine,
    }
}

/// "3 hours ago", in the largest whole unit.
pub fn ago(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let d = (now - then).max(Duration::zero());
    let (n, unit) = if d.num_days() >= 2 {
        (d.num_days(), "day")
    } else if d.num_hours() >= 1 {
        (d.num_hours(), "hour")
    } else if d.num_minutes() >= 1 {
        (d.num_minutes(), "minute")
    } else {
        return "just now".into();
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

/// Why a data key was destroyed, as the erasure journal says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DestroyReason {
    /// A person was erased (or their closed account expired).
    SubjectErased,
    /// A category's week is over and nothing sealed under its key is left.
    PeriodSpent,
    /// A legal hold ended or was lifted; what it kept is deleted.
    HoldEnded,
    /// Made for a row that was never written.
    Unused,
}

/// One line of the erasure journal (`erasure-journal.log`): kept outside both databases, so a
/// restore of older copies can do again what was done since. No personal value: the person is
/// named by a keyed digest of their id, keys by their ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JournalEntry {
    SubjectErased {
        /// Stored time form: when the erasure was durable in `lethe.db`.
        at: String,
        workspace: i64,
        /// HMAC-SHA256 (hex) of the person's external id under the workspace's index key.
        subject_digest: String,
        key_id: String,
    },
    KeyDestroyed {
        at: String,
        workspace: i64,
        key_id: String,
        reason: DestroyReason,
    },
}

impl JournalEntry {
    pub fn at(&self) -> &str {
        match self {
            JournalEntry::SubjectErased { at, .. } | JournalEntry::KeyDestroyed { at, .. } => at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, d, h, 30, 0).unwrap()
    }

    fn backups(times: &[DateTime<Utc>]) -> Vec<BackupEntry> {
        times
            .iter()
            .map(|t| BackupEntry {
                name: folder_name(*t),
                created_at: *t,
                has_keys: true,
            })
            .collect()
    }

    const POLICY: RotationPolicy = RotationPolicy {
        keep_daily: 7,
        keep_weekly: 4,
        keep_keys_days: 7,
    };

    #[test]
    fn folder_names_round_trip_and_sort_by_time() {
        let t = at(27, 3);
        assert_eq!(folder_name(t), "lethe-20261127T033000Z");
        assert_eq!(folder_time(&folder_name(t)), Some(t));
        assert_eq!(folder_time("lethe-garbage"), None);
        assert_eq!(folder_time("notes"), None);
        assert!(folder_name(at(9, 3)) < folder_name(at(10, 3)));
    }

    #[test]
    fn daily_backups_keep_seven_days_and_four_weeks() {
        // Daily at 03:30 for 40 days: 2026-10-22 .. 2026-11-30.
        let start = Utc.with_ymd_and_hms(2026, 10, 22, 3, 30, 0).unwrap();
        let times: Vec<_> = (0..40).map(|i| start + Duration::days(i)).collect();
        let now = times[39] + Duration::minutes(5);
        let plan = plan_rotation(&backups(&times), now, POLICY);
        let kept: Vec<_> = times
            .iter()
            .map(|t| folder_name(*t))
            .filter(|n| !plan.delete.contains(n))
            .collect();
        // The last 7 days; the newest of each of the last 4 ISO weeks: Monday 30th alone, Sunday
        // 29th (both kept by their days already), then Sundays 22nd and 15th.
        assert_eq!(
            kept,
            [
                "lethe-20261115T033000Z",
                "lethe-20261122T033000Z",
                "lethe-20261124T033000Z",
                "lethe-20261125T033000Z",
                "lethe-20261126T033000Z",
                "lethe-20261127T033000Z",
                "lethe-20261128T033000Z",
                "lethe-20261129T033000Z",
                "lethe-20261130T033000Z",
            ]
        );
        // keys.db copies: only those younger than 7 days stay.
        assert_eq!(
            plan.drop_keys,
            ["lethe-20261115T033000Z", "lethe-20261122T033000Z"]
        );
    }

    #[test]
    fn several_backups_a_day_keep_the_newest_of_the_day() {
        let times = [at(27, 1), at(27, 9), at(27, 17), at(28, 1)];
        let plan = plan_rotation(&backups(&times), at(28, 2), POLICY);
        assert_eq!(
            plan.delete,
            [folder_name(at(27, 1)), folder_name(at(27, 9))]
        );
        assert!(plan.drop_keys.is_empty());
    }

    #[test]
    fn zero_keeps_nothing_and_keys_already_gone_are_not_dropped_twice() {
        let mut list = backups(&[at(1, 3), at(2, 3)]);
        list[0].has_keys = false;
        let plan = plan_rotation(
            &list,
            at(20, 3),
            RotationPolicy {
                keep_daily: 2,
                keep_weekly: 0,
                keep_keys_days: 7,
            },
        );
        assert!(plan.delete.is_empty());
        assert_eq!(plan.drop_keys, [folder_name(at(2, 3))]);
        let none = plan_rotation(
            &list,
            at(20, 3),
            RotationPolicy {
                keep_daily: 0,
                keep_weekly: 0,
                keep_keys_days: 7,
            },
        );
        assert_eq!(none.delete.len(), 2);
    }

    #[test]
    fn the_last_backup_is_late_after_twice_its_interval_or_36_hours_for_daily() {
        let now = at(28, 12);
        let daily = Some(Duration::days(1));
        assert_eq!(health(None, None, now), BackupHealth::Off);
        assert_eq!(health(None, daily, now), BackupHealth::Never);
        assert_eq!(
            health(Some((at(27, 3), true)), daily, now),
            BackupHealth::Fine
        );
        assert_eq!(
            health(Some((at(26, 23), true)), daily, now),
            BackupHealth::Late,
            "37 hours"
        );
        assert_eq!(
            health(Some((at(28, 3), false)), daily, now),
            BackupHealth::Failed
        );
        let hourly = Some(Duration::hours(1));
        assert_eq!(
            health(Some((now - Duration::minutes(119), true)), hourly, now),
            BackupHealth::Fine
        );
        assert_eq!(
            health(Some((now - Duration::minutes(121), true)), hourly, now),
            BackupHealth::Late
        );
    }

    #[test]
    fn ago_says_the_largest_whole_unit() {
        let now = at(28, 12);
        assert_eq!(ago(now - Duration::seconds(20), now), "just now");
        assert_eq!(ago(now - Duration::minutes(1), now), "1 minute ago");
        assert_eq!(ago(now - Duration::hours(30), now), "30 hours ago");
        assert_eq!(ago(now - Duration::days(3), now), "3 days ago");
    }

    #[test]
    fn journal_entries_are_one_json_object_each_with_their_kind() {
        let e = JournalEntry::KeyDestroyed {
            at: "2026-11-27T07:30:33.123456Z".into(),
            workspace: 1,
            key_id: "k".into(),
            reason: DestroyReason::PeriodSpent,
        };
        let line = serde_json::to_string(&e).unwrap();
        assert_eq!(
            line,
            r#"{"kind":"key_destroyed","at":"2026-11-27T07:30:33.123456Z","workspace":1,"key_id":"k","reason":"period_spent"}"#
        );
        assert_eq!(serde_json::from_str::<JournalEntry>(&line).unwrap(), e);
    }
}
