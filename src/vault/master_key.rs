//! The master key: 32 bytes from `LETHE_MASTER_KEY` (64 hex characters) or from the key file
//! `master.key` in the data directory, created on first start with mode 0600. It only wraps
//! data keys; records never see it.

use super::VaultError;
use super::cipher::{OpenError, SecretKey};
use crate::config::Secret;
use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = "master.key";
/// Where `lethe keys rotate` puts the new key until every data key is re-wrapped under it.
pub const NEXT_FILE_NAME: &str = "master.key.next";

/// Where the running master key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Environment,
    File(PathBuf),
}

pub struct MasterKey {
    key: SecretKey,
    id: String,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({})", self.id)
    }
}

impl MasterKey {
    pub fn generate() -> MasterKey {
        MasterKey::new(SecretKey::generate())
    }

    fn new(key: SecretKey) -> MasterKey {
        // A key check value: names the key in the key store without revealing it.
        let id = hex::encode(&key.mac(b"lethe master key check")[..8]);
        MasterKey { key, id }
    }

    /// 64 hex characters, surrounding whitespace ignored.
    pub fn parse(text: &str) -> Result<MasterKey, String> {
        let bytes = hex::decode(text.trim())
            .ok()
            .and_then(|b| SecretKey::from_bytes(&b))
            .ok_or("must be 64 hex characters (32 bytes), e.g. from `openssl rand -hex 32`")?;
        Ok(MasterKey::new(bytes))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.key.as_bytes())
    }

    /// The key check value, e.g. `3f1c…` (16 hex characters).
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn wrap(&self, aad: &[u8], data_key: &SecretKey) -> Result<Vec<u8>, super::SealError> {
        self.key.seal(aad, data_key.as_bytes())
    }

    pub fn unwrap(&self, aad: &[u8], wrapped: &[u8]) -> Result<SecretKey, OpenError> {
        let bytes = zeroize::Zeroizing::new(self.key.open(aad, wrapped)?);
        SecretKey::from_bytes(&bytes).ok_or(OpenError)
    }
}

/// The master key from the environment, else from the key file, creating the file if the data
/// directory has none.
pub fn load_or_create(
    data_dir: &Path,
    from_env: Option<&Secret>,
) -> Result<(MasterKey, Source), VaultError> {
    if let Some(secret) = from_env {
        let key = MasterKey::parse(secret.expose()).map_err(|m| VaultError::MasterKey {
            source_name: "LETHE_MASTER_KEY".into(),
            message: m,
        })?;
        return Ok((key, Source::Environment));
    }
    let path = data_dir.join(FILE_NAME);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let key = MasterKey::parse(&text).map_err(|m| VaultError::MasterKey {
                source_name: path.display().to_string(),
                message: m,
            })?;
            Ok((key, Source::File(path)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = MasterKey::generate();
            write_new(&path, &key)?;
            tracing::info!(path = %path.display(), "created a new master key file");
            Ok((key, Source::File(path)))
        }
        Err(e) => Err(VaultError::Io {
            path: path.display().to_string(),
            source: e,
        }),
    }
}

/// Writes a key file that must not exist yet, owner-only.
pub fn write_new(path: &Path, key: &MasterKey) -> Result<(), VaultError> {
    use std::io::Write;
    let io = |source| VaultError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(io)?;
    file.write_all(format!("{}\n", key.to_hex()).as_bytes())
        .map_err(io)?;
    file.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_is_created_once_owner_only_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let (first, source) = load_or_create(dir.path(), None).unwrap();
        assert_eq!(source, Source::File(dir.path().join(FILE_NAME)));
        let (again, _) = load_or_create(dir.path(), None).unwrap();
        assert_eq!(first.id(), again.id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(FILE_NAME))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn the_environment_wins_and_bad_keys_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let hex = "11".repeat(32);
        let (key, source) = load_or_create(dir.path(), Some(&Secret::new(hex.clone()))).unwrap();
        assert_eq!(source, Source::Environment);
        assert_eq!(key.to_hex(), hex);
        assert!(!dir.path().join(FILE_NAME).exists());
        let err = load_or_create(dir.path(), Some(&Secret::new("abc"))).unwrap_err();
        assert!(err.to_string().contains("LETHE_MASTER_KEY"), "{err}");
    }

    #[test]
    fn wrapped_keys_need_the_same_master_and_label() {
        let master = MasterKey::generate();
        let data = SecretKey::generate();
        let wrapped = master.wrap(b"subject:1", &data).unwrap();
        let back = master.unwrap(b"subject:1", &wrapped).unwrap();
        assert_eq!(back.as_bytes(), data.as_bytes());
        assert!(master.unwrap(b"subject:2", &wrapped).is_err());
        assert!(
            MasterKey::generate()
                .unwrap(b"subject:1", &wrapped)
                .is_err()
        );
    }
}
