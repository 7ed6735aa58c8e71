//! The audit chain's anchors: the `audit-anchor` job keeps the chain's head in the key store
//! whenever it moved (and once more at a clean shutdown), the privacy center publishes each day's
//! head, and `lethe audit verify` checks the chain against both: entries removed from its end,
//! or a chain rewritten from some entry on, no longer hold the anchors taken before.

use crate::domain::anchor::{
    self, AnchorStatus, AtSeq, DailyHead, Decision, Head, KEEP_NEWEST, PUBLISHED_DAYS, StoredAnchor,
};
use crate::domain::audit::ChainBreak;
use crate::error::AppError;
use crate::store::Connection;
use crate::store::audit::{self, Checkpoint};
use crate::store::keystore::KeyStore;
use crate::store::{Db, StoreError};
use chrono::{DateTime, Utc};

/// How the chain holds the anchor at `seq` with `hash`.
fn status_of(
    conn: &Connection,
    head_seq: i64,
    checkpoint: Option<&Checkpoint>,
    seq: i64,
    hash: &str,
) -> Result<AnchorStatus, StoreError> {
    let stored = audit::hash_at(conn, seq)?;
    let at = match (&stored, checkpoint) {
        (Some(h), _) => AtSeq::Entry(h),
        (None, Some(c)) if c.seq == seq => AtSeq::Checkpoint(&c.hash),
        (None, Some(c)) if seq < c.seq => AtSeq::Pruned,
        _ => AtSeq::Absent,
    };
    Ok(anchor::check(hash, seq, head_seq, at))
}

/// The newest entry's sequence number; a fully pruned log ends at its checkpoint.
fn head_seq(head: Option<&Head>, checkpoint: Option<&Checkpoint>) -> i64 {
    head.map(|h| h.seq)
        .or(checkpoint.map(|c| c.seq))
        .unwrap_or(0)
}

/// Keeps the chain's head in the key store if it moved since the newest anchor, then lets the
/// oldest anchors go. Refuses to anchor a chain that lost its newest anchor: a new anchor would
/// only paper over the loss. Returns the head recorded, if any.
pub fn anchor_head(db: &Db, keys: &KeyStore, now: DateTime<Utc>) -> Result<Option<Head>, AppError> {
    let latest = keys.latest_anchor()?;
    let (head, status) = db.read(|c| {
        let tx = c.unchecked_transaction()?;
        let head = audit::head(&tx)?;
        let checkpoint = audit::latest_checkpoint(&tx)?;
        let status = match &latest {
            Some(a) => Some(status_of(
                &tx,
                head_seq(head.as_ref(), checkpoint.as_ref()),
                checkpoint.as_ref(),
                a.seq,
                &a.hash,
            )?),
            None => None,
        };
        Ok::<_, StoreError>((head, status))
    })?;
    match anchor::decide(head.as_ref(), latest.as_ref().zip(status)) {
        Decision::Nothing => Ok(None),
        Decision::Record(head) => {
            keys.record_anchor(head.seq, &head.hash, now)?;
            // One day more than is published: today's head is published tomorrow.
            let gone = anchor::to_prune(&keys.anchors()?, KEEP_NEWEST, PUBLISHED_DAYS + 1);
            if !gone.is_empty() {
                keys.forget_anchors(&gone)?;
            }
            Ok(Some(head))
        }
        Decision::Lost { anchor, status } => Err(AppError::Conflict(format!(
            "the audit log no longer holds the anchor at entry {anchor} ({status}); no new \
             anchor is kept over it: run `lethe audit verify`"
        ))),
    }
}

/// The head of the chain at the end of each of the last days, newest first, as the privacy
/// center publishes it.
pub fn published_heads(
    keys: &KeyStore,
    today: chrono::NaiveDate,
) -> Result<Vec<DailyHead>, AppError> {
    Ok(anchor::published(&keys.anchors()?, today, PUBLISHED_DAYS))
}

/// Where an anchor that `lethe audit verify` checks comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnchorSource {
    /// Kept in `keys.db` by the anchor job at this time.
    KeyStore(DateTime<Utc>),
    /// Given with `--expect` (e.g. a head saved from the transparency page).
    Expected,
}

#[derive(Debug, Clone)]
pub struct AnchorCheck {
    pub source: AnchorSource,
    pub seq: i64,
    pub hash: String,
    pub status: AnchorStatus,
}

/// Everything `lethe audit verify` found.
#[derive(Debug)]
pub struct VerifyReport {
    /// The walk of the chain: entries checked, or the first break.
    pub chain: Result<u64, ChainBreak>,
    pub checkpoint: Option<Checkpoint>,
    pub head: Option<Head>,
    /// How many anchors `keys.db` holds; None when there is no `keys.db`.
    pub key_store_anchors: Option<usize>,
    pub anchors: Vec<AnchorCheck>,
    /// Guarding triggers that were dropped.
    pub missing_guards: Vec<&'static str>,
}

impl VerifyReport {
    /// The chain links up and holds every anchor.
    pub fn is_intact(&self) -> bool {
        self.chain.is_ok() && !self.anchors.iter().any(|a| a.status.is_broken())
    }
}

/// Walks the chain and checks it against the key store's anchors (`None`: no `keys.db`) and
/// the heads given with `--expect`, all in one read snapshot.
pub fn verify(
    db: &Db,
    stored: Option<Vec<StoredAnchor>>,
    expected: &[Head],
) -> Result<VerifyReport, StoreError> {
    db.read(|c| {
        let tx = c.unchecked_transaction()?;
        let chain = audit::verify(&tx)?;
        let checkpoint = audit::latest_checkpoint(&tx)?;
        let head = audit::head(&tx)?;
        let last = head_seq(head.as_ref(), checkpoint.as_ref());
        let from_store = stored
            .iter()
            .flatten()
            .map(|a| (AnchorSource::KeyStore(a.at), a.seq, a.hash.as_str()));
        let given = expected
            .iter()
            .map(|h| (AnchorSource::Expected, h.seq, h.hash.as_str()));
        let mut anchors = Vec::new();
        for (source, seq, hash) in from_store.chain(given) {
            anchors.push(AnchorCheck {
                status: status_of(&tx, last, checkpoint.as_ref(), seq, hash)?,
                source,
                seq,
                hash: hash.to_owned(),
            });
        }
        Ok(VerifyReport {
            chain,
            missing_guards: audit::missing_guards(&tx)?,
            key_store_anchors: stored.as_ref().map(Vec::len),
            checkpoint,
            head,
            anchors,
        })
    })
}
