//! The demo: two workspaces built from the reference businesses' facts (aulm, a messaging API;
//! aufum, a learning platform) and an owner account whose password is new on every run.
//! Later capabilities add their inventory, policies and synthetic data here.

mod vault_seed;

use super::Caller;
use crate::crypto;
use crate::domain::inventory::Inventory;
use crate::domain::workspace::WorkspaceSettingsInput;
use crate::error::AppError;
use crate::store::{Db, WorkspaceScope, workspaces};
use crate::vault::Vault;
use chrono::Utc;

pub const DEMO_EMAIL: &str = "owner@demo.example";

pub struct DemoLogin {
    pub email: String,
    pub password: String,
}

struct DemoWorkspace {
    slug: &'static str,
    settings: WorkspaceSettingsInput,
    /// The inventory, as JSON in the shape of `GET /api/v1/inventory`.
    inventory: &'static str,
    /// The policy template, published once the inventory is in place.
    policy: &'static str,
}

fn demo_workspaces() -> [DemoWorkspace; 2] {
    [
        DemoWorkspace {
            slug: "aulm",
            settings: WorkspaceSettingsInput {
                legal_name: "Aulm Corporation".into(),
                contact_email: "support@aulm.io".into(),
                dpo_name: String::new(),
                dpo_email: String::new(),
                // The service is not for anyone under 18.
                min_age: "18".into(),
                request_law: String::new(),
                review_requests: false,
                consent_origins: Vec::new(),
                consent_cookie_domain: String::new(),
                time_zone: String::new(),
                notice_days: String::new(),
                require_totp: false,
            },
            inventory: include_str!("aulm.json"),
            policy: include_str!("aulm_policy.md"),
        },
        DemoWorkspace {
            slug: "aufum",
            settings: WorkspaceSettingsInput {
                legal_name: "Aufum".into(),
                contact_email: "privacy@aufum.example".into(),
                dpo_name: "Data Protection Officer".into(),
                dpo_email: "dpo@aufum.example".into(),
                min_age: "16".into(),
                request_law: String::new(),
                review_requests: false,
                consent_origins: Vec::new(),
                consent_cookie_domain: String::new(),
                time_zone: String::new(),
                notice_days: String::new(),
                require_totp: false,
            },
            inventory: include_str!("aufum.json"),
            policy: include_str!("aufum_policy.md"),
        },
    ]
}

/// Creates whatever of the demo is missing and gives the demo owner a fresh password.
pub fn load(db: &Db, vault: &Vault) -> Result<DemoLogin, AppError> {
    let password = crypto::random_code(20);
    let owner_id = super::accounts::create_admin(
        db,
        DEMO_EMAIL,
        &password,
        super::accounts::OnExisting::ResetPassword,
    )?;
    let caller = Caller::system();
    for demo in demo_workspaces() {
        let existing = db.read(|c| workspaces::find_by_slug(c, demo.slug))?;
        let scope = match existing {
            Some((scope, _)) => scope,
            None => {
                super::workspaces::create(db, &caller, owner_id, demo.slug, &demo.settings)?;
                db.read(|c| workspaces::find_by_slug(c, demo.slug))?
                    .ok_or_else(|| AppError::NotFound(format!("workspace {}", demo.slug)))?
                    .0
            }
        };
        // An inventory the operator already edited is left alone.
        if super::inventory::load(db, &scope)? == Inventory::default() {
            let wanted: Inventory =
                serde_json::from_str(demo.inventory).map_err(AppError::internal)?;
            import(db, &caller, &scope, wanted)?;
        }
        if super::policies::list(db, &scope)?.is_empty() {
            let input = super::policies::DraftInput {
                markdown: demo.policy.to_owned(),
                material: false,
                summary: "First published version.".into(),
            };
            let draft = super::policies::create_draft(db, &caller, &scope, &input)?;
            // The demo inventories pass the check without warnings (a test keeps them so).
            let request = super::publication::PublishRequest::default();
            super::publication::publish(db, &caller, &scope, draft.version, &request)?;
        }
        vault_seed::seed(db, vault, &scope, demo.slug)?;
        if demo.slug == "aulm" && super::incidents::list(db, &scope, Utc::now())?.is_empty() {
            demo_incident(db, &caller, &scope)?;
        }
    }
    Ok(DemoLogin {
        email: DEMO_EMAIL.into(),
        password,
    })
}

/// An open incident whose 72 hours are running, so the register, the clock and the counts have
/// something to show.
fn demo_incident(db: &Db, caller: &Caller, scope: &WorkspaceScope) -> Result<(), AppError> {
    let now = Utc::now();
    let at = |hours: i64| crate::domain::time::format(now - chrono::Duration::hours(hours));
    let input = crate::domain::incident::IncidentInput {
        title: Some("Support desk export e-mailed to the wrong address".into()),
        description: Some(
            "A support agent sent a spreadsheet export of open tickets to a mistyped external \
             address. The recipient has been asked to delete it."
                .into(),
        ),
        detected_at: Some(at(20)),
        // The export held everything up to the day it was made.
        started_at: None,
        ended_at: Some(at(22)),
        risk: Some("risk".into()),
        risk_reasoning: Some(
            "Names, e-mail addresses and ticket texts; no passwords or payment data.".into(),
        ),
        handler: None,
        consequences: Some("Unwanted contact or phishing that quotes a ticket.".into()),
        measures: Some("Recall requested; exports now need a second person's approval.".into()),
        categories: Some(vec!["user.contact.email".into()]),
        systems: Some(vec!["helpdesk".into()]),
    };
    super::incidents::register(db, scope, caller, input, now)?;
    Ok(())
}

/// Puts every item, categories first so that references resolve.
fn import(
    db: &Db,
    caller: &Caller,
    scope: &WorkspaceScope,
    inv: Inventory,
) -> Result<(), AppError> {
    use super::inventory::put;
    for c in inv.categories {
        let key = c.key.clone();
        put(db, caller, scope, &key, c)?;
    }
    for p in inv.purposes {
        let key = p.key.clone();
        put(db, caller, scope, &key, p)?;
    }
    for s in inv.systems {
        let key = s.key.clone();
        put(db, caller, scope, &key, s)?;
    }
    for r in inv.recipients {
        let key = r.key.clone();
        put(db, caller, scope, &key, r)?;
    }
    for r in inv.retention_rules {
        let key = r.key.clone();
        put(db, caller, scope, &key, r)?;
    }
    for h in inv.legal_holds {
        let key = h.key.clone();
        put(db, caller, scope, &key, h)?;
    }
    Ok(())
}
