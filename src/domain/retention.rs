//! The rules of retention runs: which records a rule is due for, which a legal hold keeps, where
//! a run stands, how a claim is judged, and how long Lethe keeps its own data.

use super::inventory::{LegalHold, RetentionAction, RetentionRule, RetentionTrigger};
use super::transform::{self, Outcome, Transform};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// Records collected (or of people whose account closed) before this instant are due.
pub fn cutoff(rule: &RetentionRule, now: DateTime<Utc>) -> DateTime<Utc> {
    now - Duration::days(i64::from(rule.days))
}

/// Whether `key` is `category` or one of its sub-categories (`billing` covers `billing.invoice`).
pub fn covers(category: &str, key: &str) -> bool {
    key == category
        || key
            .strip_prefix(category)
            .is_some_and(|r| r.starts_with('.'))
}

/// The legal hold that keeps records of `category` on `today`, if any: the one that lasts
/// longest. A hold without a category covers every category; one without an end lasts until
/// it is lifted.
pub fn governing_hold<'a>(
    holds: &'a [LegalHold],
    category: &str,
    today: NaiveDate,
) -> Option<&'a LegalHold> {
    holds
        .iter()
        .filter(|h| h.category.as_deref().is_none_or(|c| covers(c, category)))
        .filter(|h| h.until.is_none_or(|u| u >= today))
        .max_by_key(|h| h.until.unwrap_or(NaiveDate::MAX))
}

/// Where a run stands: the last record of the last committed batch. Candidates are walked in
/// (subject, occurred_at, id) order; `subject` is 0 for rules counted from collection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub subject: i64,
    pub occurred_at: String,
    pub id: String,
}

/// What a run did (or, dry, would do).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RunCounts {
    /// Records past the rule looked at.
    pub scanned: u64,
    /// Records anonymized.
    pub changed: u64,
    pub deleted: u64,
    /// Records past the rule that a legal hold keeps as they are.
    pub held: u64,
    /// Records that could not be handled (see the run's error).
    pub errors: u64,
}

impl std::fmt::Display for RunCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} scanned, {} anonymized, {} deleted, {} held, {} errors",
            self.scanned, self.changed, self.deleted, self.held, self.errors
        )
    }
}

/// The honest word for what an anonymize rule leaves: anonymous only when the record is
/// detached from its person and nothing of a value is kept.
pub fn rule_outcome(rule: &RetentionRule, category_fields: &[String]) -> Option<Outcome> {
    match rule.action {
        RetentionAction::Delete => None,
        RetentionAction::Anonymize => Some(transform::outcome(&rule.transforms, category_fields)),
    }
}

/// What the rule does, in a sentence for the console and the privacy center.
pub fn describe(rule: &RetentionRule, category_fields: &[String]) -> String {
    let days = match rule.days {
        1 => "1 day".to_owned(),
        n => format!("{n} days"),
    };
    let when = match (rule.trigger, rule.days) {
        (RetentionTrigger::Collected, 0) => "once collected".to_owned(),
        (RetentionTrigger::Collected, _) => format!("{days} after collection"),
        (RetentionTrigger::AccountClosed, 0) => "when the account closes".to_owned(),
        (RetentionTrigger::AccountClosed, _) => format!("{days} after the account closes"),
    };
    match rule_outcome(rule, category_fields) {
        None => format!("deleted {when}"),
        Some(outcome) => format!("{} {when}", outcome.label()),
    }
}

/// What an anonymize rule does to a record, in words: "recipient removed; ip reduced to its /16
/// network (IPv6 /32); detached from the person".
pub fn transforms_text(transforms: &[Transform]) -> String {
    use super::transform::TimeUnit;
    transforms
        .iter()
        .map(|t| match t {
            Transform::Null { field } => format!("{field} removed"),
            Transform::Truncate { field, chars } => format!("{field} cut to {chars} characters"),
            Transform::Mask {
                field,
                keep_first,
                keep_last,
            } => format!(
                "{field} masked but for its first {keep_first} and last {keep_last} characters"
            ),
            Transform::IpNetwork {
                field,
                v4_prefix,
                v6_prefix,
            } => format!("{field} reduced to its /{v4_prefix} network (IPv6 /{v6_prefix})"),
            Transform::CoarsenTime { field, unit } => {
                let unit = match unit {
                    TimeUnit::Hour => "hour",
                    TimeUnit::Day => "day",
                    TimeUnit::Month => "month",
                };
                format!("{field} kept to the {unit}")
            }
            Transform::Pseudonym { field } => format!("{field} replaced by a pseudonym"),
            Transform::Bucket { field, width } => format!("{field} kept as a range of {width}"),
            Transform::DropSubject {} => "detached from the person".to_owned(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A rule in the words of the published policy and the records of processing: what happens,
/// when, and for anonymize rules how: "pseudonymized 30 days after collection (recipient
/// masked …)". Anonymous and pseudonymous are told apart, as GDPR Recital 26 does.
pub fn policy_text(rule: &RetentionRule, category_fields: &[String]) -> String {
    let mut text = describe(rule, category_fields);
    if !rule.transforms.is_empty() {
        text = format!("{text}: {}", transforms_text(&rule.transforms));
    }
    text
}

/// When a record (or, for rules counted from closure, a closed account's records) falls due.
pub fn due_at(rule: &RetentionRule, trigger_at: DateTime<Utc>) -> DateTime<Utc> {
    trigger_at + Duration::days(i64::from(rule.days))
}

/// The comma-separated list of anonymize rules applied to a record, with `rule` added.
pub fn applied_with(applied: Option<&str>, rule: &str) -> String {
    match applied {
        None | Some("") => rule.to_owned(),
        Some(list) if list.split(',').any(|r| r == rule) => list.to_owned(),
        Some(list) => format!("{list},{rule}"),
    }
}

/// A value as a dry run shows it on screen: enough to recognise its shape, not the value.
pub fn screen_mask(value: &Value) -> Value {
    match value {
        Value::String(s) => {
            let keep = if s.chars().count() > 6 { 2 } else { 0 };
            Value::String(transform::mask(s, keep, 0))
        }
        Value::Number(_) => Value::String("#".into()),
        Value::Null | Value::Bool(_) => value.clone(),
        Value::Array(_) | Value::Object(_) => Value::String("[…]".into()),
    }
}

/// An after-value on screen: generalized and pseudonymous values are shown as they will be
/// stored (they are the point of the example); kept or cut text is masked like a before-value.
pub fn screen_after(field: &str, value: &Value, transforms: &[Transform]) -> Value {
    let shown_as_is = transforms.iter().any(|t| {
        t.field() == Some(field)
            && matches!(
                t,
                Transform::Null { .. }
                    | Transform::IpNetwork { .. }
                    | Transform::CoarsenTime { .. }
                    | Transform::Bucket { .. }
                    | Transform::Pseudonym { .. }
                    | Transform::Mask { .. }
            )
    });
    if shown_as_is {
        value.clone()
    } else {
        screen_mask(value)
    }
}

/// Lethe's own data, each under a rule the operator can change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OwnData {
    /// Who read whose records, and why.
    SubjectAccessLog,
    /// E-mail and webhooks sent or given up on, with their delivery attempts.
    OutboxMessages,
    /// Policy subscribers who never confirmed their address.
    UnconfirmedSubscribers,
    /// Keys of retried ingestion batches.
    IdempotencyKeys,
    /// Retention runs and claim checks.
    RetentionHistory,
    /// The audit log; a checkpoint keeps what is left provable.
    AuditLog,
    /// Data subject requests answered (completed, denied or expired), with their timelines and
    /// links; open ones are never pruned. Objections and withdrawals they recorded on a subject
    /// stay in force without them.
    AnsweredRequests,
    /// Consent decisions that prove nothing current any more: a visitor's, or a subject's that
    /// a newer decision of theirs covers for every purpose it answered. A subject's latest
    /// decision per purpose is kept however old: it is the proof of their consent now.
    ConsentRecords,
}

impl OwnData {
    pub const ALL: [OwnData; 8] = [
        OwnData::SubjectAccessLog,
        OwnData::OutboxMessages,
        OwnData::UnconfirmedSubscribers,
        OwnData::IdempotencyKeys,
        OwnData::RetentionHistory,
        OwnData::AuditLog,
        OwnData::AnsweredRequests,
        OwnData::ConsentRecords,
    ];

    pub fn key(self) -> &'static str {
        match self {
            OwnData::SubjectAccessLog => "subject_access_log",
            OwnData::OutboxMessages => "outbox_messages",
            OwnData::UnconfirmedSubscribers => "unconfirmed_subscribers",
            OwnData::IdempotencyKeys => "idempotency_keys",
            OwnData::RetentionHistory => "retention_history",
            OwnData::AuditLog => "audit_log",
            OwnData::AnsweredRequests => "answered_requests",
            OwnData::ConsentRecords => "consent_records",
        }
    }

    pub fn parse(key: &str) -> Option<OwnData> {
        OwnData::ALL.into_iter().find(|t| t.key() == key)
    }

    pub fn label(self) -> &'static str {
        match self {
            OwnData::SubjectAccessLog => "Access log of people's records (who read them, why)",
            OwnData::OutboxMessages => {
                "Sent and failed e-mail and webhooks, with delivery attempts"
            }
            OwnData::UnconfirmedSubscribers => "Policy subscribers who never confirmed",
            OwnData::IdempotencyKeys => "Idempotency keys of ingested batches",
            OwnData::RetentionHistory => "Retention run history and claim checks",
            OwnData::AuditLog => "Audit log (a checkpoint keeps the rest provable)",
            OwnData::AnsweredRequests => {
                "Answered data subject requests, with their timelines (open ones are kept)"
            }
            OwnData::ConsentRecords => {
                "Superseded consent decisions and visitors' old ones (each person's latest is kept)"
            }
        }
    }
}

/// One of Lethe's own rules as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct OwnDataRule {
    pub target: OwnData,
    pub days: u32,
    pub enabled: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn hold(key: &str, category: Option<&str>, until: Option<&str>) -> LegalHold {
        LegalHold {
            key: key.into(),
            category: category.map(Into::into),
            reason: "law".into(),
            until: until.map(|d| d.parse().unwrap()),
        }
    }

    #[test]
    fn the_longest_active_hold_governs_and_parents_cover_children() {
        let today: NaiveDate = "2026-11-27".parse().unwrap();
        let holds = vec![
            hold("short", Some("billing"), Some("2026-12-31")),
            hold("long", Some("billing.invoice"), Some("2036-12-31")),
            hold("ended", None, Some("2026-01-01")),
            hold("other", Some("billingx"), None),
        ];
        assert_eq!(
            governing_hold(&holds, "billing.invoice", today)
                .unwrap()
                .key,
            "long"
        );
        assert_eq!(
            governing_hold(&holds, "billing", today).unwrap().key,
            "short"
        );
        assert!(governing_hold(&holds, "usage", today).is_none());
        assert!(!covers("billing", "billingx"));
    }

    #[test]
    fn applied_rules_are_listed_once() {
        assert_eq!(applied_with(None, "a"), "a");
        assert_eq!(applied_with(Some("a"), "b"), "a,b");
        assert_eq!(applied_with(Some("a,b"), "a"), "a,b");
        assert_eq!(applied_with(Some("ab"), "a"), "ab,a");
    }

    #[test]
    fn screens_show_shapes_not_values() {
        let v = Value::String("+4915112345678".into());
        assert_eq!(screen_mask(&v), Value::String("+4************".into()));
        assert_eq!(screen_mask(&Value::String("abc".into())), "***");
        assert_eq!(screen_mask(&serde_json::json!(42)), "#");
        let ip = vec![Transform::IpNetwork {
            field: "ip".into(),
            v4_prefix: 24,
            v6_prefix: 48,
        }];
        let after = Value::String("203.0.113.0/24".into());
        assert_eq!(screen_after("ip", &after, &ip), after);
        assert_ne!(screen_after("other", &after, &ip), after);
    }

    #[test]
    fn due_dates_count_days_from_the_trigger() {
        let rule = RetentionRule::new(
            "r",
            "c",
            RetentionTrigger::Collected,
            30,
            RetentionAction::Delete,
        );
        let t = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        assert_eq!(
            due_at(&rule, t),
            Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap()
        );
        assert_eq!(cutoff(&rule, due_at(&rule, t)), t);
        assert_eq!(describe(&rule, &[]), "deleted 30 days after collection");
        assert!(rule.claim_text().contains("30 days"));
    }
}
