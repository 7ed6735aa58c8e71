//! Records of processing activities (GDPR Art. 30(1)): one record per purpose, assembled from the
//! workspace's identity and its inventory. Pure: the web layer renders it as JSON or CSV.

use super::inventory::{Inventory, LegalHold, Purpose, RecipientRole, RetentionRule};
use super::workspace::Workspace;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// What Lethe itself guarantees for the data it holds (Art. 30(1)(g)). Only what the binary
/// enforces; the operator's own systems add their measures in their own records.
pub const SECURITY_MEASURES: &[&str] = &[
    "Encryption in transit: Lethe serves only TLS (1.2 or 1.3), unless the operator terminates TLS at their own proxy",
    "Encryption at rest of the records Lethe holds: AES-256-GCM under a key per person, keys wrapped by a master key and kept in a separate key store; erasure destroys the person's key",
    "Every staff read of a person's records is logged with who, whom and why",
    "Role-based access for staff, with a tamper-evident audit log of every change",
    "Staff passwords stored as argon2id hashes; optional or mandatory TOTP second factor",
];

/// The controller (Art. 30(1)(a)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Controller {
    pub legal_name: String,
    pub contact_email: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dpo_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dpo_email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RopaCategory {
    pub key: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RopaRecipient {
    pub key: String,
    pub name: String,
    /// `processor`, `independent controller` or `public authority`.
    pub role: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
}

/// A transfer out of the EEA (Art. 30(1)(e)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RopaTransfer {
    pub recipient: String,
    pub country: String,
    /// How it is made lawful, e.g. "standard contractual clauses (Art. 46(2)(c))".
    pub safeguard: String,
}

/// The time limit for one category (Art. 30(1)(f)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RopaRetention {
    pub category: String,
    /// The rule's key; absent when no rule covers the category yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Readable, e.g. "30 days after account closure: delete".
    pub text: String,
}

/// One processing activity: one purpose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RopaRecord {
    pub purpose_key: String,
    pub purpose: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// E.g. "Contract (Art. 6(1)(b))".
    pub legal_basis: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balancing_note: Option<String>,
    /// The kinds of person concerned (Art. 30(1)(c)).
    pub subject_kinds: Vec<String>,
    pub categories: Vec<RopaCategory>,
    /// Who receives any of these categories (Art. 30(1)(d)).
    pub recipients: Vec<RopaRecipient>,
    pub transfers: Vec<RopaTransfer>,
    pub retention: Vec<RopaRetention>,
    /// Holds that override deletion of any of these categories, as readable text.
    pub legal_holds: Vec<String>,
    pub security_measures: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Ropa {
    pub controller: Controller,
    pub generated_at: DateTime<Utc>,
    pub records: Vec<RopaRecord>,
}

pub fn role_label(role: RecipientRole) -> &'static str {
    match role {
        RecipientRole::Processor => "processor",
        RecipientRole::IndependentController => "independent controller",
        RecipientRole::Authority => "public authority",
    }
}

/// E.g. "deleted 30 days after the account closes", "pseudonymized 7 days after collection: ip
/// reduced to its /16 network …; runs 30 * * * * (UTC)".
pub fn retention_text(rule: &RetentionRule, category_fields: &[String]) -> String {
    let mut text = super::retention::policy_text(rule, category_fields);
    if !rule.note.is_empty() {
        text.push_str(&format!(" ({})", rule.note));
    }
    if rule.enabled {
        text.push_str(&format!("; runs {} (UTC)", rule.schedule));
    } else {
        text.push_str("; not scheduled");
    }
    text
}

fn hold_text(hold: &LegalHold, category_name: Option<&str>) -> String {
    let what = match (&hold.category, category_name) {
        (Some(_), Some(name)) => name.to_owned(),
        (Some(key), None) => key.clone(),
        (None, _) => "every category".to_owned(),
    };
    let until = match hold.until {
        Some(d) => format!("until {d}"),
        None => "until lifted".to_owned(),
    };
    format!("{}: {what}, {until}", hold.reason)
}

fn push_unique(list: &mut Vec<String>, value: &str) {
    if !list.iter().any(|v| v == value) {
        list.push(value.to_owned());
    }
}

fn record(inv: &Inventory, p: &Purpose) -> RopaRecord {
    let uses = |key: &String| p.categories.contains(key);
    let category_name = |key: &str| {
        inv.categories
            .iter()
            .find(|c| c.key == key)
            .map(|c| c.name.as_str())
    };

    let mut subject_kinds = Vec::new();
    let mut categories = Vec::new();
    for key in &p.categories {
        match inv.categories.iter().find(|c| &c.key == key) {
            Some(c) => {
                for kind in &c.subject_kinds {
                    push_unique(&mut subject_kinds, kind);
                }
                categories.push(RopaCategory {
                    key: c.key.clone(),
                    name: c.name.clone(),
                });
            }
            None => categories.push(RopaCategory {
                key: key.clone(),
                name: key.clone(),
            }),
        }
    }

    let receiving: Vec<_> = inv
        .recipients
        .iter()
        .filter(|r| r.categories.iter().any(uses))
        .collect();
    let recipients = receiving
        .iter()
        .map(|r| RopaRecipient {
            key: r.key.clone(),
            name: r.name.clone(),
            role: role_label(r.role).to_owned(),
            country: r.country.clone(),
        })
        .collect();
    let transfers = receiving
        .iter()
        // A transfer is a matter of the country, not of what was typed as its safeguard.
        .filter(|r| !super::transfer::in_eea(&r.country))
        .map(|r| RopaTransfer {
            recipient: r.name.clone(),
            country: r.country.clone(),
            safeguard: super::transfer::safeguard_text(
                &r.country,
                r.safeguard,
                r.derogation.as_deref(),
            ),
        })
        .collect();

    let mut retention = Vec::new();
    for key in &p.categories {
        let name = category_name(key).unwrap_or(key).to_owned();
        let rules: Vec<_> = inv
            .retention_rules
            .iter()
            .filter(|r| &r.category == key)
            .collect();
        if rules.is_empty() {
            retention.push(RopaRetention {
                category: name.clone(),
                rule: None,
                text: "no retention rule yet".into(),
            });
        }
        for rule in rules {
            retention.push(RopaRetention {
                category: name.clone(),
                rule: Some(rule.key.clone()),
                text: retention_text(
                    rule,
                    &inv.categories
                        .iter()
                        .find(|c| &c.key == key)
                        .map(|c| c.fields.iter().map(|f| f.name.clone()).collect::<Vec<_>>())
                        .unwrap_or_default(),
                ),
            });
        }
    }

    let legal_holds = inv
        .legal_holds
        .iter()
        .filter(|h| h.category.as_ref().is_none_or(uses))
        .map(|h| hold_text(h, h.category.as_deref().and_then(category_name)))
        .collect();

    RopaRecord {
        purpose_key: p.key.clone(),
        purpose: p.name.clone(),
        description: p.description.clone(),
        legal_basis: p.legal_basis.label().to_owned(),
        balancing_note: p.balancing_note.clone(),
        subject_kinds,
        categories,
        recipients,
        transfers,
        retention,
        legal_holds,
        security_measures: SECURITY_MEASURES.iter().map(|s| (*s).to_owned()).collect(),
    }
}

/// The records of processing of `workspace`, one per purpose, in the inventory's order.
pub fn build(workspace: &Workspace, inventory: &Inventory, now: DateTime<Utc>) -> Ropa {
    let s = &workspace.settings;
    Ropa {
        controller: Controller {
            legal_name: s.legal_name.clone(),
            contact_email: s.contact_email.to_string(),
            dpo_name: Some(s.dpo_name.clone()).filter(|n| !n.is_empty()),
            dpo_email: s.dpo_email.as_ref().map(|e| e.to_string()),
        },
        generated_at: now,
        records: inventory
            .purposes
            .iter()
            .map(|p| record(inventory, p))
            .collect(),
    }
}

/// The CSV header: one column per fact of a record; lists are joined with "; ".
pub const CSV_HEADER: &[&str] = &[
    "controller",
    "controller_contact",
    "dpo",
    "purpose_key",
    "purpose",
    "description",
    "legal_basis",
    "balancing_note",
    "subject_kinds",
    "data_categories",
    "data_category_keys",
    "recipients",
    "transfers_outside_eea",
    "retention",
    "legal_holds",
    "security_measures",
    "generated_at",
];

/// One row per record, with a header row, through the one CSV writer (formula cells neutralised).
pub fn to_csv(ropa: &Ropa) -> Result<Vec<u8>, csv::Error> {
    let join = |items: Vec<String>| items.join("; ");
    let c = &ropa.controller;
    let dpo = match (&c.dpo_name, &c.dpo_email) {
        (Some(n), Some(e)) => format!("{n} <{e}>"),
        (Some(n), None) => n.clone(),
        (None, Some(e)) => e.clone(),
        (None, None) => String::new(),
    };
    let generated_at = ropa.generated_at.to_rfc3339();
    let mut w = super::csv_export::CsvExport::default();
    w.row(CSV_HEADER)?;
    for r in &ropa.records {
        w.row([
            c.legal_name.clone(),
            c.contact_email.clone(),
            dpo.clone(),
            r.purpose_key.clone(),
            r.purpose.clone(),
            r.description.clone(),
            r.legal_basis.clone(),
            r.balancing_note.clone().unwrap_or_default(),
            join(r.subject_kinds.clone()),
            join(r.categories.iter().map(|c| c.name.clone()).collect()),
            join(r.categories.iter().map(|c| c.key.clone()).collect()),
            join(
                r.recipients
                    .iter()
                    .map(|x| format!("{} ({}, {})", x.name, x.role, x.country))
                    .collect(),
            ),
            join(
                r.transfers
                    .iter()
                    .map(|t| format!("{} ({}): {}", t.recipient, t.country, t.safeguard))
                    .collect(),
            ),
            join(
                r.retention
                    .iter()
                    .map(|t| format!("{}: {}", t.category, t.text))
                    .collect(),
            ),
            join(r.legal_holds.clone()),
            join(r.security_measures.clone()),
            generated_at.clone(),
        ])?;
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Email;
    use crate::domain::inventory::{
        DataCategory, LegalBasis, Recipient, RetentionAction, RetentionTrigger, Sensitivity,
        TransferSafeguard,
    };
    use crate::domain::workspace::WorkspaceSettings;

    fn workspace() -> Workspace {
        Workspace {
            slug: "aulm".into(),
            settings: WorkspaceSettings {
                legal_name: "Aulm Corporation".into(),
                contact_email: Email::parse("support@aulm.example").unwrap(),
                dpo_name: "Dana, DPO".into(),
                dpo_email: Some(Email::parse("dpo@aulm.example").unwrap()),
                min_age: 18,
                request_law: crate::domain::request_clock::Law::Gdpr,
                notice_days: 30,
                require_totp: false,
                review_requests: false,
                consent_origins: Vec::new(),
                consent_cookie_domain: None,
                time_zone: chrono_tz::Tz::UTC,
            },
            created_at: Utc::now(),
        }
    }

    fn category(key: &str, name: &str, kinds: &[&str]) -> DataCategory {
        DataCategory {
            key: key.into(),
            name: name.into(),
            description: String::new(),
            subject_kinds: kinds.iter().map(|k| (*k).to_owned()).collect(),
            source: String::new(),
            sensitivity: Sensitivity::Normal,
            fields: vec![],
            subject_optional: false,
        }
    }

    fn inventory() -> Inventory {
        Inventory {
            categories: vec![
                category("user.contact.email", "E-mail address", &["customer"]),
                category("user.financial", "Billing details", &["customer", "payer"]),
                category("user.device.ip_address", "IP address", &["visitor"]),
            ],
            purposes: vec![
                Purpose {
                    key: "billing".into(),
                    name: "Billing".into(),
                    description: "Charging for the service".into(),
                    legal_basis: LegalBasis::Contract,
                    balancing_note: None,
                    consent_prompt: None,
                    cookies: Vec::new(),
                    local_storage: Vec::new(),
                    opt_out_of_sale: false,
                    categories: vec!["user.contact.email".into(), "user.financial".into()],
                },
                Purpose {
                    key: "abuse".into(),
                    name: "Abuse prevention".into(),
                    description: String::new(),
                    legal_basis: LegalBasis::LegitimateInterests,
                    balancing_note: Some("Only network data; abuse harms everyone.".into()),
                    consent_prompt: None,
                    cookies: Vec::new(),
                    local_storage: Vec::new(),
                    opt_out_of_sale: false,
                    categories: vec!["user.device.ip_address".into()],
                },
            ],
            systems: vec![],
            recipients: vec![
                Recipient {
                    key: "payments".into(),
                    name: "PayCo".into(),
                    role: RecipientRole::Processor,
                    purpose: "card payments".into(),
                    country: "US".into(),
                    safeguard: TransferSafeguard::Sccs,
                    derogation: None,
                    categories: vec!["user.financial".into()],
                },
                Recipient {
                    key: "hosting".into(),
                    name: "EuroHost".into(),
                    role: RecipientRole::Processor,
                    purpose: "hosting".into(),
                    country: "DE".into(),
                    safeguard: TransferSafeguard::NotATransfer,
                    derogation: None,
                    categories: vec!["user.contact.email".into(), "user.device.ip_address".into()],
                },
            ],
            retention_rules: vec![
                RetentionRule::new(
                    "email-after-close",
                    "user.contact.email",
                    RetentionTrigger::AccountClosed,
                    30,
                    RetentionAction::Delete,
                ),
                RetentionRule {
                    note: "only the network is kept".into(),
                    transforms: vec![
                        crate::domain::transform::Transform::IpNetwork {
                            field: "ip".into(),
                            v4_prefix: 24,
                            v6_prefix: 48,
                        },
                        crate::domain::transform::Transform::DropSubject {},
                    ],
                    ..RetentionRule::new(
                        "ip",
                        "user.device.ip_address",
                        RetentionTrigger::Collected,
                        0,
                        RetentionAction::Anonymize,
                    )
                },
            ],
            legal_holds: vec![
                LegalHold {
                    key: "tax".into(),
                    category: Some("user.financial".into()),
                    reason: "Tax law".into(),
                    until: "2033-12-31".parse().ok(),
                },
                LegalHold {
                    key: "litigation".into(),
                    category: None,
                    reason: "Pending litigation".into(),
                    until: None,
                },
            ],
        }
    }

    #[test]
    fn one_record_per_purpose_with_what_art_30_asks() {
        let ropa = build(&workspace(), &inventory(), Utc::now());
        assert_eq!(ropa.controller.legal_name, "Aulm Corporation");
        assert_eq!(
            ropa.controller.dpo_email.as_deref(),
            Some("dpo@aulm.example")
        );
        assert_eq!(ropa.records.len(), 2);

        let billing = &ropa.records[0];
        assert_eq!(billing.legal_basis, "Contract (Art. 6(1)(b))");
        assert_eq!(billing.subject_kinds, ["customer", "payer"]);
        let keys: Vec<_> = billing.categories.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, ["user.contact.email", "user.financial"]);
        let names: Vec<_> = billing.recipients.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["PayCo", "EuroHost"]);
        assert_eq!(
            billing.transfers,
            [RopaTransfer {
                recipient: "PayCo".into(),
                country: "US".into(),
                safeguard: "standard contractual clauses (Art. 46(2)(c))".into(),
            }]
        );
        let retention: Vec<_> = billing.retention.iter().map(|r| r.text.as_str()).collect();
        assert_eq!(
            retention,
            [
                "deleted 30 days after the account closes; runs @daily (UTC)",
                "no retention rule yet"
            ]
        );
        assert_eq!(
            billing.legal_holds,
            [
                "Tax law: Billing details, until 2033-12-31",
                "Pending litigation: every category, until lifted"
            ]
        );
        assert_eq!(billing.security_measures.len(), SECURITY_MEASURES.len());

        let abuse = &ropa.records[1];
        assert_eq!(abuse.subject_kinds, ["visitor"]);
        assert!(abuse.balancing_note.is_some());
        assert!(abuse.transfers.is_empty(), "EuroHost is not a transfer");
        assert_eq!(
            abuse.retention[0].text,
            "anonymized once collected: ip reduced to its /24 network (IPv6 /48); detached \
             from the person (only the network is kept); runs @daily (UTC)"
        );
        assert_eq!(
            abuse.legal_holds.len(),
            1,
            "only the hold on every category"
        );
    }

    #[test]
    fn csv_has_a_header_and_one_quoted_row_per_purpose() {
        let ropa = build(&workspace(), &inventory(), Utc::now());
        let bytes = to_csv(&ropa).unwrap();
        let mut r = csv::Reader::from_reader(bytes.as_slice());
        let header: Vec<String> = r.headers().unwrap().iter().map(str::to_owned).collect();
        assert_eq!(header, CSV_HEADER);
        let rows: Vec<csv::StringRecord> = r.records().collect::<Result<_, _>>().unwrap();
        assert_eq!(rows.len(), 2);
        let col = |name: &str| CSV_HEADER.iter().position(|h| *h == name).unwrap();
        // The DPO's name has a comma: the crate quotes it and it reads back whole.
        assert_eq!(&rows[0][col("dpo")], "Dana, DPO <dpo@aulm.example>");
        assert_eq!(
            &rows[0][col("data_category_keys")],
            "user.contact.email; user.financial"
        );
        assert!(rows[0][col("transfers_outside_eea")].contains("PayCo (US): standard contractual"));
        assert!(
            rows[0][col("retention")]
                .contains("E-mail address: deleted 30 days after the account closes")
        );
    }

    #[test]
    fn csv_cells_a_spreadsheet_would_run_are_written_as_text() {
        let mut ropa = build(&workspace(), &inventory(), Utc::now());
        ropa.records[0].purpose = "=HYPERLINK(\"https://evil.example\")".into();
        ropa.records[0].description = "@SUM(1)".into();
        let bytes = to_csv(&ropa).unwrap();
        let mut r = csv::Reader::from_reader(bytes.as_slice());
        let rows: Vec<csv::StringRecord> = r.records().collect::<Result<_, _>>().unwrap();
        let col = |name: &str| CSV_HEADER.iter().position(|h| *h == name).unwrap();
        assert_eq!(
            &rows[0][col("purpose")],
            "'=HYPERLINK(\"https://evil.example\")"
        );
        assert_eq!(&rows[0][col("description")], "'@SUM(1)");
    }

    #[test]
    fn an_empty_inventory_has_no_records_but_a_controller() {
        let ropa = build(&workspace(), &Inventory::default(), Utc::now());
        assert!(ropa.records.is_empty());
        let bytes = to_csv(&ropa).unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap().lines().count(),
            1,
            "header only"
        );
    }
}
