//! API keys: what they may do (scopes) and what they look like.
//!
//! A key reads `lethe_<prefix>_<secret>`. The prefix (12 hex characters) is stored in clear to find
//! the key; the whole key is stored only as a SHA-256 digest.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
pub enum Scope {
    RecordsWrite,
    RecordsRead,
    ConsentWrite,
    ConsentRead,
    RequestsWrite,
    RequestsRead,
    InventoryRead,
    InventoryWrite,
    /// Read the workspace's audit log (e.g. to feed a SIEM).
    AuditRead,
    /// Update the workspace's contact details from automation.
    WorkspaceWrite,
    /// Read retention rules' status, run history and claim checks.
    RetentionRead,
    /// Start retention runs (and dry runs).
    RetentionWrite,
    /// Register and change incidents, record notices to the authority.
    IncidentsWrite,
    /// Read the breach register, notices and exports.
    IncidentsRead,
}

impl Scope {
    pub const ALL: [Scope; 14] = [
        Scope::RecordsWrite,
        Scope::RecordsRead,
        Scope::ConsentWrite,
        Scope::ConsentRead,
        Scope::RequestsWrite,
        Scope::RequestsRead,
        Scope::InventoryRead,
        Scope::InventoryWrite,
        Scope::AuditRead,
        Scope::WorkspaceWrite,
        Scope::RetentionRead,
        Scope::RetentionWrite,
        Scope::IncidentsWrite,
        Scope::IncidentsRead,
    ];

    /// What a key with this scope may do, for the people who make keys.
    pub fn explain(self) -> &'static str {
        match self {
            Scope::RecordsWrite => {
                "send people and their records; close, restrict, unrestrict and erase people"
            }
            Scope::RecordsRead => {
                "list people (ids and states), read them and their decrypted records, and the records legal holds keep of erased people (each read is logged)"
            }
            Scope::ConsentWrite => "record consent decisions",
            Scope::ConsentRead => {
                "read a person's current consent and check signed consent receipts"
            }
            Scope::RequestsWrite => {
                "open requests for people you authenticated, start, extend, complete and deny them"
            }
            Scope::RequestsRead => {
                "read and list requests with their deadlines and timelines (the person's address and what they wrote included)"
            }
            Scope::InventoryRead => "read the inventory, its check, the RoPA and policy versions",
            Scope::InventoryWrite => {
                "change the inventory, import fideslang, write and publish policy versions"
            }
            Scope::AuditRead => "read the workspace's audit log",
            Scope::WorkspaceWrite => "change the workspace's contact details and defaults",
            Scope::RetentionRead => "read retention rules' runs, claims and next runs",
            Scope::RetentionWrite => "start retention runs and dry runs",
            Scope::IncidentsWrite => {
                "register and change incidents (personal-data breaches), decide not to notify, edit the notice to the authority and record its phases as sent"
            }
            Scope::IncidentsRead => {
                "read the breach register: incidents, their 72-hour deadlines, counts of affected people, timelines, notices and exports"
            }
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::RecordsWrite => "records:write",
            Scope::RecordsRead => "records:read",
            Scope::ConsentWrite => "consent:write",
            Scope::ConsentRead => "consent:read",
            Scope::RequestsWrite => "requests:write",
            Scope::RequestsRead => "requests:read",
            Scope::InventoryRead => "inventory:read",
            Scope::InventoryWrite => "inventory:write",
            Scope::AuditRead => "audit:read",
            Scope::WorkspaceWrite => "workspace:write",
            Scope::RetentionRead => "retention:read",
            Scope::RetentionWrite => "retention:write",
            Scope::IncidentsWrite => "incidents:write",
            Scope::IncidentsRead => "incidents:read",
        }
    }

    pub fn parse(s: &str) -> Result<Scope, String> {
        Scope::ALL
            .into_iter()
            .find(|x| x.as_str() == s.trim())
            .ok_or_else(|| {
                let known: Vec<_> = Scope::ALL.iter().map(|s| s.as_str()).collect();
                format!(
                    "'{}' is not a scope (one of {})",
                    s.trim(),
                    known.join(", ")
                )
            })
    }

    /// Parses a list, refusing an empty one; duplicates are dropped and the order made stable.
    pub fn parse_list<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Vec<Scope>, String> {
        let mut scopes = items
            .into_iter()
            .map(Scope::parse)
            .collect::<Result<Vec<_>, _>>()?;
        scopes.sort();
        scopes.dedup();
        if scopes.is_empty() {
            return Err("give at least one scope".into());
        }
        Ok(scopes)
    }
}

pub const KEY_PREFIX: &str = "lethe_";

/// A freshly minted key. `secret` is shown once and never stored.
pub struct NewApiKey {
    pub prefix: String,
    pub secret: String,
}

impl NewApiKey {
    pub fn generate() -> NewApiKey {
        let prefix = crate::crypto::random_hex(6);
        let secret = format!("{KEY_PREFIX}{prefix}_{}", crate::crypto::random_token(32));
        NewApiKey { prefix, secret }
    }
}

/// The prefix of a presented key, or None if it does not have the shape of a Lethe key.
pub fn prefix_of(presented: &str) -> Option<&str> {
    let rest = presented.strip_prefix(KEY_PREFIX)?;
    let (prefix, secret) = rest.split_once('_')?;
    let ok =
        prefix.len() == 12 && prefix.chars().all(|c| c.is_ascii_hexdigit()) && secret.len() >= 32;
    ok.then_some(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_a_findable_prefix() {
        let k = NewApiKey::generate();
        assert_eq!(prefix_of(&k.secret), Some(k.prefix.as_str()));
        assert_eq!(prefix_of("lethe_short_x"), None);
        assert_eq!(prefix_of("Bearer something"), None);
    }

    #[test]
    fn scope_lists() {
        let s = Scope::parse_list(["records:read", "audit:read", "records:read"]).unwrap();
        assert_eq!(s, vec![Scope::RecordsRead, Scope::AuditRead]);
        assert!(Scope::parse_list([]).is_err());
        assert!(
            Scope::parse_list(["records:delete"])
                .unwrap_err()
                .contains("records:write")
        );
    }
}
