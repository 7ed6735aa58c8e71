//! The inventory's pages: the overview (how many items of each kind, and what the inventory
//! check finds) at `/inventory`, and one page per kind of item at `/inventory/{kind}`, with the
//! same tabs on top. Items are listed by their names; keys come second, in small monospace.

use super::KINDS;
use super::choice::Choice;
use crate::domain::inventory::{FieldSpec, Inventory, InventoryKind, Recipient, RetentionRule};
use crate::domain::inventory_check::{Finding, Severity};
use crate::web::console::Shell;
use askama::Template;

/// One tab of the inventory's sub-navigation.
pub struct Tab {
    /// The path segment (`retention-rules`), or empty for the overview.
    pub segment: &'static str,
    pub label: &'static str,
    /// How many items of this kind (0 for the overview).
    pub count: usize,
}

/// "Data categories", as the tabs and headings name a kind.
pub fn kind_label(kind: InventoryKind) -> &'static str {
    match kind {
        InventoryKind::Categories => "Data categories",
        InventoryKind::Purposes => "Purposes",
        InventoryKind::Systems => "Systems",
        InventoryKind::Recipients => "Recipients",
        InventoryKind::RetentionRules => "Retention rules",
        InventoryKind::LegalHolds => "Legal holds",
    }
}

fn count(inv: &Inventory, kind: InventoryKind) -> usize {
    match kind {
        InventoryKind::Categories => inv.categories.len(),
        InventoryKind::Purposes => inv.purposes.len(),
        InventoryKind::Systems => inv.systems.len(),
        InventoryKind::Recipients => inv.recipients.len(),
        InventoryKind::RetentionRules => inv.retention_rules.len(),
        InventoryKind::LegalHolds => inv.legal_holds.len(),
    }
}

/// The overview's tab, then one per kind with its count.
pub fn tabs(inv: &Inventory) -> Vec<Tab> {
    let mut tabs = vec![Tab {
        segment: "",
        label: "Overview",
        count: 0,
    }];
    tabs.extend(KINDS.into_iter().map(|k| Tab {
        segment: k.segment(),
        label: kind_label(k),
        count: count(inv, k),
    }));
    tabs
}

/// The name of the category `key`, or empty when the inventory has no such category.
pub fn category_name(inv: &Inventory, key: &str) -> String {
    inv.categories
        .iter()
        .find(|c| c.key == key)
        .map(|c| c.name.clone())
        .unwrap_or_default()
}

#[derive(Template)]
#[template(path = "console/inventory.html")]
pub struct OverviewPage {
    pub shell: Shell,
    pub tabs: Vec<Tab>,
    /// The current tab's segment (empty: the overview).
    pub current: &'static str,
    /// What the inventory check finds: errors block publication, warnings need a confirmation.
    pub findings: Vec<Finding>,
    pub can_edit: bool,
    pub error: Option<String>,
    pub notice: Option<String>,
}

impl OverviewPage {
    fn is_error(&self, f: &Finding) -> bool {
        f.severity == Severity::Error
    }

    fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }
}

#[derive(Template)]
#[template(path = "console/inventory_section.html")]
pub struct SectionPage {
    pub shell: Shell,
    pub tabs: Vec<Tab>,
    /// The kind's path segment, e.g. `retention-rules`.
    pub current: &'static str,
    pub heading: &'static str,
    pub inv: Inventory,
    pub can_edit: bool,
    /// Why the last change was refused (a category still in use).
    pub error: Option<String>,
    pub notice: Option<String>,
}

impl SectionPage {
    fn field(&self, f: &FieldSpec) -> String {
        match f.preview_chars {
            Some(n) => format!("{} ({}, {n} characters)", f.name, f.handling.label()),
            None => format!("{} ({})", f.name, f.handling.label()),
        }
    }

    fn period(&self, r: &RetentionRule) -> String {
        match r.days {
            0 => format!("at once {}", r.trigger.label()),
            1 => format!("1 day {}", r.trigger.label()),
            n => format!("{n} days {}", r.trigger.label()),
        }
    }

    /// What an anonymize rule does, in words.
    fn transforms(&self, r: &RetentionRule) -> String {
        crate::domain::retention::transforms_text(&r.transforms)
    }

    /// The safeguard as the policy states it (derived from the country within the EEA).
    fn transfer(&self, r: &Recipient) -> String {
        crate::domain::transfer::safeguard_text(&r.country, r.safeguard, r.derogation.as_deref())
    }

    fn category_name(&self, key: &str) -> String {
        category_name(&self.inv, key)
    }
}
