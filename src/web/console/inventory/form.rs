//! Inventory forms: the typed values as strings (so a rejected form comes back exactly as it was
//! sent), and the conversion of an item into those values and back.

use super::choice::Choice;
use super::fields::{FieldRow, field_rows, parse_field_rows, rows_from_columns};
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
    /// Kinds of person, one a row.
    pub subject_kinds: Vec<String>,
    pub source: String,
    pub sensitivity: String,
    /// A data category's fields, one a row.
    pub fields: Vec<FieldRow>,
    /// The "records may come without a person" box is ticked.
    pub subject_optional: bool,
    pub legal_basis: String,
    pub balancing_note: String,
    pub consent_prompt: String,
    /// A consent purpose's cookie names and local-storage keys, separated by spaces, commas or
    /// line ends, and whether its "sale, sharing or targeted advertising" box is ticked.
    pub cookies: String,
    pub local_storage: String,
    pub opt_out_of_sale: bool,
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
    /// A retention rule's schedule (crontab), transforms (one a row, `field: op [arguments]`),
    /// claim, and whether the "runs on its schedule" box is ticked.
    pub schedule: String,
    pub transforms: Vec<String>,
    pub claim: String,
    pub enabled: bool,
    pub reason: String,
    pub until: String,
}

impl Values {
    /// The fields of a posted form; `csrf` and unknown names are ignored. Lists come as the
    /// same name repeated, one value a row; empty rows are dropped.
    pub fn from_pairs(pairs: &[(String, String)]) -> Self {
        let mut v = Values::default();
        let mut columns: [Vec<String>; 4] = Default::default();
        for (name, value) in pairs {
            let list = match name.as_str() {
                "categories" => Some(&mut v.categories),
                "subject_kinds" => Some(&mut v.subject_kinds),
                "transforms" => Some(&mut v.transforms),
                "field_name" => Some(&mut columns[0]),
                "field_handling" => Some(&mut columns[1]),
                "field_preview" => Some(&mut columns[2]),
                "field_description" => Some(&mut columns[3]),
                _ => None,
            };
            if let Some(list) = list {
                list.push(value.clone());
                continue;
            }
            let slot = match name.as_str() {
                "subject_optional" => {
                    v.subject_optional = true;
                    continue;
                }
                "enabled" => {
                    v.enabled = true;
                    continue;
                }
                "opt_out_of_sale" => {
                    v.opt_out_of_sale = true;
                    continue;
                }
                "key" => &mut v.key,
                "name" => &mut v.name,
                "description" => &mut v.description,
                "source" => &mut v.source,
                "sensitivity" => &mut v.sensitivity,
                "legal_basis" => &mut v.legal_basis,
                "balancing_note" => &mut v.balancing_note,
                "consent_prompt" => &mut v.consent_prompt,
                "cookies" => &mut v.cookies,
                "local_storage" => &mut v.local_storage,
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
                "claim" => &mut v.claim,
                "reason" => &mut v.reason,
                "until" => &mut v.until,
                _ => continue,
            };
            *slot = value.clone();
        }
        let [names, handlings, previews, descriptions] = columns;
        v.fields = rows_from_columns(&names, &handlings, &previews, &descriptions);
        v.subject_kinds = non_empty(v.subject_kinds);
        v.transforms = non_empty(v.transforms);
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

/// The rows that hold something, trimmed.
fn non_empty(rows: Vec<String>) -> Vec<String> {
    rows.into_iter()
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
        .collect()
}

/// An item read from a form, and the errors found while reading it.
pub struct Parsed<T> {
    pub item: T,
    pub errors: ValidationErrors,
}

impl<T> Parsed<T> {
    fn new(item: T, errors: ValidationErrors) -> Self {
        Parsed { item, errors }
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
/// (and rows) the form did not already reject.
pub fn read<T: FormItem>(v: &Values) -> (T, ValidationErrors) {
    let Parsed { item, mut errors } = T::from_values(v);
    if let Err(domain) = item.clone().validated() {
        let flagged: Vec<String> = errors.0.iter().map(|e| e.field.clone()).collect();
        for e in remap(domain).0 {
            if !flagged.contains(&e.field) {
                errors.0.push(e);
            }
        }
    }
    (item, errors)
}

/// The domain's `fields[2]` → the form's row `fields-3`, `transforms[1].field` → `transforms-2`:
/// the form drops empty rows, so the n-th item is the n-th row shown.
pub fn remap(errors: ValidationErrors) -> ValidationErrors {
    let mut out = ValidationErrors::default();
    for e in errors.0 {
        let row = ["fields", "transforms"].into_iter().find_map(|list| {
            let rest = e.field.strip_prefix(list)?.strip_prefix('[')?;
            let index = rest.split(']').next()?.parse::<usize>().ok()?;
            Some(format!("{list}-{}", index + 1))
        });
        match row {
            Some(field) => out.add(&field, e.message),
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
            subject_kinds: self.subject_kinds.clone(),
            source: self.source.clone(),
            sensitivity: self.sensitivity.value(),
            fields: field_rows(&self.fields),
            subject_optional: self.subject_optional,
            ..Values::blank()
        }
    }

    fn from_values(v: &Values) -> Parsed<Self> {
        let mut errors = ValidationErrors::default();
        let sensitivity = choice(&mut errors, "sensitivity", &v.sensitivity, "a sensitivity");
        let (fields, field_errors) = parse_field_rows(&v.fields);
        errors.0.extend(field_errors.0);
        let item = DataCategory {
            key: v.key.trim().to_owned(),
            name: v.name.clone(),
            description: one_paragraph(&v.description),
            subject_kinds: non_empty(v.subject_kinds.clone()),
            source: v.source.clone(),
            sensitivity,
            fields,
            subject_optional: v.subject_optional,
        };
        Parsed::new(item, errors)
    }
}

/// A list typed in one field: the words between spaces, commas and line ends.
fn words(raw: &str) -> Vec<String> {
    raw.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
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
            cookies: self.cookies.join(" "),
            local_storage: self.local_storage.join(" "),
            opt_out_of_sale: self.opt_out_of_sale,
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
            cookies: words(&v.cookies),
            local_storage: words(&v.local_storage),
            opt_out_of_sale: v.opt_out_of_sale,
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
            transforms: to_lines(&self.transforms)
                .lines()
                .map(str::to_owned)
                .collect(),
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
        let rows = non_empty(v.transforms.clone());
        let transforms = parse_lines(&rows.join("\n")).unwrap_or_else(|problems| {
            for (row, message) in problems {
                errors.add(&format!("transforms-{row}"), message);
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
    fn domain_errors_of_fields_name_the_form_row() {
        let pairs: Vec<(String, String)> = [
            ("key", "user.contact.email"),
            ("name", "E-mail"),
            ("sensitivity", "normal"),
            ("subject_kinds", " customer "),
            ("subject_kinds", ""),
            ("field_name", ""),
            ("field_handling", "keep"),
            ("field_preview", ""),
            ("field_description", ""),
            ("field_name", "email"),
            ("field_handling", "keep"),
            ("field_preview", ""),
            ("field_description", ""),
            ("field_name", "Email"),
            ("field_handling", "keep"),
            ("field_preview", ""),
            ("field_description", ""),
            ("field_name", "snippet"),
            ("field_handling", "preview"),
            ("field_preview", ""),
            ("field_description", "first words"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let v = Values::from_pairs(&pairs);
        assert_eq!(v.subject_kinds, vec!["customer".to_owned()]);
        assert_eq!(v.fields.len(), 3, "the blank row is dropped");
        let (_, errors) = read::<DataCategory>(&v);
        assert!(
            errors.for_field("fields-1").is_none(),
            "{}",
            errors.summary()
        );
        assert!(
            errors
                .for_field("fields-2")
                .is_some_and(|m| m.starts_with("name")),
            "{}",
            errors.summary()
        );
        assert!(
            errors
                .for_field("fields-3")
                .is_some_and(|m| m.starts_with("preview_chars")),
            "{}",
            errors.summary()
        );
    }

    #[test]
    fn transforms_are_read_one_a_row() {
        let rule = RetentionRule {
            transforms: parse_lines("note: truncate 20\ndrop_subject").unwrap_or_default(),
            ..read::<RetentionRule>(&Values {
                key: "notes".into(),
                category: "support.note".into(),
                days: "30".into(),
                ..Values::blank()
            })
            .0
        };
        let v = rule.to_values();
        assert_eq!(v.transforms, vec!["note: truncate 20", "drop_subject"]);
        let bad = Values {
            transforms: vec!["note: truncate 20".into(), "note: shred".into()],
            ..v
        };
        let (_, errors) = read::<RetentionRule>(&bad);
        assert!(errors.for_field("transforms-1").is_none());
        assert!(
            errors.for_field("transforms-2").is_some(),
            "{}",
            errors.summary()
        );
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
            cookies: Vec::new(),
            local_storage: Vec::new(),
            opt_out_of_sale: false,
            categories: vec!["user.device.ip".into()],
        };
        let analytics = Purpose {
            key: "analytics".into(),
            name: "Analytics".into(),
            description: String::new(),
            legal_basis: LegalBasis::Consent,
            balancing_note: None,
            consent_prompt: Some("May we count visits?".into()),
            cookies: vec!["_ga*".into(), "_gid".into()],
            local_storage: vec!["stats".into()],
            opt_out_of_sale: true,
            categories: vec![],
        };
        let (back, errors) = read::<Purpose>(&analytics.to_values());
        assert!(errors.is_empty());
        assert_eq!(back, analytics);
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
