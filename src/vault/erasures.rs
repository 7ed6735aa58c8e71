//! What the vault writes to the erasure journal, and the keyed digest that names a person there.

use super::{KeyPurpose, Vault, VaultError};
use crate::domain::backup::{DestroyReason, JournalEntry};
use crate::domain::time;
use crate::store::WorkspaceScope;
use chrono::Utc;

/// The index key's label for the journal's digests of external ids: a digest space of its own,
/// apart from e-mail addresses and visitors.
const SUBJECT_DIGEST_LABEL: &str = "subject";

impl Vault {
    /// The keyed digest (HMAC-SHA256, hex) of a person's external id in this workspace, as the
    /// erasure journal names them: the id itself never leaves `lethe.db`.
    pub fn subject_digest(
        &self,
        scope: &WorkspaceScope,
        external_id: &str,
    ) -> Result<String, VaultError> {
        let (_, key) = self.shared_key(scope, KeyPurpose::Index, SUBJECT_DIGEST_LABEL)?;
        Ok(hex::encode(key.mac(external_id.as_bytes())))
    }

    /// The digest if the workspace's digest key is in this key store, without making one: a
    /// restored key store older than the key cannot compute it.
    pub fn existing_subject_digest(
        &self,
        scope: &WorkspaceScope,
        external_id: &str,
    ) -> Result<Option<String>, VaultError> {
        let Some(wrapped) =
            self.keys
                .by_label(scope, KeyPurpose::Index.as_str(), SUBJECT_DIGEST_LABEL)?
        else {
            return Ok(None);
        };
        let key = self.unwrap(&wrapped)?;
        Ok(Some(hex::encode(key.mac(external_id.as_bytes()))))
    }

    /// Journals an erasure that is durable in `lethe.db` (before its key is destroyed).
    pub fn journal_subject_erased(
        &self,
        scope: &WorkspaceScope,
        external_id: &str,
        key_id: &str,
    ) -> Result<(), VaultError> {
        let subject_digest = self.subject_digest(scope, external_id)?;
        self.journal.append(&JournalEntry::SubjectErased {
            at: time::format(Utc::now()),
            workspace: scope.id(),
            subject_digest,
            key_id: key_id.to_owned(),
        })?;
        Ok(())
    }

    pub(super) fn journal_key_destroyed(
        &self,
        scope: &WorkspaceScope,
        key_id: &str,
        reason: DestroyReason,
    ) -> Result<(), VaultError> {
        self.journal.append(&JournalEntry::KeyDestroyed {
            at: time::format(Utc::now()),
            workspace: scope.id(),
            key_id: key_id.to_owned(),
            reason,
        })?;
        Ok(())
    }

    /// Destroys a key again while a restore replays the journal: its line is there already.
    pub fn destroy_key_again(&self, scope: &WorkspaceScope, id: &str) -> Result<bool, VaultError> {
        Ok(self.keys.destroy(scope, id)?)
    }

    /// Where the journal is.
    pub fn journal_path(&self) -> &std::path::Path {
        self.journal.path()
    }
}
