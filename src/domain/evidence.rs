//! The evidence pack an auditor is handed (issue 20): which period it covers, its manifest (every
//! member file's name, size and SHA-256, the workspace, the period and the signing key) and the
//! check of a pack as received: the manifest's Ed25519 signature, then each file against it.
//!
//! `manifest.sig` is the Ed25519 signature over the exact bytes of `manifest.json`, stored as
//! standard base64 with padding (RFC 4648 §4) on one line. The key is the workspace's consent
//! receipt key, so the public key in the manifest is the one the privacy center publishes.

use crate::domain::consent_receipt::{self, PUBLIC_KEY_LEN, SIGNATURE_LEN};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const FORMAT: &str = "lethe-evidence/1";
pub const MANIFEST: &str = "manifest.json";
pub const SIGNATURE: &str = "manifest.sig";
pub const INDEX: &str = "index.html";

/// The days a pack covers, UTC, both ends inclusive; an open end reaches to the first or the
/// last entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

impl Period {
    /// From the command line's or the console's dates (`YYYY-MM-DD`, empty for open); the error
    /// names the field.
    pub fn parse(from: Option<&str>, to: Option<&str>) -> Result<Period, (&'static str, String)> {
        let date = |field: &'static str, s: Option<&str>| match s.map(str::trim) {
            None | Some("") => Ok(None),
            Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Some)
                .map_err(|_| (field, format!("'{s}' is not a date like 2026-11-27"))),
        };
        let period = Period {
            from: date("from", from)?,
            to: date("to", to)?,
        };
        if let (Some(f), Some(t)) = (period.from, period.to)
            && f > t
        {
            return Err(("to", format!("{t} is before --from {f}")));
        }
        Ok(period)
    }

    /// The first instant of the period, if it has a start.
    pub fn start(&self) -> Option<DateTime<Utc>> {
        self.from
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc())
    }

    /// The first instant after the period (the day after `to`), if it has an end.
    pub fn end(&self) -> Option<DateTime<Utc>> {
        self.to
            .and_then(|d| d.succ_opt())
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc())
    }

    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.start().is_none_or(|s| at >= s) && self.end().is_none_or(|e| at < e)
    }

    /// Whether a `YYYY-MM-DD` day (as the store groups by) lies in the period.
    pub fn contains_day(&self, day: &str) -> bool {
        match NaiveDate::parse_from_str(day, "%Y-%m-%d") {
            Ok(d) => self.from.is_none_or(|f| d >= f) && self.to.is_none_or(|t| d <= t),
            Err(_) => false,
        }
    }

    /// `2026-01-01 to 2026-03-31`, with "the beginning" / "now" for open ends.
    pub fn label(&self) -> String {
        let from = self.from.map_or("the beginning".into(), |d| d.to_string());
        let to = self.to.map_or("now".into(), |d| d.to_string());
        format!("{from} to {to}")
    }
}

/// The workspace a pack is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackWorkspace {
    pub slug: String,
    pub name: String,
}

/// The key the manifest is signed with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKey {
    pub alg: String,
    /// As consent receipts name it (`consent_receipt::key_id`).
    pub key_id: String,
    /// The raw 32-byte public key, base64url without padding (as the privacy center shows it).
    pub public_key: String,
}

/// One member file of the pack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    pub name: String,
    pub size: u64,
    /// Lower-case hex.
    pub sha256: String,
    /// What the file holds, in a sentence (the index page shows it).
    pub holds: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub workspace: PackWorkspace,
    pub period: Period,
    /// Fixed UTC form (`domain::time::format`).
    pub generated_at: String,
    pub signing_key: SigningKey,
    /// How `manifest.sig` is made, for a reader without Lethe.
    pub signature: String,
    pub files: Vec<ManifestFile>,
}

/// A member file before it is listed: its name, what it holds, its bytes.
pub struct Member {
    pub name: String,
    pub holds: String,
    pub bytes: Vec<u8>,
}

impl Member {
    pub fn new(name: &str, holds: &str, bytes: Vec<u8>) -> Member {
        Member {
            name: name.to_owned(),
            holds: holds.to_owned(),
            bytes,
        }
    }

    pub fn listed(&self) -> ManifestFile {
        ManifestFile {
            name: self.name.clone(),
            size: self.bytes.len() as u64,
            sha256: crate::crypto::sha256_hex(&self.bytes),
            holds: self.holds.clone(),
        }
    }
}

impl Manifest {
    pub fn new(
        workspace: PackWorkspace,
        period: Period,
        generated_at: DateTime<Utc>,
        public_key: &[u8],
        members: &[Member],
    ) -> Manifest {
        Manifest {
            format: FORMAT.into(),
            workspace,
            period,
            generated_at: crate::domain::time::format(generated_at),
            signing_key: SigningKey {
                alg: "Ed25519".into(),
                key_id: consent_receipt::key_id(public_key),
                public_key: consent_receipt::encode_public_key(public_key),
            },
            signature: format!(
                "{SIGNATURE}: Ed25519 over the exact bytes of {MANIFEST}, standard base64 with \
                 padding, one line"
            ),
            files: members.iter().map(Member::listed).collect(),
        }
    }

    /// The bytes that are written and signed.
    pub fn to_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        let mut out = serde_json::to_vec_pretty(self)?;
        out.push(b'\n');
        Ok(out)
    }
}

/// The contents of `manifest.sig` for a signature.
pub fn encode_signature(signature: &[u8]) -> Vec<u8> {
    let mut out = STANDARD.encode(signature).into_bytes();
    out.push(b'\n');
    out
}

/// What checking a pack found.
#[derive(Debug, Default)]
pub struct Verdict {
    /// The manifest, when it could be read (even if it does not verify).
    pub manifest: Option<Manifest>,
    pub signature_valid: bool,
    /// The files that match the manifest.
    pub matched: Vec<String>,
    /// Each fault in a sentence naming its file; empty for a sound pack.
    pub problems: Vec<String>,
}

impl Verdict {
    pub fn is_valid(&self) -> bool {
        self.signature_valid && self.problems.is_empty()
    }

    /// The raw public key of the manifest, once the signature verified with it.
    pub fn public_key(&self) -> Option<Vec<u8>> {
        let m = self.manifest.as_ref()?;
        URL_SAFE_NO_PAD.decode(&m.signing_key.public_key).ok()
    }
}

/// Checks a pack's members (name → bytes, as unzipped): the signature over `manifest.json`
/// with the public key the manifest names, then every listed file's size and SHA-256, and that
/// nothing is missing or extra. Whether that key is the workspace's is the caller's question.
pub fn verify(members: &BTreeMap<String, Vec<u8>>) -> Verdict {
    let mut v = Verdict::default();
    let Some(manifest_bytes) = members.get(MANIFEST) else {
        v.problems.push(format!("{MANIFEST} is missing"));
        return v;
    };
    let manifest: Manifest = match serde_json::from_slice(manifest_bytes) {
        Ok(m) => m,
        Err(e) => {
            v.problems
                .push(format!("{MANIFEST} is not a manifest of this format ({e})"));
            return v;
        }
    };
    v.signature_valid = match members.get(SIGNATURE) {
        None => {
            v.problems.push(format!("{SIGNATURE} is missing"));
            false
        }
        Some(sig) => check_signature(&manifest, manifest_bytes, sig),
    };
    if members.contains_key(SIGNATURE) && !v.signature_valid {
        v.problems.push("signature does not verify".into());
    }
    if manifest.format != FORMAT {
        v.problems.push(format!(
            "{MANIFEST}: format '{}' is not {FORMAT}",
            manifest.format
        ));
    }
    for f in &manifest.files {
        match members.get(&f.name) {
            None => v.problems.push(format!("{} is missing", f.name)),
            Some(bytes) if bytes.len() as u64 != f.size => v.problems.push(format!(
                "{} differs from the manifest: {} bytes, the manifest says {}",
                f.name,
                bytes.len(),
                f.size
            )),
            Some(bytes) if crate::crypto::sha256_hex(bytes) != f.sha256 => {
                v.problems.push(format!(
                    "{} differs from the manifest: its SHA-256 is not the listed one",
                    f.name
                ))
            }
            Some(_) => v.matched.push(f.name.clone()),
        }
    }
    for name in members.keys() {
        let listed = manifest.files.iter().any(|f| &f.name == name);
        if !listed && name != MANIFEST && name != SIGNATURE {
            v.problems
                .push(format!("{name} is in the pack but not in the manifest"));
        }
    }
    v.manifest = Some(manifest);
    v
}

fn check_signature(manifest: &Manifest, signed: &[u8], sig: &[u8]) -> bool {
    let Ok(key) = URL_SAFE_NO_PAD.decode(&manifest.signing_key.public_key) else {
        return false;
    };
    let text = String::from_utf8_lossy(sig);
    let Ok(sig) = STANDARD.decode(text.trim()) else {
        return false;
    };
    if manifest.signing_key.alg != "Ed25519"
        || key.len() != PUBLIC_KEY_LEN
        || sig.len() != SIGNATURE_LEN
    {
        return false;
    }
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, &key)
        .verify(signed, &sig)
        .is_ok()
}

/// How a data subject request stood against its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineOutcome {
    /// Answered (completed or denied) by the deadline in force.
    Met,
    /// Answered after it.
    Missed,
    /// Still open, the deadline not passed.
    Open,
    /// Still open and past it.
    Overdue,
    /// Never verified, so never owed an answer (expired).
    NotApplicable,
}

/// `closed_at` is when the request was answered or expired; `answered` says whether it was
/// answered (completed, denied) rather than expired.
pub fn deadline_outcome(
    due: DateTime<Utc>,
    closed_at: Option<DateTime<Utc>>,
    answered: bool,
    now: DateTime<Utc>,
) -> DeadlineOutcome {
    match closed_at {
        Some(_) if !answered => DeadlineOutcome::NotApplicable,
        Some(at) if at <= due => DeadlineOutcome::Met,
        Some(_) => DeadlineOutcome::Missed,
        None if now > due => DeadlineOutcome::Overdue,
        None => DeadlineOutcome::Open,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{Ed25519KeyPair, KeyPair};

    fn pair() -> Ed25519KeyPair {
        Ed25519KeyPair::from_seed_unchecked(&[7u8; 32]).unwrap()
    }

    fn signed_pack() -> BTreeMap<String, Vec<u8>> {
        let key = pair();
        let members = vec![
            Member::new("a.json", "A", b"{\"a\":1}\n".to_vec()),
            Member::new("b.csv", "B", b"x,y\n1,2\n".to_vec()),
        ];
        let period = Period::parse(Some("2026-01-01"), Some("2026-03-31")).unwrap();
        let at = crate::domain::time::parse("2026-11-27T07:30:33.123456Z").unwrap();
        let manifest = Manifest::new(
            PackWorkspace {
                slug: "aulm".into(),
                name: "Aulm".into(),
            },
            period,
            at,
            key.public_key().as_ref(),
            &members,
        );
        let bytes = manifest.to_bytes().unwrap();
        let sig = encode_signature(key.sign(&bytes).as_ref());
        let mut pack: BTreeMap<String, Vec<u8>> =
            members.into_iter().map(|m| (m.name, m.bytes)).collect();
        pack.insert(MANIFEST.into(), bytes);
        pack.insert(SIGNATURE.into(), sig);
        pack
    }

    #[test]
    fn a_pack_verifies_as_made() {
        let v = verify(&signed_pack());
        assert!(v.is_valid(), "{:?}", v.problems);
        assert_eq!(v.matched, ["a.json", "b.csv"]);
        let m = v.manifest.as_ref().unwrap();
        assert_eq!(m.files[0].sha256, crate::crypto::sha256_hex(b"{\"a\":1}\n"));
        assert_eq!(m.files[1].size, 8);
        assert_eq!(m.generated_at, "2026-11-27T07:30:33.123456Z");
        assert_eq!(v.public_key().unwrap(), pair().public_key().as_ref());
    }

    #[test]
    fn a_changed_byte_names_its_file_and_keeps_the_signature() {
        let mut pack = signed_pack();
        pack.get_mut("b.csv").unwrap()[0] = b'z';
        let v = verify(&pack);
        assert!(v.signature_valid);
        assert!(!v.is_valid());
        assert_eq!(v.problems.len(), 1, "{:?}", v.problems);
        assert!(
            v.problems[0].starts_with("b.csv differs"),
            "{:?}",
            v.problems
        );
        pack.get_mut("a.json").unwrap().push(b' ');
        let v = verify(&pack);
        assert!(v.problems.iter().any(|p| p.contains("a.json differs")));
    }

    #[test]
    fn extra_and_missing_files_are_named() {
        let mut pack = signed_pack();
        pack.insert("extra.txt".into(), b"hi".to_vec());
        pack.remove("a.json");
        let v = verify(&pack);
        assert!(v.signature_valid);
        assert!(v.problems.contains(&"a.json is missing".to_owned()));
        assert!(
            v.problems
                .contains(&"extra.txt is in the pack but not in the manifest".to_owned())
        );
    }

    #[test]
    fn a_changed_manifest_or_signature_does_not_verify() {
        let mut pack = signed_pack();
        let text = String::from_utf8(pack[MANIFEST].clone()).unwrap();
        pack.insert(MANIFEST.into(), text.replace("aulm", "aulx").into_bytes());
        let v = verify(&pack);
        assert!(!v.signature_valid);
        assert!(v.problems.contains(&"signature does not verify".to_owned()));

        // Another key signing the same manifest, its public key left as it was.
        let mut pack = signed_pack();
        let other = Ed25519KeyPair::from_seed_unchecked(&[8u8; 32]).unwrap();
        let sig = encode_signature(other.sign(&pack[MANIFEST]).as_ref());
        pack.insert(SIGNATURE.into(), sig);
        assert!(!verify(&pack).signature_valid);

        let mut pack = signed_pack();
        pack.remove(SIGNATURE);
        let v = verify(&pack);
        assert!(!v.is_valid());
        assert!(v.problems.contains(&format!("{SIGNATURE} is missing")));

        let mut pack = signed_pack();
        pack.remove(MANIFEST);
        assert_eq!(verify(&pack).problems, [format!("{MANIFEST} is missing")]);
    }

    #[test]
    fn the_period_is_inclusive_of_both_days_in_utc() {
        let p = Period::parse(Some("2026-02-01"), Some("2026-02-28")).unwrap();
        let t = |s: &str| crate::domain::time::parse(s).unwrap();
        assert!(p.contains(t("2026-02-01T00:00:00.000000Z")));
        assert!(p.contains(t("2026-02-28T23:59:59.999999Z")));
        assert!(!p.contains(t("2026-03-01T00:00:00.000000Z")));
        assert!(!p.contains(t("2026-01-31T23:59:59.999999Z")));
        assert!(p.contains_day("2026-02-28") && !p.contains_day("2026-03-01"));
        assert!(Period::default().contains(t("1999-01-01T00:00:00.000000Z")));
        assert_eq!(Period::default().label(), "the beginning to now");
        assert_eq!(
            Period::parse(Some("2026-03-01"), Some("2026-02-01"))
                .unwrap_err()
                .0,
            "to"
        );
        assert_eq!(
            Period::parse(Some("01/02/2026"), None).unwrap_err().0,
            "from"
        );
        assert_eq!(Period::parse(Some(""), None).unwrap(), Period::default());
    }

    #[test]
    fn deadlines_are_met_missed_open_or_overdue() {
        let t = |s: &str| crate::domain::time::parse(s).unwrap();
        let due = t("2026-02-01T23:59:59.999999Z");
        let before = t("2026-01-20T10:00:00.000000Z");
        let after = t("2026-02-02T00:00:00.000000Z");
        use DeadlineOutcome::*;
        assert_eq!(deadline_outcome(due, Some(before), true, after), Met);
        assert_eq!(deadline_outcome(due, Some(after), true, after), Missed);
        assert_eq!(deadline_outcome(due, None, false, before), Open);
        assert_eq!(deadline_outcome(due, None, false, after), Overdue);
        assert_eq!(
            deadline_outcome(due, Some(before), false, after),
            NotApplicable
        );
    }
}
