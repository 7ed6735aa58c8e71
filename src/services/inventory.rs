//! The inventory use cases: read it, put an item by key (create or replace), delete an item.
//! Every change is audited; a category still in use cannot be deleted.

use super::Caller;
use crate::domain::ValidationErrors;
use crate::domain::import_plan::{self, ImportPlan};
use crate::domain::inventory::{
    DataCategory, Inventory, InventoryKind, LegalHold, Purpose, Recipient, RetentionRule, System,
};
use crate::domain::inventory_check::Finding;
use crate::error::AppError;
use crate::store::Connection;
use crate::store::{Db, StoreError, WorkspaceScope, audit, inventory};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// What the use cases need to know of each kind of item.
pub trait InventoryItem: Serialize + Clone + Send + 'static {
    const KIND: InventoryKind;
    fn key(&self) -> &str;
    fn validated(self) -> Result<Self, ValidationErrors>;
    /// Category keys this item refers to, with the field that names them.
    fn category_refs(&self) -> (&'static str, Vec<&String>);
    /// Checks against the rest of the inventory (categories exist; a retention rule's
    /// transforms name its category's fields). `prefix` places the item in an import.
    fn check_in(&self, known: &Inventory, prefix: &str) -> Result<(), ValidationErrors> {
        let (field, refs) = self.category_refs();
        known.check_categories_exist(&format!("{prefix}{field}"), refs)
    }
    fn find<'a>(inventory: &'a Inventory, key: &str) -> Option<&'a Self>;
    fn put(
        &self,
        conn: &Connection,
        scope: &WorkspaceScope,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}

macro_rules! inventory_item {
    ($ty:ty, $kind:expr, $list:ident, $put:path, |$item:ident| $refs:expr,
     check = |$rule:ident, $known:ident, $prefix:ident| $check:expr) => {
        inventory_item!(@impl $ty, $kind, $list, $put, |$item| $refs,
            fn check_in(&self, $known: &Inventory, $prefix: &str) -> Result<(), ValidationErrors> {
                let (field, refs) = self.category_refs();
                $known.check_categories_exist(&format!("{}{field}", $prefix), refs)?;
                let $rule = self;
                $check
            }
        );
    };
    ($ty:ty, $kind:expr, $list:ident, $put:path, |$item:ident| $refs:expr) => {
        inventory_item!(@impl $ty, $kind, $list, $put, |$item| $refs,);
    };
    (@impl $ty:ty, $kind:expr, $list:ident, $put:path, |$item:ident| $refs:expr, $($extra:item)*) => {
        impl InventoryItem for $ty {
            $($extra)*
            const KIND: InventoryKind = $kind;
            fn key(&self) -> &str {
                &self.key
            }
            fn validated(self) -> Result<Self, ValidationErrors> {
                self.validate()
            }
            fn category_refs(&self) -> (&'static str, Vec<&String>) {
                let $item = self;
                $refs
            }
            fn find<'a>(inventory: &'a Inventory, key: &str) -> Option<&'a Self> {
                inventory.$list.iter().find(|i| i.key == key)
            }
            fn put(
                &self,
                conn: &Connection,
                scope: &WorkspaceScope,
                now: DateTime<Utc>,
            ) -> Result<bool, StoreError> {
                $put(conn, scope, self, now)
            }
        }
    };
}

inventory_item!(
    DataCategory,
    InventoryKind::Categories,
    categories,
    inventory::put_category,
    |_c| ("categories", Vec::new())
);
inventory_item!(
    Purpose,
    InventoryKind::Purposes,
    purposes,
    inventory::put_purpose,
    |p| ("categories", p.categories.iter().collect())
);
inventory_item!(
    System,
    InventoryKind::Systems,
    systems,
    inventory::put_system,
    |s| ("categories", s.categories.iter().collect())
);
inventory_item!(
    Recipient,
    InventoryKind::Recipients,
    recipients,
    inventory::put_recipient,
    |r| ("categories", r.categories.iter().collect())
);
inventory_item!(
    RetentionRule,
    InventoryKind::RetentionRules,
    retention_rules,
    inventory::put_retention_rule,
    |r| ("category", vec![&r.category]),
    check = |rule, known, prefix| known.check_transforms(rule, prefix)
);
inventory_item!(
    LegalHold,
    InventoryKind::LegalHolds,
    legal_holds,
    inventory::put_legal_hold,
    |h| ("category", h.category.iter().collect())
);

fn put_action(kind: InventoryKind) -> &'static str {
    match kind {
        InventoryKind::Categories => "inventory.category.put",
        InventoryKind::Purposes => "inventory.purpose.put",
        InventoryKind::Systems => "inventory.system.put",
        InventoryKind::Recipients => "inventory.recipient.put",
        InventoryKind::RetentionRules => "inventory.retention_rule.put",
        InventoryKind::LegalHolds => "inventory.legal_hold.put",
    }
}

fn delete_action(kind: InventoryKind) -> &'static str {
    match kind {
        InventoryKind::Categories => "inventory.category.delete",
        InventoryKind::Purposes => "inventory.purpose.delete",
        InventoryKind::Systems => "inventory.system.delete",
        InventoryKind::Recipients => "inventory.recipient.delete",
        InventoryKind::RetentionRules => "inventory.retention_rule.delete",
        InventoryKind::LegalHolds => "inventory.legal_hold.delete",
    }
}

pub fn load(db: &Db, scope: &WorkspaceScope) -> Result<Inventory, AppError> {
    Ok(db.read(|c| inventory::load(c, scope))?)
}

/// The names of the inventory's items by key, for pages that meet a key elsewhere (a record's
/// category, a run's rule): `None` when the inventory no longer has that item.
#[derive(Debug, Clone, Default)]
pub struct Names {
    categories: BTreeMap<String, String>,
    purposes: BTreeMap<String, String>,
    systems: BTreeMap<String, String>,
    recipients: BTreeMap<String, String>,
    /// Retention rules and legal holds have no name: their key is it.
    rules: BTreeSet<String>,
    holds: BTreeSet<String>,
}

impl Names {
    pub fn of(inv: &Inventory) -> Self {
        fn named<'a>(
            items: impl Iterator<Item = (&'a String, &'a String)>,
        ) -> BTreeMap<String, String> {
            items.map(|(k, n)| (k.clone(), n.clone())).collect()
        }
        Self {
            categories: named(inv.categories.iter().map(|c| (&c.key, &c.name))),
            purposes: named(inv.purposes.iter().map(|p| (&p.key, &p.name))),
            systems: named(inv.systems.iter().map(|s| (&s.key, &s.name))),
            recipients: named(inv.recipients.iter().map(|r| (&r.key, &r.name))),
            rules: inv.retention_rules.iter().map(|r| r.key.clone()).collect(),
            holds: inv.legal_holds.iter().map(|h| h.key.clone()).collect(),
        }
    }

    pub fn category(&self, key: &str) -> Option<&str> {
        self.categories.get(key).map(String::as_str)
    }

    pub fn purpose(&self, key: &str) -> Option<&str> {
        self.purposes.get(key).map(String::as_str)
    }

    pub fn system(&self, key: &str) -> Option<&str> {
        self.systems.get(key).map(String::as_str)
    }

    pub fn recipient(&self, key: &str) -> Option<&str> {
        self.recipients.get(key).map(String::as_str)
    }

    pub fn has_rule(&self, key: &str) -> bool {
        self.rules.contains(key)
    }

    pub fn has_hold(&self, key: &str) -> bool {
        self.holds.contains(key)
    }
}

/// The names of the workspace's inventory items now.
pub fn names(db: &Db, scope: &WorkspaceScope) -> Result<Names, AppError> {
    Ok(Names::of(&load(db, scope)?))
}

/// What the inventory check finds now (errors block publication, warnings need a confirmation).
pub fn check(db: &Db, scope: &WorkspaceScope) -> Result<Vec<Finding>, AppError> {
    Ok(crate::domain::inventory_check::check(&load(db, scope)?))
}

/// How many records of erased people the legal hold `hold` keeps (deleting it releases them).
pub fn records_held_by(db: &Db, scope: &WorkspaceScope, hold: &str) -> Result<i64, AppError> {
    Ok(db.read(|c| crate::store::records::held_by(c, scope, hold))?)
}

pub fn get<T: InventoryItem>(db: &Db, scope: &WorkspaceScope, key: &str) -> Result<T, AppError> {
    let inv = load(db, scope)?;
    T::find(&inv, key).cloned().ok_or_else(|| {
        AppError::NotFound(format!("{} '{key}'", T::KIND.singular().replace('_', " ")))
    })
}

/// Creates or replaces the item named `key`; true when it was created.
pub fn put<T: InventoryItem>(
    db: &Db,
    caller: &Caller,
    scope: &WorkspaceScope,
    key: &str,
    item: T,
) -> Result<(T, bool), AppError> {
    let item = item.validated()?;
    if item.key() != key {
        return Err(ValidationErrors::single(
            "key",
            format!("'{}' does not match '{key}' in the address", item.key()),
        )
        .into());
    }
    let now = Utc::now();
    db.write(|tx| {
        let inv = inventory::load(tx, scope)?;
        item.check_in(&inv, "")?;
        let created = item.put(tx, scope, now)?;
        let event = caller
            .event(put_action(T::KIND), format!("{}:{key}", T::KIND.singular()))
            .detail(serde_json::json!({ "created": created, "item": item }));
        audit::append(tx, Some(scope), &event, now)?;
        Ok((item, created))
    })
}

pub fn delete(
    db: &Db,
    caller: &Caller,
    scope: &WorkspaceScope,
    kind: InventoryKind,
    key: &str,
) -> Result<(), AppError> {
    let now = Utc::now();
    db.write(|tx| {
        if kind == InventoryKind::Categories {
            let users = inventory::load(tx, scope)?.references_to(key);
            if !users.is_empty() {
                return Err(AppError::Conflict(format!(
                    "data category '{key}' is still used by {}; change or delete those first",
                    users.join(", ")
                )));
            }
        }
        inventory::delete(tx, scope, kind, key)?;
        let event = caller.event(delete_action(kind), format!("{}:{key}", kind.singular()));
        audit::append(tx, Some(scope), &event, now)?;
        Ok(())
    })
}

/// How many items of one kind an import created and replaced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ImportCount {
    pub created: usize,
    pub replaced: usize,
}

/// What an import wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ImportSummary {
    pub categories: ImportCount,
    pub purposes: ImportCount,
    pub systems: ImportCount,
    pub recipients: ImportCount,
    pub retention_rules: ImportCount,
    pub legal_holds: ImportCount,
}

/// Validates every item of one list, naming errors `<list>[i].<field>`; keys must be unique.
fn validate_list<T: InventoryItem>(
    list: Vec<T>,
    name: &str,
    errors: &mut ValidationErrors,
) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for (i, item) in list.into_iter().enumerate() {
        match item.validated() {
            Ok(item) => {
                if out.iter().any(|o| o.key() == item.key()) {
                    errors.add(
                        &format!("{name}[{i}].key"),
                        format!("'{}' appears twice", item.key()),
                    );
                }
                out.push(item);
            }
            Err(e) => {
                for fe in e.0 {
                    errors.add(&format!("{name}[{i}].{}", fe.field), fe.message);
                }
            }
        }
    }
    out
}

fn check_list_refs<T: InventoryItem>(
    list: &[T],
    name: &str,
    known: &Inventory,
    errors: &mut ValidationErrors,
) {
    for (i, item) in list.iter().enumerate() {
        if let Err(e) = item.check_in(known, &format!("{name}[{i}].")) {
            errors.0.extend(e.0);
        }
    }
}

fn put_all<T: InventoryItem>(
    tx: &Connection,
    scope: &WorkspaceScope,
    list: &[T],
    now: DateTime<Utc>,
    count: &mut ImportCount,
    written: &mut Written,
) -> Result<(), StoreError> {
    for item in list {
        let target = format!("{}:{}", T::KIND.singular(), item.key());
        if item.put(tx, scope, now)? {
            count.created += 1;
            written.created.push(target);
        } else {
            count.replaced += 1;
            written.replaced.push(target);
        }
    }
    Ok(())
}

/// The audit detail of an import: which items it created and which it replaced.
#[derive(Default, Serialize)]
struct Written {
    created: Vec<String>,
    replaced: Vec<String>,
}

/// Every item of `incoming` validated, errors named by place; an empty import is an error too.
fn validate_import(incoming: Inventory) -> Result<Inventory, ValidationErrors> {
    let mut errors = ValidationErrors::default();
    let incoming = Inventory {
        categories: validate_list(incoming.categories, "categories", &mut errors),
        purposes: validate_list(incoming.purposes, "purposes", &mut errors),
        systems: validate_list(incoming.systems, "systems", &mut errors),
        recipients: validate_list(incoming.recipients, "recipients", &mut errors),
        retention_rules: validate_list(incoming.retention_rules, "retention_rules", &mut errors),
        legal_holds: validate_list(incoming.legal_holds, "legal_holds", &mut errors),
    };
    if errors.is_empty() && incoming == Inventory::default() {
        errors.add("inventory", "nothing to import");
    }
    errors.into_result()?;
    Ok(incoming)
}

/// Checks every category reference of `incoming` against the workspace's categories (`existing`)
/// and the imported ones.
fn check_import_refs(existing: &Inventory, incoming: &Inventory) -> Result<(), ValidationErrors> {
    let mut known = existing.clone();
    for c in &incoming.categories {
        if !known.categories.iter().any(|k| k.key == c.key) {
            known.categories.push(c.clone());
        }
    }
    let mut errors = ValidationErrors::default();
    check_list_refs(&incoming.purposes, "purposes", &known, &mut errors);
    check_list_refs(&incoming.systems, "systems", &known, &mut errors);
    check_list_refs(&incoming.recipients, "recipients", &known, &mut errors);
    check_list_refs(
        &incoming.retention_rules,
        "retention_rules",
        &known,
        &mut errors,
    );
    check_list_refs(&incoming.legal_holds, "legal_holds", &known, &mut errors);
    errors.into_result()
}

/// What [`import`] would do with `incoming`, checked the same way (the same errors), with
/// nothing written and nothing audited.
pub fn preview_import(
    db: &Db,
    scope: &WorkspaceScope,
    incoming: Inventory,
) -> Result<ImportPlan, AppError> {
    let incoming = validate_import(incoming)?;
    let existing = load(db, scope)?;
    check_import_refs(&existing, &incoming)?;
    Ok(import_plan::plan(&existing, &incoming))
}

/// Creates or replaces every item of `incoming`, all or nothing: every item is validated and every
/// category reference checked (against the workspace's categories and the imported ones) before
/// anything is written, then all are written in one transaction with one `inventory.import` audit
/// entry naming each item.
pub fn import(
    db: &Db,
    caller: &Caller,
    scope: &WorkspaceScope,
    incoming: Inventory,
) -> Result<ImportSummary, AppError> {
    let incoming = validate_import(incoming)?;
    let now = Utc::now();
    db.write(|tx| {
        check_import_refs(&inventory::load(tx, scope)?, &incoming)?;

        let mut summary = ImportSummary::default();
        let mut written = Written::default();
        put_all(
            tx,
            scope,
            &incoming.categories,
            now,
            &mut summary.categories,
            &mut written,
        )?;
        put_all(
            tx,
            scope,
            &incoming.purposes,
            now,
            &mut summary.purposes,
            &mut written,
        )?;
        put_all(
            tx,
            scope,
            &incoming.systems,
            now,
            &mut summary.systems,
            &mut written,
        )?;
        put_all(
            tx,
            scope,
            &incoming.recipients,
            now,
            &mut summary.recipients,
            &mut written,
        )?;
        put_all(
            tx,
            scope,
            &incoming.retention_rules,
            now,
            &mut summary.retention_rules,
            &mut written,
        )?;
        put_all(
            tx,
            scope,
            &incoming.legal_holds,
            now,
            &mut summary.legal_holds,
            &mut written,
        )?;
        let event = caller
            .event("inventory.import", "inventory")
            .detail(serde_json::json!({ "summary": summary, "created": written.created, "replaced": written.replaced }));
        audit::append(tx, Some(scope), &event, now)?;
        Ok(summary)
    })
}

/// The workspace and its inventory as of one moment (the records of processing need both).
pub fn load_with_workspace(
    db: &Db,
    scope: &WorkspaceScope,
) -> Result<(crate::domain::workspace::Workspace, Inventory), AppError> {
    db.read_snapshot(|c| {
        Ok((
            crate::store::workspaces::get(c, scope)?,
            inventory::load(c, scope)?,
        ))
    })
}
