//! The audit log: an append-only list of every state change, each entry chained to the one before
//! by a SHA-256 hash, so that editing or removing a past entry is detectable (`lethe audit verify`).

use serde::Serialize;
use std::net::IpAddr;

/// Who did something.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Actor {
    Staff {
        id: i64,
        email: String,
    },
    ApiKey {
        id: String,
        name: String,
    },
    /// The shell (`lethe admin create`, `lethe apikey create`).
    Cli,
    /// Lethe itself: start-up, jobs.
    System,
}

impl Actor {
    /// The stable text stored in the log, e.g. `staff:3 ada@example.org`.
    pub fn label(&self) -> String {
        match self {
            Actor::Staff { id, email } => format!("staff:{id} {email}"),
            Actor::ApiKey { id, name } => format!("apikey:{id} {name}"),
            Actor::Cli => "cli".into(),
            Actor::System => "system".into(),
        }
    }
}

/// What the caller knows of an event; the store adds the sequence number, time and hashes.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub actor: Actor,
    /// Dotted verb, e.g. `workspace.create`, `apikey.revoke`, `staff.login_failed`.
    pub action: &'static str,
    /// What was acted upon, e.g. `workspace:aulm` or `apikey:0193…`.
    pub target: String,
    /// Extra facts as JSON; never secrets, never personal data beyond the target.
    pub detail: serde_json::Value,
    pub ip: Option<IpAddr>,
}

impl AuditEvent {
    pub fn new(actor: Actor, action: &'static str, target: impl Into<String>) -> Self {
        AuditEvent {
            actor,
            action,
            target: target.into(),
            detail: serde_json::Value::Object(Default::default()),
            ip: None,
        }
    }

    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }

    pub fn ip(mut self, ip: Option<IpAddr>) -> Self {
        self.ip = ip;
        self
    }
}

/// The fields that are hashed, in a fixed order. Changing this struct breaks every existing chain.
#[derive(Serialize)]
pub struct ChainedFields<'a> {
    pub seq: i64,
    pub workspace_id: Option<i64>,
    pub at: &'a str,
    pub actor: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub detail: &'a str,
    pub ip: Option<&'a str>,
}

pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// hash = SHA-256(prev_hash ‖ "\n" ‖ canonical JSON of the fields).
pub fn chain_hash(prev_hash: &str, fields: &ChainedFields<'_>) -> String {
    let body = serde_json::to_string(fields).unwrap_or_default();
    crate::crypto::sha256_hex(format!("{prev_hash}\n{body}"))
}

/// Keeps the network, not the host: /24 for IPv4, /48 for IPv6. Enough to see where staff came
/// from without storing a precise address for years.
pub fn truncate_ip(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    }
}

/// Where a stored chain stops matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainBreak {
    /// An entry's stored hash is not the hash of its fields: it was edited.
    Altered { seq: i64 },
    /// An entry does not point at the hash of the entry before it: one was removed or reordered.
    Unlinked { seq: i64 },
}

impl std::fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainBreak::Altered { seq } => {
                write!(
                    f,
                    "entry {seq} was altered: its hash does not match its contents"
                )
            }
            ChainBreak::Unlinked { seq } => write!(
                f,
                "entry {seq} does not follow the entry before it: an entry was removed or reordered"
            ),
        }
    }
}

/// Walks stored entries in sequence order and checks each link. Pure, so the store can stream
/// rows into it.
pub struct ChainVerifier {
    prev_hash: String,
    prev_seq: Option<i64>,
    pub checked: u64,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier {
            prev_hash: GENESIS_HASH.to_owned(),
            prev_seq: None,
            checked: 0,
        }
    }
}

impl ChainVerifier {
    /// Continues a chain whose entries up to `seq` were pruned behind a checkpoint: the next
    /// entry must be `seq + 1` and point at `hash`.
    pub fn from_checkpoint(seq: i64, hash: &str) -> Self {
        ChainVerifier {
            prev_hash: hash.to_owned(),
            prev_seq: Some(seq),
            checked: 0,
        }
    }

    pub fn check(
        &mut self,
        fields: &ChainedFields<'_>,
        stored_prev: &str,
        stored_hash: &str,
    ) -> Result<(), ChainBreak> {
        let seq = fields.seq;
        let contiguous = self.prev_seq.is_none_or(|p| p + 1 == seq);
        if stored_prev != self.prev_hash || !contiguous {
            return Err(ChainBreak::Unlinked { seq });
        }
        if chain_hash(stored_prev, fields) != stored_hash {
            return Err(ChainBreak::Altered { seq });
        }
        self.prev_hash = stored_hash.to_owned();
        self.prev_seq = Some(seq);
        self.checked += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(seq: i64, action: &str) -> ChainedFields<'_> {
        ChainedFields {
            seq,
            workspace_id: Some(1),
            at: "2026-11-22T10:00:00Z",
            actor: "cli",
            action,
            target: "workspace:aulm",
            detail: "{}",
            ip: None,
        }
    }

    #[test]
    fn a_chain_verifies_and_an_edit_is_found() {
        let h1 = chain_hash(GENESIS_HASH, &fields(1, "a"));
        let h2 = chain_hash(&h1, &fields(2, "b"));
        let mut v = ChainVerifier::default();
        v.check(&fields(1, "a"), GENESIS_HASH, &h1).unwrap();
        v.check(&fields(2, "b"), &h1, &h2).unwrap();

        let mut v = ChainVerifier::default();
        v.check(&fields(1, "a"), GENESIS_HASH, &h1).unwrap();
        assert_eq!(
            v.check(&fields(2, "X"), &h1, &h2),
            Err(ChainBreak::Altered { seq: 2 })
        );
    }

    #[test]
    fn a_removed_entry_is_found() {
        let h1 = chain_hash(GENESIS_HASH, &fields(1, "a"));
        let h2 = chain_hash(&h1, &fields(2, "b"));
        let h3 = chain_hash(&h2, &fields(3, "c"));
        let mut v = ChainVerifier::default();
        v.check(&fields(1, "a"), GENESIS_HASH, &h1).unwrap();
        assert_eq!(
            v.check(&fields(3, "c"), &h2, &h3),
            Err(ChainBreak::Unlinked { seq: 3 })
        );
    }

    #[test]
    fn a_chain_continues_from_a_checkpoint_and_a_gap_after_it_is_found() {
        let h1 = chain_hash(GENESIS_HASH, &fields(1, "a"));
        let h2 = chain_hash(&h1, &fields(2, "b"));
        let h3 = chain_hash(&h2, &fields(3, "c"));
        let mut v = ChainVerifier::from_checkpoint(1, &h1);
        v.check(&fields(2, "b"), &h1, &h2).unwrap();
        assert_eq!(v.checked, 1);
        let mut v = ChainVerifier::from_checkpoint(1, &h1);
        assert_eq!(
            v.check(&fields(3, "c"), &h2, &h3),
            Err(ChainBreak::Unlinked { seq: 3 })
        );
    }

    #[test]
    fn ips_are_truncated() {
        assert_eq!(
            truncate_ip("203.0.113.77".parse().unwrap()),
            "203.0.113.0/24"
        );
        assert_eq!(
            truncate_ip("2001:db8:abcd:12::1".parse().unwrap()),
            "2001:db8:abcd::/48"
        );
    }
}
