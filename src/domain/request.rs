//! Data subject requests: what a person may ask, the states a request goes through and which
//! moves between them are allowed, why a request may be denied, and what an intake must say.
//! The deadlines are `request_clock`'s.

use super::request_clock::Law;
use super::{Email, ValidationErrors, hidden_chars, subject::parse_external_id};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a person asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestType {
    Access,
    Export,
    Correction,
    Erasure,
    Restriction,
    Objection,
    Withdrawal,
}

impl RequestType {
    pub const ALL: [RequestType; 7] = [
        RequestType::Access,
        RequestType::Export,
        RequestType::Correction,
        RequestType::Erasure,
        RequestType::Restriction,
        RequestType::Objection,
        RequestType::Withdrawal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RequestType::Access => "access",
            RequestType::Export => "export",
            RequestType::Correction => "correction",
            RequestType::Erasure => "erasure",
            RequestType::Restriction => "restriction",
            RequestType::Objection => "objection",
            RequestType::Withdrawal => "withdrawal",
        }
    }

    pub fn parse(s: &str) -> Option<RequestType> {
        RequestType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// What the request means, in plain words, for the person and for staff.
    pub fn description(self) -> &'static str {
        match self {
            RequestType::Access => {
                "See a copy of the personal data we hold about you, why we use it, who receives it and how long we keep it."
            }
            RequestType::Export => {
                "Receive the data you gave us in a machine-readable file you can take to another service."
            }
            RequestType::Correction => "Have data about you that is wrong or incomplete put right.",
            RequestType::Erasure => {
                "Have your personal data deleted, except what the law obliges us to keep (we tell you what and until when)."
            }
            RequestType::Restriction => {
                "Have us keep your data but stop using it while a question about it is settled."
            }
            RequestType::Objection => {
                "Have us stop using your data for one named purpose, such as marketing."
            }
            RequestType::Withdrawal => {
                "Withdraw consent you gave; what we did before stays lawful, nothing more is done on that basis."
            }
        }
    }
}

/// Where a request is in its workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    /// Submitted, the person's identity not yet confirmed.
    Received,
    /// The person is who they say (a confirmed e-mail, or the operator authenticated them).
    Verified,
    /// Staff or Lethe are working on it.
    InProgress,
    /// Answered.
    Completed,
    /// Refused, with a reason the person is told.
    Denied,
    /// Never verified; its personal data goes.
    Expired,
}

/// A move the workflow does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a request that is {} cannot become {}", .from.as_str().replace('_', " "), .to.as_str().replace('_', " "))]
pub struct TransitionRefused {
    pub from: RequestState,
    pub to: RequestState,
}

impl RequestState {
    pub const ALL: [RequestState; 6] = [
        RequestState::Received,
        RequestState::Verified,
        RequestState::InProgress,
        RequestState::Completed,
        RequestState::Denied,
        RequestState::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RequestState::Received => "received",
            RequestState::Verified => "verified",
            RequestState::InProgress => "in_progress",
            RequestState::Completed => "completed",
            RequestState::Denied => "denied",
            RequestState::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<RequestState> {
        RequestState::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Still waiting for an answer: its deadline runs.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            RequestState::Received | RequestState::Verified | RequestState::InProgress
        )
    }

    /// The state after moving to `to`, or why that move is not allowed. A request is answered
    /// only once verified and started; it may be denied at any point before an answer (an
    /// unverified identity is a reason to deny); only an unverified one expires.
    pub fn transition(self, to: RequestState) -> Result<RequestState, TransitionRefused> {
        use RequestState::*;
        let allowed = matches!(
            (self, to),
            (Received, Verified)
                | (Received, Expired)
                | (Verified, InProgress)
                | (InProgress, Completed)
                | (Received | Verified | InProgress, Denied)
        );
        if allowed {
            Ok(to)
        } else {
            Err(TransitionRefused { from: self, to })
        }
    }
}

/// Why a request is denied: the grounds the law allows, from a fixed list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DenialReason {
    /// The person's identity could not be confirmed.
    IdentityNotVerified,
    /// Manifestly unfounded or excessive (GDPR Art. 12(5)), e.g. repeated without cause.
    ManifestlyUnfoundedOrExcessive,
    /// A law obliges the business to keep or use the data (e.g. tax records).
    LegalObligationToKeep,
}

impl DenialReason {
    pub const ALL: [DenialReason; 3] = [
        DenialReason::IdentityNotVerified,
        DenialReason::ManifestlyUnfoundedOrExcessive,
        DenialReason::LegalObligationToKeep,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DenialReason::IdentityNotVerified => "identity_not_verified",
            DenialReason::ManifestlyUnfoundedOrExcessive => "manifestly_unfounded_or_excessive",
            DenialReason::LegalObligationToKeep => "legal_obligation_to_keep",
        }
    }

    pub fn parse(s: &str) -> Option<DenialReason> {
        DenialReason::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The reason as the person reads it.
    pub fn description(self) -> &'static str {
        match self {
            DenialReason::IdentityNotVerified => {
                "We could not confirm that you are the person the data is about."
            }
            DenialReason::ManifestlyUnfoundedOrExcessive => {
                "The request is manifestly unfounded or excessive, for example repeated without a new reason."
            }
            DenialReason::LegalObligationToKeep => "A law obliges us to keep or use this data.",
        }
    }
}

/// Staff's words for the codes, as the console shows them.
impl RequestType {
    pub fn label(self) -> &'static str {
        match self {
            RequestType::Access => "Access",
            RequestType::Export => "Export (portability)",
            RequestType::Correction => "Correction",
            RequestType::Erasure => "Erasure",
            RequestType::Restriction => "Restriction",
            RequestType::Objection => "Objection",
            RequestType::Withdrawal => "Withdrawal of consent",
        }
    }
}

impl RequestState {
    pub fn label(self) -> &'static str {
        match self {
            RequestState::Received => "received",
            RequestState::Verified => "verified",
            RequestState::InProgress => "in progress",
            RequestState::Completed => "completed",
            RequestState::Denied => "denied",
            RequestState::Expired => "expired",
        }
    }
}

impl DenialReason {
    pub fn label(self) -> &'static str {
        match self {
            DenialReason::IdentityNotVerified => "Identity not verified",
            DenialReason::ManifestlyUnfoundedOrExcessive => "Manifestly unfounded or excessive",
            DenialReason::LegalObligationToKeep => "Legal obligation to keep the data",
        }
    }
}

/// Longest free text a person or staff may give (details, denial and extension texts).
pub const MAX_TEXT: usize = 4000;

/// Free text over several lines: line ends normalised to LF, each line free of hidden and
/// control characters (see `hidden_chars`), `max` characters in all.
pub fn multiline_text(raw: &str, max: usize, optional: bool) -> Result<String, String> {
    let t = raw.replace("\r\n", "\n");
    let t = t.trim();
    if t.is_empty() && !optional {
        return Err("is required".into());
    }
    if t.chars().count() > max {
        return Err(format!("is longer than {max} characters"));
    }
    if let Some(c) = t.split('\n').find_map(hidden_chars::first_hidden) {
        return Err(format!(
            "contains an invisible or control character (U+{:04X})",
            u32::from(c)
        ));
    }
    Ok(t.to_owned())
}

/// A request as an intake gives it, before validation.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestInput {
    /// What the person asks for.
    #[serde(rename = "type")]
    #[schema(value_type = RequestType)]
    pub kind: Option<String>,
    /// The person's e-mail address: stored sealed, matched to a subject through the blind index.
    #[serde(default)]
    pub email: Option<String>,
    /// The operator's id for the person, when known.
    #[serde(default)]
    pub external_id: Option<String>,
    /// What the person wrote (stored sealed).
    #[serde(default)]
    pub details: Option<String>,
    /// For an objection: the key of the purpose (in the inventory) the person objects to.
    #[serde(default)]
    pub purpose: Option<String>,
    /// The law the request is answered under; the workspace's default law when left out.
    #[serde(default)]
    #[schema(value_type = Option<Law>)]
    pub law: Option<String>,
    /// When the operator received the request, if earlier than now (the clock runs from it).
    #[serde(default)]
    pub received_at: Option<DateTime<Utc>>,
}

/// A valid request, ready to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRequest {
    pub kind: RequestType,
    pub email: Option<Email>,
    pub external_id: Option<String>,
    pub details: Option<String>,
    pub purpose: Option<String>,
    pub law: Law,
    pub received_at: DateTime<Utc>,
}

/// How far in the past a received time may lie: older than the longest extended deadline, the
/// request would be born overdue past any remedy, which is more likely a typo.
const OLDEST_RECEIPT_DAYS: i64 = 92;

impl RequestInput {
    /// Checks everything at once; `now` is the intake's moment (the default receipt). A
    /// request that names no law falls under GDPR.
    pub fn validate(self, now: DateTime<Utc>) -> Result<NewRequest, ValidationErrors> {
        self.validate_under(now, Law::Gdpr)
    }

    /// As [`RequestInput::validate`], a request that names no law falling under `default_law`
    /// (the workspace's).
    pub fn validate_under(
        self,
        now: DateTime<Utc>,
        default_law: Law,
    ) -> Result<NewRequest, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let kind = match self.kind.as_deref() {
            None => {
                errors.add("type", "is required");
                None
            }
            Some(k) => RequestType::parse(k.trim()).or_else(|| {
                let known: Vec<_> = RequestType::ALL.iter().map(|t| t.as_str()).collect();
                errors.add("type", format!("use one of {}", known.join(", ")));
                None
            }),
        };
        let email = match self.email.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(e) => errors.check("email", Email::parse(e)),
        };
        let external_id = match self.external_id.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(id) => errors.check("external_id", parse_external_id(id)),
        };
        if self.email.as_deref().is_none_or(|e| e.trim().is_empty())
            && self
                .external_id
                .as_deref()
                .is_none_or(|e| e.trim().is_empty())
        {
            errors.add(
                "email",
                "give the person's e-mail address or external_id, so the request has a person",
            );
        }
        let details = match self.details.as_deref() {
            None => None,
            Some(d) => errors
                .check("details", multiline_text(d, MAX_TEXT, true))
                .filter(|d| !d.is_empty()),
        };
        let purpose = match (kind, self.purpose.as_deref().map(str::trim)) {
            (Some(RequestType::Objection), None | Some("")) => {
                errors.add(
                    "purpose",
                    "an objection names the purpose objected to (its key)",
                );
                None
            }
            (Some(RequestType::Objection), Some(p)) => {
                errors.check("purpose", super::text(p, 200, false))
            }
            (_, None | Some("")) => None,
            (_, Some(_)) => {
                errors.add("purpose", "only an objection names a purpose");
                None
            }
        };
        let law = match self.law.as_deref().map(str::trim) {
            None | Some("") => Some(default_law),
            Some(l) => Law::parse(l).or_else(|| {
                errors.add("law", "use gdpr or ccpa");
                None
            }),
        };
        let received_at = self.received_at.unwrap_or(now);
        if received_at > now + chrono::Duration::minutes(5) {
            errors.add("received_at", "is in the future");
        } else if received_at < now - chrono::Duration::days(OLDEST_RECEIPT_DAYS) {
            errors.add(
                "received_at",
                format!("is more than {OLDEST_RECEIPT_DAYS} days ago: every deadline has passed"),
            );
        }
        match (kind, law) {
            (Some(kind), Some(law)) if errors.is_empty() => Ok(NewRequest {
                kind,
                email,
                external_id,
                details,
                purpose,
                law,
                received_at,
            }),
            _ => Err(errors),
        }
    }
}

/// A timeline entry's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Received,
    Verified,
    Started,
    Extended,
    Completed,
    Denied,
    Expired,
    /// Lethe's own part is done; the detail is its answer, sent once the systems' tasks are.
    CarriedOut,
    /// A task for one of the operator's other systems was opened.
    TaskOpened,
    /// A system (or staff for it) reported its task done.
    TaskDone,
}

impl EventKind {
    pub const ALL: [EventKind; 10] = [
        EventKind::Received,
        EventKind::Verified,
        EventKind::Started,
        EventKind::Extended,
        EventKind::Completed,
        EventKind::Denied,
        EventKind::Expired,
        EventKind::CarriedOut,
        EventKind::TaskOpened,
        EventKind::TaskDone,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Received => "received",
            EventKind::Verified => "verified",
            EventKind::Started => "started",
            EventKind::Extended => "extended",
            EventKind::Completed => "completed",
            EventKind::Denied => "denied",
            EventKind::Expired => "expired",
            EventKind::CarriedOut => "carried_out",
            EventKind::TaskOpened => "task_opened",
            EventKind::TaskDone => "task_done",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RequestState::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 4, 10, 0, 0).unwrap()
    }

    #[test]
    fn the_workflow_allows_only_its_moves() {
        assert_eq!(Received.transition(Verified), Ok(Verified));
        assert_eq!(Received.transition(Expired), Ok(Expired));
        assert_eq!(Verified.transition(InProgress), Ok(InProgress));
        assert_eq!(InProgress.transition(Completed), Ok(Completed));
        for open in [Received, Verified, InProgress] {
            assert_eq!(open.transition(Denied), Ok(Denied));
            assert!(open.is_open());
        }
        // Answered only once verified and started; never reopened; only unverified ones expire.
        for (from, to) in [
            (Received, InProgress),
            (Received, Completed),
            (Verified, Completed),
            (Verified, Expired),
            (InProgress, Verified),
            (Completed, Denied),
            (Completed, InProgress),
            (Denied, Completed),
            (Denied, Denied),
            (Expired, Verified),
            (Completed, Completed),
        ] {
            assert_eq!(from.transition(to), Err(TransitionRefused { from, to }));
        }
        for closed in [Completed, Denied, Expired] {
            assert!(!closed.is_open());
        }
        let e = Completed.transition(InProgress).unwrap_err();
        assert_eq!(
            e.to_string(),
            "a request that is completed cannot become in progress"
        );
    }

    #[test]
    fn names_round_trip_and_every_type_says_what_it_means() {
        for t in RequestType::ALL {
            assert_eq!(RequestType::parse(t.as_str()), Some(t));
            assert!(t.description().len() > 20);
        }
        for s in RequestState::ALL {
            assert_eq!(RequestState::parse(s.as_str()), Some(s));
        }
        for d in DenialReason::ALL {
            assert_eq!(DenialReason::parse(d.as_str()), Some(d));
        }
        for e in EventKind::ALL {
            assert_eq!(EventKind::parse(e.as_str()), Some(e));
        }
    }

    #[test]
    fn a_valid_request_defaults_to_gdpr_and_now() {
        let r = RequestInput {
            kind: Some("access".into()),
            email: Some(" Ana@Example.com ".into()),
            details: Some("line one\r\nline two".into()),
            ..Default::default()
        }
        .validate(now())
        .unwrap();
        assert_eq!(r.kind, RequestType::Access);
        assert_eq!(r.email.unwrap().as_str(), "ana@example.com");
        assert_eq!(r.details.as_deref(), Some("line one\nline two"));
        assert_eq!(r.law, Law::Gdpr);
        assert_eq!(r.received_at, now());
    }

    #[test]
    fn every_error_is_reported_at_once() {
        let e = RequestInput {
            kind: Some("forget".into()),
            details: Some("a\u{202E}b".into()),
            law: Some("lgpd".into()),
            received_at: Some(now() + chrono::Duration::days(1)),
            ..Default::default()
        }
        .validate(now())
        .unwrap_err();
        let fields: Vec<_> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["type", "email", "details", "law", "received_at"]);
    }

    #[test]
    fn an_objection_names_a_purpose_and_nothing_else_does() {
        let objection = |purpose: Option<&str>, kind: &str| RequestInput {
            kind: Some(kind.into()),
            external_id: Some("cus_1".into()),
            purpose: purpose.map(str::to_owned),
            ..Default::default()
        };
        assert!(objection(None, "objection").validate(now()).is_err());
        let ok = objection(Some("marketing"), "objection")
            .validate(now())
            .unwrap();
        assert_eq!(ok.purpose.as_deref(), Some("marketing"));
        let e = objection(Some("marketing"), "erasure")
            .validate(now())
            .unwrap_err();
        assert_eq!(e.0[0].field, "purpose");
    }

    #[test]
    fn a_receipt_long_ago_is_refused() {
        let old = RequestInput {
            kind: Some("access".into()),
            external_id: Some("cus_1".into()),
            received_at: Some(now() - chrono::Duration::days(100)),
            ..Default::default()
        };
        assert_eq!(old.validate(now()).unwrap_err().0[0].field, "received_at");
    }
}
