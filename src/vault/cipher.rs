//! AES-256-GCM sealing with a fresh random 96-bit nonce per message, stored in front of the
//! ciphertext. Random nonces are safe here: a data key seals at most one person's records, far
//! below the 2^32 messages per key that random 96-bit nonces allow.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use hmac::Mac;
use rand::RngExt;
use sha2::Sha256;
use zeroize::Zeroize;

const NONCE_LEN: usize = 12;

/// A 256-bit key, zeroed when dropped and never printed.
#[derive(Clone)]
pub struct SecretKey([u8; 32]);

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey([redacted])")
    }
}

/// Opening failed: wrong key, wrong associated data, or tampered bytes (GCM cannot tell which).
#[derive(Debug, thiserror::Error)]
#[error("the sealed value could not be opened (wrong key, or the bytes were altered)")]
pub struct OpenError;

/// Sealing failed (AES-GCM refuses plaintexts over 64 GiB). An error, never an empty or partial
/// ciphertext that would be stored as if it held the value.
#[derive(Debug, thiserror::Error)]
#[error("a value could not be sealed")]
pub struct SealError;

impl SecretKey {
    pub fn generate() -> SecretKey {
        let mut k = [0u8; 32];
        rand::rng().fill(&mut k);
        SecretKey(k)
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<SecretKey> {
        let k: [u8; 32] = bytes.try_into().ok()?;
        Some(SecretKey(k))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// `nonce || ciphertext || tag`, with `aad` authenticated but not stored.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(self.0));
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill(&mut nonce);
        let sealed = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| SealError)?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        if sealed.len() < NONCE_LEN + 16 {
            return Err(OpenError);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| OpenError)?;
        let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(self.0));
        cipher
            .decrypt(&Nonce::from(nonce), Payload { msg: body, aad })
            .map_err(|_| OpenError)
    }

    /// The key of a record sealed under two keys: this one (its person's, or the workspace's) and
    /// its period's. HKDF-SHA256 with the period key as salt; losing either loses the result.
    pub fn derive_with(&self, period: &SecretKey) -> SecretKey {
        let hkdf = hkdf::Hkdf::<Sha256>::new(Some(&period.0), &self.0);
        let mut okm = [0u8; 32];
        // 32 bytes is far below HKDF-SHA256's limit of 8160, so expansion cannot fail.
        let _ = hkdf.expand(b"lethe/record-key/v1", &mut okm);
        SecretKey(okm)
    }

    /// HMAC-SHA256 of `data` under this key (blind indexes, key check values).
    pub fn mac(&self, data: &[u8]) -> Vec<u8> {
        let mut mac = crate::crypto::hmac_sha256(&self.0);
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_associated_data() {
        let key = SecretKey::generate();
        let sealed = key.seal(b"record:1", b"hello").unwrap();
        assert_eq!(key.open(b"record:1", &sealed).unwrap(), b"hello");
        assert!(
            key.open(b"record:2", &sealed).is_err(),
            "moved to another id"
        );
        assert!(SecretKey::generate().open(b"record:1", &sealed).is_err());
        let mut tampered = sealed.clone();
        tampered[20] ^= 1;
        assert!(key.open(b"record:1", &tampered).is_err());
        assert!(key.open(b"record:1", &sealed[..10]).is_err());
    }

    #[test]
    fn each_seal_uses_a_fresh_nonce() {
        let key = SecretKey::generate();
        assert_ne!(
            key.seal(b"", b"same").unwrap(),
            key.seal(b"", b"same").unwrap()
        );
    }

    #[test]
    fn a_derived_key_needs_both_keys() {
        let (person, period) = (SecretKey::generate(), SecretKey::generate());
        let derived = person.derive_with(&period);
        assert_eq!(derived.0, person.derive_with(&period).0, "deterministic");
        let sealed = derived.seal(b"r", b"hello").unwrap();
        assert!(person.open(b"r", &sealed).is_err());
        assert!(period.open(b"r", &sealed).is_err());
        assert!(period.derive_with(&person).open(b"r", &sealed).is_err());
        assert!(
            person
                .derive_with(&SecretKey::generate())
                .open(b"r", &sealed)
                .is_err()
        );
    }

    #[test]
    fn keys_are_not_printed() {
        assert_eq!(
            format!("{:?}", SecretKey::generate()),
            "SecretKey([redacted])"
        );
    }
}
