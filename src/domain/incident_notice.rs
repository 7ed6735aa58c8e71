//! The notice to the supervisory authority (GDPR Art. 33(3)) and the count of who and what a
//! breach affected. Each section of the notice is pre-filled from the incident, the inventory
//! and the vault's counts; staff may edit a section, and an edited section shows their text
//! from then on (the pre-fill stays visible beside it). Pure: the facts come in, text goes out.

use super::incident::{RiskLevel, in_zone};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// How many people and records of one category the breach may have touched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CategoryCount {
    pub category: String,
    /// Distinct people with records of this category in the window.
    pub subjects: i64,
    /// Records of this category in the window (with or without a person).
    pub records: i64,
}

/// Who and what an incident affected, counted in the vault (never estimated), and the window
/// and categories the count was made over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AffectedCounts {
    /// Distinct people over all the categories (a person in two categories counts once).
    pub subjects: i64,
    /// Of those, the people with an e-mail address on record: those who can be told by e-mail.
    pub subjects_with_email: i64,
    /// Those without one (they are counted, and need another way to be told).
    pub subjects_without_email: i64,
    pub records: i64,
    pub by_category: Vec<CategoryCount>,
    /// The categories counted: the incident's own, and those its systems hold per the inventory.
    pub categories: Vec<String>,
    /// Records that occurred from here (`None`: from the first record held).
    pub window_from: Option<DateTime<Utc>>,
    /// … up to here (the end of the breach, or the time of the count while it is not known).
    pub window_to: DateTime<Utc>,
    pub computed_at: DateTime<Utc>,
}

/// Staff's edits of the notice: section key → text; `null` or an empty text puts the
/// pre-fill back. Sections not named keep what they show.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoticeEdits {
    /// Keys: `nature`, `affected`, `contact`, `consequences`, `measures`.
    #[schema(value_type = Object)]
    pub sections: BTreeMap<String, Option<String>>,
}

/// A notice phase as staff record it after sending it to the authority.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoticePhaseInput {
    /// When it was sent: RFC 3339, or a wall-clock time in the workspace's time zone; now when
    /// left out.
    #[serde(default)]
    pub sent_at: Option<String>,
    /// Required when it is sent after the 72 hours (Art. 33(1)): the reasons for the delay.
    #[serde(default)]
    pub late_reason: Option<String>,
}

/// The sections of a notice, in the order Art. 33(3) lists them.
pub const SECTIONS: [(&str, &str); 5] = [
    ("nature", "Nature of the breach"),
    (
        "affected",
        "Categories and approximate numbers of people and records concerned",
    ),
    ("contact", "Data protection officer or other contact point"),
    ("consequences", "Likely consequences"),
    ("measures", "Measures taken or proposed"),
];

pub fn is_section(key: &str) -> bool {
    SECTIONS.iter().any(|(k, _)| *k == key)
}

/// One section of the notice: the pre-fill, staff's edit if any, and the text it shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NoticeSection {
    pub key: String,
    pub title: String,
    /// What Lethe writes from the incident, the inventory and the counts.
    pub prefilled: String,
    /// What staff wrote instead, if they edited the section.
    pub edited: Option<String>,
    /// The section's text: the edit, else the pre-fill.
    pub text: String,
}

/// What the pre-fill is written from.
pub struct NoticeFacts<'a> {
    pub organisation: &'a str,
    pub title: &'a str,
    pub description: &'a str,
    pub detected_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub zone: Tz,
    pub risk: RiskLevel,
    pub risk_reasoning: &'a str,
    /// The categories counted, as (key, name in the inventory now; the key when deleted).
    pub category_names: &'a BTreeMap<String, String>,
    pub systems: &'a [String],
    pub counts: Option<&'a AffectedCounts>,
    /// The contact block the published policy shows (`domain::policy::contact`).
    pub contact: &'a str,
    pub consequences: &'a str,
    pub measures: &'a str,
    pub late_reason: Option<&'a str>,
}

/// Both readings of an instant: the workspace's zone and UTC.
fn when(t: DateTime<Utc>, zone: Tz) -> String {
    if zone == Tz::UTC {
        in_zone(t, zone)
    } else {
        format!("{} ({})", in_zone(t, zone), in_zone(t, Tz::UTC))
    }
}

fn or_missing(text: &str, what: &str) -> String {
    if text.trim().is_empty() {
        format!("(Not yet written: {what}.)")
    } else {
        text.trim().to_owned()
    }
}

/// The notice's sections pre-filled from `facts`, with staff's `edits` (section key → text).
pub fn sections(facts: &NoticeFacts<'_>, edits: &BTreeMap<String, String>) -> Vec<NoticeSection> {
    SECTIONS
        .iter()
        .map(|(key, title)| {
            let prefilled = prefill(key, facts);
            let edited = edits.get(*key).cloned();
            NoticeSection {
                key: (*key).to_owned(),
                title: (*title).to_owned(),
                text: edited.clone().unwrap_or_else(|| prefilled.clone()),
                prefilled,
                edited,
            }
        })
        .collect()
}

fn prefill(key: &str, f: &NoticeFacts<'_>) -> String {
    match key {
        "nature" => {
            let mut out = format!("{}: {}\n\n", f.organisation, f.title.trim());
            out.push_str(&or_missing(f.description, "what happened"));
            out.push_str(&format!(
                "\n\nBecame aware: {}\n",
                when(f.detected_at, f.zone)
            ));
            out.push_str(&match f.started_at {
                Some(t) => format!("Began: {}\n", when(t, f.zone)),
                None => "Began: not known yet\n".to_owned(),
            });
            out.push_str(&match f.ended_at {
                Some(t) => format!("Ended: {}\n", when(t, f.zone)),
                None => "Ended: not known, or not yet\n".to_owned(),
            });
            out.push_str(&format!(
                "Risk assessed: {} ({})\n",
                f.risk.as_str().replace('_', " "),
                f.risk.meaning()
            ));
            if !f.risk_reasoning.trim().is_empty() {
                out.push_str(&format!("Why: {}\n", f.risk_reasoning.trim()));
            }
            if let Some(late) = f.late_reason {
                out.push_str(&format!("Reasons for the delay: {}\n", late.trim()));
            }
            out
        }
        "affected" => affected(f),
        "contact" => f.contact.trim().to_owned(),
        "consequences" => or_missing(f.consequences, "the likely consequences for the people"),
        "measures" => or_missing(
            f.measures,
            "the measures taken or proposed, including those to mitigate its effects",
        ),
        _ => String::new(),
    }
}

fn affected(f: &NoticeFacts<'_>) -> String {
    let Some(c) = f.counts else {
        return "(No data categories or systems are named yet, so nothing was counted.)".into();
    };
    let name = |key: &str| match f.category_names.get(key) {
        Some(n) if n != key => format!("{n} ({key})"),
        _ => key.to_owned(),
    };
    let mut out = String::from("Categories of personal data:\n");
    for cat in &c.by_category {
        out.push_str(&format!(
            "- {}: {} records of {} people\n",
            name(&cat.category),
            cat.records,
            cat.subjects
        ));
    }
    if c.by_category.is_empty() {
        out.push_str("- none\n");
    }
    if !f.systems.is_empty() {
        out.push_str(&format!("Systems concerned: {}\n", f.systems.join(", ")));
    }
    out.push_str(&format!(
        "\nApproximately {} people and {} records are concerned ({} of the people have an e-mail address on record, {} do not).\n",
        c.subjects, c.records, c.subjects_with_email, c.subjects_without_email
    ));
    let from = c
        .window_from
        .map_or("the first record held".to_owned(), |t| when(t, f.zone));
    out.push_str(&format!(
        "Counted from the records held of these categories that occurred from {} to {}, as of {}.\n",
        from,
        when(c.window_to, f.zone),
        when(c.computed_at, f.zone)
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn sections_are_prefilled_and_an_edit_wins() {
        let detected = Utc.with_ymd_and_hms(2026, 10, 23, 8, 0, 0).unwrap();
        let names = BTreeMap::from([("support.tickets".to_owned(), "Support tickets".to_owned())]);
        let counts = AffectedCounts {
            subjects: 3,
            subjects_with_email: 2,
            subjects_without_email: 1,
            records: 7,
            by_category: vec![CategoryCount {
                category: "support.tickets".into(),
                subjects: 3,
                records: 7,
            }],
            categories: vec!["support.tickets".into()],
            window_from: None,
            window_to: detected,
            computed_at: detected,
        };
        let facts = NoticeFacts {
            organisation: "Aufum GmbH",
            title: "Support mailbox exposed",
            description: "",
            detected_at: detected,
            started_at: None,
            ended_at: None,
            zone: chrono_tz::Europe::Berlin,
            risk: RiskLevel::HighRisk,
            risk_reasoning: "",
            category_names: &names,
            systems: &[],
            counts: Some(&counts),
            contact: "Aufum GmbH, privacy@aufum.example",
            consequences: "",
            measures: "Passwords reset",
            late_reason: None,
        };
        let edits = BTreeMap::from([("consequences".to_owned(), "Phishing".to_owned())]);
        let s = sections(&facts, &edits);
        assert_eq!(s.len(), 5);
        assert!(
            s[0].text
                .contains("2026-10-23 10:00 CEST (2026-10-23 08:00 UTC)"),
            "{}",
            s[0].text
        );
        assert!(
            s[1].text
                .contains("Support tickets (support.tickets): 7 records of 3 people")
        );
        assert!(
            s[1].text
                .contains("2 of the people have an e-mail address on record, 1 do not")
        );
        assert_eq!(s[2].text, "Aufum GmbH, privacy@aufum.example");
        assert_eq!(s[3].text, "Phishing");
        assert!(s[3].prefilled.starts_with("(Not yet written"));
        assert_eq!(s[4].text, "Passwords reset");
        assert_eq!(s[4].edited, None);
    }
}
