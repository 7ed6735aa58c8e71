//! Anchors of the audit chain: a head (sequence number and hash) kept outside `lethe.db`, so
//! that removing the newest entries, or rewriting the chain from some entry on, is seen even by
//! someone who could also drop the triggers. An anchor is held when the chain still has an entry
//! at its sequence number with its hash.

use chrono::{DateTime, NaiveDate, Utc};
use std::collections::{BTreeMap, BTreeSet};

/// A head of the chain: the newest entry's sequence number and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub seq: i64,
    pub hash: String,
}

/// A head kept in the key store by the anchor job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAnchor {
    pub seq: i64,
    pub hash: String,
    pub at: DateTime<Utc>,
}

/// How many anchors the key store keeps besides each published day's head: at one a minute
/// while the chain moves, a busy afternoon; the daily heads reach further back.
pub const KEEP_NEWEST: usize = 300;

/// Days of published heads (the transparency page lists them, the key store keeps them).
pub const PUBLISHED_DAYS: usize = 30;

/// What the chain holds at an anchor's sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtSeq<'a> {
    /// An entry, with this hash.
    Entry(&'a str),
    /// The newest checkpoint is at exactly this sequence number, with this hash.
    Checkpoint(&'a str),
    /// The entry was pruned behind the newest checkpoint (the audit log's own retention rule).
    Pruned,
    /// No entry and no checkpoint.
    Absent,
}

/// Whether the chain still holds an anchor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnchorStatus {
    Held,
    /// Pruned by the audit log's retention rule behind a checkpoint; nothing left to compare.
    BehindCheckpoint,
    /// The chain now ends before the anchor: its newest entries were removed.
    Truncated {
        head: i64,
    },
    /// The entry at the anchor's sequence number has another hash: the chain was rewritten.
    Replaced,
    /// The chain goes past the anchor but lacks its entry.
    Missing,
}

impl AnchorStatus {
    /// True when the anchor proves the chain was changed.
    pub fn is_broken(self) -> bool {
        matches!(
            self,
            AnchorStatus::Truncated { .. } | AnchorStatus::Replaced | AnchorStatus::Missing
        )
    }
}

impl std::fmt::Display for AnchorStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AnchorStatus::Held => f.write_str("held"),
            AnchorStatus::BehindCheckpoint => {
                f.write_str("pruned behind the checkpoint by the audit log's retention rule")
            }
            AnchorStatus::Truncated { head } => write!(
                f,
                "BROKEN: the chain now ends at entry {head}: the entries after it were removed"
            ),
            AnchorStatus::Replaced => f.write_str(
                "BROKEN: the entry there has another hash: the chain was rewritten from there on",
            ),
            AnchorStatus::Missing => f.write_str("BROKEN: the entry there was removed"),
        }
    }
}

/// Compares one anchor with what the chain holds at its sequence number. `head_seq` is the
/// newest entry's (0 for an empty chain).
pub fn check(anchor_hash: &str, anchor_seq: i64, head_seq: i64, at: AtSeq<'_>) -> AnchorStatus {
    match at {
        AtSeq::Entry(hash) | AtSeq::Checkpoint(hash) if hash == anchor_hash => AnchorStatus::Held,
        AtSeq::Entry(_) | AtSeq::Checkpoint(_) => AnchorStatus::Replaced,
        AtSeq::Pruned => AnchorStatus::BehindCheckpoint,
        AtSeq::Absent if anchor_seq > head_seq => AnchorStatus::Truncated { head: head_seq },
        AtSeq::Absent => AnchorStatus::Missing,
    }
}

/// What the anchor job does with the current head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The chain is empty, or has not moved since the newest anchor.
    Nothing,
    Record(Head),
    /// The chain no longer holds the newest anchor: recording a new one would paper over it.
    Lost {
        anchor: i64,
        status: AnchorStatus,
    },
}

/// `latest` is the newest anchor with how the chain holds it.
pub fn decide(head: Option<&Head>, latest: Option<(&StoredAnchor, AnchorStatus)>) -> Decision {
    let Some(head) = head else {
        return match latest {
            Some((a, status)) if status.is_broken() => Decision::Lost {
                anchor: a.seq,
                status,
            },
            _ => Decision::Nothing,
        };
    };
    match latest {
        Some((a, status)) if status.is_broken() => Decision::Lost {
            anchor: a.seq,
            status,
        },
        Some((a, _)) if a.seq == head.seq && a.hash == head.hash => Decision::Nothing,
        _ => Decision::Record(head.clone()),
    }
}

/// One day's published head: the newest anchor of that day (UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyHead {
    pub day: NaiveDate,
    pub seq: i64,
    pub hash: String,
    pub at: DateTime<Utc>,
}

/// Each day's newest anchor, newest day first, at most `days` of them.
pub fn daily_heads(anchors: &[StoredAnchor], days: usize) -> Vec<DailyHead> {
    let mut by_day: BTreeMap<NaiveDate, &StoredAnchor> = BTreeMap::new();
    for a in anchors {
        let slot = by_day.entry(a.at.date_naive()).or_insert(a);
        if (a.seq, a.at) > (slot.seq, slot.at) {
            *slot = a;
        }
    }
    by_day
        .into_iter()
        .rev()
        .take(days)
        .map(|(day, a)| DailyHead {
            day,
            seq: a.seq,
            hash: a.hash.clone(),
            at: a.at,
        })
        .collect()
}

/// What the privacy center publishes: the heads of the last `days` days that are over (UTC).
/// Today's head is left out until the day ends, so that the page shows no activity as it
/// happens, and everyone who saves it on one day saves the same heads.
pub fn published(anchors: &[StoredAnchor], today: NaiveDate, days: usize) -> Vec<DailyHead> {
    let ended: Vec<StoredAnchor> = anchors
        .iter()
        .filter(|a| a.at.date_naive() < today)
        .cloned()
        .collect();
    daily_heads(&ended, days)
}

/// The anchors the key store lets go: all but the `keep_newest` newest and each of the last
/// `days` days' published head.
pub fn to_prune(anchors: &[StoredAnchor], keep_newest: usize, days: usize) -> Vec<i64> {
    let mut keep: BTreeSet<i64> = daily_heads(anchors, days).iter().map(|d| d.seq).collect();
    let mut seqs: Vec<i64> = anchors.iter().map(|a| a.seq).collect();
    seqs.sort_unstable_by(|a, b| b.cmp(a));
    keep.extend(seqs.iter().take(keep_newest));
    seqs.into_iter().filter(|s| !keep.contains(s)).collect()
}

/// Parses a head given as `SEQ:HASH` (as the transparency page prints it).
pub fn parse_expected(text: &str) -> Result<Head, String> {
    let wrong = || format!("'{text}' is not SEQ:HASH, e.g. 1234:{}", "3f".repeat(32));
    let (seq, hash) = text.trim().split_once(':').ok_or_else(wrong)?;
    let seq: i64 = seq.trim().parse().map_err(|_| wrong())?;
    let hash = hash.trim().to_ascii_lowercase();
    if seq < 1 {
        return Err(format!("'{text}': the sequence number starts at 1"));
    }
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "'{text}': the hash is 64 hexadecimal characters (SHA-256)"
        ));
    }
    Ok(Head { seq, hash })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn anchor(seq: i64, day: u32, hour: u32) -> StoredAnchor {
        StoredAnchor {
            seq,
            hash: format!("h{seq}"),
            at: Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0).unwrap(),
        }
    }

    #[test]
    fn an_anchor_is_held_only_by_its_own_hash_at_its_sequence_number() {
        assert_eq!(check("h5", 5, 9, AtSeq::Entry("h5")), AnchorStatus::Held);
        assert_eq!(
            check("h5", 5, 9, AtSeq::Entry("xx")),
            AnchorStatus::Replaced
        );
        assert_eq!(
            check("h5", 5, 3, AtSeq::Absent),
            AnchorStatus::Truncated { head: 3 }
        );
        assert_eq!(
            check("h5", 5, 0, AtSeq::Absent),
            AnchorStatus::Truncated { head: 0 }
        );
        assert_eq!(check("h5", 5, 9, AtSeq::Absent), AnchorStatus::Missing);
        assert_eq!(
            check("h5", 5, 9, AtSeq::Checkpoint("h5")),
            AnchorStatus::Held
        );
        assert_eq!(
            check("h5", 5, 9, AtSeq::Checkpoint("h6")),
            AnchorStatus::Replaced
        );
        assert_eq!(
            check("h5", 5, 9, AtSeq::Pruned),
            AnchorStatus::BehindCheckpoint
        );
        assert!(!AnchorStatus::BehindCheckpoint.is_broken());
        assert!(AnchorStatus::Truncated { head: 3 }.is_broken());
    }

    #[test]
    fn the_job_records_a_moved_head_once_and_never_over_a_lost_anchor() {
        let head = Head {
            seq: 7,
            hash: "h7".into(),
        };
        assert_eq!(decide(None, None), Decision::Nothing);
        assert_eq!(decide(Some(&head), None), Decision::Record(head.clone()));
        let old = anchor(5, 20, 10);
        assert_eq!(
            decide(Some(&head), Some((&old, AnchorStatus::Held))),
            Decision::Record(head.clone())
        );
        let same = anchor(7, 20, 11);
        assert_eq!(
            decide(Some(&head), Some((&same, AnchorStatus::Held))),
            Decision::Nothing
        );
        let ahead = anchor(9, 20, 12);
        let lost = AnchorStatus::Truncated { head: 7 };
        assert_eq!(
            decide(Some(&head), Some((&ahead, lost))),
            Decision::Lost {
                anchor: 9,
                status: lost
            }
        );
        assert_eq!(
            decide(None, Some((&ahead, AnchorStatus::Truncated { head: 0 }))),
            Decision::Lost {
                anchor: 9,
                status: AnchorStatus::Truncated { head: 0 }
            }
        );
    }

    #[test]
    fn each_day_publishes_its_newest_anchor_newest_day_first() {
        let anchors = vec![
            anchor(3, 20, 9),
            anchor(8, 20, 23),
            anchor(5, 20, 12),
            anchor(9, 22, 1),
        ];
        let heads = daily_heads(&anchors, 30);
        assert_eq!(
            heads
                .iter()
                .map(|d| (d.day.to_string(), d.seq))
                .collect::<Vec<_>>(),
            vec![("2026-11-22".to_owned(), 9), ("2026-11-20".to_owned(), 8)]
        );
        assert_eq!(daily_heads(&anchors, 1).len(), 1);
        assert!(daily_heads(&[], 30).is_empty());
    }

    #[test]
    fn only_days_that_are_over_are_published() {
        let anchors = vec![anchor(3, 20, 9), anchor(8, 21, 23), anchor(9, 22, 1)];
        let day = |d| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
        let seqs = |heads: Vec<DailyHead>| heads.iter().map(|d| d.seq).collect::<Vec<_>>();
        assert_eq!(seqs(published(&anchors, day(22), 30)), vec![8, 3]);
        assert_eq!(seqs(published(&anchors, day(23), 30)), vec![9, 8, 3]);
        assert_eq!(seqs(published(&anchors, day(23), 2)), vec![9, 8]);
        assert!(published(&anchors, day(20), 30).is_empty());
    }

    #[test]
    fn pruning_keeps_the_newest_and_each_published_day() {
        let mut anchors: Vec<StoredAnchor> = (1..=10).map(|s| anchor(s, 25, 10)).collect();
        anchors.push(anchor(0, 1, 10));
        anchors[0] = anchor(1, 3, 10);
        anchors[1] = anchor(2, 3, 11);
        let mut pruned = to_prune(&anchors, 4, 30);
        pruned.sort_unstable();
        // 7..=10 are the newest; 2 is the 3rd's head and 0 the 1st's; 1 and 3..=6 go.
        assert_eq!(pruned, vec![1, 3, 4, 5, 6]);
        // Only the last two days are published: the 1st's head goes too.
        let mut pruned = to_prune(&anchors, 4, 2);
        pruned.sort_unstable();
        assert_eq!(pruned, vec![0, 1, 3, 4, 5, 6]);
    }

    #[test]
    fn an_expected_head_is_seq_colon_hash() {
        let hash = "AB".repeat(32);
        assert_eq!(
            parse_expected(&format!("42:{hash}")),
            Ok(Head {
                seq: 42,
                hash: hash.to_ascii_lowercase()
            })
        );
        for bad in [
            "42",
            "x:ab",
            &format!("0:{hash}"),
            "42:abc",
            &format!("42:{}", "zz".repeat(32)),
        ] {
            assert!(parse_expected(bad).is_err(), "{bad} accepted");
        }
    }
}
