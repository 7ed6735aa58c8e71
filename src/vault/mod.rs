//! Envelope encryption for the vault. Each person (subject) gets a random data key; data keys
//! are stored wrapped by the master key in the key store (`keys.db`); record fields are sealed
//! with AES-256-GCM under the data key, the record's id bound in as associated data so a sealed
//! value cannot be moved to another record. Destroying a data key erases everything it sealed
//! (crypto-shredding), including copies in backups of `lethe.db`.

pub mod cipher;
mod erasures;
pub mod master_key;

use crate::config::Secret;
pub use crate::domain::backup::DestroyReason;
use crate::store::journal::{Journal, JournalError};
use crate::store::keystore::{KeyStore, WrappedKey};
use crate::store::{StoreError, WorkspaceScope};
pub use cipher::{OpenError, SealError, SecretKey};
pub use master_key::MasterKey;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

pub const KEYS_FILE_NAME: &str = "keys.db";

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("master key from {source_name}: {message}")]
    MasterKey {
        source_name: String,
        message: String,
    },
    #[error(
        "the key store was written under another master key ({found}; this one is {expected}): \
         start with the master key it was made with"
    )]
    WrongMasterKey { found: String, expected: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("a data key could not be unwrapped: {0}")]
    Unwrap(#[from] OpenError),
    #[error(transparent)]
    Seal(#[from] cipher::SealError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the erasure journal: {0}")]
    Journal(#[from] JournalError),
}

/// Checks, without creating or writing anything, the check [`Vault::open`] makes at start: the
/// master key (from `LETHE_MASTER_KEY`, else `master.key`) parses and wrapped every data key of
/// `keys.db`. Returns where the key came from. For `lethe doctor`, beside a running server.
pub fn check_master_key(data_dir: &Path, from_env: Option<&Secret>) -> Result<String, VaultError> {
    let (key, source) = match from_env {
        Some(secret) => (
            MasterKey::parse(secret.expose()).map_err(|m| VaultError::MasterKey {
                source_name: "LETHE_MASTER_KEY".into(),
                message: m,
            })?,
            "LETHE_MASTER_KEY".to_owned(),
        ),
        None => {
            let path = data_dir.join(master_key::FILE_NAME);
            let text = std::fs::read_to_string(&path).map_err(|e| VaultError::Io {
                path: path.display().to_string(),
                source: e,
            })?;
            let key = MasterKey::parse(&text).map_err(|m| VaultError::MasterKey {
                source_name: path.display().to_string(),
                message: m,
            })?;
            (key, path.display().to_string())
        }
    };
    let keys = data_dir.join(KEYS_FILE_NAME);
    if keys.is_file() {
        let ids = crate::store::doctor::key_store_master_ids(&keys)?;
        if let Some(other) = ids.iter().find(|id| *id != key.id()) {
            return Err(VaultError::WrongMasterKey {
                found: other.clone(),
                expected: key.id().to_owned(),
            });
        }
    }
    Ok(source)
}

/// What a data key seals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPurpose {
    /// One person's records and profile.
    Subject,
    /// Records kept after erasure under one legal hold until one date.
    Hold,
    /// Records the category allows without a person.
    Unlinked,
    /// The workspace's blind-index key (e-mail look-up).
    Index,
    /// One category's week (`<category>@<Monday>`): with the person's key it makes each
    /// record's key; destroyed once nothing sealed in the week is left.
    Period,
    /// Anonymized records detached from their person, meant to outlive both the person and the
    /// period: neither erasure nor retention destroys it.
    Retained,
    /// The workspace's key of the `pseudonym` transform (stable pseudonyms).
    Pseudonym,
    /// The workspace's key for what the outbox keeps: subscribers' addresses, messages'
    /// recipients and bodies. Never destroyed while the workspace exists. The instance has one
    /// too (workspace id 0, label `instance`) for staff mail.
    Outbox,
    /// The workspace's key for what data subject requests keep: the person's address, what they
    /// wrote, denial and extension texts, timeline details. Never destroyed while the workspace
    /// exists; a request's sealed columns go with the request.
    Requests,
    /// The seed of the workspace's Ed25519 key that signs consent receipts (label `ed25519`).
    /// Never destroyed while the workspace exists: receipts people keep must stay verifiable.
    ConsentReceipts,
}

impl KeyPurpose {
    fn as_str(self) -> &'static str {
        match self {
            KeyPurpose::Subject => "subject",
            KeyPurpose::Hold => "hold",
            KeyPurpose::Unlinked => "unlinked",
            KeyPurpose::Index => "index",
            KeyPurpose::Period => "period",
            KeyPurpose::Retained => "retained",
            KeyPurpose::Pseudonym => "pseudonym",
            KeyPurpose::Outbox => "outbox",
            KeyPurpose::Requests => "requests",
            KeyPurpose::ConsentReceipts => "consent-receipts",
        }
    }
}

/// Associated data of a wrapped key: a wrapping cannot be copied to another row.
fn wrap_aad(id: &str, workspace_id: i64, purpose: &str, label: &str) -> Vec<u8> {
    format!("lethe/data-key/v1/{id}/{workspace_id}/{purpose}/{label}").into_bytes()
}

const SEALED_PREFIX: &str = "sealed:v1:";

/// Whether a stored secret is already sealed.
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(SEALED_PREFIX)
}

fn secret_aad(context: &str) -> Vec<u8> {
    format!("lethe/secret/v1/{context}").into_bytes()
}

/// Associated data of a record's sealed fields.
pub fn record_aad(scope: &WorkspaceScope, record_id: &str) -> Vec<u8> {
    format!("lethe/record/v1/{}/{record_id}", scope.id()).into_bytes()
}

/// Associated data of a subject's sealed profile (e-mail, birth date).
pub fn profile_aad(scope: &WorkspaceScope, external_id: &str) -> Vec<u8> {
    format!("lethe/subject/v1/{}/{external_id}", scope.id()).into_bytes()
}

/// Associated data of a free-text reason about a person (`what`: `access` for a reader's reason,
/// `restriction` for why processing is restricted), sealed under the person's key.
pub fn reason_aad(scope: &WorkspaceScope, external_id: &str, what: &str) -> Vec<u8> {
    format!(
        "lethe/subject/v1/{}/{external_id}/reason/{what}",
        scope.id()
    )
    .into_bytes()
}

/// Associated data of an outbox message's sealed recipient and body.
pub fn outbox_message_aad(scope: &WorkspaceScope, message_id: i64) -> Vec<u8> {
    format!("lethe/outbox/v1/{}/message/{message_id}", scope.id()).into_bytes()
}

/// Associated data of an instance message's sealed recipient and body (staff mail, which belongs
/// to no workspace).
pub fn instance_message_aad(message_id: i64) -> Vec<u8> {
    format!("lethe/outbox/v1/instance/message/{message_id}").into_bytes()
}

/// Associated data of a policy subscriber's sealed address.
pub fn subscriber_aad(scope: &WorkspaceScope, subscriber_id: i64) -> Vec<u8> {
    format!("lethe/outbox/v1/{}/subscriber/{subscriber_id}", scope.id()).into_bytes()
}

/// Associated data of a data subject request's sealed field (`email`, `details`, `denial`,
/// `extension`, or `event/<n>` for a timeline entry's detail).
pub fn request_aad(scope: &WorkspaceScope, request_id: &str, field: &str) -> Vec<u8> {
    format!("lethe/request/v1/{}/{request_id}/{field}", scope.id()).into_bytes()
}

/// The master key and the key store; cheap to clone.
#[derive(Clone)]
pub struct Vault {
    master: Arc<MasterKey>,
    keys: KeyStore,
    /// Unwrapped shared keys that are never destroyed while their workspace exists and that the
    /// hot path of consent decisions needs on every request (a visitor's blind index, the
    /// receipt signing seed): kept in memory once read, so a decision costs no `keys.db` read.
    /// Rotation re-wraps a key without changing it, so a kept copy stays right.
    resident: Arc<std::sync::Mutex<HashMap<KeySlot, (String, SecretKey)>>>,
    /// Each workspace's consent-receipt signing pair, derived from its resident seed once.
    signers: Arc<std::sync::Mutex<HashMap<i64, Arc<ring::signature::Ed25519KeyPair>>>>,
    /// The erasure journal next to the key store: every destroyed key is written there.
    journal: Arc<Journal>,
}

/// A shared key's place: workspace id, purpose, label.
type KeySlot = (i64, &'static str, String);

/// The purposes whose shared keys are kept resident (see `Vault::resident`).
fn resident(purpose: KeyPurpose) -> bool {
    matches!(purpose, KeyPurpose::Index | KeyPurpose::ConsentReceipts)
}

impl Vault {
    /// Loads (or creates) the master key, finishes an interrupted rotation, opens the key store
    /// and checks that its keys were wrapped by this master key.
    pub fn open(data_dir: &Path, master_from_env: Option<&Secret>) -> Result<Vault, VaultError> {
        let keys = KeyStore::open(&data_dir.join(KEYS_FILE_NAME))?;
        let (master, source) = master_key::load_or_create(data_dir, master_from_env)?;
        let master = finish_rotation(data_dir, &keys, master, &source)?;
        let vault = Vault {
            master: Arc::new(master),
            keys,
            resident: Arc::default(),
            signers: Arc::default(),
            journal: Arc::new(Journal::new(data_dir)),
        };
        vault.check_master()?;
        Ok(vault)
    }

    fn check_master(&self) -> Result<(), VaultError> {
        let ids = self.keys.master_ids()?;
        match ids.iter().find(|id| *id != self.master.id()) {
            Some(other) => Err(VaultError::WrongMasterKey {
                found: other.clone(),
                expected: self.master.id().to_owned(),
            }),
            None => Ok(()),
        }
    }

    /// The key store itself, for what else it keeps (the audit chain's anchors).
    pub fn key_store(&self) -> &KeyStore {
        &self.keys
    }

    pub fn master_id(&self) -> &str {
        self.master.id()
    }

    /// Makes a new data key; fails with a conflict if `label` already has one for `purpose`.
    pub fn create_key(
        &self,
        scope: &WorkspaceScope,
        purpose: KeyPurpose,
        label: &str,
    ) -> Result<(String, SecretKey), VaultError> {
        let id = uuid::Uuid::new_v4().to_string();
        let key = SecretKey::generate();
        let wrapped = self
            .master
            .wrap(&wrap_aad(&id, scope.id(), purpose.as_str(), label), &key)?;
        self.keys.insert(
            scope,
            &WrappedKey {
                id: id.clone(),
                workspace_id: scope.id(),
                purpose: purpose.as_str().to_owned(),
                label: label.to_owned(),
                wrapped,
                master_id: self.master.id().to_owned(),
            },
        )?;
        Ok((id, key))
    }

    /// The data key for `label`, made on first use (hold keys, the unlinked and index keys).
    pub fn shared_key(
        &self,
        scope: &WorkspaceScope,
        purpose: KeyPurpose,
        label: &str,
    ) -> Result<(String, SecretKey), VaultError> {
        let slot = (scope.id(), purpose.as_str(), label.to_owned());
        if resident(purpose)
            && let Ok(kept) = self.resident.lock()
            && let Some(found) = kept.get(&slot)
        {
            return Ok(found.clone());
        }
        let found = self.read_or_create_shared(scope, purpose, label)?;
        if resident(purpose)
            && let Ok(mut kept) = self.resident.lock()
        {
            kept.insert(slot, found.clone());
        }
        Ok(found)
    }

    fn read_or_create_shared(
        &self,
        scope: &WorkspaceScope,
        purpose: KeyPurpose,
        label: &str,
    ) -> Result<(String, SecretKey), VaultError> {
        if let Some(k) = self.keys.by_label(scope, purpose.as_str(), label)? {
            let key = self.unwrap(&k)?;
            return Ok((k.id, key));
        }
        match self.create_key(scope, purpose, label) {
            // Another request made it first: use theirs.
            Err(VaultError::Store(StoreError::Conflict(_))) => {
                let k = self
                    .keys
                    .by_label(scope, purpose.as_str(), label)?
                    .ok_or_else(|| StoreError::NotFound("data key".into()))?;
                let key = self.unwrap(&k)?;
                Ok((k.id, key))
            }
            other => other,
        }
    }

    /// The keys records with these key ids (owner keys and period keys) need.
    pub fn key_ring(&self, scope: &WorkspaceScope, ids: &[&str]) -> Result<KeyRing, VaultError> {
        Ok(KeyRing(self.keys(scope, ids)?))
    }

    /// A workspace's keys of one purpose, as (key id, label): the period-key job walks them.
    pub fn labels_of(
        &self,
        scope: &WorkspaceScope,
        purpose: KeyPurpose,
    ) -> Result<Vec<(String, String)>, VaultError> {
        Ok(self.keys.labels_of(scope, purpose.as_str())?)
    }

    /// The data keys with these ids; destroyed keys are absent from the map.
    pub fn keys(
        &self,
        scope: &WorkspaceScope,
        ids: &[&str],
    ) -> Result<HashMap<String, SecretKey>, VaultError> {
        let mut out = HashMap::with_capacity(ids.len());
        for k in self.keys.by_ids(scope, ids)? {
            let key = self.unwrap(&k)?;
            out.insert(k.id, key);
        }
        Ok(out)
    }

    /// Destroys a data key for good, then journals it (`erasure-journal.log`, on disk before
    /// this returns) so a restore of an older `keys.db` destroys it again; true if it existed.
    /// Journaled after the destruction, so every line is later than the fact it records, and
    /// also when the key was already gone (a destruction finished after a crash).
    pub fn destroy_key(
        &self,
        scope: &WorkspaceScope,
        id: &str,
        reason: DestroyReason,
    ) -> Result<bool, VaultError> {
        let existed = self.keys.destroy(scope, id)?;
        self.journal_key_destroyed(scope, id, reason)?;
        Ok(existed)
    }

    /// The legal holds' keys, as (workspace, key id, label `<hold>:<last day or "open">`).
    pub fn hold_keys(&self) -> Result<Vec<(WorkspaceScope, String, String)>, VaultError> {
        Ok(self.keys.all_of_purpose(KeyPurpose::Hold.as_str())?)
    }

    /// The keyed blind index of a normalised e-mail address in this workspace.
    pub fn email_index(&self, scope: &WorkspaceScope, email: &str) -> Result<Vec<u8>, VaultError> {
        let (_, key) = self.shared_key(scope, KeyPurpose::Index, "email")?;
        Ok(key.mac(email.as_bytes()))
    }

    /// The keyed digest of a consent banner's visitor id: its own blind-index key, so a visitor
    /// id and an address never share a digest space.
    pub fn visitor_index(
        &self,
        scope: &WorkspaceScope,
        visitor: &str,
    ) -> Result<Vec<u8>, VaultError> {
        let (_, key) = self.shared_key(scope, KeyPurpose::Index, "visitor")?;
        Ok(key.mac(visitor.as_bytes()))
    }

    /// The workspace's outbox key (made on first use).
    pub fn outbox_key(&self, scope: &WorkspaceScope) -> Result<SecretKey, VaultError> {
        Ok(self.shared_key(scope, KeyPurpose::Outbox, "outbox")?.1)
    }

    /// The workspace's requests key (made on first use).
    pub fn requests_key(&self, scope: &WorkspaceScope) -> Result<SecretKey, VaultError> {
        Ok(self.shared_key(scope, KeyPurpose::Requests, "requests")?.1)
    }

    /// The seed of the workspace's consent-receipt signing key (made on first use). The 32
    /// random bytes of a data key are an Ed25519 private key as RFC 8032 defines it (the seed the
    /// key pair is derived from), so the signing key is kept exactly like every other data key:
    /// wrapped under the master key in `keys.db`, re-wrapped by `lethe keys rotate`, never stored
    /// or shown in the clear. `services::consent_receipts` derives the key pair from it when it
    /// signs or publishes the public key.
    pub fn consent_receipts_seed(&self, scope: &WorkspaceScope) -> Result<SecretKey, VaultError> {
        Ok(self
            .shared_key(scope, KeyPurpose::ConsentReceipts, "ed25519")?
            .1)
    }

    /// The workspace's consent-receipt signing pair: the Ed25519 key whose 32-byte seed is
    /// [`Vault::consent_receipts_seed`], derived once and kept (deriving it is most of what
    /// signing a receipt costs).
    pub fn consent_receipt_pair(
        &self,
        scope: &WorkspaceScope,
    ) -> Result<Arc<ring::signature::Ed25519KeyPair>, VaultError> {
        if let Ok(kept) = self.signers.lock()
            && let Some(pair) = kept.get(&scope.id())
        {
            return Ok(pair.clone());
        }
        let seed = self.consent_receipts_seed(scope)?;
        // Any 32 bytes are an Ed25519 seed; ring refuses only another length.
        let pair = Arc::new(
            ring::signature::Ed25519KeyPair::from_seed_unchecked(seed.as_bytes())
                .map_err(|_| OpenError)?,
        );
        if let Ok(mut kept) = self.signers.lock() {
            kept.insert(scope.id(), pair.clone());
        }
        Ok(pair)
    }

    /// The workspace's consent-receipt signing pair if it has one; never makes one. For checks
    /// against the key (an evidence pack's): a read must not leave a new key behind.
    pub fn existing_consent_receipt_pair(
        &self,
        scope: &WorkspaceScope,
    ) -> Result<Option<Arc<ring::signature::Ed25519KeyPair>>, VaultError> {
        let purpose = KeyPurpose::ConsentReceipts.as_str();
        if self.keys.by_label(scope, purpose, "ed25519")?.is_none() {
            return Ok(None);
        }
        self.consent_receipt_pair(scope).map(Some)
    }

    fn unwrap(&self, k: &WrappedKey) -> Result<SecretKey, VaultError> {
        Ok(self.master.unwrap(
            &wrap_aad(&k.id, k.workspace_id, &k.purpose, &k.label),
            &k.wrapped,
        )?)
    }

    /// The instance's key for secrets Lethe must read back (TOTP seeds, webhook signing
    /// secrets), made on first use.
    fn secrets_key(&self) -> Result<SecretKey, VaultError> {
        self.instance_key("secrets", "instance")
    }

    /// The instance's outbox key (made on first use): it seals the mail that belongs to no
    /// workspace, i.e. staff mail such as password reset links. The workspace counterpart is
    /// [`Vault::outbox_key`].
    pub fn instance_outbox_key(&self) -> Result<SecretKey, VaultError> {
        self.instance_key(KeyPurpose::Outbox.as_str(), "instance")
    }

    /// An instance key, made on first use. Workspace id 0 in the key store: no workspace has it.
    fn instance_key(&self, purpose: &str, label: &str) -> Result<SecretKey, VaultError> {
        if let Some(k) = self.keys.instance_by_label(purpose, label)? {
            return self.unwrap(&k);
        }
        let id = uuid::Uuid::new_v4().to_string();
        let key = SecretKey::generate();
        let wrapped = self.master.wrap(&wrap_aad(&id, 0, purpose, label), &key)?;
        let made = self.keys.insert_instance(&WrappedKey {
            id,
            workspace_id: 0,
            purpose: purpose.into(),
            label: label.into(),
            wrapped,
            master_id: self.master.id().to_owned(),
        });
        match made {
            Ok(()) => Ok(key),
            // Made by another thread a moment ago: use that one.
            Err(StoreError::Conflict(_)) => {
                let k = self
                    .keys
                    .instance_by_label(purpose, label)?
                    .ok_or_else(|| StoreError::NotFound(format!("{purpose} key")))?;
                self.unwrap(&k)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Seals a secret for a text column: `sealed:v1:<base64>`. `context` (e.g. `totp/3`) is
    /// bound in, so a sealed value cannot be copied to another row.
    pub fn seal_secret(&self, context: &str, secret: &str) -> Result<String, VaultError> {
        use base64::Engine;
        let sealed = self
            .secrets_key()?
            .seal(&secret_aad(context), secret.as_bytes())?;
        Ok(format!(
            "{SEALED_PREFIX}{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(sealed)
        ))
    }

    /// Opens what [`Vault::seal_secret`] made. A value stored before secrets were sealed
    /// passes through unchanged (start-up seals those).
    pub fn open_secret(&self, context: &str, stored: &str) -> Result<String, VaultError> {
        use base64::Engine;
        let Some(encoded) = stored.strip_prefix(SEALED_PREFIX) else {
            return Ok(stored.to_owned());
        };
        let sealed = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(encoded)
            .map_err(|_| OpenError)?;
        let plain = self.secrets_key()?.open(&secret_aad(context), &sealed)?;
        String::from_utf8(plain).map_err(|_| OpenError.into())
    }

    /// Re-wraps every data key under `new`, in one transaction; records are not touched.
    pub fn rewrap_all(&self, new: &MasterKey) -> Result<usize, VaultError> {
        self.keys.rewrap_all(|k| {
            let key = self.unwrap(k)?;
            let wrapped = new.wrap(&wrap_aad(&k.id, k.workspace_id, &k.purpose, &k.label), &key)?;
            Ok::<_, VaultError>((wrapped, new.id().to_owned()))
        })
    }
}

/// Data keys loaded for a set of records, by id.
#[derive(Default)]
pub struct KeyRing(HashMap<String, SecretKey>);

impl KeyRing {
    /// The key a record's fields are sealed under: its owner's key, derived with its period's
    /// key when it has one. None when either was destroyed.
    pub fn record_key(&self, key_id: &str, period_key_id: Option<&str>) -> Option<SecretKey> {
        let base = self.0.get(key_id)?;
        match period_key_id {
            None => Some(base.clone()),
            Some(p) => Some(base.derive_with(self.0.get(p)?)),
        }
    }

    pub fn get(&self, id: &str) -> Option<&SecretKey> {
        self.0.get(id)
    }
}

/// A rotation writes `master.key.next`, re-wraps every key, then renames the file over
/// `master.key`. If it stopped before the rename, the key store says which key is current.
fn finish_rotation(
    data_dir: &Path,
    keys: &KeyStore,
    current: MasterKey,
    source: &master_key::Source,
) -> Result<MasterKey, VaultError> {
    let next_path = data_dir.join(master_key::NEXT_FILE_NAME);
    let Ok(text) = std::fs::read_to_string(&next_path) else {
        return Ok(current);
    };
    let io = |source| VaultError::Io {
        path: next_path.display().to_string(),
        source,
    };
    let next = MasterKey::parse(&text).map_err(|m| VaultError::MasterKey {
        source_name: next_path.display().to_string(),
        message: m,
    })?;
    let ids = keys.master_ids()?;
    if !ids.is_empty() && ids.iter().all(|id| id == next.id()) {
        if let master_key::Source::File(path) = source {
            std::fs::rename(&next_path, path).map_err(io)?;
            tracing::info!("finished an interrupted master key rotation");
        }
        Ok(next)
    } else {
        // The re-wrap never committed: the new key was never used.
        std::fs::remove_file(&next_path).map_err(io)?;
        Ok(current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> WorkspaceScope {
        crate::store::WorkspaceScope::for_tests(1)
    }

    #[test]
    fn keys_survive_a_reopen_and_rotation_and_are_gone_once_destroyed() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open(dir.path(), None).unwrap();
        let (id, key) = vault
            .create_key(&scope(), KeyPurpose::Subject, "a")
            .unwrap();
        let sealed = key.seal(b"r1", b"hello").unwrap();

        let new = MasterKey::generate();
        assert_eq!(vault.rewrap_all(&new).unwrap(), 1);
        let reopened = Vault::open(dir.path(), Some(&Secret::new(new.to_hex()))).unwrap();
        let keys = reopened.keys(&scope(), &[id.as_str()]).unwrap();
        assert_eq!(keys[&id].open(b"r1", &sealed).unwrap(), b"hello");

        // The old file key no longer matches the store.
        let err = Vault::open(dir.path(), None).err().unwrap();
        assert!(matches!(err, VaultError::WrongMasterKey { .. }), "{err}");

        assert!(
            reopened
                .destroy_key(&scope(), &id, DestroyReason::SubjectErased)
                .unwrap()
        );
        assert!(reopened.keys(&scope(), &[id.as_str()]).unwrap().is_empty());
    }

    #[test]
    fn a_rotation_cut_short_before_the_rename_is_finished_at_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open(dir.path(), None).unwrap();
        vault
            .create_key(&scope(), KeyPurpose::Subject, "a")
            .unwrap();
        let next = MasterKey::generate();
        master_key::write_new(&dir.path().join(master_key::NEXT_FILE_NAME), &next).unwrap();
        vault.rewrap_all(&next).unwrap();
        drop(vault);
        let vault = Vault::open(dir.path(), None).unwrap();
        assert_eq!(vault.master_id(), next.id());
        assert!(!dir.path().join(master_key::NEXT_FILE_NAME).exists());
    }

    #[test]
    fn secrets_are_sealed_bound_to_their_context_and_survive_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open(dir.path(), None).unwrap();
        let sealed = vault.seal_secret("totp/1", "JBSWY3DPEHPK3PXP").unwrap();
        assert!(is_sealed(&sealed) && !sealed.contains("JBSWY3DP"));
        assert_eq!(
            vault.open_secret("totp/1", &sealed).unwrap(),
            "JBSWY3DPEHPK3PXP"
        );
        assert!(
            vault.open_secret("totp/2", &sealed).is_err(),
            "moved to another row"
        );
        assert_eq!(vault.open_secret("totp/1", "legacy").unwrap(), "legacy");
        let new = MasterKey::generate();
        vault.rewrap_all(&new).unwrap();
        let reopened = Vault::open(dir.path(), Some(&Secret::new(new.to_hex()))).unwrap();
        assert_eq!(
            reopened.open_secret("totp/1", &sealed).unwrap(),
            "JBSWY3DPEHPK3PXP"
        );
    }

    #[test]
    fn shared_keys_are_made_once_per_label_and_blind_indexes_are_stable() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open(dir.path(), None).unwrap();
        let (a, _) = vault
            .shared_key(&scope(), KeyPurpose::Hold, "billing:2030-01-01")
            .unwrap();
        let (b, _) = vault
            .shared_key(&scope(), KeyPurpose::Hold, "billing:2030-01-01")
            .unwrap();
        assert_eq!(a, b);
        let i1 = vault.email_index(&scope(), "a@example.com").unwrap();
        assert_eq!(i1, vault.email_index(&scope(), "a@example.com").unwrap());
        assert_ne!(i1, vault.email_index(&scope(), "b@example.com").unwrap());
    }
}
