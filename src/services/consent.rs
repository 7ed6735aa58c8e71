//! Consent decisions (issue 17): recording one (from the banner, the operator's backend, an
//! import, or GPC on its own) through the group-commit writer, and answering what a person's
//! consent is now.
//!
//! A decision is checked against the workspace's consent purposes, GPC applied
//! (`domain::consent::choices`), and stored with the policy version in force, the material
//! version it answers (older ones need renewal), the banner's version, the client's network (never
//! its address) and user-agent family. 201 means durable: the writer answers after its commit.
//! The person is a subject (the operator knows them) or a visitor, whose id is kept only as a
//! keyed digest. What the person asked through requests refuses purposes whatever they chose
//! (restriction, withdrawal, objection).

use super::consent_rules::{ConsentRules, ConsentRulesCache, Whose};
use super::receipt_signer::ReceiptSigner;
use super::subjects::Reader;
use crate::domain::ValidationErrors;
use crate::domain::consent::{
    self as rules, ConsentSource, Decision, Overrides, PurposeConsent, parse_visitor,
    user_agent_family,
};
use crate::domain::consent_receipt::{
    self as receipt, CollectionMethod, ReceiptBody, ReceiptConsent, ReceiptController,
    ReceiptLegalBasis, ReceiptSubject, SignedReceipt, SubjectKind,
};
use crate::domain::network::IpRange;
use crate::error::AppError;
use crate::store::consent::{self, DecisionOutcome, NewDecision, Person};
use crate::store::subjects::SubjectRow;
use crate::store::writer::{ComposedKind, GroupWriter};
use crate::store::{
    Connection, Db, WorkspaceScope, inventory, policies, subject_objections, subjects,
};
use crate::vault::Vault;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use utoipa::ToSchema;

pub use crate::domain::consent::Choice;
pub use crate::store::consent::DecisionDetail;

/// Decisions of one person read to derive their current consent.
const HISTORY: u32 = 200;

/// Who decided.
#[derive(Debug, Clone)]
pub enum Who {
    /// A subject of the vault, by the operator's id for them.
    Subject(String),
    /// A visitor of the operator's site, by the banner's random visitor id.
    Visitor(String),
}

/// Whose workspace the decision is for, as the caller proved it.
#[derive(Debug, Clone)]
pub enum Place {
    /// The API key's workspace.
    Workspace(WorkspaceScope),
    /// The banner's: a workspace by its slug, which must list the page's origin among its
    /// consent origins.
    Banner { slug: String, origin: String },
}

/// A decision as the API or the banner sends it.
#[derive(Debug, Clone)]
pub struct DecisionInput {
    pub who: Who,
    /// Purpose key → granted.
    pub choices: BTreeMap<String, bool>,
    pub source: ConsentSource,
    /// The client said it sends Global Privacy Control.
    pub gpc: bool,
    pub banner_version: Option<String>,
    /// For an import: when the decision was taken (not in the future).
    pub decided_at: Option<DateTime<Utc>>,
}

/// What is known of the client that sent it.
#[derive(Debug, Clone, Default)]
pub struct Client {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

/// A recorded decision and the person's consent after it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Recorded {
    /// The consent record's id.
    pub id: String,
    pub decided_at: DateTime<Utc>,
    pub source: ConsentSource,
    pub gpc: bool,
    pub choices: Vec<rules::Choice>,
    pub policy_version: Option<i64>,
    /// The material policy version the decision answers.
    pub consent_version: Option<i64>,
    /// Every consent purpose's state now, for a subject (the banner's visitors are answered
    /// without it: the page keeps its own).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent: Option<Vec<PurposeConsent>>,
    /// The signed receipt the person can keep (`POST /api/v1/consent/receipts/verify` checks it).
    pub receipt: SignedReceipt,
}

/// A subject's consent now.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SubjectConsent {
    pub subject: String,
    /// The newest material policy version in force: consent given under an older one needs
    /// renewal.
    pub consent_version: Option<i64>,
    pub purposes: Vec<PurposeConsent>,
}

/// What a decision is checked against and stored with: the workspace's rules (kept between
/// decisions, `consent_rules`) and the person, read on the writer's connection.
struct Setting {
    rules: Arc<ConsentRules>,
    person: Person,
    subject: Option<SubjectRow>,
}

/// The refusal of a banner's page whose origin the workspace does not list.
pub const ORIGIN_REFUSED: &str =
    "this site's origin is not one the workspace lets record consent decisions";

fn read_setting(
    c: &Connection,
    vault: &Vault,
    kept: &ConsentRulesCache,
    place: &Place,
    who: &Who,
    now: DateTime<Utc>,
) -> Result<Setting, AppError> {
    let whose = match place {
        Place::Workspace(scope) => Whose::Workspace(scope),
        Place::Banner { slug, .. } => Whose::Slug(slug),
    };
    let rules = kept
        .rules(c, whose, now)?
        .ok_or_else(|| AppError::NotFound("workspace".into()))?;
    if let Place::Banner { origin, .. } = place
        && !rules
            .workspace
            .settings
            .consent_origins
            .iter()
            .any(|o| o == origin)
    {
        return Err(AppError::Forbidden(ORIGIN_REFUSED.into()));
    }
    let scope = &rules.scope;
    let (person, subject) = match who {
        Who::Subject(external_id) => {
            let row = subjects::by_external_id(c, scope, external_id)?.ok_or_else(|| {
                ValidationErrors::single("subject", format!("no subject '{external_id}'"))
            })?;
            if row.erased_at.is_some() {
                return Err(super::subjects::erased(external_id));
            }
            (Person::Subject(row.id), Some(row))
        }
        Who::Visitor(id) => {
            let id = parse_visitor(id).map_err(|e| ValidationErrors::single("visitor", e))?;
            (Person::Visitor(vault.visitor_index(scope, &id)?), None)
        }
    };
    Ok(Setting {
        rules,
        person,
        subject,
    })
}

fn overrides(
    c: &Connection,
    scope: &WorkspaceScope,
    subject: Option<&SubjectRow>,
) -> Result<Overrides, AppError> {
    let Some(row) = subject else {
        return Ok(Overrides::default());
    };
    let mut o = Overrides {
        restricted: row.restricted_at.is_some(),
        ..Overrides::default()
    };
    for objection in subject_objections::for_subject(c, scope, row.id)? {
        match (objection.kind.as_str(), objection.purpose_key) {
            ("withdrawal", _) => o.withdrawn = true,
            (_, Some(purpose)) => o.objected.push(purpose),
            _ => {}
        }
    }
    Ok(o)
}

/// Records a decision: checked, stored durably by the group-commit writer. Not also written to
/// the audit log: the decision is its own append-only record, with its source and time, as
/// ingested records are (the audit chain is for what staff and keys change).
#[allow(
    clippy::too_many_arguments,
    reason = "the use case's inputs; grouping them would only rename the list"
)]
pub async fn record(
    vault: &Vault,
    writer: &GroupWriter,
    kept: &Arc<ConsentRulesCache>,
    signer: &ReceiptSigner,
    place: Place,
    input: DecisionInput,
    client: Client,
    base_url: &str,
    now: DateTime<Utc>,
) -> Result<Recorded, AppError> {
    if let Some(at) = input.decided_at
        && (input.source != ConsentSource::Import || at > now)
    {
        return Err(ValidationErrors::single(
            "decided_at",
            "only an import names when a decision was taken, and not in the future",
        )
        .into());
    }
    if let Who::Visitor(id) = &input.who {
        // Checked before the decision takes the writer's time.
        parse_visitor(id).map_err(|e| ValidationErrors::single("visitor", e))?;
    }
    // The whole check runs where the decision is stored, on the writer's connection in its
    // transaction: what the decision is checked against cannot change before it is stored, and
    // the request makes one hop, not two.
    let rows = 1 + input.choices.len();
    let (vault2, kept, who) = (vault.clone(), kept.clone(), input.who.clone());
    let (choices_in, gpc, source) = (input.choices.clone(), input.gpc, input.source);
    let banner_version = input.banner_version.clone();
    let decided_at = input.decided_at.unwrap_or(now);
    let stored = writer
        .compose(ComposedKind::ConsentDecision, rows, move |c| {
            let setting = read_setting(c, &vault2, &kept, &place, &who, now)?;
            let r = &setting.rules;
            let choices = rules::choices(&choices_in, &r.purposes, &r.sold, gpc)?;
            let decision = NewDecision {
                scope: r.scope,
                id: uuid::Uuid::now_v7().to_string(),
                person: setting.person.clone(),
                source,
                gpc,
                policy_version: r.policy_version,
                consent_version: r.consent_version,
                banner_version,
                network: client.ip.map(|ip| IpRange::client_network(ip).to_string()),
                user_agent: client
                    .user_agent
                    .as_deref()
                    .map(|ua| user_agent_family(ua).to_owned()),
                decided_at,
                choices,
            };
            if consent::insert(c, &decision)? == DecisionOutcome::SubjectErased {
                return Err(AppError::Conflict(
                    "the person was erased meanwhile: nothing was recorded about them.".into(),
                ));
            }
            // A subject's consent now, in the same transaction: their requests may refuse over
            // the decision. Read here, it costs the request no second hop; it usually reads only
            // the decision just stored. A visitor's page keeps its own, so nothing is read.
            let now_consent = match &setting.subject {
                None => None,
                Some(row) => {
                    Some(person_consent(c, &r.scope, row, &r.purposes, r.consent_version)?.purposes)
                }
            };
            Ok((setting, decision, now_consent))
        })
        .await?;
    let (setting, decision, consent) = stored?;
    let scope = setting.rules.scope;
    // Signed after it is stored, together with the receipts waiting beside it (the signer).
    let receipt_body = receipt_for(&setting, &input.who, &decision, base_url);
    let receipt = signer.issue(vault, &scope, receipt_body).await?;
    Ok(Recorded {
        id: decision.id,
        decided_at: decision.decided_at,
        source: decision.source,
        gpc: decision.gpc,
        choices: decision.choices,
        policy_version: decision.policy_version,
        consent_version: decision.consent_version,
        consent,
        receipt,
    })
}

/// The receipt of a stored decision: who decided what about which purposes, under which
/// policy, recorded how.
fn receipt_for(setting: &Setting, who: &Who, d: &NewDecision, base_url: &str) -> ReceiptBody {
    let w = &setting.rules.workspace;
    let (kind, id) = match who {
        Who::Subject(external_id) => (SubjectKind::ExternalId, external_id.clone()),
        Who::Visitor(visitor) => (SubjectKind::Visitor, visitor.clone()),
    };
    ReceiptBody {
        receipt_id: uuid::Uuid::now_v7(),
        version: receipt::VERSION.to_owned(),
        issued_at: d.decided_at,
        jurisdiction: None,
        controller: ReceiptController {
            name: w.settings.legal_name.clone(),
            contact_email: w.settings.contact_email.to_string(),
            policy_url: format!("{base_url}/p/{}/privacy", w.slug),
            policy_version: d.policy_version,
        },
        subject: ReceiptSubject { kind, id },
        method: match d.source {
            ConsentSource::Banner => CollectionMethod::Banner,
            ConsentSource::Api => CollectionMethod::Api,
            ConsentSource::Import => CollectionMethod::Import,
            ConsentSource::Gpc => CollectionMethod::Gpc,
        },
        banner_version: d.banner_version.clone(),
        consents: d
            .choices
            .iter()
            .map(|c| ReceiptConsent {
                purpose: c.purpose.clone(),
                purpose_name: setting
                    .rules
                    .names
                    .get(&c.purpose)
                    .cloned()
                    .unwrap_or_else(|| c.purpose.clone()),
                legal_basis: ReceiptLegalBasis::Consent,
                granted: c.granted,
                reason: c.reason.clone(),
            })
            .collect(),
        record_id: d.id.clone(),
    }
}

/// The subject's consent now, per consent purpose, with the record each comes from.
pub fn current_for_subject(
    db: &Db,
    scope: &WorkspaceScope,
    external_id: &str,
    now: DateTime<Utc>,
) -> Result<SubjectConsent, AppError> {
    db.read_snapshot(|c| {
        let row = subjects::by_external_id(c, scope, external_id)?
            .ok_or_else(|| AppError::NotFound(format!("subject '{external_id}'")))?;
        if row.erased_at.is_some() {
            return Err(super::subjects::erased(external_id));
        }
        current_in(c, scope, &row, now)
    })
}

/// The subject's consent now, read in the caller's snapshot.
fn current_in(
    c: &Connection,
    scope: &WorkspaceScope,
    row: &SubjectRow,
    now: DateTime<Utc>,
) -> Result<SubjectConsent, AppError> {
    let purposes: Vec<String> = inventory::consent_purposes(c, scope)?
        .into_iter()
        .map(|p| p.key)
        .collect();
    let (_, consent_version) = policies::versions_in_force(c, scope, now)?;
    person_consent(c, scope, row, &purposes, consent_version)
}

/// The subject's consent to `purposes` when `consent_version` is the newest material version in
/// force, from their decisions and what their requests refuse.
fn person_consent(
    c: &Connection,
    scope: &WorkspaceScope,
    row: &SubjectRow,
    purposes: &[String],
    consent_version: Option<i64>,
) -> Result<SubjectConsent, AppError> {
    let decisions = consent::latest_decisions(c, scope, row.id, purposes, HISTORY)?;
    let o = overrides(c, scope, Some(row))?;
    Ok(SubjectConsent {
        subject: row.external_id.clone(),
        consent_version,
        purposes: rules::current(purposes, &decisions, &o, consent_version),
    })
}

/// A person's consent history as staff read it: their decisions in detail, newest first, and
/// their consent now (with what their requests refuse).
#[derive(Debug, Clone)]
pub struct ConsentHistory {
    pub subject: String,
    pub restricted: bool,
    pub decisions: Vec<DecisionDetail>,
    /// Older decisions exist beyond the ones shown.
    pub more: bool,
    pub current: SubjectConsent,
}

/// Reads a subject's consent history for a reader with a reason (the console): refused for an
/// erased person, and for a restricted one unless the reader may read restricted people; the
/// read is one entry in the person's access log (`what`: `{"read": "consent"}`), audited as
/// `subject.read` in the same transaction.
pub fn read_history(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    reader: &Reader,
    external_id: &str,
    limit: u32,
    now: DateTime<Utc>,
) -> Result<ConsentHistory, AppError> {
    let limit = limit.max(1);
    // The restriction is checked in the snapshot the history is read from.
    let (row, mut decisions, current) = db.read_snapshot(|c| {
        let row = subjects::by_external_id(c, scope, external_id)?
            .ok_or_else(|| AppError::NotFound(format!("subject '{external_id}'")))?;
        if row.erased_at.is_some() {
            return Err(super::subjects::erased(external_id));
        }
        if row.restricted_at.is_some() && !reader.may_read_restricted {
            return Err(AppError::Forbidden(format!(
                "processing of subject '{external_id}' is restricted: their consent history is kept but only the privacy officer may read it"
            )));
        }
        let decisions = consent::subject_history(c, scope, row.id, limit + 1)?;
        let current = current_in(c, scope, &row, now)?;
        Ok::<_, AppError>((row, decisions, current))
    })?;
    let more = decisions.len() > limit as usize;
    decisions.truncate(limit as usize);
    let key = super::subjects::subject_key(vault, scope, &row)?;
    let what = serde_json::json!({"read": "consent", "decisions": decisions.len()});
    super::subjects::log_access(db, scope, &row, key.as_ref(), reader, what)?;
    Ok(ConsentHistory {
        subject: row.external_id.clone(),
        restricted: row.restricted_at.is_some(),
        decisions,
        more,
        current,
    })
}

/// A subject's decisions, newest first, for their history (console, access package).
pub fn history(
    c: &Connection,
    scope: &WorkspaceScope,
    subject_id: i64,
    limit: u32,
) -> Result<Vec<Decision>, AppError> {
    Ok(consent::decisions(
        c,
        scope,
        &Person::Subject(subject_id),
        limit,
    )?)
}
