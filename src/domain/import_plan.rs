//! What an import would do to an inventory, before it does it: per kind of item, which items it
//! creates, which it replaces (and which of their fields differ), which it writes unchanged and
//! which of the workspace's items it leaves alone.

use super::inventory::Inventory;
use serde::Serialize;

/// An item the import would replace, and the fields in which it differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Replacement {
    pub key: String,
    /// Fields whose value the import changes, as the API names them.
    pub fields: Vec<String>,
}

/// What an import would do to one kind of item. Keys are in the document's order, then the
/// workspace's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct KindPlan {
    /// In the document, not in the workspace: created.
    pub create: Vec<String>,
    /// In both, different: replaced by the document's.
    pub replace: Vec<Replacement>,
    /// In both, the same: nothing changes.
    pub unchanged: Vec<String>,
    /// In the workspace, not in the document: left as they are.
    pub untouched: Vec<String>,
}

/// What an import would do, per kind of item. Nothing is written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ImportPlan {
    pub categories: KindPlan,
    pub purposes: KindPlan,
    pub systems: KindPlan,
    pub recipients: KindPlan,
    pub retention_rules: KindPlan,
    pub legal_holds: KindPlan,
}

impl ImportPlan {
    /// Each kind with its plan, in the order the inventory lists them.
    pub fn kinds(&self) -> [(&'static str, &KindPlan); 6] {
        [
            ("Data categories", &self.categories),
            ("Purposes", &self.purposes),
            ("Systems", &self.systems),
            ("Recipients", &self.recipients),
            ("Retention rules", &self.retention_rules),
            ("Legal holds", &self.legal_holds),
        ]
    }

    /// How many items would be created.
    pub fn creates(&self) -> usize {
        self.kinds().iter().map(|(_, k)| k.create.len()).sum()
    }

    /// How many items would be replaced.
    pub fn replaces(&self) -> usize {
        self.kinds().iter().map(|(_, k)| k.replace.len()).sum()
    }

    /// How many items would be created or replaced.
    pub fn changes(&self) -> usize {
        self.creates() + self.replaces()
    }
}

/// The top-level fields in which two items' JSON differ.
fn differing_fields<T: Serialize>(before: &T, after: &T) -> Vec<String> {
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) =
        (serde_json::to_value(before), serde_json::to_value(after))
    else {
        return Vec::new();
    };
    let mut fields: Vec<String> = b
        .iter()
        .filter(|(k, v)| a.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .collect();
    fields.extend(a.keys().filter(|k| !b.contains_key(*k)).cloned());
    fields
}

fn plan_kind<T: Serialize + PartialEq>(
    existing: &[T],
    incoming: &[T],
    key: impl Fn(&T) -> &str,
) -> KindPlan {
    let mut plan = KindPlan::default();
    for item in incoming {
        match existing.iter().find(|e| key(e) == key(item)) {
            None => plan.create.push(key(item).to_owned()),
            Some(e) if e == item => plan.unchanged.push(key(item).to_owned()),
            Some(e) => plan.replace.push(Replacement {
                key: key(item).to_owned(),
                fields: differing_fields(e, item),
            }),
        }
    }
    plan.untouched = existing
        .iter()
        .filter(|e| !incoming.iter().any(|i| key(i) == key(e)))
        .map(|e| key(e).to_owned())
        .collect();
    plan
}

/// What importing `incoming` (validated items) into `existing` would do.
pub fn plan(existing: &Inventory, incoming: &Inventory) -> ImportPlan {
    ImportPlan {
        categories: plan_kind(&existing.categories, &incoming.categories, |c| &c.key),
        purposes: plan_kind(&existing.purposes, &incoming.purposes, |p| &p.key),
        systems: plan_kind(&existing.systems, &incoming.systems, |s| &s.key),
        recipients: plan_kind(&existing.recipients, &incoming.recipients, |r| &r.key),
        retention_rules: plan_kind(&existing.retention_rules, &incoming.retention_rules, |r| {
            &r.key
        }),
        legal_holds: plan_kind(&existing.legal_holds, &incoming.legal_holds, |h| &h.key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::inventory::{DataCategory, Sensitivity};

    fn category(key: &str, name: &str) -> DataCategory {
        DataCategory {
            key: key.into(),
            name: name.into(),
            description: String::new(),
            subject_kinds: vec![],
            source: String::new(),
            sensitivity: Sensitivity::Normal,
            fields: vec![],
            subject_optional: false,
        }
    }

    #[test]
    fn items_are_created_replaced_unchanged_or_untouched() {
        let existing = Inventory {
            categories: vec![
                category("same", "Same"),
                category("renamed", "Old name"),
                category("kept", "Kept"),
            ],
            ..Inventory::default()
        };
        let incoming = Inventory {
            categories: vec![
                category("new", "New"),
                category("renamed", "New name"),
                category("same", "Same"),
            ],
            ..Inventory::default()
        };
        let p = plan(&existing, &incoming);
        assert_eq!(
            p.categories,
            KindPlan {
                create: vec!["new".into()],
                replace: vec![Replacement {
                    key: "renamed".into(),
                    fields: vec!["name".into()]
                }],
                unchanged: vec!["same".into()],
                untouched: vec!["kept".into()],
            }
        );
        assert_eq!(p.purposes, KindPlan::default());
        assert_eq!(p.changes(), 2);
        assert_eq!(plan(&existing, &existing).changes(), 0);
    }
}
