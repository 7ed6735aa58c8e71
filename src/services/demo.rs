//! The demo: two workspaces built from the reference businesses' facts (aulm, a messaging API;
//! aufum, a learning platform) and an owner account whose password is new on every run.
//! Later capabilities add their inventory, policies and synthetic data here.

use super::Caller;
use crate::crypto;
use crate::domain::workspace::WorkspaceSettingsInput;
use crate::error::AppError;
use crate::store::{Db, workspaces};

pub const DEMO_EMAIL: &str = "owner@demo.example";

pub struct DemoLogin {
    pub email: String,
    pub password: String,
}

struct DemoWorkspace {
    slug: &'static str,
    settings: WorkspaceSettingsInput,
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
                request_deadline_days: "30".into(),
                require_totp: false,
            },
        },
        DemoWorkspace {
            slug: "aufum",
            settings: WorkspaceSettingsInput {
                legal_name: "Aufum".into(),
                contact_email: "privacy@aufum.example".into(),
                dpo_name: "Data Protection Officer".into(),
                dpo_email: "dpo@aufum.example".into(),
                min_age: "16".into(),
                request_deadline_days: "30".into(),
                require_totp: false,
            },
        },
    ]
}

/// Creates whatever of the demo is missing and gives the demo owner a fresh password.
pub fn load(db: &Db) -> Result<DemoLogin, AppError> {
    let password = crypto::random_code(20);
    let owner_id = super::accounts::create_admin(db, DEMO_EMAIL, &password)?;
    let caller = Caller::system();
    for demo in demo_workspaces() {
        if db
            .read(|c| workspaces::find_by_slug(c, demo.slug))?
            .is_none()
        {
            super::workspaces::create(db, &caller, owner_id, demo.slug, &demo.settings)?;
        }
    }
    Ok(DemoLogin {
        email: DEMO_EMAIL.into(),
        password,
    })
}
