//! The inventory use cases: read it, put an item by key (create or replace), delete an item.
//! Every change is audited; a category still in use cannot be deleted.

use super::Caller;
use crate::domain::ValidationErrors;
use crate::domain::inventory::{
    DataCategory, Inventory, InventoryKind, LegalHold, Purpose, Recipient, RetentionRule, System,
};
use crate::error::AppError;
use crate::store::{Db, StoreError, WorkspaceScope, audit, inventory};
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde::Serialize;

/// What the use cases need to know of each kind of item.
pub trait InventoryItem: Serialize + Clone + Send + 'static {
    const KIND: InventoryKind;
    fn key(&self) -> &str;
    fn validated(self) -> Result<Self, ValidationErrors>;
    /// Category keys this item refers to, with the field that names them.
    fn category_refs(&self) -> (&'static str, Vec<&String>);
    fn find<'a>(inventory: &'a Inventory, key: &str) -> Option<&'a Self>;
    fn put(
        &self,
        conn: &Connection,
        scope: &WorkspaceScope,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}

macro_rules! inventory_item {
    ($ty:ty, $kind:expr, $list:ident, $put:path, |$item:ident| $refs:expr) => {
        impl InventoryItem for $ty {
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
    |r| ("category", vec![&r.category])
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
        let (field, refs) = item.category_refs();
        inv.check_categories_exist(field, refs)?;
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
