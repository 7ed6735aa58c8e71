//! Exchange of the inventory in the shape of fideslang, the Fides language: a YAML document with
//! `data_category`, `data_use` and `system` lists.
//!
//! fideslang (<https://github.com/ethyca/fideslang>) is © Ethyca, Inc. and licensed under the
//! Creative Commons Attribution 4.0 International licence (CC BY 4.0,
//! <https://creativecommons.org/licenses/by/4.0/>). Lethe reuses its resource and field names
//! (`fides_key`, `parent_key`, `data_use`, `legal_basis`, `privacy_declarations`,
//! `legal_basis_for_processing`, `system_type`) and the names of its legal-basis values; no text
//! or taxonomy of fideslang is copied.
//!
//! The mapping:
//! - a data category is a `data_category` whose `parent_key` is its key minus the last segment
//!   (fideslang's models refuse any other parent, and a missing one);
//! - a purpose is a `data_use` (`parent_key` likewise) with its `legal_basis` in fideslang's
//!   names (`Legal Obligation`…), none while it awaits one;
//! - a kind of person (a category's `subject_kinds`) is a `data_subject`, its key made from the
//!   kind's words (`customer's recipient` → `customers_recipient`), its name the kind itself;
//! - a system is a `system` whose `privacy_declarations` name each purpose that uses a category
//!   the system holds, with those categories and their kinds of person (`data_subjects`).
//!
//! What fideslang has no field for (a category's sensitivity, fields, kinds of person and source;
//! a purpose's balancing note, categories and consent question; a system's location and categories) travels in a
//! `lethe:` map on each item, which fideslang tools ignore. So an export imported into another
//! workspace gives the same categories, purposes and systems. A document from elsewhere imports
//! without it: categories get sensitivity `normal`, purposes and systems take their categories
//! from the systems' privacy declarations, categories their kinds of person from the
//! declarations' `data_subjects` (named by the `data_subject` list). A data use takes its own
//! `legal_basis`, or the `legal_basis_for_processing` its declarations agree on; with neither
//! (as Fides writes data uses now that legal bases live on declarations) it becomes a purpose
//! awaiting a basis, which the inventory check reports until one is chosen. A legitimate
//! interest also needs `lethe.balancing_note` (or fideslang's
//! `legitimate_interest_impact_assessment`). A category's retention rules (trigger, days, action,
//! schedule, transforms, claim) travel in its `lethe.retention_rules`, since fideslang has no
//! rules that run. Recipients and legal holds have no fideslang counterpart and are not
//! exchanged.

use super::ValidationErrors;
use super::inventory::{
    DataCategory, FieldSpec, Inventory, LegalBasis, Purpose, RetentionAction, RetentionRule,
    RetentionTrigger, Sensitivity, System,
};
use super::schedule::CronSchedule;
use super::transform::Transform;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// `system_type` is required by fideslang; Lethe's systems do not classify themselves further.
pub const SYSTEM_TYPE: &str = "Service";

/// fideslang's names for the legal bases on a data use (`DataUse.legal_basis`); none while the
/// purpose awaits one.
pub fn data_use_basis(basis: LegalBasis) -> Option<&'static str> {
    Some(match basis {
        LegalBasis::Consent => "Consent",
        LegalBasis::Contract => "Contract",
        LegalBasis::LegalObligation => "Legal Obligation",
        LegalBasis::VitalInterests => "Vital Interest",
        LegalBasis::PublicTask => "Public Interest",
        LegalBasis::LegitimateInterests => "Legitimate Interests",
        LegalBasis::Awaiting => return None,
    })
}

/// fideslang's names on a privacy declaration (`legal_basis_for_processing`); none while the
/// purpose awaits one.
pub fn declaration_basis(basis: LegalBasis) -> Option<&'static str> {
    Some(match basis {
        LegalBasis::Consent => "Consent",
        LegalBasis::Contract => "Contract",
        LegalBasis::LegalObligation => "Legal obligations",
        LegalBasis::VitalInterests => "Vital interests",
        LegalBasis::PublicTask => "Public interest",
        LegalBasis::LegitimateInterests => "Legitimate interests",
        LegalBasis::Awaiting => return None,
    })
}

/// Either of fideslang's spellings, or Lethe's own (`legal_obligation`), case-insensitively.
pub fn parse_basis(raw: &str) -> Result<LegalBasis, String> {
    let norm: String = raw
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| if c == '_' || c == '-' { ' ' } else { c })
        .collect();
    match norm.as_str() {
        "consent" => Ok(LegalBasis::Consent),
        "contract" => Ok(LegalBasis::Contract),
        "legal obligation" | "legal obligations" => Ok(LegalBasis::LegalObligation),
        "vital interest" | "vital interests" => Ok(LegalBasis::VitalInterests),
        "public interest" | "public task" => Ok(LegalBasis::PublicTask),
        "legitimate interest" | "legitimate interests" => Ok(LegalBasis::LegitimateInterests),
        _ => Err(format!(
            "'{}' is not a legal basis: use Consent, Contract, Legal Obligation, Vital Interest, \
             Public Interest or Legitimate Interests",
            raw.trim()
        )),
    }
}

fn is_empty_list<T>(v: &[T]) -> bool {
    v.is_empty()
}

/// What fideslang has no field for, on a data category.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LetheCategory {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensitivity: Option<Sensitivity>,
    #[serde(default, skip_serializing_if = "is_empty_list")]
    pub subject_kinds: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    #[serde(default, skip_serializing_if = "is_empty_list")]
    pub fields: Vec<FieldSpec>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub subject_optional: bool,
    /// The category's retention rules (fideslang has no rules that run).
    #[serde(default, skip_serializing_if = "is_empty_list")]
    pub retention_rules: Vec<LetheRetentionRule>,
}

/// A retention rule inside its category's `lethe:` map: the category is implied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LetheRetentionRule {
    pub key: String,
    pub trigger: RetentionTrigger,
    pub days: u32,
    pub action: RetentionAction,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    #[serde(default = "CronSchedule::daily")]
    pub schedule: CronSchedule,
    /// Written only when false: rules run by default.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "is_empty_list")]
    pub transforms: Vec<Transform>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub claim: String,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

impl LetheRetentionRule {
    fn from_rule(r: &RetentionRule) -> Self {
        LetheRetentionRule {
            key: r.key.clone(),
            trigger: r.trigger,
            days: r.days,
            action: r.action,
            note: r.note.clone(),
            schedule: r.schedule.clone(),
            enabled: r.enabled,
            transforms: r.transforms.clone(),
            claim: r.claim.clone(),
        }
    }

    fn into_rule(self, category: &str) -> RetentionRule {
        RetentionRule {
            key: self.key,
            category: category.to_owned(),
            trigger: self.trigger,
            days: self.days,
            action: self.action,
            note: self.note,
            schedule: self.schedule,
            enabled: self.enabled,
            transforms: self.transforms,
            claim: self.claim,
        }
    }
}

/// What fideslang has no field for, on a data use.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LetheDataUse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balancing_note: Option<String>,
    /// The purpose's categories; absent: those of the systems' declarations for this data use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
    /// For consent: the question the consent banner asks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_prompt: Option<String>,
    /// For consent: the cookies the banner deletes on refusal (a trailing `*`: a prefix).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cookies: Vec<String>,
    /// For consent: the local-storage keys the banner deletes on refusal.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub local_storage: Vec<String>,
    /// For consent: a sale, sharing or targeted advertising, refused under Global Privacy Control.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub opt_out_of_sale: bool,
}

/// What fideslang has no field for, on a system.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LetheSystem {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub location: String,
    /// The system's categories; absent: those of its privacy declarations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
}

/// A fideslang data category. Other fideslang fields are accepted and ignored on import.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FidesCategory {
    #[serde(default)]
    pub fides_key: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lethe: Option<LetheCategory>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FidesDataUse {
    #[serde(default)]
    pub fides_key: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_basis: Option<String>,
    /// fideslang's (deprecated) pointer to a legitimate interest assessment; read on import only.
    #[serde(default, skip_serializing)]
    pub legitimate_interest_impact_assessment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lethe: Option<LetheDataUse>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivacyDeclaration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub data_categories: Vec<String>,
    #[serde(default)]
    pub data_use: Option<String>,
    /// Keys of `data_subject` items.
    #[serde(default)]
    pub data_subjects: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_basis_for_processing: Option<String>,
}

/// A fideslang data subject: a kind of person. Lethe keeps kinds as words on its categories.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FidesDataSubject {
    #[serde(default)]
    pub fides_key: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FidesSystem {
    #[serde(default)]
    pub fides_key: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_type: Option<String>,
    #[serde(default)]
    pub privacy_declarations: Vec<PrivacyDeclaration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lethe: Option<LetheSystem>,
}

/// A fideslang document with the four resource lists Lethe exchanges.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FidesDocument {
    #[serde(default)]
    pub data_category: Vec<FidesCategory>,
    #[serde(default, skip_serializing_if = "is_empty_list")]
    pub data_subject: Vec<FidesDataSubject>,
    #[serde(default)]
    pub data_use: Vec<FidesDataUse>,
    #[serde(default)]
    pub system: Vec<FidesSystem>,
}

fn non_empty(s: &str) -> Option<String> {
    Some(s.to_owned()).filter(|s| !s.is_empty())
}

/// The parent fideslang requires: the key minus its last segment (none for a top level).
fn parent_of(key: &str) -> Option<String> {
    key.rsplit_once('.').map(|(parent, _)| parent.to_owned())
}

/// A fides key for a kind of person: lower-case ASCII letters and digits, other runs of
/// characters as one `_`, apostrophes dropped (`customer's recipient` → `customers_recipient`).
fn subject_key(kind: &str) -> String {
    let mut key = String::new();
    for c in kind.chars().filter(|c| !matches!(c, '\'' | '\u{2019}')) {
        if c.is_ascii_alphanumeric() {
            key.push(c.to_ascii_lowercase());
        } else if !key.is_empty() && !key.ends_with('_') {
            key.push('_');
        }
    }
    key.trim_end_matches('_').to_owned()
}

/// Each kind of person of the inventory with its own key, in the order first met.
fn subject_keys(inv: &Inventory) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for kind in inv.categories.iter().flat_map(|c| &c.subject_kinds) {
        if out.iter().any(|(_, k)| k == kind) {
            continue;
        }
        let base = Some(subject_key(kind))
            .filter(|k| !k.is_empty())
            .unwrap_or_else(|| "subject".to_owned());
        // Two kinds may fold to one key ("Customer" and "customer"): the later gets a number.
        let mut key = base.clone();
        let mut n = 2;
        while out.iter().any(|(k, _)| *k == key) {
            key = format!("{base}_{n}");
            n += 1;
        }
        out.push((key, kind.clone()));
    }
    out
}

/// The inventory's categories, purposes and systems as a fideslang document.
pub fn export(inv: &Inventory) -> FidesDocument {
    let subjects = subject_keys(inv);
    let subject_key_of = |kind: &String| {
        subjects
            .iter()
            .find(|(_, k)| k == kind)
            .map(|(key, _)| key.clone())
    };
    let data_category = inv
        .categories
        .iter()
        .map(|c| FidesCategory {
            fides_key: Some(c.key.clone()),
            name: Some(c.name.clone()),
            description: non_empty(&c.description),
            parent_key: parent_of(&c.key),
            lethe: Some(LetheCategory {
                sensitivity: Some(c.sensitivity),
                subject_kinds: c.subject_kinds.clone(),
                source: c.source.clone(),
                fields: c.fields.clone(),
                subject_optional: c.subject_optional,
                retention_rules: inv
                    .retention_rules
                    .iter()
                    .filter(|r| r.category == c.key)
                    .map(LetheRetentionRule::from_rule)
                    .collect(),
            }),
        })
        .collect();
    let data_use = inv
        .purposes
        .iter()
        .map(|p| FidesDataUse {
            fides_key: Some(p.key.clone()),
            name: Some(p.name.clone()),
            description: non_empty(&p.description),
            parent_key: parent_of(&p.key),
            legal_basis: data_use_basis(p.legal_basis).map(str::to_owned),
            legitimate_interest_impact_assessment: None,
            lethe: Some(LetheDataUse {
                balancing_note: p.balancing_note.clone(),
                categories: Some(p.categories.clone()),
                consent_prompt: p.consent_prompt.clone(),
                cookies: p.cookies.clone(),
                local_storage: p.local_storage.clone(),
                opt_out_of_sale: p.opt_out_of_sale,
            }),
        })
        .collect();
    let system = inv
        .systems
        .iter()
        .map(|s| FidesSystem {
            fides_key: Some(s.key.clone()),
            name: Some(s.name.clone()),
            description: non_empty(&s.description),
            system_type: Some(SYSTEM_TYPE.to_owned()),
            privacy_declarations: inv
                .purposes
                .iter()
                .filter_map(|p| {
                    let held: Vec<String> = p
                        .categories
                        .iter()
                        .filter(|c| s.categories.contains(c))
                        .cloned()
                        .collect();
                    let mut data_subjects: Vec<String> = Vec::new();
                    for kind in inv
                        .categories
                        .iter()
                        .filter(|c| held.contains(&c.key))
                        .flat_map(|c| &c.subject_kinds)
                    {
                        if let Some(key) = subject_key_of(kind) {
                            push_unique(&mut data_subjects, &key);
                        }
                    }
                    (!held.is_empty()).then(|| PrivacyDeclaration {
                        name: Some(p.name.clone()),
                        data_categories: held,
                        data_use: Some(p.key.clone()),
                        data_subjects,
                        legal_basis_for_processing: declaration_basis(p.legal_basis)
                            .map(str::to_owned),
                    })
                })
                .collect(),
            lethe: Some(LetheSystem {
                location: s.location.clone(),
                categories: Some(s.categories.clone()),
            }),
        })
        .collect();
    let data_subject = subjects
        .into_iter()
        .map(|(key, kind)| FidesDataSubject {
            fides_key: Some(key),
            name: Some(kind),
            description: None,
        })
        .collect();
    FidesDocument {
        data_category,
        data_subject,
        data_use,
        system,
    }
}

/// The export as YAML, with an attribution comment on top.
pub fn to_yaml(doc: &FidesDocument) -> Result<String, serde_yaml_ng::Error> {
    Ok(format!(
        "# The inventory in the shape of fideslang (https://github.com/ethyca/fideslang),\n\
         # (c) Ethyca, Inc., CC BY 4.0. Exported by Lethe; `lethe:` maps hold what fideslang has no\n\
         # field for.\n{}",
        serde_yaml_ng::to_string(doc)?
    ))
}

/// Why a document could not be read at all (400), as opposed to invalid items (422).
#[derive(Debug, thiserror::Error)]
#[error("the body is not valid YAML: {0}")]
pub struct MalformedYaml(pub String);

/// Reads a YAML document. Syntax errors are [`MalformedYaml`]; well-formed YAML of the wrong
/// shape is a [`ValidationErrors`] naming each item, e.g. `data_category[3]`.
pub fn parse(text: &str) -> Result<Result<FidesDocument, ValidationErrors>, MalformedYaml> {
    // Syntax first: what YAML allows but a YAML value here cannot hold (an integer beyond 128
    // bits) is well-formed, so it is the document's fault (422), not the syntax's (400).
    serde::de::IgnoredAny::deserialize(serde_yaml_ng::Deserializer::from_str(text))
        .map_err(|e| MalformedYaml(e.to_string()))?;
    let mut errors = ValidationErrors::default();
    let value: serde_yaml_ng::Value = match serde_yaml_ng::from_str(text) {
        Ok(value) => value,
        Err(e) => {
            errors.add("body", format!("a value that cannot be read: {e}"));
            return Ok(Err(errors));
        }
    };
    let serde_yaml_ng::Value::Mapping(map) = value else {
        errors.add(
            "body",
            "expected a YAML mapping with data_category, data_use and system lists",
        );
        return Ok(Err(errors));
    };
    fn list<T: DeserializeOwned>(
        map: &serde_yaml_ng::Mapping,
        name: &str,
        errors: &mut ValidationErrors,
    ) -> Vec<T> {
        let items = match map.get(name) {
            None | Some(serde_yaml_ng::Value::Null) => return Vec::new(),
            Some(serde_yaml_ng::Value::Sequence(items)) => items,
            Some(_) => {
                errors.add(name, "must be a list");
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match serde_yaml_ng::from_value(item.clone()) {
                Ok(v) => out.push(v),
                Err(e) => errors.add(&format!("{name}[{i}]"), e.to_string()),
            }
        }
        out
    }
    let doc = FidesDocument {
        data_category: list(&map, "data_category", &mut errors),
        data_subject: list(&map, "data_subject", &mut errors),
        data_use: list(&map, "data_use", &mut errors),
        system: list(&map, "system", &mut errors),
    };
    if errors.is_empty()
        && doc.data_category.is_empty()
        && doc.data_subject.is_empty()
        && doc.data_use.is_empty()
        && doc.system.is_empty()
    {
        errors.add(
            "body",
            "nothing to import: give a data_category, data_subject, data_use or system list",
        );
    }
    Ok(errors.into_result().map(|()| doc))
}

/// Moves an item's field errors under its path in the document, renaming Lethe's field names to
/// the document's (`key` → `fides_key`, `location` → `lethe.location`).
fn nest(errors: &mut ValidationErrors, item: &str, renames: &[(&str, &str)], e: ValidationErrors) {
    for mut fe in e.0 {
        for (from, to) in renames {
            if fe.field == *from {
                fe.field = (*to).to_owned();
                break;
            }
            if let Some(rest) = fe.field.strip_prefix(from)
                && rest.starts_with('[')
            {
                fe.field = format!("{to}{rest}");
                break;
            }
        }
        errors.add(&format!("{item}.{}", fe.field), fe.message);
    }
}

fn required(errors: &mut ValidationErrors, field: &str, value: &Option<String>) -> String {
    match value.as_deref().map(str::trim) {
        Some(v) if !v.is_empty() => v.to_owned(),
        _ => {
            errors.add(field, "is required");
            String::new()
        }
    }
}

fn check_refs(errors: &mut ValidationErrors, field: &str, known: &[&str], refs: &[String]) {
    for r in refs {
        if !known.contains(&r.trim()) {
            errors.add(
                field,
                format!("'{r}' is not a data category of this document or workspace"),
            );
        }
    }
}

fn push_unique(list: &mut Vec<String>, value: &str) {
    if !list.iter().any(|v| v == value) {
        list.push(value.to_owned());
    }
}

fn duplicate(errors: &mut ValidationErrors, field: String, key: &str, seen: &mut Vec<String>) {
    if seen.iter().any(|k| k == key) {
        errors.add(&field, format!("'{key}' appears twice"));
    } else {
        seen.push(key.to_owned());
    }
}

/// Turns a document into the categories, purposes and systems to import, every item validated.
/// `existing` is the workspace's inventory: items may refer to its categories. Every problem is
/// named by its place in the document, e.g. `data_use[2].legal_basis`.
pub fn to_inventory(
    doc: FidesDocument,
    existing: &Inventory,
) -> Result<Inventory, ValidationErrors> {
    let mut errors = ValidationErrors::default();
    let mut inv = Inventory::default();

    // Kinds of person: a category without `lethe.subject_kinds` takes the names of the subjects
    // that declarations name beside it (a subject not in the list by its key).
    let mut subject_names: Vec<(String, String)> = Vec::new();
    let mut seen_subjects: Vec<String> = Vec::new();
    for (i, d) in doc.data_subject.iter().enumerate() {
        let at = format!("data_subject[{i}]");
        let key = required(&mut errors, &format!("{at}.fides_key"), &d.fides_key);
        if key.is_empty() {
            continue;
        }
        duplicate(
            &mut errors,
            format!("{at}.fides_key"),
            &key,
            &mut seen_subjects,
        );
        let name = d
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .unwrap_or(&key)
            .to_owned();
        subject_names.push((key, name));
    }
    let declared_kinds = |category: &str| {
        let mut kinds: Vec<String> = Vec::new();
        let declarations = doc.system.iter().flat_map(|s| &s.privacy_declarations);
        for d in declarations.filter(|d| d.data_categories.iter().any(|c| c.trim() == category)) {
            for key in &d.data_subjects {
                let key = key.trim();
                let name = subject_names
                    .iter()
                    .find(|(k, _)| k == key)
                    .map_or(key, |(_, n)| n.as_str());
                push_unique(&mut kinds, name);
            }
        }
        kinds
    };

    let mut seen: Vec<String> = Vec::new();
    for (i, c) in doc.data_category.iter().enumerate() {
        let at = format!("data_category[{i}]");
        let key = required(&mut errors, &format!("{at}.fides_key"), &c.fides_key);
        let name = required(&mut errors, &format!("{at}.name"), &c.name);
        if key.is_empty() || name.is_empty() {
            continue;
        }
        duplicate(&mut errors, format!("{at}.fides_key"), &key, &mut seen);
        let mut ext = c.lethe.clone().unwrap_or_default();
        if c.lethe.is_none() {
            ext.subject_kinds = declared_kinds(&key);
        }
        for (j, rule) in ext.retention_rules.into_iter().enumerate() {
            let place = format!("{at}.lethe.retention_rules[{j}]");
            match rule.into_rule(&key).validate() {
                Ok(r) => inv.retention_rules.push(r),
                Err(e) => nest(&mut errors, &place, &[], e),
            }
        }
        let category = DataCategory {
            key,
            name,
            description: c.description.clone().unwrap_or_default(),
            subject_kinds: ext.subject_kinds,
            source: ext.source,
            sensitivity: ext.sensitivity.unwrap_or(Sensitivity::Normal),
            fields: ext.fields,
            subject_optional: ext.subject_optional,
        };
        match category.validate() {
            Ok(c) => inv.categories.push(c),
            Err(e) => nest(
                &mut errors,
                &at,
                &[
                    ("key", "fides_key"),
                    ("subject_kinds", "lethe.subject_kinds"),
                    ("source", "lethe.source"),
                    ("fields", "lethe.fields"),
                ],
                e,
            ),
        }
    }

    let mut known: Vec<&str> = existing.category_keys();
    for c in &inv.categories {
        if !known.contains(&c.key.as_str()) {
            known.push(&c.key);
        }
    }

    // Declarations first: purposes without `lethe.categories` take theirs from them.
    let mut declared: Vec<(String, Vec<String>, Option<LegalBasis>)> = Vec::new();
    let mut seen_systems: Vec<String> = Vec::new();
    let mut systems = Vec::new();
    for (i, s) in doc.system.iter().enumerate() {
        let at = format!("system[{i}]");
        let mut from_declarations = Vec::new();
        for (j, d) in s.privacy_declarations.iter().enumerate() {
            let dat = format!("{at}.privacy_declarations[{j}]");
            let cats: Vec<String> = d
                .data_categories
                .iter()
                .map(|c| c.trim().to_owned())
                .collect();
            check_refs(
                &mut errors,
                &format!("{dat}.data_categories"),
                &known,
                &cats,
            );
            for c in &cats {
                push_unique(&mut from_declarations, c);
            }
            let basis = match &d.legal_basis_for_processing {
                Some(raw) => errors.check(
                    &format!("{dat}.legal_basis_for_processing"),
                    parse_basis(raw),
                ),
                None => None,
            };
            if let Some(use_key) = d.data_use.as_deref().map(str::trim) {
                declared.push((use_key.to_owned(), cats, basis));
            }
        }
        let key = required(&mut errors, &format!("{at}.fides_key"), &s.fides_key);
        let name = required(&mut errors, &format!("{at}.name"), &s.name);
        if key.is_empty() || name.is_empty() {
            continue;
        }
        duplicate(
            &mut errors,
            format!("{at}.fides_key"),
            &key,
            &mut seen_systems,
        );
        let ext = s.lethe.clone().unwrap_or_default();
        let categories = match ext.categories {
            Some(list) => {
                check_refs(
                    &mut errors,
                    &format!("{at}.lethe.categories"),
                    &known,
                    &list,
                );
                list
            }
            None => from_declarations,
        };
        let system = System {
            key,
            name,
            description: s.description.clone().unwrap_or_default(),
            location: ext.location,
            categories,
        };
        match system.validate() {
            Ok(s) => systems.push(s),
            Err(e) => nest(
                &mut errors,
                &at,
                &[
                    ("key", "fides_key"),
                    ("location", "lethe.location"),
                    ("categories", "lethe.categories"),
                ],
                e,
            ),
        }
    }

    let mut seen_uses: Vec<String> = Vec::new();
    for (i, u) in doc.data_use.iter().enumerate() {
        let at = format!("data_use[{i}]");
        let key = required(&mut errors, &format!("{at}.fides_key"), &u.fides_key);
        let name = required(&mut errors, &format!("{at}.name"), &u.name);
        let declarations: Vec<_> = declared.iter().filter(|(k, _, _)| *k == key).collect();
        let basis = match &u.legal_basis {
            Some(raw) => errors.check(&format!("{at}.legal_basis"), parse_basis(raw)),
            None => {
                let mut bases: Vec<LegalBasis> = Vec::new();
                for (_, _, b) in &declarations {
                    if let Some(b) = b
                        && !bases.contains(b)
                    {
                        bases.push(*b);
                    }
                }
                match bases.as_slice() {
                    [one] => Some(*one),
                    // Fides keeps bases on declarations now: the purpose waits for one, and the
                    // inventory check keeps it out of a published policy until it has one.
                    [] => Some(LegalBasis::Awaiting),
                    several => {
                        let names: Vec<_> =
                            several.iter().filter_map(|b| data_use_basis(*b)).collect();
                        errors.add(
                            &format!("{at}.legal_basis"),
                            format!(
                                "is required: the systems' declarations for this data use disagree ({})",
                                names.join(", ")
                            ),
                        );
                        None
                    }
                }
            }
        };
        let (Some(basis), false, false) = (basis, key.is_empty(), name.is_empty()) else {
            continue;
        };
        duplicate(&mut errors, format!("{at}.fides_key"), &key, &mut seen_uses);
        let ext = u.lethe.clone().unwrap_or_default();
        let categories = match ext.categories {
            Some(list) => {
                check_refs(
                    &mut errors,
                    &format!("{at}.lethe.categories"),
                    &known,
                    &list,
                );
                list
            }
            None => {
                let mut out = Vec::new();
                for (_, cats, _) in &declarations {
                    for c in cats {
                        push_unique(&mut out, c);
                    }
                }
                out
            }
        };
        let balancing_note = ext.balancing_note.or_else(|| {
            u.legitimate_interest_impact_assessment
                .as_deref()
                .map(str::trim)
                .filter(|url| !url.is_empty())
                .map(|url| format!("See the legitimate interest impact assessment: {url}"))
        });
        let purpose = Purpose {
            key,
            name,
            description: u.description.clone().unwrap_or_default(),
            legal_basis: basis,
            balancing_note,
            categories,
            consent_prompt: ext.consent_prompt,
            cookies: ext.cookies,
            local_storage: ext.local_storage,
            opt_out_of_sale: ext.opt_out_of_sale,
        };
        match purpose.validate() {
            Ok(p) => inv.purposes.push(p),
            Err(e) => nest(
                &mut errors,
                &at,
                &[
                    ("key", "fides_key"),
                    ("balancing_note", "lethe.balancing_note"),
                    ("categories", "lethe.categories"),
                    ("consent_prompt", "lethe.consent_prompt"),
                    ("cookies", "lethe.cookies"),
                    ("local_storage", "lethe.local_storage"),
                    ("opt_out_of_sale", "lethe.opt_out_of_sale"),
                ],
                e,
            ),
        }
    }
    inv.systems = systems;
    errors.into_result().map(|()| inv)
}

#[cfg(test)]
mod tests;
