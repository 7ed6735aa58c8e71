//! Incidents: personal-data breaches and the 72-hour clock (GDPR Art. 33, 34). Pure rules: the
//! deadline, the warnings due, lateness, reading a staff member's local time in the workspace's
//! zone, and the validation of what staff give. No clock is read here; callers pass `now`.

use super::request::{MAX_TEXT, multiline_text};
use super::{ValidationErrors, text};
use chrono::offset::LocalResult;
use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Art. 33(1): the authority is notified "not later than 72 hours after having become aware".
pub const NOTIFY_WITHIN: Duration = Duration::hours(72);

/// How serious the breach is for the people whose data it touched (Art. 33(1), 34(1)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RiskLevel {
    /// Unlikely to result in a risk to people's rights and freedoms: documented, not notified.
    None,
    /// A risk: the authority is notified.
    Risk,
    /// A high risk: the authority is notified and the people are told (Art. 34).
    HighRisk,
}

impl RiskLevel {
    pub const ALL: [RiskLevel; 3] = [RiskLevel::None, RiskLevel::Risk, RiskLevel::HighRisk];

    pub fn as_str(self) -> &'static str {
        match self {
            RiskLevel::None => "none",
            RiskLevel::Risk => "risk",
            RiskLevel::HighRisk => "high_risk",
        }
    }

    pub fn parse(s: &str) -> Option<RiskLevel> {
        RiskLevel::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// What the level obliges, in plain words.
    pub fn meaning(self) -> &'static str {
        match self {
            RiskLevel::None => {
                "unlikely to result in a risk to people: documented in the register, the authority need not be notified"
            }
            RiskLevel::Risk => {
                "a risk to people's rights and freedoms: the authority is notified within 72 hours"
            }
            RiskLevel::HighRisk => {
                "a high risk to people's rights and freedoms: the authority is notified within 72 hours and the people are told without undue delay"
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IncidentState {
    Open,
    Closed,
}

impl IncidentState {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentState::Open => "open",
            IncidentState::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<IncidentState> {
        [IncidentState::Open, IncidentState::Closed]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// What was decided about notifying the supervisory authority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthorityDecision {
    /// The authority is (or will be) notified.
    Notify,
    /// Not notified, with the reason why the breach is unlikely to result in a risk.
    NotNotified,
}

impl AuthorityDecision {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthorityDecision::Notify => "notify",
            AuthorityDecision::NotNotified => "not_notified",
        }
    }

    pub fn parse(s: &str) -> Option<AuthorityDecision> {
        [AuthorityDecision::Notify, AuthorityDecision::NotNotified]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// What a timeline entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IncidentEventKind {
    Registered,
    Updated,
    NotNotified,
    NoticeEdited,
    NoticePhaseSent,
    Closed,
    Reopened,
    DeadlineWarning,
    /// The letter to affected people (Art. 34) was sent on its way.
    LettersSent,
    /// The last affected person was told (or counted as without an e-mail).
    LettersDone,
}

impl IncidentEventKind {
    pub const ALL: [IncidentEventKind; 10] = [
        IncidentEventKind::Registered,
        IncidentEventKind::Updated,
        IncidentEventKind::NotNotified,
        IncidentEventKind::NoticeEdited,
        IncidentEventKind::NoticePhaseSent,
        IncidentEventKind::Closed,
        IncidentEventKind::Reopened,
        IncidentEventKind::DeadlineWarning,
        IncidentEventKind::LettersSent,
        IncidentEventKind::LettersDone,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IncidentEventKind::Registered => "registered",
            IncidentEventKind::Updated => "updated",
            IncidentEventKind::NotNotified => "not_notified",
            IncidentEventKind::NoticeEdited => "notice_edited",
            IncidentEventKind::NoticePhaseSent => "notice_phase_sent",
            IncidentEventKind::Closed => "closed",
            IncidentEventKind::Reopened => "reopened",
            IncidentEventKind::DeadlineWarning => "deadline_warning",
            IncidentEventKind::LettersSent => "letters_sent",
            IncidentEventKind::LettersDone => "letters_done",
        }
    }

    pub fn parse(s: &str) -> Option<IncidentEventKind> {
        IncidentEventKind::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

// ---- the clock --------------------------------------------------------------------------------

/// When the authority must have been notified: exactly 72 hours after awareness, an instant (so
/// a DST change in between moves the local clock reading, never the instant).
pub fn authority_deadline(detected_at: DateTime<Utc>) -> DateTime<Utc> {
    detected_at + NOTIFY_WITHIN
}

/// Time left until the deadline at `now`; negative once it has passed.
pub fn time_left(detected_at: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    authority_deadline(detected_at) - now
}

/// A deadline warning to the people who handle incidents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
pub enum DeadlineWarning {
    /// 48 hours or less are left.
    #[serde(rename = "48h")]
    Hours48,
    /// 12 hours or less are left (or the deadline has passed).
    #[serde(rename = "12h")]
    Hours12,
}

impl DeadlineWarning {
    pub fn as_str(self) -> &'static str {
        match self {
            DeadlineWarning::Hours48 => "48h",
            DeadlineWarning::Hours12 => "12h",
        }
    }

    pub fn parse(s: &str) -> Option<DeadlineWarning> {
        [DeadlineWarning::Hours48, DeadlineWarning::Hours12]
            .into_iter()
            .find(|x| x.as_str() == s)
    }

    /// The time left at which it is due.
    pub fn threshold(self) -> Duration {
        match self {
            DeadlineWarning::Hours48 => Duration::hours(48),
            DeadlineWarning::Hours12 => Duration::hours(12),
        }
    }
}

/// The most urgent warning reached at `now`, if any. Only the most urgent one is sent: an
/// incident registered with 10 hours left gets the 12-hour warning, not both.
pub fn warning_due(detected_at: DateTime<Utc>, now: DateTime<Utc>) -> Option<DeadlineWarning> {
    let left = time_left(detected_at, now);
    [DeadlineWarning::Hours12, DeadlineWarning::Hours48]
        .into_iter()
        .find(|w| left <= w.threshold())
}

/// Whether a warning still has to go out: it is due and neither it nor a more urgent one was
/// sent (a 12-hour warning makes the 48-hour one pointless).
pub fn warning_to_send(
    detected_at: DateTime<Utc>,
    now: DateTime<Utc>,
    sent: &[DeadlineWarning],
) -> Option<DeadlineWarning> {
    warning_due(detected_at, now).filter(|due| !sent.iter().any(|s| s >= due))
}

/// A notice sent at `sent_at` is late when it is after the deadline: Art. 33(1) then asks for
/// the reasons for the delay.
pub fn is_late(detected_at: DateTime<Utc>, sent_at: DateTime<Utc>) -> bool {
    sent_at > authority_deadline(detected_at)
}

// ---- local times --------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocalTimeError {
    #[error(
        "{time} does not exist in {zone}: the clocks skip it (daylight saving time starts); give a time before or after the change"
    )]
    NonExistent { time: String, zone: String },
}

/// A wall-clock time in `zone` as an instant. A time the clocks skip (spring forward) is
/// refused. A time that happens twice (fall back) is read as the earlier of the two: the
/// 72 hours then run out earlier, never later, than staff may have meant.
pub fn local_to_utc(naive: NaiveDateTime, zone: Tz) -> Result<DateTime<Utc>, LocalTimeError> {
    match zone.from_local_datetime(&naive) {
        LocalResult::Single(t) => Ok(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, b) => Ok(a.min(b).with_timezone(&Utc)),
        LocalResult::None => Err(LocalTimeError::NonExistent {
            time: naive.format("%Y-%m-%d %H:%M").to_string(),
            zone: zone.name().to_owned(),
        }),
    }
}

/// `2026-10-26 09:00 CET`: an instant as read on the wall in `zone`.
pub fn in_zone(t: DateTime<Utc>, zone: Tz) -> String {
    t.with_timezone(&zone)
        .format("%Y-%m-%d %H:%M %Z")
        .to_string()
}

/// An instant as staff or a system give it: RFC 3339 with an offset (`2026-10-23T10:00:00Z`,
/// `…+02:00`), or a wall-clock time without one (`2026-10-23T10:00`, `2026-10-23 10:00:00`),
/// read in the workspace's `zone`.
pub fn parse_instant(raw: &str, zone: Tz) -> Result<DateTime<Utc>, String> {
    let s = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return in_range(t.with_timezone(&Utc), s);
    }
    for form in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(s, form) {
            let t = local_to_utc(naive, zone).map_err(|e| e.to_string())?;
            return in_range(t, s);
        }
    }
    Err(format!(
        "'{}' is not a time: give e.g. 2026-10-23T10:00:00Z, 2026-10-23T10:00:00+02:00, or 2026-10-23T10:00 in the workspace's time zone ({})",
        s.chars().take(40).collect::<String>(),
        zone.name()
    ))
}

fn in_range(t: DateTime<Utc>, s: &str) -> Result<DateTime<Utc>, String> {
    if t < super::time::earliest() || t > super::time::latest() {
        return Err(format!("'{s}' is outside the years 1970 to 9999"));
    }
    Ok(t)
}

// ---- what staff give ---------------------------------------------------------------------------

/// Longest title of an incident.
pub const MAX_TITLE: usize = 200;
/// At most this many categories, and as many systems, per incident.
pub const MAX_LINKS: usize = 200;

/// An incident as staff or a system give it, before validation. Times are RFC 3339, or a
/// wall-clock time read in the workspace's time zone.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentInput {
    /// A short name of the breach, e.g. "Support mailbox exposed".
    pub title: Option<String>,
    /// What happened (the nature of the breach).
    #[serde(default)]
    pub description: Option<String>,
    /// When the operator became aware of the breach: the 72 hours run from here.
    #[serde(default)]
    pub detected_at: Option<String>,
    /// When the breach began, if known.
    #[serde(default)]
    pub started_at: Option<String>,
    /// When it ended, if it has and it is known.
    #[serde(default)]
    pub ended_at: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<RiskLevel>)]
    pub risk: Option<String>,
    /// Why the risk is assessed so.
    #[serde(default)]
    pub risk_reasoning: Option<String>,
    /// The e-mail of the member of this workspace who handles it.
    #[serde(default)]
    pub handler: Option<String>,
    /// Likely consequences for the people.
    #[serde(default)]
    pub consequences: Option<String>,
    /// Measures taken or proposed, including those to mitigate its effects.
    #[serde(default)]
    pub measures: Option<String>,
    /// Keys of the inventory's data categories the breach touched.
    #[serde(default)]
    pub categories: Option<Vec<String>>,
    /// Keys of the inventory's systems the breach touched.
    #[serde(default)]
    pub systems: Option<Vec<String>>,
}

/// What staff edit about an incident, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentFields {
    pub title: String,
    pub description: String,
    pub detected_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub risk: RiskLevel,
    pub risk_reasoning: String,
    /// The handler's e-mail (the service checks they are a member).
    pub handler: Option<String>,
    pub consequences: String,
    pub measures: String,
    /// Sorted, without duplicates.
    pub categories: Vec<String>,
    pub systems: Vec<String>,
}

impl IncidentInput {
    /// Checks every field at once. `now` refuses an awareness or a start in the future.
    pub fn validate(
        &self,
        zone: Tz,
        now: DateTime<Utc>,
    ) -> Result<IncidentFields, ValidationErrors> {
        let mut e = ValidationErrors::default();
        let title = e.check(
            "title",
            text(self.title.as_deref().unwrap_or(""), MAX_TITLE, false),
        );
        let long = |e: &mut ValidationErrors, field: &str, v: &Option<String>| {
            e.check(
                field,
                multiline_text(v.as_deref().unwrap_or(""), MAX_TEXT, true),
            )
        };
        let description = long(&mut e, "description", &self.description);
        let risk_reasoning = long(&mut e, "risk_reasoning", &self.risk_reasoning);
        let consequences = long(&mut e, "consequences", &self.consequences);
        let measures = long(&mut e, "measures", &self.measures);
        let instant = |e: &mut ValidationErrors, field: &str, v: &Option<String>| match v
            .as_deref()
            .map(str::trim)
        {
            None | Some("") => Some(None),
            Some(raw) => {
                let t = e.check(field, parse_instant(raw, zone))?;
                if t > now {
                    e.add(field, "is in the future");
                    return None;
                }
                Some(Some(t))
            }
        };
        let detected_at = match instant(&mut e, "detected_at", &self.detected_at) {
            Some(None) => {
                e.add("detected_at", "is required: when the breach became known");
                None
            }
            other => other.flatten(),
        };
        let started_at = instant(&mut e, "started_at", &self.started_at);
        let ended_at = match self.ended_at.as_deref().map(str::trim) {
            None | Some("") => Some(None),
            Some(raw) => e.check("ended_at", parse_instant(raw, zone)).map(Some),
        };
        if let (Some(Some(s)), Some(Some(end))) = (started_at, ended_at)
            && end < s
        {
            e.add("ended_at", "is before started_at");
        }
        let risk = match self.risk.as_deref().map(str::trim) {
            None | Some("") => Some(RiskLevel::Risk),
            Some(r) => e.check(
                "risk",
                RiskLevel::parse(r).ok_or_else(|| "must be none, risk or high_risk".to_owned()),
            ),
        };
        let handler = match self.handler.as_deref().map(str::trim) {
            None | Some("") => Some(None),
            Some(h) => e.check(
                "handler",
                super::Email::parse(h).map(|m| Some(m.as_str().to_owned())),
            ),
        };
        let categories = keys(&mut e, "categories", &self.categories);
        let systems = keys(&mut e, "systems", &self.systems);
        match (title, description, detected_at, started_at, ended_at, risk) {
            (
                Some(title),
                Some(description),
                Some(detected_at),
                Some(started_at),
                Some(ended_at),
                Some(risk),
            ) if e.is_empty() => Ok(IncidentFields {
                title,
                description,
                detected_at,
                started_at,
                ended_at,
                risk,
                risk_reasoning: risk_reasoning.unwrap_or_default(),
                handler: handler.flatten(),
                consequences: consequences.unwrap_or_default(),
                measures: measures.unwrap_or_default(),
                categories: categories.unwrap_or_default(),
                systems: systems.unwrap_or_default(),
            }),
            _ => Err(e),
        }
    }
}

fn keys(e: &mut ValidationErrors, field: &str, given: &Option<Vec<String>>) -> Option<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for k in given.iter().flatten() {
        let k = e.check(field, text(k, 200, false))?;
        out.push(k);
    }
    out.sort();
    out.dedup();
    if out.len() > MAX_LINKS {
        e.add(field, format!("give at most {MAX_LINKS}"));
        return None;
    }
    Some(out)
}

impl IncidentFields {
    /// The fields as an input again, so a partial change is merged over the stored incident
    /// and the whole is validated as one.
    pub fn to_input(&self) -> IncidentInput {
        let t = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        IncidentInput {
            title: Some(self.title.clone()),
            description: Some(self.description.clone()),
            detected_at: Some(t(self.detected_at)),
            started_at: self.started_at.map(t),
            ended_at: self.ended_at.map(t),
            risk: Some(self.risk.as_str().to_owned()),
            risk_reasoning: Some(self.risk_reasoning.clone()),
            handler: self.handler.clone(),
            consequences: Some(self.consequences.clone()),
            measures: Some(self.measures.clone()),
            categories: Some(self.categories.clone()),
            systems: Some(self.systems.clone()),
        }
    }

    /// Which fields differ from `old`, by their API names: what a change's timeline entry and
    /// audit entry name.
    pub fn changed_since(&self, old: &IncidentFields) -> Vec<&'static str> {
        let mut changed = Vec::new();
        let mut note = |name, differs: bool| {
            if differs {
                changed.push(name)
            }
        };
        note("title", self.title != old.title);
        note("description", self.description != old.description);
        note("detected_at", self.detected_at != old.detected_at);
        note("started_at", self.started_at != old.started_at);
        note("ended_at", self.ended_at != old.ended_at);
        note("risk", self.risk != old.risk);
        note("risk_reasoning", self.risk_reasoning != old.risk_reasoning);
        note("handler", self.handler != old.handler);
        note("consequences", self.consequences != old.consequences);
        note("measures", self.measures != old.measures);
        note("categories", self.categories != old.categories);
        note("systems", self.systems != old.systems);
        changed
    }

    /// Whether a change of these fields changes who and what was affected (the counts).
    pub fn scope_changed(changed: &[&str]) -> bool {
        changed
            .iter()
            .any(|f| matches!(*f, "categories" | "systems" | "started_at" | "ended_at"))
    }
}

/// A reason that must be given (not notifying, a late notice): multi-line staff text.
pub fn reason(raw: Option<&str>, what: &str) -> Result<String, String> {
    match raw.map(str::trim) {
        None | Some("") => Err(format!("is required: {what}")),
        Some(r) => multiline_text(r, MAX_TEXT, false),
    }
}

#[cfg(test)]
#[path = "incident_tests.rs"]
mod tests;
