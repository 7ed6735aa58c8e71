//! One integration-test binary (each extra binary is another long link). Every test starts Lethe
//! on a random port with its own data directory and speaks HTTPS to it, trusting the certificate
//! Lethe generated, as a client that was given that certificate would.

// Test and measurement code: a failed step is a failed run, so it may unwrap (see [lints] in
// Cargo.toml).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod helpers;

mod accounts;
mod acme;
mod anchors;
mod api;
mod audit;
mod auth;
mod backup;
mod browser;
mod cli;
mod consent;
mod consent_banner;
mod consent_receipts;
mod console_consent;
mod console_incidents;
mod console_inventory;
mod console_names;
mod console_policy;
mod console_requests;
mod console_subjects;
mod demo;
mod doctor;
mod errors;
mod evidence;
mod exchange;
mod health;
mod import_preview;
mod incident_deadlines;
mod incident_letters;
mod incidents;
mod inventory;
mod layers;
mod litestream;
mod outbox;
mod outbox_at_rest;
mod policies;
mod policy_workflow;
mod privacy_center;
mod publication;
mod read_cache;
mod request_fulfilment;
mod request_intake;
mod request_package;
mod request_tasks;
mod requests;
mod retention;
mod retention_crash;
mod roles;
mod schemathesis;
mod standards;
mod subject_lists;
mod tenancy;
mod totp;
mod vault;
mod vault_at_rest;
mod vault_restart;
mod webhook_ssrf;
mod workspaces;
