//! Lethe: a self-hosted privacy back office. See ARCHITECTURE.md for the map.
#![forbid(unsafe_code)]

pub mod acme;
pub mod cli;
pub mod commands;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod error;
pub mod jobs;
pub mod mail;
pub mod services;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod vault;
pub mod web;
pub mod webhooks;
