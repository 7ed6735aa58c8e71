//! The incident form, for registering an incident and for changing it: the values as typed (so
//! a refused form comes back exactly as it was sent, each error next to its field), read from
//! the posted pairs (the category and system boxes repeat one name), and turned into the
//! `IncidentInput` the use cases take. Times are `datetime-local` values, read in the
//! workspace's time zone by the domain (`incident::parse_instant`).

use super::Shell;
use crate::domain::ValidationErrors;
use crate::domain::incident::{IncidentInput, RiskLevel};
use crate::services::incident_desk::FormChoices;
use crate::services::incidents::IncidentView;
use askama::Template;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// Every field of the form, as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncidentValues {
    pub title: String,
    pub description: String,
    pub detected_at: String,
    pub started_at: String,
    pub ended_at: String,
    pub risk: String,
    pub risk_reasoning: String,
    pub handler: String,
    pub consequences: String,
    pub measures: String,
    /// The ticked boxes.
    pub categories: Vec<String>,
    pub systems: Vec<String>,
}

/// An instant as a `datetime-local` value in `zone`, to the minute.
pub fn local_input(t: DateTime<Utc>, zone: Tz) -> String {
    t.with_timezone(&zone).format("%Y-%m-%dT%H:%M").to_string()
}

impl IncidentValues {
    /// A new incident: the risk preselected as the core's default (a risk: notify).
    pub fn blank() -> Self {
        IncidentValues {
            risk: RiskLevel::Risk.as_str().to_owned(),
            ..IncidentValues::default()
        }
    }

    /// The posted fields and the CSRF token; unknown names are ignored.
    pub fn from_pairs(pairs: &[(String, String)]) -> (Self, String) {
        let mut v = IncidentValues::default();
        let mut csrf = String::new();
        for (name, value) in pairs {
            let slot = match name.as_str() {
                "categories" => {
                    v.categories.push(value.clone());
                    continue;
                }
                "systems" => {
                    v.systems.push(value.clone());
                    continue;
                }
                "csrf" => &mut csrf,
                "title" => &mut v.title,
                "description" => &mut v.description,
                "detected_at" => &mut v.detected_at,
                "started_at" => &mut v.started_at,
                "ended_at" => &mut v.ended_at,
                "risk" => &mut v.risk,
                "risk_reasoning" => &mut v.risk_reasoning,
                "handler" => &mut v.handler,
                "consequences" => &mut v.consequences,
                "measures" => &mut v.measures,
                _ => continue,
            };
            *slot = value.clone();
        }
        (v, csrf)
    }

    /// The stored incident as the form shows it, its times in the workspace's zone.
    pub fn of(incident: &IncidentView, zone: Tz) -> Self {
        let local = |t: Option<DateTime<Utc>>| t.map(|t| local_input(t, zone)).unwrap_or_default();
        IncidentValues {
            title: incident.title.clone(),
            description: incident.description.clone(),
            detected_at: local(Some(incident.detected_at)),
            started_at: local(incident.started_at),
            ended_at: local(incident.ended_at),
            risk: incident.risk.as_str().to_owned(),
            risk_reasoning: incident.risk_reasoning.clone(),
            handler: incident.handler.clone().unwrap_or_default(),
            consequences: incident.consequences.clone(),
            measures: incident.measures.clone(),
            categories: incident.categories.clone(),
            systems: incident.systems.clone(),
        }
    }

    /// Everything typed, for a new incident (empty texts are "not given" to the domain).
    pub fn to_input(&self) -> IncidentInput {
        IncidentInput {
            title: Some(self.title.clone()),
            description: Some(self.description.clone()),
            detected_at: Some(self.detected_at.clone()),
            started_at: Some(self.started_at.clone()),
            ended_at: Some(self.ended_at.clone()),
            risk: Some(self.risk.clone()),
            risk_reasoning: Some(self.risk_reasoning.clone()),
            handler: Some(self.handler.clone()),
            consequences: Some(self.consequences.clone()),
            measures: Some(self.measures.clone()),
            categories: Some(self.categories.clone()),
            systems: Some(self.systems.clone()),
        }
    }

    /// The change of a stored incident that `shown` (what the form was filled with) became.
    /// A time left as shown is not sent: the form shows it to the minute in the workspace's
    /// zone, and reading it back would drop its seconds, or move a time of the hour the clocks
    /// repeat to the first of the two readings.
    pub fn patch_over(&self, shown: &IncidentValues) -> IncidentInput {
        let time = |typed: &str, was: &str| (typed.trim() != was).then(|| typed.to_owned());
        IncidentInput {
            detected_at: time(&self.detected_at, &shown.detected_at),
            started_at: time(&self.started_at, &shown.started_at),
            ended_at: time(&self.ended_at, &shown.ended_at),
            ..self.to_input()
        }
    }
}

/// The label the form shows for a field, to phrase its errors.
fn label_of(field: &str) -> &'static str {
    match field {
        "title" => "Title",
        "description" => "What happened",
        "detected_at" => "Detected at",
        "started_at" => "Started at",
        "ended_at" => "Ended at",
        "risk" => "Risk",
        "risk_reasoning" => "Why this risk",
        "handler" => "Handler",
        "consequences" => "Likely consequences",
        "measures" => "Measures",
        "categories" => "Data categories",
        "systems" => "Systems",
        // The notice phase's form.
        "sent_at" => "Sent at",
        "late_reason" => "Reasons for the delay",
        _ => "",
    }
}

/// "Title is required", "Detected at: 2026-03-29 02:30 does not exist in Europe/Berlin: …".
pub fn phrase(field: &str, message: &str) -> String {
    let label = label_of(field);
    let reads_on = ["is ", "must ", "give "]
        .iter()
        .any(|p| message.starts_with(p));
    if label.is_empty() {
        message.to_owned()
    } else if reads_on {
        format!("{label} {message}")
    } else {
        format!("{label}: {message}")
    }
}

/// The errors as (field, sentence), in the order the domain found them.
pub fn phrased(errors: &ValidationErrors) -> Vec<(String, String)> {
    errors
        .0
        .iter()
        .map(|e| (e.field.clone(), phrase(&e.field, &e.message)))
        .collect()
}

/// The risk levels as the form offers them: (value, label).
pub fn risk_choices() -> Vec<(&'static str, String)> {
    RiskLevel::ALL
        .into_iter()
        .map(|r| (r.as_str(), format!("{}: {}", risk_label(r), r.meaning())))
        .collect()
}

/// "No risk", "Risk", "High risk".
pub fn risk_label(r: RiskLevel) -> &'static str {
    match r {
        RiskLevel::None => "Unlikely to be a risk",
        RiskLevel::Risk => "Risk",
        RiskLevel::HighRisk => "High risk",
    }
}

#[derive(Template)]
#[template(path = "console/incident_form.html")]
pub struct IncidentFormPage {
    pub shell: Shell,
    /// The incident being changed: (id, title as stored); `None` for a new one.
    pub editing: Option<(String, String)>,
    pub v: IncidentValues,
    /// (field, sentence).
    pub errors: Vec<(String, String)>,
    pub choices: FormChoices,
    pub risks: Vec<(&'static str, String)>,
}

impl IncidentFormPage {
    pub fn new(shell: Shell, choices: FormChoices, v: IncidentValues) -> Self {
        IncidentFormPage {
            shell,
            editing: None,
            v,
            errors: Vec::new(),
            choices,
            risks: risk_choices(),
        }
    }

    fn action(&self) -> String {
        let slug = self.shell.slug();
        match &self.editing {
            Some((id, _)) => format!("/console/w/{slug}/incidents/{id}/edit"),
            None => format!("/console/w/{slug}/incidents/new"),
        }
    }

    fn zone(&self) -> &str {
        self.choices.time_zone.name()
    }

    fn errs(&self, field: &str) -> Vec<&str> {
        self.errors
            .iter()
            .filter(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
            .collect()
    }

    fn invalid(&self, field: &str) -> bool {
        self.errors.iter().any(|(f, _)| f == field)
    }

    /// `aria-describedby` of an input: its help text and its error, if any.
    fn described_by(&self, field: &str, help: &str) -> String {
        let mut ids = Vec::new();
        if !help.is_empty() {
            ids.push(format!("{field}-help"));
        }
        if self.invalid(field) {
            ids.push(format!("{field}-error"));
        }
        ids.join(" ")
    }

    fn is_handler(&self, email: &str) -> bool {
        self.v.handler.trim() == email
    }

    fn category_checked(&self, key: &str) -> bool {
        self.v.categories.iter().any(|c| c == key)
    }

    fn system_checked(&self, key: &str) -> bool {
        self.v.systems.iter().any(|s| s == key)
    }

    /// Ticked keys the inventory no longer has (linked before it changed): still offered, so
    /// saving the form does not drop them unseen.
    fn gone_categories(&self) -> Vec<&str> {
        gone(&self.v.categories, &self.choices.categories)
    }

    fn gone_systems(&self) -> Vec<&str> {
        gone(&self.v.systems, &self.choices.systems)
    }

    /// The members to choose from, and the handler typed or stored if they are not one (any
    /// more): the service then names the problem next to the field.
    fn handlers(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self.choices.members.iter().map(String::as_str).collect();
        let h = self.v.handler.trim();
        if !h.is_empty() && !out.contains(&h) {
            out.push(h);
        }
        out
    }
}

fn gone<'a>(ticked: &'a [String], offered: &[(String, String)]) -> Vec<&'a str> {
    ticked
        .iter()
        .filter(|k| !offered.iter().any(|(key, _)| key == *k))
        .map(String::as_str)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_read_with_repeated_boxes() {
        let pairs: Vec<(String, String)> = [
            ("csrf", "t"),
            ("title", "Mailbox"),
            ("categories", "a.b"),
            ("categories", "c.d"),
            ("systems", "crm"),
            ("unknown", "x"),
        ]
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
        let (v, csrf) = IncidentValues::from_pairs(&pairs);
        assert_eq!(csrf, "t");
        assert_eq!(v.title, "Mailbox");
        assert_eq!(v.categories, ["a.b", "c.d"]);
        assert_eq!(v.systems, ["crm"]);
    }

    #[test]
    fn a_time_left_as_shown_is_not_sent_again() {
        let shown = IncidentValues {
            detected_at: "2026-10-25T02:30".into(),
            started_at: "2026-10-24T09:00".into(),
            ..IncidentValues::default()
        };
        let typed = IncidentValues {
            detected_at: "2026-10-25T02:30".into(),
            started_at: String::new(),
            ended_at: "2026-10-25T12:00".into(),
            ..shown.clone()
        };
        let patch = typed.patch_over(&shown);
        assert_eq!(patch.detected_at, None);
        assert_eq!(patch.started_at.as_deref(), Some(""), "cleared");
        assert_eq!(patch.ended_at.as_deref(), Some("2026-10-25T12:00"));
    }

    #[test]
    fn errors_read_as_sentences() {
        assert_eq!(phrase("title", "is required"), "Title is required");
        assert_eq!(
            phrase(
                "detected_at",
                "2026-03-29 02:30 does not exist in Europe/Berlin"
            ),
            "Detected at: 2026-03-29 02:30 does not exist in Europe/Berlin"
        );
    }
}
