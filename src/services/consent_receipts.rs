//! Signed consent receipts: issuing one for a recorded decision, checking one a person holds, and
//! the public key anyone can check them with.
//!
//! Each workspace signs with its own Ed25519 key. Its 32-byte seed is a data key of the vault
//! (`KeyPurpose::ConsentReceipts`, label `ed25519`, made on first use): wrapped under the master
//! key in `keys.db` like every other key, never stored, logged or shown in the clear, re-wrapped
//! by a master key rotation and never destroyed while the workspace exists, so a receipt stays
//! verifiable for as long as the workspace does. A seed rather than a PKCS#8 document: RFC 8032
//! defines the private key as these 32 bytes, so the vault's ordinary data key is the whole
//! secret and needs no second storage format; `ring` derives the key pair from it on each use.
//!
//! A receipt is checked against the caller's workspace's key only: another workspace's receipt,
//! even a genuine one, is not valid here (`unknown_key`). Verifying stores and logs nothing of
//! the receipt.

use crate::domain::consent_receipt::{
    self, PUBLIC_KEY_LEN, ReceiptBody, ReceiptSignature, SignatureAlg, SignedReceipt,
};
use crate::domain::receipt_batch::{self, BatchProof};
use crate::error::AppError;
use crate::store::WorkspaceScope;
use crate::vault::Vault;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde::Serialize;
use utoipa::ToSchema;

/// Whether a receipt holds, and why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Verification {
    /// True: signed by this workspace's key, and not changed since.
    pub valid: bool,
    /// Why not, when `valid` is false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<InvalidReason>,
    /// The receipt's id, as the receipt states it.
    pub receipt_id: uuid::Uuid,
    /// The id of this workspace's signing key, the one the receipt was checked against.
    pub key_id: String,
}

/// Why a well-formed receipt is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvalidReason {
    /// It names a key that is not this workspace's: another workspace's receipt, or a made-up
    /// key id.
    UnknownKey,
    /// The signature does not match the receipt: a field was changed after signing (or the
    /// signature was).
    BadSignature,
}

/// The public half of a workspace's receipt key, as the privacy center publishes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicKeyView {
    pub alg: SignatureAlg,
    /// What receipts name in `signature.key_id`.
    pub key_id: String,
    /// The raw 32-byte public key, base64url without padding.
    pub public_key: String,
    /// The same key as a PEM SubjectPublicKeyInfo (RFC 8410).
    pub public_key_pem: String,
    /// The same key as a JSON Web Key (RFC 8037).
    pub jwk: Jwk,
}

/// An Ed25519 public key as a JSON Web Key (RFC 8037, `OKP`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Jwk {
    pub kty: &'static str,
    pub crv: &'static str,
    pub x: String,
    pub kid: String,
    pub alg: &'static str,
    #[serde(rename = "use")]
    pub use_: &'static str,
}

/// The workspace's signing key pair, derived from the vault's seed.
pub(super) struct SigningKey {
    pair: std::sync::Arc<Ed25519KeyPair>,
    key_id: String,
}

impl SigningKey {
    /// The same key pair: compared by the whole public key, not the id (a 64-bit prefix).
    pub(super) fn is(&self, other: &SigningKey) -> bool {
        self.pair.public_key().as_ref() == other.pair.public_key().as_ref()
    }

    /// A receipt's `signature` member for `value`, made with this key.
    fn signature(&self, value: &[u8], batch: Option<BatchProof>) -> ReceiptSignature {
        ReceiptSignature {
            alg: SignatureAlg::Ed25519,
            key_id: self.key_id.clone(),
            value: consent_receipt::encode_signature(value),
            batch,
        }
    }
}

pub(super) fn signing_key(vault: &Vault, scope: &WorkspaceScope) -> Result<SigningKey, AppError> {
    let pair = vault.consent_receipt_pair(scope)?;
    let key_id = consent_receipt::key_id(pair.public_key().as_ref());
    Ok(SigningKey { pair, key_id })
}

/// A body ready to sign: checked (422 naming the fields otherwise), its canonical bytes, and the
/// workspace's key (made on first use).
pub(super) fn to_sign(
    vault: &Vault,
    scope: &WorkspaceScope,
    body: &ReceiptBody,
) -> Result<(SigningKey, Vec<u8>), AppError> {
    body.validate()?;
    let bytes = body.canonical_bytes().map_err(AppError::internal)?;
    Ok((signing_key(vault, scope)?, bytes))
}

/// Signs a decision's receipt with the workspace's key (made on first use). The body must be of
/// this format and complete (422 naming the fields otherwise); the consent service calls this
/// when it records a decision and hands the receipt to the person.
pub fn issue(
    vault: &Vault,
    scope: &WorkspaceScope,
    body: ReceiptBody,
) -> Result<SignedReceipt, AppError> {
    let (key, bytes) = to_sign(vault, scope, &body)?;
    Ok(SignedReceipt {
        receipt: body,
        signature: key.signature(key.pair.sign(&bytes).as_ref(), None),
    })
}

/// Signs receipts (their canonical bytes) with one signature: a lone receipt's over its own
/// bytes, several receipts' over the head of their Merkle tree, each then with its path. One
/// signature per receipt, in order.
pub(super) fn sign_together(key: &SigningKey, canonical: &[&[u8]]) -> Vec<ReceiptSignature> {
    if let [alone] = canonical {
        return vec![key.signature(key.pair.sign(alone).as_ref(), None)];
    }
    let leaves: Vec<_> = canonical
        .iter()
        .map(|c| receipt_batch::leaf_hash(c))
        .collect();
    let size = leaves.len() as u64;
    let head = receipt_batch::signed_head(size, &receipt_batch::root(&leaves));
    let value = key.pair.sign(&head);
    (0..leaves.len())
        .map(|index| {
            let path = receipt_batch::inclusion_path(&leaves, index)
                .iter()
                .map(hex::encode)
                .collect();
            let proof = BatchProof {
                size,
                index: index as u64,
                path,
            };
            key.signature(value.as_ref(), Some(proof))
        })
        .collect()
}

/// Checks a receipt (as JSON, exactly as the person holds it) against the workspace's key.
/// Something that is not a receipt of this format is a validation error (422, naming the field);
/// a receipt is `valid`, or not with the reason: `unknown_key` (not this workspace's key),
/// `bad_signature` (changed since it was signed).
pub fn verify(
    vault: &Vault,
    scope: &WorkspaceScope,
    receipt: &serde_json::Value,
) -> Result<Verification, AppError> {
    let read = consent_receipt::read(receipt)?;
    let key = signing_key(vault, scope)?;
    let receipt_id = read.receipt.receipt.receipt_id;
    let reason = if !crate::crypto::constant_time_eq(
        read.receipt.signature.key_id.as_bytes(),
        key.key_id.as_bytes(),
    ) {
        Some(InvalidReason::UnknownKey)
    } else {
        let holds = read.message().is_some_and(|message| {
            UnparsedPublicKey::new(&ED25519, key.pair.public_key().as_ref())
                .verify(&message, &read.signature)
                .is_ok()
        });
        (!holds).then_some(InvalidReason::BadSignature)
    };
    Ok(Verification {
        valid: reason.is_none(),
        reason,
        receipt_id,
        key_id: key.key_id,
    })
}

/// The workspace's public key (made on first use), for the privacy center and offline checks.
pub fn public_key(vault: &Vault, scope: &WorkspaceScope) -> Result<PublicKeyView, AppError> {
    let key = signing_key(vault, scope)?;
    let raw: [u8; PUBLIC_KEY_LEN] = key.pair.public_key().as_ref().try_into().map_err(|_| {
        AppError::internal(anyhow::anyhow!("an Ed25519 public key of another length"))
    })?;
    let x = consent_receipt::encode_public_key(&raw);
    Ok(PublicKeyView {
        alg: SignatureAlg::Ed25519,
        key_id: key.key_id.clone(),
        public_key: x.clone(),
        public_key_pem: consent_receipt::public_key_pem(&raw),
        jwk: Jwk {
            kty: "OKP",
            crv: "Ed25519",
            x,
            kid: key.key_id,
            alg: "EdDSA",
            use_: "sig",
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::consent_receipt::tests::body;
    use serde_json::{Value, json};

    fn scope(id: i64) -> WorkspaceScope {
        WorkspaceScope::for_tests(id)
    }

    fn issued(vault: &Vault, ws: i64) -> Value {
        serde_json::to_value(issue(vault, &scope(ws), body()).unwrap()).unwrap()
    }

    fn reason(vault: &Vault, ws: i64, receipt: &Value) -> Option<InvalidReason> {
        let v = verify(vault, &scope(ws), receipt).unwrap();
        assert_eq!(v.valid, v.reason.is_none());
        v.reason
    }

    #[test]
    fn a_receipt_verifies_as_issued_and_after_a_round_trip_through_text() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open(dir.path(), None).unwrap();
        let receipt = issued(&vault, 1);
        let v = verify(&vault, &scope(1), &receipt).unwrap();
        assert!(v.valid, "{v:?}");
        assert_eq!(v.key_id, public_key(&vault, &scope(1)).unwrap().key_id);
        assert_eq!(v.receipt_id, body().receipt_id);
        // Pretty-printed, keys in another order: the same receipt.
        let text = serde_json::to_string_pretty(&receipt).unwrap();
        let reordered: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(reason(&vault, 1, &reordered), None);
        // The key survives a reopen (and is the same one).
        drop(vault);
        let vault = Vault::open(dir.path(), None).unwrap();
        assert_eq!(reason(&vault, 1, &receipt), None);
    }

    #[test]
    fn any_changed_field_breaks_the_signature() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open(dir.path(), None).unwrap();
        let receipt = issued(&vault, 1);
        let changes: Vec<(&str, Value)> = vec![
            (
                "/receipt/receipt_id",
                json!("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c"),
            ),
            ("/receipt/issued_at", json!("2026-11-27T07:30:34.123456Z")),
            ("/receipt/jurisdiction", json!("US-CA")),
            ("/receipt/controller/name", json!("Someone else")),
            ("/receipt/controller/policy_version", json!(4)),
            ("/receipt/subject/id", json!("v_other")),
            ("/receipt/subject/kind", json!("external_id")),
            ("/receipt/method", json!("api")),
            ("/receipt/banner_version", Value::Null),
            ("/receipt/consents/0/granted", json!(false)),
            ("/receipt/consents/0/purpose", json!("analytics")),
            ("/receipt/consents/0/reason", json!("gpc")),
            ("/receipt/record_id", json!("another")),
        ];
        for (path, value) in changes {
            let mut tampered = receipt.clone();
            *tampered.pointer_mut(path).unwrap() = value;
            assert_eq!(
                reason(&vault, 1, &tampered),
                Some(InvalidReason::BadSignature),
                "{path}"
            );
        }
        // Where a field stands does not matter (its key orders it); that it stands does: a
        // dropped null is a change too, since what was signed is the JSON as issued.
        let mut moved = receipt.clone();
        let fields = moved["receipt"].as_object_mut().unwrap();
        let version = fields.remove("banner_version").unwrap();
        fields.insert("banner_version".into(), version);
        assert_eq!(reason(&vault, 1, &moved), None);
        let mut dropped = receipt.clone();
        dropped["receipt"]["consents"][0]
            .as_object_mut()
            .unwrap()
            .remove("reason");
        assert_eq!(
            reason(&vault, 1, &dropped),
            Some(InvalidReason::BadSignature)
        );
    }

    #[test]
    fn another_workspaces_key_never_verifies_a_receipt() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open(dir.path(), None).unwrap();
        let receipt = issued(&vault, 1);
        let (a, b) = (
            public_key(&vault, &scope(1)).unwrap(),
            public_key(&vault, &scope(2)).unwrap(),
        );
        assert_ne!(a.key_id, b.key_id);
        assert_eq!(reason(&vault, 2, &receipt), Some(InvalidReason::UnknownKey));
        // Claiming the other workspace's key id does not help: the signature is not its.
        let mut claimed = receipt.clone();
        claimed["signature"]["key_id"] = json!(b.key_id);
        assert_eq!(
            reason(&vault, 2, &claimed),
            Some(InvalidReason::BadSignature)
        );
    }

    #[test]
    fn the_public_key_verifies_outside_lethe_in_its_published_forms() {
        use base64::Engine;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open(dir.path(), None).unwrap();
        let receipt = issued(&vault, 1);
        let key = public_key(&vault, &scope(1)).unwrap();
        let raw = URL_SAFE_NO_PAD.decode(&key.public_key).unwrap();
        assert_eq!(key.key_id, consent_receipt::key_id(&raw));
        let signed = consent_receipt::canonical_json(&receipt["receipt"]).unwrap();
        let sig = URL_SAFE_NO_PAD
            .decode(receipt["signature"]["value"].as_str().unwrap())
            .unwrap();
        UnparsedPublicKey::new(&ED25519, &raw)
            .verify(&signed, &sig)
            .unwrap();
        assert!(key.public_key_pem.contains("BEGIN PUBLIC KEY"));
        assert_eq!(key.jwk.x, key.public_key);
    }

    /// `n` receipts signed together with workspace 1's key, as JSON.
    fn signed_together(vault: &Vault, n: usize) -> Vec<Value> {
        let bodies: Vec<ReceiptBody> = (0..n)
            .map(|i| {
                let mut b = body();
                b.receipt_id =
                    uuid::Uuid::from_u128(0x0193a1b2_c3d4_7e5f_8a9b_000000000000 + i as u128);
                b.record_id = format!("record-{i}");
                b
            })
            .collect();
        let bytes: Vec<Vec<u8>> = bodies
            .iter()
            .map(|b| b.canonical_bytes().unwrap())
            .collect();
        let slices: Vec<&[u8]> = bytes.iter().map(Vec::as_slice).collect();
        let key = signing_key(vault, &scope(1)).unwrap();
        let signatures = sign_together(&key, &slices);
        assert_eq!(signatures.len(), n);
        bodies
            .into_iter()
            .zip(signatures)
            .map(|(receipt, signature)| {
                serde_json::to_value(SignedReceipt { receipt, signature }).unwrap()
            })
            .collect()
    }

    #[test]
    fn receipts_signed_together_share_one_signature_and_each_verifies_alone() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open(dir.path(), None).unwrap();
        for n in [2, 3, 5, 8, 13] {
            let receipts = signed_together(&vault, n);
            for (i, r) in receipts.iter().enumerate() {
                assert_eq!(reason(&vault, 1, r), None, "{i} of {n}");
                assert_eq!(r["signature"]["value"], receipts[0]["signature"]["value"]);
                assert_eq!(r["signature"]["batch"]["size"], n);
                assert_eq!(r["signature"]["batch"]["index"], i);
                // Not another workspace's.
                assert_eq!(reason(&vault, 2, r), Some(InvalidReason::UnknownKey));
            }
        }
        // A lone receipt keeps the plain form.
        let alone = signed_together(&vault, 1);
        assert!(alone[0]["signature"].get("batch").is_none());
        assert_eq!(reason(&vault, 1, &alone[0]), None);
    }

    #[test]
    fn a_receipt_of_a_batch_does_not_verify_once_changed_or_moved() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open(dir.path(), None).unwrap();
        let receipts = signed_together(&vault, 5);
        let bad = |r: &Value| reason(&vault, 1, r);
        let mut changed = receipts[3].clone();
        changed["receipt"]["consents"][0]["granted"] = json!(false);
        assert_eq!(bad(&changed), Some(InvalidReason::BadSignature));
        // Another receipt's place, another's path, another size, a bent hash, no proof at all.
        let mut moved = receipts[3].clone();
        moved["signature"]["batch"]["index"] = json!(2);
        assert_eq!(bad(&moved), Some(InvalidReason::BadSignature));
        let mut borrowed = receipts[3].clone();
        borrowed["signature"]["batch"] = receipts[2]["signature"]["batch"].clone();
        assert_eq!(bad(&borrowed), Some(InvalidReason::BadSignature));
        let mut resized = receipts[3].clone();
        resized["signature"]["batch"]["size"] = json!(6);
        assert_eq!(bad(&resized), Some(InvalidReason::BadSignature));
        let mut bent = receipts[3].clone();
        let first = bent["signature"]["batch"]["path"][0]
            .as_str()
            .unwrap()
            .to_owned();
        let flipped = if first.starts_with('0') { "1" } else { "0" };
        bent["signature"]["batch"]["path"][0] = json!(format!("{flipped}{}", &first[1..]));
        assert_eq!(bad(&bent), Some(InvalidReason::BadSignature));
        let mut unproved = receipts[3].clone();
        unproved["signature"]
            .as_object_mut()
            .unwrap()
            .remove("batch");
        assert_eq!(bad(&unproved), Some(InvalidReason::BadSignature));
        // A proof that cannot be one is not a receipt of this format: 422 naming the field.
        for (field, value) in [
            ("size", json!(1)),
            ("size", json!(1025)),
            ("index", json!(5)),
            ("path", json!(["XYZ"])),
            ("path", json!([first.to_uppercase()])),
        ] {
            let mut malformed = receipts[3].clone();
            malformed["signature"]["batch"][field] = value;
            let err = verify(&vault, &scope(1), &malformed).unwrap_err();
            assert!(
                err.to_string()
                    .contains(&format!("signature.batch.{field}")),
                "{field}: {err}"
            );
        }
    }

    /// What the documentation tells a person to do, done with plain SHA-256 and the published
    /// key: the leaf, its path to the root, the signed head.
    #[test]
    fn a_receipt_of_a_batch_verifies_outside_lethe() {
        use base64::Engine;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use sha2::{Digest, Sha256};
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open(dir.path(), None).unwrap();
        let receipts = signed_together(&vault, 3);
        let r = &receipts[2];
        let h = |parts: &[&[u8]]| -> Vec<u8> {
            let mut d = Sha256::new();
            for p in parts {
                d.update(p);
            }
            d.finalize().to_vec()
        };
        let canonical = |r: &Value| consent_receipt::canonical_json(&r["receipt"]).unwrap();
        // Three leaves: the root is H(1 ‖ H(1 ‖ l0 ‖ l1) ‖ l2); the third's path is [H(1 ‖ l0 ‖ l1)].
        let leaf = |r: &Value| h(&[&[0], &canonical(r)]);
        let left = h(&[&[1], &leaf(&receipts[0]), &leaf(&receipts[1])]);
        assert_eq!(r["signature"]["batch"]["path"], json!([hex::encode(&left)]));
        let root = h(&[&[1], &left, &leaf(r)]);
        let head = format!("lethe-consent-batch/1 3 {}", hex::encode(&root));
        let key = public_key(&vault, &scope(1)).unwrap();
        let raw = URL_SAFE_NO_PAD.decode(&key.public_key).unwrap();
        let sig = URL_SAFE_NO_PAD
            .decode(r["signature"]["value"].as_str().unwrap())
            .unwrap();
        UnparsedPublicKey::new(&ED25519, &raw)
            .verify(head.as_bytes(), &sig)
            .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_signer_answers_every_receipt_signed_and_counts_what_it_grouped() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open(dir.path(), None).unwrap();
        let signer = super::super::receipt_signer::ReceiptSigner::start().unwrap();
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let (signer, vault) = (signer.clone(), vault.clone());
                tokio::spawn(async move {
                    let mut b = body();
                    b.receipt_id = uuid::Uuid::now_v7();
                    // Two workspaces: each receipt with its own key.
                    signer.issue(&vault, &scope(1 + i % 2), b).await.unwrap()
                })
            })
            .collect();
        for (i, task) in tasks.into_iter().enumerate() {
            let receipt = serde_json::to_value(task.await.unwrap()).unwrap();
            assert_eq!(reason(&vault, 1 + (i as i64) % 2, &receipt), None, "{i}");
        }
        use std::sync::atomic::Ordering::Relaxed;
        assert_eq!(signer.stats.receipts.load(Relaxed), 200);
        let signatures = signer.stats.signatures.load(Relaxed);
        assert!((2..=200).contains(&signatures), "{signatures}");
    }

    #[test]
    fn an_incomplete_body_is_not_signed() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open(dir.path(), None).unwrap();
        let mut b = body();
        b.consents.clear();
        assert!(matches!(
            issue(&vault, &scope(1), b),
            Err(AppError::Validation(_))
        ));
    }
}
