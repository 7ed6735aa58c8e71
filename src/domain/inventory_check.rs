//! The inventory checks itself: what would make the published policy false or empty. Each item's
//! own rules (`validate`) are enforced when it is saved; this looks across items (a category no
//! purpose uses, a category no rule ends) and at what older versions of Lethe let through.
//!
//! Errors block publication; warnings are shown and must be confirmed before publishing. While
//! the inventory is being filled in, both are listed on its page: a category has to exist before
//! the purpose that uses it can be saved, so completeness cannot be demanded at every save.

use super::inventory::{Inventory, LegalBasis, Sensitivity};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The policy would state something false or leave out what it must say: publication is
    /// refused until it is fixed.
    Error,
    /// Probably wrong, possibly deliberate: publication asks for a confirmation.
    Warning,
}

/// One thing the check found, about one item of the inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Finding {
    pub severity: Severity,
    /// The item, e.g. "recipient 'payco'" (empty for the inventory as a whole).
    pub item: String,
    /// Its field, when one field is at fault.
    pub field: String,
    pub message: String,
}

impl Finding {
    pub fn error(item: String, field: &str, message: impl Into<String>) -> Self {
        Finding {
            severity: Severity::Error,
            item,
            field: field.to_owned(),
            message: message.into(),
        }
    }

    pub fn warning(item: String, field: &str, message: impl Into<String>) -> Self {
        Finding {
            severity: Severity::Warning,
            ..Finding::error(item, field, message)
        }
    }

    /// "recipient 'payco', safeguard: …", for messages and logs.
    pub fn describe(&self) -> String {
        match (self.item.is_empty(), self.field.is_empty()) {
            (true, _) => self.message.clone(),
            (false, true) => format!("{}: {}", self.item, self.message),
            (false, false) => format!("{}, {}: {}", self.item, self.field, self.message),
        }
    }
}

/// Everything the check found, errors first.
pub fn check(inv: &Inventory) -> Vec<Finding> {
    let mut out = Vec::new();
    if inv.categories.is_empty() {
        out.push(Finding::error(
            String::new(),
            "",
            "the inventory has no data category: a policy published now would say that no \
             personal data is collected",
        ));
    }
    item_rules(inv, &mut out);
    categories(inv, &mut out);
    purposes(inv, &mut out);
    recipients_and_systems(inv, &mut out);
    rules(inv, &mut out);
    out.sort_by_key(|f| f.severity != Severity::Error);
    out
}

/// Each item's own rules again: items saved before a rule existed (a recipient in the US stored
/// as "no transfer") must not reach a published policy.
fn item_rules(inv: &Inventory, out: &mut Vec<Finding>) {
    fn again<T>(out: &mut Vec<Finding>, item: String, checked: Result<T, super::ValidationErrors>) {
        if let Err(errors) = checked {
            out.extend(
                errors
                    .0
                    .into_iter()
                    .map(|e| Finding::error(item.clone(), &e.field, e.message)),
            );
        }
    }
    for c in &inv.categories {
        again(out, name("data category", &c.key), c.clone().validate());
    }
    for p in &inv.purposes {
        again(out, name("purpose", &p.key), p.clone().validate());
        for field_error in inv
            .check_categories_exist("categories", &p.categories)
            .err()
            .into_iter()
            .flat_map(|e| e.0)
        {
            out.push(Finding::error(
                name("purpose", &p.key),
                &field_error.field,
                field_error.message,
            ));
        }
    }
    for s in &inv.systems {
        again(out, name("system", &s.key), s.clone().validate());
    }
    for r in &inv.recipients {
        again(out, name("recipient", &r.key), r.clone().validate());
    }
    for r in &inv.retention_rules {
        let item = name("retention rule", &r.key);
        again(out, item.clone(), r.clone().validate());
        again(out, item, inv.check_transforms(r, ""));
    }
    for h in &inv.legal_holds {
        again(out, name("legal hold", &h.key), h.clone().validate());
    }
}

fn categories(inv: &Inventory, out: &mut Vec<Finding>) {
    for c in &inv.categories {
        let item = name("data category", &c.key);
        let uses: Vec<_> = inv
            .purposes
            .iter()
            .filter(|p| p.categories.contains(&c.key))
            .collect();
        if uses.is_empty() {
            out.push(Finding::error(
                item.clone(),
                "",
                "no purpose uses it: say why it is collected, or remove it",
            ));
        }
        if !inv.retention_rules.iter().any(|r| r.category == c.key) {
            out.push(Finding::error(
                item.clone(),
                "",
                "no retention rule: say how long it is kept",
            ));
        }
        if c.sensitivity == Sensitivity::Special
            && uses.iter().any(|p| {
                !matches!(
                    p.legal_basis,
                    LegalBasis::Consent | LegalBasis::LegalObligation | LegalBasis::VitalInterests
                )
            })
        {
            out.push(Finding::warning(
                item,
                "sensitivity",
                "special-category data (Art. 9) is used for a purpose whose basis is neither \
                 consent, a legal obligation nor vital interests: check that an Art. 9(2) \
                 exception applies",
            ));
        }
    }
}

fn purposes(inv: &Inventory, out: &mut Vec<Finding>) {
    for p in &inv.purposes {
        let item = name("purpose", &p.key);
        if p.categories.is_empty() {
            out.push(Finding::error(
                item.clone(),
                "categories",
                "names no data category: say which data it uses",
            ));
        }
        if p.legal_basis == LegalBasis::Awaiting {
            out.push(Finding::error(
                item.clone(),
                "legal_basis",
                "has no legal basis yet (it came without one): choose the basis of GDPR Art. 6(1) \
                 it rests on",
            ));
        }
        if p.legal_basis == LegalBasis::Consent && p.consent_prompt.is_none() {
            out.push(Finding::error(
                item,
                "consent_prompt",
                "is a consent purpose: write the question the consent banner will ask",
            ));
        }
    }
}

fn recipients_and_systems(inv: &Inventory, out: &mut Vec<Finding>) {
    for r in &inv.recipients {
        let item = name("recipient", &r.key);
        if r.safeguard == super::inventory::TransferSafeguard::Adequacy
            && let Some(Some(limit)) = super::transfer::adequacy(&r.country)
        {
            out.push(Finding::warning(
                item.clone(),
                "safeguard",
                format!(
                    "the adequacy decision for {} is partial: {limit}; make sure this \
                     recipient is",
                    r.country
                ),
            ));
        }
        if r.categories.is_empty() {
            out.push(Finding::warning(
                item,
                "categories",
                "receives no data category: the policy lists them without saying what they get",
            ));
        }
    }
    for s in &inv.systems {
        if s.categories.is_empty() {
            out.push(Finding::warning(
                name("system", &s.key),
                "categories",
                "holds no data category",
            ));
        }
    }
}

fn rules(inv: &Inventory, out: &mut Vec<Finding>) {
    for r in &inv.retention_rules {
        if !r.enabled {
            out.push(Finding::warning(
                name("retention rule", &r.key),
                "enabled",
                "is disabled: the policy states it, but it does not run on its schedule",
            ));
        }
    }
}

/// What the published text and the vault must agree on: every category the vault holds records
/// of is in the inventory (else the policy would not state it), and the text names it (a custom
/// template can leave the inventory's tables out).
pub fn against_vault(inv: &Inventory, held: &[String], rendered_markdown: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut unnamed = Vec::new();
    for key in held {
        match inv.categories.iter().find(|c| &c.key == key) {
            None => out.push(Finding::error(
                name("data category", key),
                "",
                "the vault holds records of it, but the inventory does not list it: the policy \
                 would not say that it is collected",
            )),
            Some(c) if !mentions(rendered_markdown, &c.name) => unnamed.push(c),
            Some(_) => {}
        }
    }
    // A text that names nothing the vault holds states, in effect, that nothing is collected.
    let names_none = !held.is_empty() && unnamed.len() == held.len();
    if names_none {
        out.push(Finding::error(
            String::new(),
            "",
            "the text names none of the data the vault holds records of: keep the categories \
             table (`{{ categories_table() }}`) in the policy",
        ));
    } else {
        out.extend(unnamed.into_iter().map(|c| {
            Finding::warning(
                name("data category", &c.key),
                "",
                format!(
                    "the vault holds records of it, but the text never names it ('{}'): keep \
                     the categories table in the policy or name it yourself",
                    c.name
                ),
            )
        }));
    }
    out
}

/// Whether the Markdown names `phrase`, also where a table cell escaped its pipes.
fn mentions(markdown: &str, phrase: &str) -> bool {
    let folded = markdown.to_lowercase();
    let phrase = phrase.to_lowercase();
    folded.contains(&phrase) || folded.contains(&phrase.replace('|', "\\|"))
}

fn name(kind: &str, key: &str) -> String {
    format!("{kind} '{key}'")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::inventory::*;

    fn complete() -> Inventory {
        Inventory {
            categories: vec![DataCategory {
                key: "user.contact.email".into(),
                name: "E-mail address".into(),
                description: String::new(),
                subject_kinds: vec!["customer".into()],
                source: "you".into(),
                sensitivity: Sensitivity::Normal,
                fields: vec![],
                subject_optional: false,
            }],
            purposes: vec![Purpose {
                key: "newsletter".into(),
                name: "Newsletter".into(),
                description: String::new(),
                legal_basis: LegalBasis::Consent,
                balancing_note: None,
                categories: vec!["user.contact.email".into()],
                consent_prompt: Some("May we send you our monthly newsletter?".into()),
                cookies: Vec::new(),
                local_storage: Vec::new(),
                opt_out_of_sale: false,
            }],
            recipients: vec![Recipient {
                key: "mailer".into(),
                name: "Mailer".into(),
                role: RecipientRole::Processor,
                purpose: "sends the newsletter".into(),
                country: "US".into(),
                safeguard: TransferSafeguard::Sccs,
                derogation: None,
                categories: vec!["user.contact.email".into()],
            }],
            retention_rules: vec![RetentionRule::new(
                "email-after-closure",
                "user.contact.email",
                RetentionTrigger::AccountClosed,
                0,
                RetentionAction::Delete,
            )],
            ..Inventory::default()
        }
    }

    fn errors(inv: &Inventory) -> Vec<String> {
        check(inv)
            .into_iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| f.describe())
            .collect()
    }

    #[test]
    fn a_complete_inventory_passes() {
        assert_eq!(check(&complete()), []);
    }

    #[test]
    fn an_empty_inventory_cannot_be_published() {
        let e = errors(&Inventory::default());
        assert_eq!(e.len(), 1);
        assert!(e[0].contains("no personal data is collected"), "{e:?}");
    }

    #[test]
    fn a_us_recipient_stored_as_staying_in_the_eea_is_an_error() {
        let mut inv = complete();
        inv.recipients[0].safeguard = TransferSafeguard::NotATransfer;
        let e = errors(&inv);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("recipient 'mailer', safeguard: US is outside the EEA"),
            "{e:?}"
        );
    }

    #[test]
    fn every_category_has_a_purpose_and_a_rule() {
        let mut inv = complete();
        inv.purposes.clear();
        inv.retention_rules.clear();
        let e = errors(&inv);
        assert!(e.iter().any(|m| m.contains("no purpose uses it")), "{e:?}");
        assert!(e.iter().any(|m| m.contains("no retention rule")), "{e:?}");
    }

    #[test]
    fn consent_purposes_name_the_banner_question() {
        let mut inv = complete();
        inv.purposes[0].consent_prompt = None;
        let e = errors(&inv);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains("consent_prompt"), "{e:?}");
    }

    #[test]
    fn a_purpose_awaiting_its_basis_is_an_error() {
        let mut inv = complete();
        inv.purposes[0].legal_basis = LegalBasis::Awaiting;
        inv.purposes[0].consent_prompt = None;
        let e = errors(&inv);
        assert_eq!(
            e,
            [
                "purpose 'newsletter', legal_basis: has no legal basis yet (it came without one): \
              choose the basis of GDPR Art. 6(1) it rests on"
            ]
        );
    }

    #[test]
    fn warnings_do_not_block_but_are_listed() {
        let mut inv = complete();
        inv.recipients[0].safeguard = TransferSafeguard::Adequacy;
        inv.retention_rules[0].enabled = false;
        let found = check(&inv);
        assert!(found.iter().all(|f| f.severity == Severity::Warning));
        let text: Vec<_> = found.iter().map(Finding::describe).collect();
        assert!(
            text.iter().any(|m| m.contains("Data Privacy Framework")),
            "{text:?}"
        );
        assert!(text.iter().any(|m| m.contains("is disabled")), "{text:?}");
    }

    #[test]
    fn the_text_and_the_vault_agree() {
        let inv = complete();
        let held = vec!["user.contact.email".to_owned()];
        assert_eq!(against_vault(&inv, &held, "| E-mail address | you |"), []);
        let silent = against_vault(&inv, &held, "We collect no personal data.");
        assert_eq!(silent.len(), 1);
        assert_eq!(silent[0].severity, Severity::Error, "it names nothing held");
        let mut two = complete();
        two.categories.push(DataCategory {
            key: "user.name".into(),
            name: "Name".into(),
            ..two.categories[0].clone()
        });
        let held = vec!["user.contact.email".to_owned(), "user.name".to_owned()];
        let partial = against_vault(&two, &held, "We keep your E-mail address.");
        assert_eq!(partial.len(), 1);
        assert_eq!(
            partial[0].severity,
            Severity::Warning,
            "it names one of two"
        );
        assert_eq!(partial[0].item, "data category 'user.name'");
        let unlisted = against_vault(&Inventory::default(), &held, "");
        assert_eq!(unlisted[0].severity, Severity::Error);
        assert!(unlisted[0].describe().contains("does not list it"));
    }

    #[test]
    fn errors_come_first() {
        let mut inv = complete();
        inv.retention_rules[0].enabled = false;
        inv.purposes[0].consent_prompt = None;
        let found = check(&inv);
        assert_eq!(found[0].severity, Severity::Error);
        assert_eq!(found.last().map(|f| f.severity), Some(Severity::Warning));
    }
}
