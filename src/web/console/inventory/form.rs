//! Inventory forms: the typed values as strings (so a rejected form comes back exactly as it was
//! sent), and the conversion of an item into those values and back.

use super::choice::Choice;
use super::fields::{field_lines_text, parse_field_lines};
use crate::domain::ValidationErrors;
use crate::domain::inventory::{
    DataCategory, LegalHold, Purpose, Recipient, RecipientRole, RetentionAction, RetentionRule,
    RetentionTrigger, Sensitivity, System, TransferSafeguard,
};
use crate::domain::schedule::CronSchedule;
use crate::domain::transform::{parse_lines, to_lines};
use crate::services::inventory::InventoryItem;

/// Every field of every inventory form, as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Values {
    pub key: String,
    pub name: String,
    pub description: String,
    /// Kinds of person, comma-separated.
    pub subject_kinds: String,
    pub source: String,
    pub sensitivity: String,
    /// One field a line: `name | handling | preview chars | description`.
    pub fields: String,
    /// The "records may come without a person" box is ticked.
    pub subject_optional: bool,
    pub legal_basis: String,
    pub balancing_note: String,
    pub consent_prompt: String,
    /// The ticked category checkboxes.
    pub categories: Vec<String>,
    pub location: String,
    pub role: String,
    pub purpose: String,
    pub country: String,
    pub safeguard: String,
    pub derogation: String,
    pub category: String,
    pub trigger: String,
    pub days: String,
    pub action: String,
    pub note: String,
    /// A retention rule's schedule (crontab), transforms (one a line), claim, and whether the
    /// "runs on its schedule" box is ticked.
    pub schedule: String,
    pub transforms: String,
    pub claim: String,
    pub enabled: bool,
    pub reason: String,
    pub until: String,
}

impl Values {
    /// The fields of a posted form; `csrf` and unknown names are ignored.
    pub fn from_pairs(pairs: &[(String, String)]) -> Self {
        let mut v = Values::default();
        for (name, value) in pairs {
            let slot = match name.as_str() {
                "categories" => {
                    v.categories.push(value.clone());
                    continue;
                }
                "subject_optional" => {
                    v.subject_optional = true;
                    continue;
                }
                "enabled" => {
                    v.enabled = true;
                    continue;
                }
                "key" => &mut v.key,
                "name" => &mut v.name,
                "description" => &mut v.description,
                "subject_kinds" => &mut v.subject_kinds,
                "source" => &mut v.source,
                "sensitivity" => &mut v.sensitivity,
                "fields" => &mut v.fields,
                "legal_basis" => &mut v.legal_basis,
                "balancing_note" => &mut v.balancing_note,
                "consent_prompt" => &mut v.consent_prompt,
                "derogation" => &mut v.derogation,
                "location" => &mut v.location,
                "role" => &mut v.role,
                "purpose" => &mut v.purpose,
                "country" => &mut v.country,
                "safeguard" => &mut v.safeguard,
                "category" => &mut v.category,
                "trigger" => &mut v.trigger,
                "days" => &mut v.days,
                "action" => &mut v.action,
                "note" => &mut v.note,
                "schedule" => &mut v.schedule,
                "transforms" => &mut v.transforms,
                "claim" => &mut v.claim,
                "reason" => &mut v.reason,
                "until" => &mut v.until,
                _ => continue,
            };
            *slot = value.clone();
        }
        v
    }

    /// A blank form, with the usual choices preselected.
    pub fn blank() -> Self {
        Values {
            sensitivity: Sensitivity::Normal.value(),
            role: RecipientRole::Processor.value(),
            safeguard: TransferSafeguard::NotATransfer.value(),
            trigger: RetentionTrigger::Collected.value(),
            action: RetentionAction::Delete.value(),
            schedule: "@daily".into(),
            enabled: true,
            ..Values::default()
        }
    }
}

/// An item read from a form, the errors found while reading it, and for data categories the
/// form line of each field (so the domain's `fields[i]` errors can name the line).
pub struct Parsed<T> {
    pub item: T,
    pub errors: ValidationErrors,
    pub field_lines: Vec<usize>,
}

impl<T> Parsed<T> {
    fn new(item: T, errors: ValidationErrors) -> Self {
        Parsed {
            item,
            errors,
            field_lines: Vec::new(),
        }
    }
}

/// An inventory item that has a console form.
pub trait FormItem: InventoryItem {
    /// "data category", for headings and messages.
    const WHAT: &'static str;
    fn to_values(&self) -> Values;
    fn from_values(v: &Values) -> Parsed<Self>;
}

/// Reads the whole item: the form's own checks first, then the domain's rules for the fields
/// the form did not already reject. Errors of category fields name their form line.
pub fn read<T: FormItem>(v: &Values) -> (T, ValidationErrors) {
    let Parsed {
        item,
        mut errors,
        field_lines,
    } = T::from_values(v);
    if let Err(domain) = item.clone().validated() {
        for e in remap(domain, &field_lines).0 {
            if e.field == "fields" || errors.for_field(&e.field).is_none() {
                errors.0.push(e);
            }
        }
    }
    (item, remap(errors, &field_lines))
}

/// `fields[2]` → `fields`, "line 4: …"; `transforms[1].field` → `transforms`, "transform 2: …".
pub fn remap(errors: ValidationErrors, field_lines: &[usize]) -> ValidationErrors {
    let mut out = ValidationErrors::default();
    for e in errors.0 {
        if let Some(rest) = e.field.strip_prefix("transforms[") {
            let n = rest
                .split(']')
                .next()
                .and_then(|i| i.parse::<usize>().ok())
                .map_or(0, |i| i + 1);
            out.add("transforms", format!("transform {n}: {}", e.message));
            continue;
        }
        let index = e
            .field
            .strip_prefix("fields[")
            .and_then(|rest| rest.strip_suffix(']'))
            .and_then(|i| i.parse::<usize>().ok());
        match index {
            Some(i) => {
                let line = field_lines.get(i).copied().unwrap_or(i + 1);
                out.add("fields", format!("line {line}: {}", e.message));
            }
            None => out.0.push(e),
        }
    }
    out
}

/// Line breaks of a text area become spaces: the inventory's texts are single paragraphs.
fn one_paragraph(raw: &str) -> String {
    raw.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn choice<C: Choice>(errors: &mut ValidationErrors, field: &str, raw: &str, what: &str) -> C {
    if raw.trim().is_empty() {
        errors.add(field, format!("choose {what}"));
    } else if let Some(c) = C::parse(raw) {
        return c;
    } else {
        errors.add(field, format!("'{}' is not one of the choices", raw.trim()));
    }
    C::ALL[0]
}

fn checked_categories(v: &Values) -> Vec<String> {
    v.categories
        .iter()
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .collect()
}

impl FormItem for DataCategory {
    const WHAT: &'static str = "data category";

    fn to_values(&self) -> Values {
        Values {
            key: self.key.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            subject_kinds: self.subject_kinds.join(", "),
            source: self.source.clone(),
            sensitivity: self.sensitivity.value(),
            fields: field_lines_text(&self.fields),
            subject_optional: self.subject_optional,
            ..Values::blank()
        }
    }

    fn from_values(v: &Values) -> Parsed<Self> {
        let mut errors = ValidationErrors::default();
        let sensitivity = choice(&mut errors, "sensitivity", &v.sensitivity, "a sensitivity");
        let (fields, field_lines, field_errors) = parse_field_lines(&v.fields);
        errors.0.extend(field_errors.0);
        let item = DataCategory {
            key: v.key.trim().to_owned(),
            name: v.name.clone(),
            description: one_paragraph(&v.description),
            subject_kinds: v
                .subject_kinds
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(str::to_owned)
                .collect(),
            source: v.source.clone(),
            sensitivity,
            fields,
            subject_optional: v.subject_optional,
        };
        Parsed {
            item,
            errors,
            field_lines,
        }
    }
}

impl FormItem for Purpose {
    const WHAT: &'static str = "purpose";

    fn to_values(&self) -> Values {
        Values {
            key: self.key.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            legal_basis: self.legal_basis.value(),
            balancing_note: self.balancing_note.clone().unwrap_or_default(),
            consent_prompt: self.consent_prompt.clone().unwrap_or_default(),
            categories: self.categories.clone(),
            ..Values::blank()
        }
    }

    fn from_values(v: &Values) -> Parsed<Self> {
        let mut errors = ValidationErrors::default();
        let legal_basis = choice(&mut errors, "legal_basis", &v.legal_basis, "a legal basis");
        let note = one_paragraph(&v.balancing_note);
        let item = Purpose {
            key: v.key.trim().to_owned(),
            name: v.name.clone(),
            description: one_paragraph(&v.description),
            legal_basis,
            balancing_note: (!note.is_empty()).then_some(note),
            categories: checked_categories(v),
            consent_prompt: Some(v.consent_prompt.trim().to_owned()).filter(|p| !p.is_empty()),
        };
        Parsed::new(item, errors)
    }
}

impl FormItem for System {
    const WHAT: &'static str = "system";

    fn to_values(&self) -> Values {
        Values {
            key: self.key.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            location: self.location.clone(),
            categories: self.categories.clone(),
            ..Values::blank()
        }
    }

    fn from_values(v: &Values) -> Parsed<Self> {
        let item = System {
            key: v.key.trim().to_owned(),
            name: v.name.clone(),
            description: one_paragraph(&v.description),
            location: v.location.clone(),
            categories: checked_categories(v),
        };
        Parsed::new(item, ValidationErrors::default())
    }
}

impl FormItem for Recipient {
    const WHAT: &'static str = "recipient";

    fn to_values(&self) -> Values {
        Values {
            key: self.key.clone(),
            name: self.name.clone(),
            role: self.role.value(),
            purpose: self.purpose.clone(),
            country: self.country.clone(),
            safeguard: self.safeguard.value(),
            derogation: self.derogation.clone().unwrap_or_default(),
            categories: self.categories.clone(),
            ..Values::blank()
        }
    }

    fn from_values(v: &Values) -> Parsed<Self> {
        let mut errors = ValidationErrors::default();
        let role = choice(&mut errors, "role", &v.role, "a role");
        let safeguard = choice(&mut errors, "safeguard", &v.safeguard, "a safeguard");
        let item = Recipient {
            key: v.key.trim().to_owned(),
            name: v.name.clone(),
            role,
            purpose: v.purpose.clone(),
            country: v.country.clone(),
            safeguard,
            derogation: Some(v.derogation.trim().to_owned()).filter(|d| !d.is_empty()),
            categories: checked_categories(v),
        };
        Parsed::new(item, errors)
    }
}

impl FormItem for RetentionRule {
    const WHAT: &'static str = "retention rule";

    fn to_values(&self) -> Values {
        Values {
            key: self.key.clone(),
            category: self.category.clone(),
            trigger: self.trigger.value(),
            days: self.days.to_string(),
            action: self.action.value(),
            note: self.note.clone(),
            schedule: self.schedule.source().to_owned(),
            transforms: to_lines(&self.transforms),
            claim: self.claim.clone(),
            enabled: self.enabled,
            ..Values::blank()
        }
    }

    fn from_values(v: &Values) -> Parsed<Self> {
        let mut errors = ValidationErrors::default();
        if v.category.trim().is_empty() {
            errors.add("category", "choose the data category the rule applies to");
        }
        let trigger = choice(
            &mut errors,
            "trigger",
            &v.trigger,
            "when the days are counted from",
        );
        let action = choice(&mut errors, "action", &v.action, "what happens then");
        let days = match v.days.trim() {
            "" => {
                errors.add("days", "is required (0 means at once)");
                0
            }
            d => d.parse::<u32>().unwrap_or_else(|_| {
                errors.add("days", "must be a whole number of days, e.g. 30");
                0
            }),
        };
        // Left empty, a rule runs daily, as through the API.
        let typed = if v.schedule.trim().is_empty() {
            "@daily"
        } else {
            v.schedule.as_str()
        };
        let schedule = CronSchedule::parse(typed).unwrap_or_else(|e| {
            errors.add("schedule", e.to_string());
            CronSchedule::daily()
        });
        let transforms = parse_lines(&v.transforms).unwrap_or_else(|problems| {
            for (line, message) in problems {
                errors.add("transforms", format!("line {line}: {message}"));
            }
            Vec::new()
        });
        let item = RetentionRule {
            key: v.key.trim().to_owned(),
            category: v.category.trim().to_owned(),
            trigger,
            days,
            action,
            note: one_paragraph(&v.note),
            schedule,
            enabled: v.enabled,
            transforms,
            claim: one_paragraph(&v.claim),
        };
        Parsed::new(item, errors)
    }
}

impl FormItem for LegalHold {
    const WHAT: &'static str = "legal hold";

    fn to_values(&self) -> Values {
        Values {
            key: self.key.clone(),
            category: self.category.clone().unwrap_or_default(),
            reason: self.reason.clone(),
            until: self.until.map(|d| d.to_string()).unwrap_or_default(),
            ..Values::blank()
        }
    }

    fn from_values(v: &Values) -> Parsed<Self> {
        let mut errors = ValidationErrors::default();
        let until = match v.until.trim() {
            "" => None,
            d => chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .map_err(|_| errors.add("until", "must be a date, as YYYY-MM-DD"))
                .ok(),
        };
        let category = v.category.trim();
        let item = LegalHold {
            key: v.key.trim().to_owned(),
            category: (!category.is_empty()).then(|| category.to_owned()),
            reason: one_paragraph(&v.reason),
            until,
        };
        Parsed::new(item, errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::inventory::LegalBasis;

    #[test]
    fn domain_errors_of_fields_name_the_form_line() {
        let v = Values {
            key: "user.contact.email".into(),
            name: "E-mail".into(),
            sensitivity: "normal".into(),
            fields: "\nemail\nEmail | keep\nsnippet | preview".into(),
            ..Values::default()
        };
        let (_, errors) = read::<DataCategory>(&v);
        let all = errors.summary();
        assert!(all.contains("fields: line 3: name"), "{all}");
        assert!(all.contains("fields: line 4: preview_chars"), "{all}");
    }

    #[test]
    fn items_come_back_as_they_were() {
        let purpose = Purpose {
            key: "fraud".into(),
            name: "Fraud prevention".into(),
            description: String::new(),
            legal_basis: LegalBasis::LegitimateInterests,
            balancing_note: Some("Only network data.".into()),
            consent_prompt: None,
            categories: vec!["user.device.ip".into()],
        };
        let (back, errors) = read::<Purpose>(&purpose.to_values());
        assert!(errors.is_empty());
        assert_eq!(back, purpose);
        let hold = LegalHold {
            key: "tax".into(),
            category: None,
            reason: "Accounting law".into(),
            until: chrono::NaiveDate::from_ymd_opt(2030, 12, 31),
        };
        assert_eq!(read::<LegalHold>(&hold.to_values()).0, hold);
    }

    #[test]
    fn text_areas_become_one_paragraph() {
        assert_eq!(one_paragraph(" a\r\n\r\n b \n"), "a b");
    }
}
