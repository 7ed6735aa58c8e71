//! Consent receipts: what a person keeps to prove a consent decision, and the bytes its
//! signature covers.
//!
//! A receipt is `{"receipt": <ReceiptBody>, "signature": {"alg": "Ed25519", "key_id": …,
//! "value": …}}`, the signature with a `batch` proof when it covers several receipts issued
//! together (`domain::receipt_batch`). The body follows the notions of ISO/IEC TS 27560 (consent
//! record information structure) and the Kantara Initiative's Consent Receipt Specification
//! v1.1; each field's documentation names the notion it carries. The signature is Ed25519
//! (RFC 8032) over the body's **canonical bytes** (directly, or through a batch's Merkle root):
//! the JSON Canonicalization Scheme (RFC 8785) of the `receipt`
//! member as it stands — object keys sorted, no whitespace, strings escaped as JSON requires and
//! nothing more. A body holds only strings, booleans, integers and nulls, so any JSON library
//! that sorts keys and writes compactly without escaping non-ASCII characters makes the same
//! bytes (Python: `json.dumps(receipt, sort_keys=True, separators=(",", ":"),
//! ensure_ascii=False).encode()`).
//!
//! Verifying canonicalizes the `receipt` member exactly as received, never a re-serialization of
//! what Lethe parsed from it: what is checked is what the person holds, as an offline verifier
//! checks it. Pure: the signing itself is `services::consent_receipts`'s.

use super::ValidationErrors;
use super::receipt_batch::{BatchProof, Signed};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// The receipt format this module writes and reads (`receipt.version`).
pub const VERSION: &str = "lethe-consent-receipt/1";

/// An Ed25519 signature's length in bytes.
pub const SIGNATURE_LEN: usize = 64;

/// An Ed25519 public key's length in bytes.
pub const PUBLIC_KEY_LEN: usize = 32;

/// What a receipt proves: one consent decision of one person, as Lethe recorded it.
///
/// The fields of this struct and of those it holds are declared in canonical order (sorted by
/// name), so that serialized as they stand they are the canonical bytes the signature covers:
/// signing needs no detour through a `serde_json::Value` (a test holds this; a new field goes
/// where its name sorts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiptBody {
    /// The version of the consent banner the person answered, when they answered one (TS 27560
    /// the notice presented).
    pub banner_version: Option<String>,
    /// One entry per purpose decided (TS 27560 purposes with their consent status; Kantara
    /// `services[].purposes[]`).
    pub consents: Vec<ReceiptConsent>,
    /// Who asked for the consent and is accountable for the processing (TS 27560 PII controller
    /// and privacy notice; Kantara `piiControllers` and `policyUrl`).
    pub controller: ReceiptController,
    /// When the decision was recorded, RFC 3339 in UTC (TS 27560 the consent event's time;
    /// Kantara `consentTimestamp`).
    #[serde(with = "utc_time")]
    pub issued_at: DateTime<Utc>,
    /// The law or region the decision was taken under, e.g. `EU`, `US-CA` (TS 27560
    /// jurisdiction; Kantara `jurisdiction`). Null when the workspace does not say.
    pub jurisdiction: Option<String>,
    /// How the decision was collected (TS 27560 the interaction's method; Kantara
    /// `collectionMethod`).
    pub method: CollectionMethod,
    /// This receipt's id, a UUIDv7 (TS 27560 record identifier; Kantara `consentReceiptID`).
    pub receipt_id: uuid::Uuid,
    /// The id of the consent record in Lethe this receipt proves (TS 27560 the record a receipt
    /// is a copy of).
    pub record_id: String,
    /// Whose decision it is (TS 27560 PII principal; Kantara `piiPrincipalId`).
    pub subject: ReceiptSubject,
    /// The receipt format, `lethe-consent-receipt/1` (TS 27560 schema version; Kantara
    /// `version`).
    #[schema(example = "lethe-consent-receipt/1")]
    pub version: String,
}

/// The controller of a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiptController {
    /// Where to write about the decision (Kantara `contact` / `email`).
    pub contact_email: String,
    /// The controller's legal name (Kantara `piiController`).
    pub name: String,
    /// The privacy policy the decision was taken under (TS 27560 privacy notice; Kantara
    /// `policyUrl`).
    pub policy_url: String,
    /// The number of the published policy version in force at the decision; null when none was.
    pub policy_version: Option<i64>,
}

/// The person a receipt is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiptSubject {
    /// The operator's id for the person, or the visitor id a banner keeps in the browser.
    pub id: String,
    /// What `id` is.
    pub kind: SubjectKind,
}

/// How a receipt names its person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    /// The id the operator's systems know the person by (a subject's `external_id`).
    ExternalId,
    /// A visitor known only by the id the consent banner gave their browser.
    Visitor,
}

/// How a decision reached Lethe (Kantara `collectionMethod`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CollectionMethod {
    /// The person answered the consent banner.
    Banner,
    /// The operator's systems recorded it through the API.
    Api,
    /// Brought in from an earlier consent tool.
    Import,
    /// The browser's Global Privacy Control signal (an opt-out).
    Gpc,
}

/// The decision about one purpose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiptConsent {
    /// Given (true) or refused or withdrawn (false) (TS 27560 consent status).
    pub granted: bool,
    /// The legal basis the decision concerns: always `consent` (TS 27560 legal basis; Kantara
    /// `consentType`).
    pub legal_basis: ReceiptLegalBasis,
    /// The purpose's key in the inventory (Kantara `purpose`; TS 27560 purpose identifier).
    pub purpose: String,
    /// The purpose's name as the person read it (TS 27560 purpose description).
    pub purpose_name: String,
    /// Why the decision is what it is when the person did not choose it themselves, e.g. `gpc`
    /// for a refusal the Global Privacy Control signal made; null otherwise.
    pub reason: Option<String>,
}

/// The legal basis a receipt's decision concerns. Only consent has decisions to receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptLegalBasis {
    Consent,
}

/// The signature algorithm of a receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum SignatureAlg {
    Ed25519,
}

/// A receipt's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiptSignature {
    /// Always `Ed25519` (RFC 8032).
    pub alg: SignatureAlg,
    /// The signing key's id: the first 16 hex digits of the SHA-256 of its raw public key, as
    /// the privacy center publishes it at `/p/{workspace}/consent/public-key`.
    #[schema(example = "3f9a0c27d15e4b88")]
    pub key_id: String,
    /// The 64-byte signature, base64url without padding: over the body's canonical bytes, or,
    /// with `batch`, over the batch's signed head.
    pub value: String,
    /// Present when one signature covered several receipts issued together: where this one is
    /// in that batch's Merkle tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<BatchProof>,
}

/// A receipt as the person keeps it: the body and its signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignedReceipt {
    pub receipt: ReceiptBody,
    pub signature: ReceiptSignature,
}

/// The instant form of `issued_at`: Lethe's fixed-width UTC (`2026-11-27T07:30:33.123456Z`) on
/// writing, any RFC 3339 instant on reading.
mod utc_time {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::domain::time::format(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| serde::de::Error::custom("issued_at: expected an RFC 3339 date and time"))
    }
}

/// A value the canonical form cannot hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CanonicalError(String);

/// RFC 8785 (JCS) bytes of a JSON value that holds no fractional numbers: keys sorted by their
/// UTF-16 code units, no whitespace, strings as serde_json escapes them (`\"`, `\\`, the short
/// forms `\b \f \n \r \t`, other control characters as `\u00xx`; nothing else), integers in
/// decimal. Sorted here rather than trusted to `serde_json::Map`, whose order depends on a cargo
/// feature (`preserve_order`) any dependency may switch on.
pub fn canonical_json(value: &Value) -> Result<Vec<u8>, CanonicalError> {
    let mut out = Vec::new();
    write_canonical(value, &mut out)?;
    Ok(out)
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => {
            if !(n.is_i64() || n.is_u64()) {
                return Err(CanonicalError(format!(
                    "{n}: a receipt holds whole numbers only"
                )));
            }
            out.extend_from_slice(n.to_string().as_bytes());
        }
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(k, out);
                out.push(b':');
                write_canonical(v, out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    // serde_json's string escaping is JCS's; writing a string to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

impl ReceiptBody {
    /// The bytes the signature covers: the canonical JSON of this body as it is serialized.
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, CanonicalError> {
        // Compact, and every key already in order (the fields' order): serde_json's own bytes
        // are the canonical ones. A receipt *read* for verification is canonicalized from what
        // the person holds instead (`read`).
        serde_json::to_vec(self).map_err(|e| CanonicalError(e.to_string()))
    }

    /// What a body must be before Lethe signs it: this format, and every id and name given.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        if self.version != VERSION {
            errors.add("version", format!("must be {VERSION}"));
        }
        for (field, value) in [
            ("record_id", &self.record_id),
            ("subject.id", &self.subject.id),
            ("controller.name", &self.controller.name),
        ] {
            if value.trim().is_empty() {
                errors.add(field, "must not be empty");
            }
        }
        if self.consents.is_empty() {
            errors.add("consents", "a receipt proves at least one decision");
        }
        for (i, c) in self.consents.iter().enumerate() {
            if c.purpose.trim().is_empty() {
                errors.add(
                    &format!("consents-{i}"),
                    "the purpose's key must not be empty",
                );
            }
        }
        errors.into_result()
    }
}

/// A receipt read for verification: its parts, the exact bytes its signature must cover, and
/// the signature's bytes.
#[derive(Debug, Clone)]
pub struct ReadReceipt {
    pub receipt: SignedReceipt,
    /// The canonical bytes of the `receipt` member as received.
    pub signed_bytes: Vec<u8>,
    pub signature: [u8; SIGNATURE_LEN],
    /// What the signature covers.
    pub signed: Signed,
}

impl ReadReceipt {
    /// The bytes the signature must cover, or `None` when the batch proof cannot lead to any
    /// root (then no signature can hold).
    pub fn message(&self) -> Option<std::borrow::Cow<'_, [u8]>> {
        use super::receipt_batch::{leaf_hash, root_from_path, signed_head};
        match &self.signed {
            Signed::Alone => Some(std::borrow::Cow::Borrowed(&self.signed_bytes)),
            Signed::Batch { size, index, path } => {
                let root = root_from_path(&leaf_hash(&self.signed_bytes), *index, *size, path)?;
                Some(std::borrow::Cow::Owned(signed_head(*size, &root)))
            }
        }
    }
}

/// Reads a receipt someone holds. Anything that is not a receipt of this format is an error
/// naming the field (`receipt`, `signature`, `signature.value`, `receipt.version`); whether its
/// signature holds is the caller's question.
pub fn read(value: &Value) -> Result<ReadReceipt, ValidationErrors> {
    let receipt: SignedReceipt = serde_json::from_value(value.clone())
        .map_err(|e| ValidationErrors::single("body", format!("not a consent receipt: {e}")))?;
    // uuid's parser also takes the simple, braced and URN forms, which JSON Schema's `uuid`
    // format (the OpenAPI document's) does not.
    let hyphenated = value
        .pointer("/receipt/receipt_id")
        .and_then(Value::as_str)
        .is_some_and(|id| id.len() == 36);
    if !hyphenated {
        return Err(ValidationErrors::single(
            "receipt.receipt_id",
            "expected a UUID in its hyphenated form",
        ));
    }
    if receipt.receipt.version != VERSION {
        return Err(ValidationErrors::single(
            "receipt.version",
            format!("this server reads receipts of the format {VERSION}"),
        ));
    }
    let signature: [u8; SIGNATURE_LEN] = URL_SAFE_NO_PAD
        .decode(receipt.signature.value.as_bytes())
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| {
            ValidationErrors::single(
                "signature.value",
                "expected the 64 bytes of an Ed25519 signature, base64url without padding",
            )
        })?;
    let body = value
        .get("receipt")
        .ok_or_else(|| ValidationErrors::single("receipt", "missing"))?;
    let signed_bytes =
        canonical_json(body).map_err(|e| ValidationErrors::single("receipt", e.to_string()))?;
    let signed = match &receipt.signature.batch {
        None => Signed::Alone,
        Some(proof) => super::receipt_batch::read_proof(proof)?,
    };
    Ok(ReadReceipt {
        receipt,
        signed_bytes,
        signature,
        signed,
    })
}

/// A signing key's id: the first 16 hex digits of the SHA-256 of its raw public key.
pub fn key_id(public_key: &[u8]) -> String {
    let mut digest = crate::crypto::sha256_hex(public_key);
    digest.truncate(16);
    digest
}

/// The signature's text form in a receipt.
pub fn encode_signature(signature: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(signature)
}

/// A raw Ed25519 public key as base64url without padding (JWK `x`).
pub fn encode_public_key(public_key: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(public_key)
}

/// The DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): SEQUENCE { SEQUENCE { OID
/// 1.3.101.112 }, BIT STRING (32 bytes) }; the raw key follows.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// A raw Ed25519 public key as a PEM `PUBLIC KEY` (SubjectPublicKeyInfo, RFC 8410), which
/// `openssl pkeyutl -verify` reads.
pub fn public_key_pem(public_key: &[u8; PUBLIC_KEY_LEN]) -> String {
    let mut der = ED25519_SPKI_PREFIX.to_vec();
    der.extend_from_slice(public_key);
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        STANDARD.encode(der)
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn body() -> ReceiptBody {
        ReceiptBody {
            receipt_id: uuid::Uuid::parse_str("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b").unwrap(),
            version: VERSION.into(),
            issued_at: DateTime::parse_from_rfc3339("2026-11-27T07:30:33.123456Z")
                .unwrap()
                .with_timezone(&Utc),
            jurisdiction: Some("EU".into()),
            controller: ReceiptController {
                name: "Aulm GmbH".into(),
                contact_email: "privacy@aulm.example".into(),
                policy_url: "https://lethe.example/p/aulm/privacy".into(),
                policy_version: Some(3),
            },
            subject: ReceiptSubject {
                kind: SubjectKind::Visitor,
                id: "v_8f2c".into(),
            },
            method: CollectionMethod::Banner,
            banner_version: Some("2".into()),
            consents: vec![ReceiptConsent {
                purpose: "marketing".into(),
                purpose_name: "Newsletter «Ü» \"quoted\"\n".into(),
                legal_basis: ReceiptLegalBasis::Consent,
                granted: true,
                reason: None,
            }],
            record_id: "0193a1b2-c3d4-7e5f-8a9b-000000000001".into(),
        }
    }

    #[test]
    fn canonical_bytes_sort_keys_at_every_depth_without_whitespace() {
        let a = json!({"b": 1, "a": {"z": true, "y": [null, "x"]}, "é": "é", "B": -2});
        let b: Value = serde_json::from_str(
            r#"{ "é":"é", "a": { "y": [ null, "x" ], "z": true }, "B": -2, "b": 1 }"#,
        )
        .unwrap();
        let bytes = canonical_json(&a).unwrap();
        assert_eq!(bytes, canonical_json(&b).unwrap());
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            r#"{"B":-2,"a":{"y":[null,"x"],"z":true},"b":1,"é":"é"}"#
        );
        // RFC 8785's escaping: short forms, \u00xx for other controls, nothing else escaped.
        assert_eq!(
            String::from_utf8(canonical_json(&json!("a\"\\\n\u{1}/€")).unwrap()).unwrap(),
            r#""a\"\\\n\u0001/€""#
        );
        assert!(canonical_json(&json!({"n": 1.5})).is_err());
    }

    #[test]
    fn a_body_serializes_to_the_same_canonical_bytes_as_its_json_read_back() {
        // Every optional field both given and absent: the canonical bytes are signed straight
        // from the structs' field order, which must therefore be the sorted order at every depth.
        let mut sparse = body();
        sparse.jurisdiction = None;
        sparse.banner_version = None;
        sparse.controller.policy_version = None;
        sparse.consents.push(ReceiptConsent {
            purpose: "ads".into(),
            purpose_name: "Ads".into(),
            legal_basis: ReceiptLegalBasis::Consent,
            granted: false,
            reason: Some("gpc".into()),
        });
        for body in [body(), sparse] {
            let text = serde_json::to_string_pretty(&body).unwrap();
            assert!(text.contains("\"issued_at\": \"2026-11-27T07:30:33.123456Z\""));
            let value: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(
                String::from_utf8(body.canonical_bytes().unwrap()).unwrap(),
                String::from_utf8(canonical_json(&value).unwrap()).unwrap()
            );
            let back: ReceiptBody = serde_json::from_value(value).unwrap();
            assert_eq!(back, body);
            assert!(body.validate().is_ok());
        }
    }

    #[test]
    fn only_a_receipt_of_this_format_is_read() {
        let receipt = json!({"receipt": body(), "signature": {
            "alg": "Ed25519", "key_id": "0011223344556677", "value": encode_signature(&[7; 64])}});
        let read = read(&receipt).unwrap();
        assert_eq!(read.signature, [7; 64]);
        assert_eq!(read.signed_bytes, body().canonical_bytes().unwrap());

        let field_of = |v: &Value| read_err(v).0[0].field.clone();
        let mut other = receipt.clone();
        other["signature"]["value"] = json!("short");
        assert_eq!(field_of(&other), "signature.value");
        let mut other = receipt.clone();
        other["receipt"]["version"] = json!("lethe-consent-receipt/0");
        assert_eq!(field_of(&other), "receipt.version");
        let mut other = receipt.clone();
        other["signature"]["alg"] = json!("RS256");
        assert_eq!(field_of(&other), "body");
        let mut other = receipt.clone();
        other["receipt"]["receipt_id"] = json!("0193a1b2c3d47e5f8a9b0c1d2e3f4a5b");
        assert_eq!(field_of(&other), "receipt.receipt_id");
        let mut other = receipt.clone();
        other["receipt"]["extra"] = json!(1);
        assert_eq!(field_of(&other), "body");
        assert_eq!(field_of(&json!({"hello": "world"})), "body");
        assert_eq!(field_of(&json!([1, 2])), "body");
    }

    fn read_err(v: &Value) -> ValidationErrors {
        read(v).err().unwrap()
    }

    #[test]
    fn a_body_to_sign_must_be_complete() {
        let mut b = body();
        b.version = "2".into();
        b.record_id = " ".into();
        b.consents.clear();
        let fields: Vec<String> = b
            .validate()
            .unwrap_err()
            .0
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["version", "record_id", "consents"]);
    }

    #[test]
    fn key_ids_and_pem_have_their_published_forms() {
        let key = [1u8; PUBLIC_KEY_LEN];
        assert_eq!(key_id(&key).len(), 16);
        let pem = public_key_pem(&key);
        assert!(
            pem.starts_with("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA"),
            "{pem}"
        );
        assert_eq!(encode_public_key(&key).len(), 43);
    }
}
