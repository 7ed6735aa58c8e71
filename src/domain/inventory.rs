//! The inventory: what personal data is collected (data categories), why (purposes with a legal
//! basis), where it lives (systems), who else receives it (recipients), how long it is kept
//! (retention rules) and what overrides deletion (legal holds). Items are named by a stable key
//! so that policies, API clients and imports can refer to them.

use super::schedule::CronSchedule;
use super::transform::Transform;
use super::{ValidationErrors, text};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A dotted lower-case key, e.g. `user.contact.email` or `usage.message_log.payload_preview`.
pub fn parse_key(raw: &str) -> Result<String, String> {
    let k = raw.trim();
    let ok = (1..=120).contains(&k.len())
        && k.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        });
    if ok {
        Ok(k.to_owned())
    } else {
        Err(format!(
            "'{k}' is not a key: use lower-case words of letters, digits, '_' or '-', joined by dots"
        ))
    }
}

/// Replaces `value` with its cleaned form, or records why it cannot be (the item is then refused
/// whole, so the value left behind does not matter).
fn clean(
    errors: &mut ValidationErrors,
    field: &str,
    value: &mut String,
    check: impl FnOnce(&str) -> Result<String, String>,
) {
    if let Some(cleaned) = errors.check(field, check(value)) {
        *value = cleaned;
    }
}

fn key_list(errors: &mut ValidationErrors, field: &str, keys: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for k in keys {
        if let Some(k) = errors.check(field, parse_key(k))
            && !out.contains(&k)
        {
            out.push(k);
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sensitivity {
    Low,
    Normal,
    High,
    /// GDPR Art. 9 special categories (health, beliefs…) and Art. 10 (criminal records).
    Special,
}

/// What ingestion does with one field of a record (enforced by the vault).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldHandling {
    /// Stored as sent.
    Keep,
    /// Only the first `preview_chars` characters are kept.
    Preview,
    /// Values containing a payment card number are refused.
    RefuseCard,
    /// Payment card numbers are masked to their last four digits.
    MaskCard,
    /// An IP address: the country is derived and only the network is kept.
    IpCountry,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "keep")]
    pub handling: FieldHandling,
    /// For `preview`: how many characters are kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_chars: Option<u16>,
}

fn keep() -> FieldHandling {
    FieldHandling::Keep
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DataCategory {
    /// Dotted key; fideslang's where one fits (e.g. `user.contact.email`).
    pub key: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Kinds of person it concerns, e.g. `customer`, `customer's recipient`, `instructor`, `visitor`.
    #[serde(default)]
    pub subject_kinds: Vec<String>,
    /// Where it comes from, e.g. "provided by the person", "collected automatically".
    #[serde(default)]
    pub source: String,
    pub sensitivity: Sensitivity,
    /// The fields a record of this category may carry.
    #[serde(default)]
    pub fields: Vec<FieldSpec>,
    /// Records may arrive without a person (e.g. a visitor's access log).
    #[serde(default)]
    pub subject_optional: bool,
}

impl DataCategory {
    pub fn validate(mut self) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        clean(&mut errors, "key", &mut self.key, parse_key);
        clean(&mut errors, "name", &mut self.name, |v| text(v, 200, false));
        clean(&mut errors, "description", &mut self.description, |v| {
            text(v, 4000, true)
        });
        clean(&mut errors, "source", &mut self.source, |v| {
            text(v, 200, true)
        });
        let mut kinds = Vec::new();
        for k in &self.subject_kinds {
            if let Some(k) = errors.check("subject_kinds", text(k, 80, false)) {
                kinds.push(k);
            }
        }
        self.subject_kinds = kinds;
        let mut names: Vec<String> = Vec::new();
        for (i, f) in self.fields.iter_mut().enumerate() {
            let field = format!("fields[{i}]");
            let ok_name = f.name.len() <= 80
                && !f.name.is_empty()
                && f.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !ok_name {
                errors.add(&field, "name: use lower-case letters, digits and '_'");
            } else if names.contains(&f.name) {
                errors.add(&field, format!("name: '{}' appears twice", f.name));
            } else {
                names.push(f.name.clone());
            }
            match (f.handling, f.preview_chars) {
                (FieldHandling::Preview, Some(n)) if (1..=10_000).contains(&n) => {}
                (FieldHandling::Preview, _) => {
                    errors.add(&field, "preview_chars: give 1 to 10000 characters")
                }
                (_, Some(_)) => errors.add(&field, "preview_chars: only for handling 'preview'"),
                _ => {}
            }
        }
        errors.into_result().map(|()| self)
    }
}

/// The six lawful bases of GDPR Art. 6(1), or none yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LegalBasis {
    Consent,
    Contract,
    LegalObligation,
    VitalInterests,
    PublicTask,
    LegitimateInterests,
    /// Not a basis: the purpose came without one (a fideslang data use, whose basis Fides now
    /// keeps on privacy declarations). It can be stored, so an import need not fail, but the
    /// inventory check reports it as an error, so it is never published.
    Awaiting,
}

impl LegalBasis {
    pub fn label(self) -> &'static str {
        match self {
            LegalBasis::Consent => "Consent (Art. 6(1)(a))",
            LegalBasis::Contract => "Contract (Art. 6(1)(b))",
            LegalBasis::LegalObligation => "Legal obligation (Art. 6(1)(c))",
            LegalBasis::VitalInterests => "Vital interests (Art. 6(1)(d))",
            LegalBasis::PublicTask => "Public task (Art. 6(1)(e))",
            LegalBasis::LegitimateInterests => "Legitimate interests (Art. 6(1)(f))",
            LegalBasis::Awaiting => "Awaiting a legal basis",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Purpose {
    pub key: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub legal_basis: LegalBasis,
    /// Required for legitimate interests: why the interest is not overridden by the person's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balancing_note: Option<String>,
    /// Keys of the data categories processed for this purpose.
    #[serde(default)]
    pub categories: Vec<String>,
    /// For consent purposes: the question the consent banner asks, in the words people see.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_prompt: Option<String>,
    /// For consent purposes: the cookies set for it, by name; a trailing `*` matches every name
    /// that starts with what comes before it (`_ga*`). The banner deletes them when the purpose
    /// is refused or consent to it withdrawn.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cookies: Vec<String>,
    /// For consent purposes: the browser's local-storage keys set for it, by the same rule.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub local_storage: Vec<String>,
    /// For consent purposes: it is a sale or sharing of personal data, or targeted advertising,
    /// so a Global Privacy Control signal refuses it without asking.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub opt_out_of_sale: bool,
}

/// At most this many cookie names, and as many local-storage keys, per purpose.
pub const MAX_STORAGE_NAMES: usize = 50;

/// A cookie name as RFC 6265 allows it (a token: visible ASCII but separators), 1 to 100
/// characters, with an optional trailing `*` (a prefix, which must not be empty).
pub fn parse_cookie_name(raw: &str) -> Result<String, String> {
    let n = raw.trim();
    let stem = n.strip_suffix('*').unwrap_or(n);
    let ok = (1..=100).contains(&n.len())
        && !stem.is_empty()
        && stem
            .chars()
            .all(|c| c.is_ascii_graphic() && !"()<>@,;:\\\"/[]?={}*".contains(c));
    if ok {
        Ok(n.to_owned())
    } else {
        Err(format!(
            "'{n}' is not a cookie name: use up to 100 letters, digits or !#$%&'+-.^_`|~, \
             with an optional '*' at the end for every name starting so"
        ))
    }
}

/// A local-storage key: 1 to 200 visible ASCII characters, with an optional trailing `*` (a
/// prefix, which must not be empty).
pub fn parse_storage_key(raw: &str) -> Result<String, String> {
    let k = raw.trim();
    let stem = k.strip_suffix('*').unwrap_or(k);
    let ok = (1..=200).contains(&k.len())
        && !stem.is_empty()
        && stem.chars().all(|c| c.is_ascii_graphic() && c != '*');
    if ok {
        Ok(k.to_owned())
    } else {
        Err(format!(
            "'{k}' is not a local-storage key: use up to 200 visible ASCII characters, \
             with an optional '*' at the end for every key starting so"
        ))
    }
}

fn name_list(
    errors: &mut ValidationErrors,
    field: &str,
    names: &[String],
    parse: fn(&str) -> Result<String, String>,
) -> Vec<String> {
    if names.len() > MAX_STORAGE_NAMES {
        errors.add(field, format!("give at most {MAX_STORAGE_NAMES} names"));
    }
    let mut out = Vec::new();
    for n in names {
        if let Some(n) = errors.check(field, parse(n))
            && !out.contains(&n)
        {
            out.push(n);
        }
    }
    out
}

impl Purpose {
    pub fn validate(mut self) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        clean(&mut errors, "key", &mut self.key, parse_key);
        clean(&mut errors, "name", &mut self.name, |v| text(v, 200, false));
        clean(&mut errors, "description", &mut self.description, |v| {
            text(v, 4000, true)
        });
        let note = self.balancing_note.as_deref().unwrap_or_default();
        self.balancing_note = errors
            .check("balancing_note", text(note, 4000, true))
            .filter(|n| !n.is_empty());
        match (self.legal_basis, &self.balancing_note) {
            (LegalBasis::LegitimateInterests, None) => errors.add(
                "balancing_note",
                "is required for legitimate interests: say why the interest is not overridden by the person's rights",
            ),
            (LegalBasis::LegitimateInterests, Some(_)) | (_, None) => {}
            (_, Some(_)) => errors.add("balancing_note", "belongs to legitimate-interest purposes only"),
        }
        let prompt = self.consent_prompt.as_deref().unwrap_or_default();
        self.consent_prompt = errors
            .check("consent_prompt", text(prompt, 400, true))
            .filter(|p| !p.is_empty());
        if self.consent_prompt.is_some() && self.legal_basis != LegalBasis::Consent {
            errors.add("consent_prompt", "belongs to consent purposes only");
        }
        self.categories = key_list(&mut errors, "categories", &self.categories);
        self.cookies = name_list(&mut errors, "cookies", &self.cookies, parse_cookie_name);
        self.local_storage = name_list(
            &mut errors,
            "local_storage",
            &self.local_storage,
            parse_storage_key,
        );
        if self.legal_basis != LegalBasis::Consent {
            for (field, given) in [
                ("cookies", !self.cookies.is_empty()),
                ("local_storage", !self.local_storage.is_empty()),
                ("opt_out_of_sale", self.opt_out_of_sale),
            ] {
                if given {
                    errors.add(
                        field,
                        "belongs to consent purposes only (the banner asks for those)",
                    );
                }
            }
        }
        errors.into_result().map(|()| self)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct System {
    pub key: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Where it runs, e.g. "EU (Germany), our hosting provider".
    #[serde(default)]
    pub location: String,
    /// Keys of the data categories it holds.
    #[serde(default)]
    pub categories: Vec<String>,
}

impl System {
    pub fn validate(mut self) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        clean(&mut errors, "key", &mut self.key, parse_key);
        clean(&mut errors, "name", &mut self.name, |v| text(v, 200, false));
        clean(&mut errors, "description", &mut self.description, |v| {
            text(v, 4000, true)
        });
        clean(&mut errors, "location", &mut self.location, |v| {
            text(v, 200, true)
        });
        self.categories = key_list(&mut errors, "categories", &self.categories);
        errors.into_result().map(|()| self)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecipientRole {
    /// Processes on the operator's instructions (a sub-processor).
    Processor,
    /// Decides for itself what it does with the data.
    IndependentController,
    /// A public authority (tax office, court, regulator).
    Authority,
}

/// How a transfer out of the EEA is made lawful (GDPR Chapter V).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransferSafeguard {
    /// No transfer out of the EEA.
    NotATransfer,
    /// An adequacy decision (Art. 45).
    Adequacy,
    /// Standard contractual clauses (Art. 46(2)(c)).
    Sccs,
    /// Binding corporate rules (Art. 47).
    Bcrs,
    /// A derogation for a specific situation (Art. 49).
    Derogation,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Recipient {
    pub key: String,
    pub name: String,
    pub role: RecipientRole,
    /// What they do with the data, e.g. "payment processing".
    pub purpose: String,
    /// ISO 3166-1 alpha-2 country code where the data is processed.
    pub country: String,
    pub safeguard: TransferSafeguard,
    /// For a transfer under an Art. 49 derogation: which one, e.g. "explicit consent
    /// (Art. 49(1)(a))".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub derogation: Option<String>,
    /// Keys of the data categories they receive.
    #[serde(default)]
    pub categories: Vec<String>,
}

impl Recipient {
    pub fn validate(mut self) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        clean(&mut errors, "key", &mut self.key, parse_key);
        clean(&mut errors, "name", &mut self.name, |v| text(v, 200, false));
        clean(&mut errors, "purpose", &mut self.purpose, |v| {
            text(v, 400, false)
        });
        let country = self.country.trim().to_ascii_uppercase();
        if country.len() == 2 && country.chars().all(|c| c.is_ascii_uppercase()) {
            self.country = country;
        } else {
            errors.add(
                "country",
                "use a two-letter ISO 3166 country code, e.g. DE or US",
            );
        }
        let derogation = self.derogation.as_deref().unwrap_or_default();
        self.derogation = errors
            .check("derogation", text(derogation, 400, true))
            .filter(|d| !d.is_empty());
        if errors.is_empty()
            && let Some((field, message)) = super::transfer::disagreement(
                &self.country,
                self.safeguard,
                self.derogation.as_deref(),
            )
        {
            errors.add(field, message);
        }
        self.categories = key_list(&mut errors, "categories", &self.categories);
        errors.into_result().map(|()| self)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RetentionTrigger {
    /// Counted from when the record was collected.
    Collected,
    /// Counted from when the person's account was closed.
    AccountClosed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RetentionAction {
    Delete,
    Anonymize,
}

/// A promise about how long one category is kept, and the job that keeps it: on its schedule
/// the rule deletes, or anonymizes field by field, every record of its category past its period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionRule {
    pub key: String,
    /// Key of the data category the rule applies to.
    pub category: String,
    pub trigger: RetentionTrigger,
    /// Days after the trigger; 0 means at the trigger.
    pub days: u32,
    pub action: RetentionAction,
    #[serde(default)]
    pub note: String,
    /// When the rule runs, in UTC: crontab's five fields (`0 3 * * *`), a shorthand
    /// (`@daily`) or six fields with seconds first.
    #[serde(default = "daily")]
    pub schedule: CronSchedule,
    /// A disabled rule does not run on its schedule (it can still be run by hand).
    #[serde(default = "enabled")]
    pub enabled: bool,
    /// For `anonymize`: what happens to each field (and `drop_subject`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transforms: Vec<Transform>,
    /// What the rule promises, in the operator's words ("no message preview older than 30
    /// days"); counted against the data after every run. Empty: Lethe words it.
    #[serde(default)]
    pub claim: String,
}

fn daily() -> CronSchedule {
    CronSchedule::daily()
}

fn enabled() -> bool {
    true
}

impl RetentionRule {
    /// A rule with the defaults of the API: daily, enabled, no transforms, Lethe's claim.
    pub fn new(
        key: &str,
        category: &str,
        trigger: RetentionTrigger,
        days: u32,
        action: RetentionAction,
    ) -> Self {
        RetentionRule {
            key: key.to_owned(),
            category: category.to_owned(),
            trigger,
            days,
            action,
            note: String::new(),
            schedule: CronSchedule::daily(),
            enabled: true,
            transforms: Vec::new(),
            claim: String::new(),
        }
    }

    pub fn validate(mut self) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        clean(&mut errors, "key", &mut self.key, parse_key);
        clean(&mut errors, "category", &mut self.category, parse_key);
        if self.days > 36_500 {
            errors.add("days", "must be at most 36500 (100 years)");
        }
        clean(&mut errors, "note", &mut self.note, |v| text(v, 1000, true));
        clean(&mut errors, "claim", &mut self.claim, |v| {
            text(v, 300, true)
        });
        if let Some(problem) = self.schedule.problem() {
            errors.add("schedule", problem.to_string());
        }
        match self.action {
            RetentionAction::Delete if !self.transforms.is_empty() => errors.add(
                "transforms",
                "belong to action 'anonymize'; a deleted record needs none",
            ),
            RetentionAction::Anonymize if self.transforms.is_empty() => errors.add(
                "transforms",
                "give at least one transform: what happens to which field",
            ),
            _ => {}
        }
        errors.into_result().map(|()| self)
    }

    /// The claim as published: the operator's words, or Lethe's.
    pub fn claim_text(&self) -> String {
        if !self.claim.is_empty() {
            return self.claim.clone();
        }
        let what = match self.action {
            RetentionAction::Delete => "kept",
            RetentionAction::Anonymize => "kept unaltered",
        };
        let days = match self.days {
            1 => "1 day".to_owned(),
            n => format!("{n} days"),
        };
        let (c, d) = (&self.category, days);
        match (self.trigger, self.days) {
            (RetentionTrigger::Collected, 0) => format!("No {c} record is {what} once collected."),
            (RetentionTrigger::Collected, _) => {
                format!("No {c} record is {what} more than {d} after it was collected.")
            }
            (RetentionTrigger::AccountClosed, 0) => {
                format!("No {c} record is {what} once its account is closed.")
            }
            (RetentionTrigger::AccountClosed, _) => {
                format!("No {c} record is {what} more than {d} after its account closed.")
            }
        }
    }
}

/// Keeps data that retention would delete, for a stated reason (accounting law, litigation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LegalHold {
    pub key: String,
    /// The category held; absent means every category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    pub reason: String,
    /// The last day of the hold (YYYY-MM-DD); absent means until it is lifted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<chrono::NaiveDate>,
}

impl LegalHold {
    pub fn validate(mut self) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        clean(&mut errors, "key", &mut self.key, parse_key);
        if let Some(c) = &self.category {
            self.category = errors.check("category", parse_key(c));
        }
        clean(&mut errors, "reason", &mut self.reason, |v| {
            text(v, 1000, false)
        });
        errors.into_result().map(|()| self)
    }
}

/// The kinds of inventory item, as named in API paths and audit actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InventoryKind {
    Categories,
    Purposes,
    Systems,
    Recipients,
    RetentionRules,
    LegalHolds,
}

impl InventoryKind {
    /// The API path segment, e.g. `retention-rules`.
    pub fn segment(self) -> &'static str {
        match self {
            InventoryKind::Categories => "categories",
            InventoryKind::Purposes => "purposes",
            InventoryKind::Systems => "systems",
            InventoryKind::Recipients => "recipients",
            InventoryKind::RetentionRules => "retention-rules",
            InventoryKind::LegalHolds => "legal-holds",
        }
    }

    /// Singular, for messages and audit actions, e.g. `retention_rule`.
    pub fn singular(self) -> &'static str {
        match self {
            InventoryKind::Categories => "category",
            InventoryKind::Purposes => "purpose",
            InventoryKind::Systems => "system",
            InventoryKind::Recipients => "recipient",
            InventoryKind::RetentionRules => "retention_rule",
            InventoryKind::LegalHolds => "legal_hold",
        }
    }
}

/// The whole inventory of a workspace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Inventory {
    pub categories: Vec<DataCategory>,
    pub purposes: Vec<Purpose>,
    pub systems: Vec<System>,
    pub recipients: Vec<Recipient>,
    pub retention_rules: Vec<RetentionRule>,
    pub legal_holds: Vec<LegalHold>,
}

impl Inventory {
    pub fn category_keys(&self) -> Vec<&str> {
        self.categories.iter().map(|c| c.key.as_str()).collect()
    }

    /// Where a category is referenced, as readable names ("purpose 'billing'").
    pub fn references_to(&self, category: &str) -> Vec<String> {
        let mut out = Vec::new();
        let has = |keys: &[String]| keys.iter().any(|k| k == category);
        out.extend(
            self.purposes
                .iter()
                .filter(|p| has(&p.categories))
                .map(|p| format!("purpose '{}'", p.key)),
        );
        out.extend(
            self.systems
                .iter()
                .filter(|s| has(&s.categories))
                .map(|s| format!("system '{}'", s.key)),
        );
        out.extend(
            self.recipients
                .iter()
                .filter(|r| has(&r.categories))
                .map(|r| format!("recipient '{}'", r.key)),
        );
        out.extend(
            self.retention_rules
                .iter()
                .filter(|r| r.category == category)
                .map(|r| format!("retention rule '{}'", r.key)),
        );
        out.extend(
            self.legal_holds
                .iter()
                .filter(|h| h.category.as_deref() == Some(category))
                .map(|h| format!("legal hold '{}'", h.key)),
        );
        out
    }

    /// A retention rule's transforms name fields its category declares (`prefix` is the rule's
    /// place, e.g. `retention_rules[2].`, or empty).
    pub fn check_transforms(
        &self,
        rule: &RetentionRule,
        prefix: &str,
    ) -> Result<(), ValidationErrors> {
        let Some(category) = self.categories.iter().find(|c| c.key == rule.category) else {
            return Ok(());
        };
        if rule.transforms.is_empty() {
            return Ok(());
        }
        let fields: Vec<String> = category.fields.iter().map(|f| f.name.clone()).collect();
        super::transform::validate_transforms(&rule.transforms, &fields).map_err(|e| {
            ValidationErrors(
                e.0.into_iter()
                    .map(|fe| super::FieldError {
                        field: format!("{prefix}{}", fe.field),
                        message: fe.message,
                    })
                    .collect(),
            )
        })
    }

    /// Category keys among `referenced` that this inventory does not define, as field errors.
    pub fn check_categories_exist<'a>(
        &self,
        field: &str,
        referenced: impl IntoIterator<Item = &'a String>,
    ) -> Result<(), ValidationErrors> {
        let known = self.category_keys();
        let mut errors = ValidationErrors::default();
        for key in referenced {
            if !known.contains(&key.as_str()) {
                errors.add(
                    field,
                    format!("'{key}' is not a data category of this workspace"),
                );
            }
        }
        errors.into_result()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn category() -> DataCategory {
        DataCategory {
            key: "usage.message_log.payload_preview".into(),
            name: "Message preview".into(),
            description: String::new(),
            subject_kinds: vec!["customer's recipient".into()],
            source: "sent through the API".into(),
            sensitivity: Sensitivity::Normal,
            fields: vec![FieldSpec {
                name: "preview".into(),
                description: String::new(),
                handling: FieldHandling::Preview,
                preview_chars: Some(40),
            }],
            subject_optional: false,
        }
    }

    #[test]
    fn keys() {
        assert!(parse_key("user.contact.email").is_ok());
        for bad in ["", "User.Email", "a..b", ".a", "a b", "a.", "ü"] {
            assert!(parse_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn categories_check_their_fields() {
        assert!(category().validate().is_ok());
        let mut c = category();
        c.fields[0].preview_chars = None;
        c.fields.push(c.fields[0].clone());
        let e = c.validate().unwrap_err();
        assert!(e.summary().contains("preview_chars"));
        assert!(e.summary().contains("appears twice"));
    }

    #[test]
    fn legitimate_interests_need_a_balancing_note() {
        let p = Purpose {
            key: "fraud-prevention".into(),
            name: "Preventing abuse".into(),
            description: String::new(),
            legal_basis: LegalBasis::LegitimateInterests,
            balancing_note: None,
            consent_prompt: None,
            cookies: Vec::new(),
            local_storage: Vec::new(),
            opt_out_of_sale: false,
            categories: vec!["user.device.ip_address".into()],
        };
        assert_eq!(
            p.clone().validate().unwrap_err().0[0].field,
            "balancing_note"
        );
        let ok = Purpose {
            balancing_note: Some("Abuse harms every customer; only network data is used.".into()),
            consent_prompt: None,
            ..p.clone()
        };
        assert!(ok.validate().is_ok());
        let contract = Purpose {
            legal_basis: LegalBasis::Contract,
            balancing_note: Some("not needed".into()),
            consent_prompt: None,
            ..p
        };
        assert!(contract.validate().is_err());
    }

    #[test]
    fn consent_purposes_list_their_cookies_and_storage() {
        let p = Purpose {
            key: "analytics".into(),
            name: "Counting visits".into(),
            description: String::new(),
            legal_basis: LegalBasis::Consent,
            balancing_note: None,
            consent_prompt: Some("May we count your visits?".into()),
            cookies: vec![" _ga* ".into(), "_gid".into(), "_gid".into()],
            local_storage: vec!["stats:last".into()],
            opt_out_of_sale: true,
            categories: vec![],
        };
        let ok = p.clone().validate().unwrap();
        assert_eq!(ok.cookies, ["_ga*", "_gid"]);
        for bad in ["", "*", "a b", "a;b", "a*b", "x=1", "é", &"a".repeat(101)] {
            assert!(parse_cookie_name(bad).is_err(), "{bad:?}");
        }
        for bad in ["", "*", "a b", "a*b*", &"k".repeat(201)] {
            assert!(parse_storage_key(bad).is_err(), "{bad:?}");
        }
        assert!(parse_storage_key("app:theme*").is_ok());
        let too_many = Purpose {
            cookies: (0..51).map(|i| format!("c{i}")).collect(),
            ..p.clone()
        };
        assert_eq!(too_many.validate().unwrap_err().0[0].field, "cookies");
        let contract = Purpose {
            legal_basis: LegalBasis::Contract,
            consent_prompt: None,
            ..p
        };
        let fields: Vec<String> = contract
            .validate()
            .unwrap_err()
            .0
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["cookies", "local_storage", "opt_out_of_sale"]);
    }

    #[test]
    fn a_rule_names_its_bad_schedule_under_schedule() {
        let rule: RetentionRule = serde_json::from_value(serde_json::json!({
            "key": "r", "category": "c", "trigger": "collected", "days": 1, "action": "delete",
            "schedule": "0 25 * * *"
        }))
        .unwrap();
        let e = rule.validate().unwrap_err();
        assert_eq!(e.0[0].field, "schedule");
        assert!(e.0[0].message.contains("hour"), "{}", e.0[0].message);
    }

    #[test]
    fn recipients_need_a_country_code() {
        let r = Recipient {
            key: "payments".into(),
            name: "Payment processor".into(),
            role: RecipientRole::Processor,
            purpose: "card payments".into(),
            country: "us".into(),
            safeguard: TransferSafeguard::Sccs,
            derogation: None,
            categories: vec![],
        };
        assert_eq!(r.clone().validate().unwrap().country, "US");
        assert!(
            Recipient {
                country: "USA".into(),
                ..r
            }
            .validate()
            .is_err()
        );
    }
}
