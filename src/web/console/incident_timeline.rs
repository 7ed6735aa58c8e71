//! An incident's timeline as its page shows it: each entry's kind in words, and its detail as
//! lines (a change names each field with its old and new value). The JSON export keeps the
//! entries whole.

use super::incident_clock::Shown;
use crate::domain::incident::IncidentEventKind;
use crate::services::incidents::IncidentEvent;
use serde_json::Value;

/// One timeline entry as the page shows it.
pub struct EventLine {
    pub at: Shown,
    pub actor: String,
    pub what: &'static str,
    pub details: Vec<String>,
}

pub fn event_label(what: IncidentEventKind) -> &'static str {
    match what {
        IncidentEventKind::Registered => "Registered",
        IncidentEventKind::Updated => "Changed",
        IncidentEventKind::NotNotified => "Decided not to notify the authority",
        IncidentEventKind::NoticeEdited => "Notice edited",
        IncidentEventKind::NoticePhaseSent => "Notice phase recorded as sent",
        IncidentEventKind::Closed => "Closed",
        IncidentEventKind::Reopened => "Reopened",
        IncidentEventKind::DeadlineWarning => "Deadline warning sent",
        IncidentEventKind::LettersSent => "Letter to affected people sent on its way",
        IncidentEventKind::LettersDone => "Every affected person told",
    }
}

/// A value of a timeline entry's detail in words: texts as they are, lists joined, nothing as
/// "(none)"; long texts are cut, the whole stays in the JSON export.
fn value_words(v: &Value) -> String {
    let words = match v {
        Value::Null => "(none)".to_owned(),
        Value::String(s) if s.is_empty() => "(empty)".to_owned(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.to_owned(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) if items.is_empty() => "(none)".to_owned(),
        Value::Array(items) => items.iter().map(value_words).collect::<Vec<_>>().join(", "),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k}: {}", value_words(v)))
            .collect::<Vec<_>>()
            .join("; "),
    };
    if words.chars().count() > 300 {
        format!("{}…", words.chars().take(300).collect::<String>())
    } else {
        words
    }
}

/// The lines under a timeline entry: a change names each field with its old and new value.
pub fn event_details(e: &IncidentEvent) -> Vec<String> {
    let Value::Object(map) = &e.detail else {
        return vec![value_words(&e.detail)]
            .into_iter()
            .filter(|s| s != "(none)")
            .collect();
    };
    if e.what == IncidentEventKind::Updated
        && let Some(Value::Array(changed)) = map.get("changed")
    {
        return changed
            .iter()
            .filter_map(Value::as_str)
            .map(|f| {
                let (from, to) = (&map["from"][f], &map["to"][f]);
                format!("{f}: {} → {}", value_words(from), value_words(to))
            })
            .collect();
    }
    map.iter()
        .map(|(k, v)| format!("{}: {}", k.replace('_', " "), value_words(v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn a_change_names_each_field_with_old_and_new() {
        let e = IncidentEvent {
            at: Utc::now(),
            actor: "pia@example.org".into(),
            what: IncidentEventKind::Updated,
            detail: serde_json::json!({"changed": ["risk", "categories"],
                "from": {"risk": "risk", "categories": []},
                "to": {"risk": "high_risk", "categories": ["a.b", "c.d"]}}),
        };
        assert_eq!(
            event_details(&e),
            ["risk: risk → high_risk", "categories: (none) → a.b, c.d"]
        );
    }
}
