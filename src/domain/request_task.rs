//! Tasks for the operator's other systems (issue 16, point 5): which systems of the inventory
//! a request reaches, and how each is told.
//!
//! A system gets a task when it holds at least one category the person has records in: the
//! vault knows what kinds of data it keeps of the person, the inventory which systems keep the
//! same kinds. A system with a webhook endpoint bound to it is told by a signed
//! `request.task.created` webhook and reports back through the API; any other is a manual task
//! staff tick off.

use super::inventory::System;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use utoipa::ToSchema;

/// The webhook event a system's endpoint receives for each task.
pub const TASK_CREATED: &str = "request.task.created";

/// How a system learns of its task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskChannel {
    /// A signed webhook; the system reports back through the API.
    Webhook,
    /// No integration: staff do it and tick it off in the console.
    Manual,
}

impl TaskChannel {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskChannel::Webhook => "webhook",
            TaskChannel::Manual => "manual",
        }
    }

    pub fn parse(s: &str) -> Option<TaskChannel> {
        [TaskChannel::Webhook, TaskChannel::Manual]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

/// The systems that hold any of `categories` (the person's), in the inventory's order.
pub fn systems_reached<'a>(systems: &'a [System], categories: &[String]) -> Vec<&'a System> {
    let held: BTreeSet<&str> = categories.iter().map(String::as_str).collect();
    systems
        .iter()
        .filter(|s| s.categories.iter().any(|c| held.contains(c.as_str())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn system(key: &str, categories: &[&str]) -> System {
        System {
            key: key.into(),
            name: key.to_uppercase(),
            description: String::new(),
            location: String::new(),
            categories: categories.iter().map(|c| (*c).to_owned()).collect(),
        }
    }

    #[test]
    fn only_systems_holding_one_of_the_persons_categories_are_reached() {
        let systems = [
            system("shop", &["orders", "contact"]),
            system("crm", &["contact"]),
            system("analytics", &["visits"]),
            system("empty", &[]),
        ];
        let keys = |cats: &[&str]| -> Vec<String> {
            let cats: Vec<String> = cats.iter().map(|c| (*c).to_owned()).collect();
            systems_reached(&systems, &cats)
                .into_iter()
                .map(|s| s.key.clone())
                .collect()
        };
        assert_eq!(keys(&["contact"]), ["shop", "crm"]);
        assert_eq!(keys(&["orders"]), ["shop"]);
        assert_eq!(keys(&["visits", "orders"]), ["shop", "analytics"]);
        assert!(
            keys(&[]).is_empty(),
            "a person with no records reaches no system"
        );
        assert!(keys(&["unknown"]).is_empty());
    }

    #[test]
    fn channels_read_back_what_they_write() {
        for c in [TaskChannel::Webhook, TaskChannel::Manual] {
            assert_eq!(TaskChannel::parse(c.as_str()), Some(c));
        }
        assert_eq!(TaskChannel::parse("email"), None);
    }
}
