//! Use cases: each one validates with `domain`, changes state through `store` in one transaction
//! and appends the audit entry in that same transaction. Shared by the web layer and the shell.

pub mod accounts;
pub mod anchors;
pub mod apikey_cache;
pub mod apikeys;
pub mod audit_log;
pub mod backup;
pub mod consent;
pub mod consent_banner;
pub mod consent_dashboard;
pub mod consent_receipts;
pub mod consent_rules;
pub mod demo;
pub mod doctor;
pub mod emails;
pub mod erasure;
pub mod evidence;
pub mod holds;
pub mod incident_deadlines;
pub mod incident_desk;
pub mod incident_letters;
pub mod incident_notice;
pub mod incident_register;
pub mod incidents;
pub mod instance;
pub mod inventory;
pub mod keys;
pub mod login_guard;
pub mod outbox;
pub mod password_reset;
pub mod policies;
pub mod publication;
pub mod read_cache;
pub mod receipt_signer;
pub mod records;
pub mod request_correction;
pub mod request_desk;
pub mod request_fulfilment;
pub mod request_intake;
pub mod request_mail;
pub mod request_package;
pub mod request_steps;
pub mod request_tasks;
pub mod requests;
pub mod restore;
pub mod retention;
pub mod secrets;
pub mod subject_list;
pub mod subject_status;
pub mod subjects;
pub mod workspaces;

use crate::domain::audit::{Actor, AuditEvent};

/// The proof of access every tenant use case takes (see `store::WorkspaceScope`); the web layer
/// receives one from the services that check membership or a key.
pub use crate::store::WorkspaceScope;
use std::net::IpAddr;

/// Who is acting, and from where: what every audit entry needs.
#[derive(Debug, Clone)]
pub struct Caller {
    pub actor: Actor,
    pub ip: Option<IpAddr>,
}

impl Caller {
    pub fn cli() -> Self {
        Caller {
            actor: Actor::Cli,
            ip: None,
        }
    }

    pub fn system() -> Self {
        Caller {
            actor: Actor::System,
            ip: None,
        }
    }

    pub fn event(&self, action: &'static str, target: impl Into<String>) -> AuditEvent {
        AuditEvent::new(self.actor.clone(), action, target).ip(self.ip)
    }
}
