//! What is personal in the outbox, sealed: a message's recipient and body, a subscriber's
//! address. A workspace's messages are sealed under that workspace's outbox key; staff mail
//! (password reset links), which belongs to no workspace, under the instance's outbox key. Each
//! value is bound to its owner and row id, so it cannot be moved to another row or owner.

use crate::error::AppError;
use crate::store::Connection;
use crate::store::WorkspaceScope;
use crate::store::outbox::{self, Kind, NewMessage};
use crate::vault::{self, SealError, SecretKey, Vault};
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// What is personal in a message, sealed as one value.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Content {
    /// An e-mail address, or a webhook's URL.
    pub recipient: String,
    /// The e-mail text (with its working links), or the webhook's JSON payload.
    pub body: String,
}

/// Whose messages a key seals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Workspace(WorkspaceScope),
    /// Staff mail: staff accounts are instance-wide.
    Instance,
}

/// An outbox key, loaded once per use case. It seals and opens its owner's messages (and a
/// workspace's subscribers' addresses).
pub struct OutboxKey {
    pub(super) owner: Owner,
    key: SecretKey,
}

impl OutboxKey {
    /// The workspace's key, made on first use.
    pub fn load(vault: &Vault, scope: &WorkspaceScope) -> Result<OutboxKey, AppError> {
        Ok(OutboxKey {
            owner: Owner::Workspace(*scope),
            key: vault.outbox_key(scope)?,
        })
    }

    /// The instance's key (staff mail), made on first use.
    pub fn load_instance(vault: &Vault) -> Result<OutboxKey, AppError> {
        Ok(OutboxKey {
            owner: Owner::Instance,
            key: vault.instance_outbox_key()?,
        })
    }

    /// The key of a message's owner (`None`: the instance).
    pub fn load_for(vault: &Vault, workspace: Option<&WorkspaceScope>) -> Result<Self, AppError> {
        match workspace {
            Some(scope) => Self::load(vault, scope),
            None => Self::load_instance(vault),
        }
    }

    /// The workspace of a workspace key (scoped look-ups need it).
    pub(super) fn scope(&self) -> Option<&WorkspaceScope> {
        match &self.owner {
            Owner::Workspace(scope) => Some(scope),
            Owner::Instance => None,
        }
    }

    fn message_aad(&self, message_id: i64) -> Vec<u8> {
        match &self.owner {
            Owner::Workspace(scope) => vault::outbox_message_aad(scope, message_id),
            Owner::Instance => vault::instance_message_aad(message_id),
        }
    }

    pub(super) fn seal_content(
        &self,
        message_id: i64,
        recipient: &str,
        body: &str,
    ) -> Result<Vec<u8>, SealError> {
        let plain = serde_json::json!({ "recipient": recipient, "body": body }).to_string();
        self.key
            .seal(&self.message_aad(message_id), plain.as_bytes())
    }

    /// None when it cannot be opened: altered, moved from another row or owner, or sealed under
    /// a key that is gone.
    pub(super) fn open_content(&self, message_id: i64, sealed: &[u8]) -> Option<Content> {
        let plain = self.key.open(&self.message_aad(message_id), sealed).ok()?;
        serde_json::from_slice(&plain).ok()
    }

    /// Subscribers belong to a workspace; the instance key seals none.
    pub(super) fn seal_address(
        &self,
        subscriber_id: i64,
        email: &str,
    ) -> Result<Vec<u8>, AppError> {
        let scope = self
            .scope()
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("a subscriber needs a workspace")))?;
        Ok(self.key.seal(
            &vault::subscriber_aad(scope, subscriber_id),
            email.as_bytes(),
        )?)
    }

    pub(super) fn open_address(&self, subscriber_id: i64, sealed: &[u8]) -> Option<String> {
        let plain = self
            .key
            .open(&vault::subscriber_aad(self.scope()?, subscriber_id), sealed)
            .ok()?;
        String::from_utf8(plain).ok()
    }
}

/// A message to queue.
pub struct Outgoing<'a> {
    pub kind: Kind,
    pub recipient: &'a str,
    pub endpoint_id: Option<i64>,
    /// The subscriber an e-mail goes to: unsubscribing deletes it while it is queued.
    pub subscriber_id: Option<i64>,
    pub subject: &'a str,
    pub body: &'a str,
}

/// Queues a message in the caller's transaction, its recipient and body sealed under `key`; the
/// key's owner (a workspace, or the instance) owns the message.
pub fn queue(
    tx: &Connection,
    key: &OutboxKey,
    m: &Outgoing<'_>,
    now: DateTime<Utc>,
) -> Result<i64, AppError> {
    let new = NewMessage {
        kind: m.kind,
        endpoint_id: m.endpoint_id,
        subscriber_id: m.subscriber_id,
        subject: m.subject,
    };
    let seal = |id| {
        key.seal_content(id, m.recipient, m.body)
            .map_err(AppError::from)
    };
    match &key.owner {
        Owner::Workspace(scope) => outbox::enqueue(tx, scope, &new, now, seal),
        Owner::Instance => outbox::enqueue_instance(tx, &new, now, seal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_messages_and_addresses_open_only_in_their_own_row_and_owner() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open(dir.path(), None).unwrap();
        let key = OutboxKey::load(&vault, &WorkspaceScope::for_tests(1)).unwrap();
        let sealed = key
            .seal_content(7, "r@example.org", "confirm/secret-token")
            .unwrap();
        assert!(
            !sealed
                .windows(b"example.org".len())
                .any(|w| w == b"example.org")
        );
        let opened = key.open_content(7, &sealed).unwrap();
        assert_eq!(
            (opened.recipient.as_str(), opened.body.as_str()),
            ("r@example.org", "confirm/secret-token")
        );
        assert!(
            key.open_content(8, &sealed).is_none(),
            "moved to another row"
        );
        let other = OutboxKey::load(&vault, &WorkspaceScope::for_tests(2)).unwrap();
        assert!(
            other.open_content(7, &sealed).is_none(),
            "another workspace"
        );
        let instance = OutboxKey::load_instance(&vault).unwrap();
        assert!(instance.open_content(7, &sealed).is_none(), "the instance");
        let staff_mail = instance.seal_content(7, "s@example.org", "reset").unwrap();
        assert_eq!(instance.open_content(7, &staff_mail).unwrap().body, "reset");
        assert!(
            key.open_content(7, &staff_mail).is_none(),
            "instance mail is no workspace's"
        );
        assert!(instance.seal_address(1, "s@example.org").is_err());

        let address = key.seal_address(7, "r@example.org").unwrap();
        assert_eq!(
            key.open_address(7, &address).as_deref(),
            Some("r@example.org")
        );
        assert!(key.open_address(8, &address).is_none());
        assert!(
            key.open_content(7, &address).is_none(),
            "an address is not a message"
        );
    }
}
