//! Receipts signed in batches: one Ed25519 signature over the root of a Merkle tree of several
//! receipts, and in each receipt the proof (`BatchProof`: size, index, path) that ties it to that
//! root.
//!
//! Why: signing is a third of what a consent decision costs the server. When decisions arrive
//! faster than one signature each can keep up with, the ones waiting together are signed together
//! and each receipt still proves itself alone: its canonical bytes, its index, the batch's size and
//! the sibling hashes lead to the root, and the root (with the size) is what the workspace's key
//! signed. A receipt signed alone keeps the plain form (the signature over its own bytes).
//!
//! The tree is RFC 9162's (Certificate Transparency 2.0, §2.1): SHA-256, a leaf hashed as
//! `0x00 ‖ bytes`, an inner node as `0x01 ‖ left ‖ right`, split at the largest power of two
//! below the size; inclusion is checked with its algorithm (§2.1.3.2). What is signed is the text
//! [`signed_head`]: `lethe-consent-batch/1 <size> <root, lower-case hex>`, which no receipt's
//! canonical bytes (a JSON object) can be mistaken for.

use super::ValidationErrors;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

pub type Hash = [u8; 32];

/// What the signature of a batch covers, before the size and root.
pub const HEAD_PREFIX: &str = "lethe-consent-batch/1";

/// The most receipts one signature covers; a path then has at most 10 hashes.
pub const MAX_BATCH: usize = 1024;

/// The hash of a receipt's canonical bytes as a leaf.
pub fn leaf_hash(canonical: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(canonical);
    h.finalize().into()
}

fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The largest power of two strictly below `n` (n ≥ 2).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// The root of the tree over `leaves` (at least one).
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => Sha256::digest([]).into(),
        [one] => *one,
        _ => {
            let k = split(leaves.len());
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The sibling hashes from leaf `index` up to the root, nearest first (RFC 9162 §2.1.3.1).
pub fn inclusion_path(leaves: &[Hash], index: usize) -> Vec<Hash> {
    if leaves.len() <= 1 || index >= leaves.len() {
        return Vec::new();
    }
    let k = split(leaves.len());
    let (mut path, sibling) = if index < k {
        (inclusion_path(&leaves[..k], index), root(&leaves[k..]))
    } else {
        (inclusion_path(&leaves[k..], index - k), root(&leaves[..k]))
    };
    path.push(sibling);
    path
}

/// The root that `leaf` at `index` of a tree of `size` leaves leads to along `path`; `None` when
/// the path cannot belong to such a tree (RFC 9162 §2.1.3.2).
pub fn root_from_path(leaf: &Hash, index: u64, size: u64, path: &[Hash]) -> Option<Hash> {
    if index >= size {
        return None;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if s == 0 {
            return None;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    (s == 0).then_some(r)
}

/// The bytes a batch's signature covers.
pub fn signed_head(size: u64, root: &Hash) -> Vec<u8> {
    format!("{HEAD_PREFIX} {size} {}", hex::encode(root)).into_bytes()
}

/// Where a receipt is in the batch its signature covers: the signature is over `lethe-consent-batch/1
/// <size> <root in hex>`, and the receipt's leaf (SHA-256 of `0x00` and its canonical bytes)
/// leads to that root through `path` (RFC 9162 §2.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchProof {
    /// How many receipts the signature covers (2 to 1024).
    pub size: u64,
    /// This receipt's place among them, from 0.
    pub index: u64,
    /// The sibling hashes from the receipt's leaf up to the root, nearest first, each 64
    /// lower-case hex digits.
    pub path: Vec<String>,
}

/// What a receipt's signature covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signed {
    /// The receipt's own canonical bytes.
    Alone,
    /// The head of a batch: the receipt is leaf `index` of `size`, `path` leads to the root.
    Batch {
        size: u64,
        index: u64,
        path: Vec<Hash>,
    },
}

/// Reads a receipt's batch proof: what its signature covers, or an error naming the field for a
/// proof that cannot be one.
pub fn read_proof(proof: &BatchProof) -> Result<Signed, ValidationErrors> {
    if proof.size < 2 || proof.size > MAX_BATCH as u64 {
        return Err(ValidationErrors::single(
            "signature.batch.size",
            format!("a batch holds 2 to {MAX_BATCH} receipts"),
        ));
    }
    if proof.index >= proof.size {
        return Err(ValidationErrors::single(
            "signature.batch.index",
            "must be below the batch's size",
        ));
    }
    // A tree of 1024 leaves is 10 levels deep.
    if proof.path.len() > 10 {
        return Err(ValidationErrors::single(
            "signature.batch.path",
            "a batch's path has at most 10 hashes",
        ));
    }
    let path = proof
        .path
        .iter()
        .map(|h| {
            let lower = h
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            lower
                .then(|| hex::decode(h).ok())
                .flatten()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| {
            ValidationErrors::single(
                "signature.batch.path",
                "each hash is 64 lower-case hex digits",
            )
        })?;
    Ok(Signed::Batch {
        size: proof.size,
        index: proof.index,
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(format!("{{\"receipt\":{i}}}").as_bytes()))
            .collect()
    }

    /// RFC 9162's definition read literally, as the reference for `root`.
    fn reference_root(d: &[Hash]) -> Hash {
        if d.len() == 1 {
            return d[0];
        }
        let mut k = 1;
        while k * 2 < d.len() {
            k *= 2;
        }
        let mut h = Sha256::new();
        h.update([1u8]);
        h.update(reference_root(&d[..k]));
        h.update(reference_root(&d[k..]));
        h.finalize().into()
    }

    #[test]
    fn every_leaf_of_every_size_leads_to_the_root_and_nothing_else_does() {
        for n in 1..=40 {
            let l = leaves(n);
            let r = root(&l);
            assert_eq!(r, reference_root(&l), "size {n}");
            for i in 0..n {
                let path = inclusion_path(&l, i);
                let (i64_, n64) = (i as u64, n as u64);
                assert_eq!(root_from_path(&l[i], i64_, n64, &path), Some(r), "{i}/{n}");
                // Another leaf, another index or another size does not lead there.
                let other = leaf_hash(b"{\"receipt\":\"forged\"}");
                assert_ne!(root_from_path(&other, i64_, n64, &path), Some(r));
                if n > 1 {
                    let j = (i + 1) % n;
                    assert_ne!(
                        root_from_path(&l[i], j as u64, n64, &path),
                        Some(r),
                        "{i}/{n}"
                    );
                }
                // Another size may fold the same way (0 of 3 and 0 of 4 take two siblings);
                // that is why the signed head names the size.
                // Every sibling is needed, and none may be changed.
                for k in 0..path.len() {
                    let mut bent = path.clone();
                    bent[k][0] ^= 1;
                    assert_ne!(root_from_path(&l[i], i64_, n64, &bent), Some(r));
                    let mut short = path.clone();
                    short.remove(k);
                    assert_ne!(root_from_path(&l[i], i64_, n64, &short), Some(r));
                }
            }
        }
    }

    #[test]
    fn a_lone_receipt_is_its_own_root_and_an_index_past_the_end_leads_nowhere() {
        let l = leaves(1);
        assert_eq!(root(&l), l[0]);
        assert_eq!(root_from_path(&l[0], 0, 1, &[]), Some(l[0]));
        assert_eq!(root_from_path(&l[0], 1, 1, &[]), None);
        assert_eq!(root_from_path(&l[0], 0, 0, &[]), None);
    }

    #[test]
    fn the_signed_head_names_the_format_the_size_and_the_root() {
        let head = signed_head(7, &[0xab; 32]);
        assert_eq!(
            String::from_utf8(head).unwrap(),
            format!("lethe-consent-batch/1 7 {}", "ab".repeat(32))
        );
    }

    proptest! {
        #[test]
        fn a_path_of_a_full_batch_is_at_most_ten_hashes(i in 0usize..MAX_BATCH) {
            let l = leaves(MAX_BATCH);
            let path = inclusion_path(&l, i);
            prop_assert!(path.len() <= 10);
            prop_assert_eq!(
                root_from_path(&l[i], i as u64, MAX_BATCH as u64, &path),
                Some(root(&l))
            );
        }
    }
}
