//! Consent decisions (issue 17): what a decision is, how it is checked, and how a person's
//! current consent is derived from their decisions and what they asked through requests.
//!
//! A decision answers some of the workspace's consent purposes (the inventory's purposes whose
//! legal basis is consent), each granted or refused. Decisions are never changed: the current
//! state of a purpose is its latest decision. Three things refuse a purpose whatever was chosen:
//! a restriction of the person's processing, a withdrawal of consent, an objection to that
//! purpose (`subject_objections`); and Global Privacy Control refuses, without asking, the
//! purposes the workspace marks as sale, sharing or targeted advertising.

use super::ValidationErrors;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// The most purposes one decision may answer.
pub const MAX_CHOICES: usize = 100;

/// Where a decision came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentSource {
    /// The person, on the operator's site, through Lethe's banner.
    Banner,
    /// The operator's backend, from its own interface (`POST /api/v1/consent`).
    Api,
    /// Decisions taken before Lethe, brought in by the operator.
    Import,
    /// Global Privacy Control refused on the person's behalf, without a banner.
    Gpc,
}

impl ConsentSource {
    pub const ALL: [ConsentSource; 4] = [
        ConsentSource::Banner,
        ConsentSource::Api,
        ConsentSource::Import,
        ConsentSource::Gpc,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ConsentSource::Banner => "banner",
            ConsentSource::Api => "api",
            ConsentSource::Import => "import",
            ConsentSource::Gpc => "gpc",
        }
    }

    pub fn parse(s: &str) -> Option<ConsentSource> {
        ConsentSource::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// One purpose's answer in a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Choice {
    pub purpose: String,
    pub granted: bool,
    /// Why it was refused without the person choosing: `gpc`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A visitor id the banner made (a random value in a first-party cookie): 16 to 64 of
/// `A-Z a-z 0-9 _ -`.
pub fn parse_visitor(raw: &str) -> Result<String, String> {
    let ok = (16..=64).contains(&raw.len())
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(raw.to_owned())
    } else {
        Err("must be 16 to 64 letters, digits, '_' or '-'".into())
    }
}

/// Checks a decision's choices against the workspace's consent purposes (`purposes`: their
/// keys) and applies Global Privacy Control: with `gpc`, every purpose in `sold` (sale, sharing,
/// targeted advertising) is refused with the reason `gpc`, whatever was sent. At least one
/// purpose, each a consent purpose, at most [`MAX_CHOICES`].
pub fn choices(
    sent: &BTreeMap<String, bool>,
    purposes: &[String],
    sold: &[String],
    gpc: bool,
) -> Result<Vec<Choice>, ValidationErrors> {
    let mut errors = ValidationErrors::default();
    if sent.is_empty() {
        errors.add(
            "choices",
            "name at least one purpose, granted (true) or refused (false)",
        );
    }
    if sent.len() > MAX_CHOICES {
        errors.add("choices", format!("at most {MAX_CHOICES} purposes"));
    }
    let unknown: Vec<&str> = sent
        .keys()
        .filter(|k| !purposes.contains(k))
        .map(String::as_str)
        .take(5)
        .collect();
    if !unknown.is_empty() {
        errors.add(
            "choices",
            format!(
                "not a consent purpose of this workspace: {}",
                unknown.join(", ")
            ),
        );
    }
    errors.into_result()?;
    Ok(sent
        .iter()
        .map(|(purpose, granted)| {
            let refused_by_gpc = gpc && sold.contains(purpose);
            Choice {
                purpose: purpose.clone(),
                granted: *granted && !refused_by_gpc,
                reason: refused_by_gpc.then(|| "gpc".to_owned()),
            }
        })
        .collect())
}

/// The browser family of a `User-Agent`, the only part of it kept: coarse on purpose.
pub fn user_agent_family(ua: &str) -> &'static str {
    let has = |s: &str| ua.contains(s);
    if ua.is_empty() {
        "none"
    } else if has("bot") || has("Bot") || has("spider") || has("crawl") {
        "bot"
    } else if has("Edg/") {
        "Edge"
    } else if has("OPR/") || has("Opera") {
        "Opera"
    } else if has("Firefox/") {
        "Firefox"
    } else if has("Chrome/") || has("Chromium/") || has("HeadlessChrome") {
        "Chrome"
    } else if has("Safari/") {
        "Safari"
    } else {
        "other"
    }
}

/// A decision as stored, with what it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub id: String,
    pub source: ConsentSource,
    pub decided_at: DateTime<Utc>,
    pub consent_version: Option<i64>,
    pub choices: Vec<Choice>,
}

/// What refuses purposes whatever the person chose (from the person's requests).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// The person's processing is restricted.
    pub restricted: bool,
    /// The person withdrew their consent (every consent purpose).
    pub withdrawn: bool,
    /// Purposes the person objected to.
    pub objected: Vec<String>,
}

/// One purpose's current consent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PurposeConsent {
    pub purpose: String,
    /// Whether processing on the basis of consent may go on for this purpose now.
    pub granted: bool,
    /// Why: `granted`, `refused`, `gpc` (refused by Global Privacy Control), `not_asked`,
    /// `restricted`, `withdrawn`, `objected`, or `needs_renewal` (granted under a policy
    /// version older than the material one in force: ask again; not granted meanwhile).
    pub state: String,
    /// The decision it comes from.
    pub record: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub source: Option<ConsentSource>,
}

/// Each purpose's current consent: its latest decision (`decisions`, newest first), unless the
/// person's requests refuse it, and not granted when given under a material version older than
/// `consent_version` (the newest material version in force).
pub fn current(
    purposes: &[String],
    decisions: &[Decision],
    overrides: &Overrides,
    consent_version: Option<i64>,
) -> Vec<PurposeConsent> {
    purposes
        .iter()
        .map(|purpose| {
            let latest = decisions.iter().find_map(|d| {
                d.choices
                    .iter()
                    .find(|c| &c.purpose == purpose)
                    .map(|c| (d, c))
            });
            let (record, since, source) = match latest {
                Some((d, _)) => (Some(d.id.clone()), Some(d.decided_at), Some(d.source)),
                None => (None, None, None),
            };
            let state = if overrides.restricted {
                "restricted"
            } else if overrides.withdrawn {
                "withdrawn"
            } else if overrides.objected.contains(purpose) {
                "objected"
            } else {
                match latest {
                    None => "not_asked",
                    Some((_, c)) if c.reason.as_deref() == Some("gpc") => "gpc",
                    Some((_, c)) if !c.granted => "refused",
                    Some((d, _)) if outdated(d.consent_version, consent_version) => "needs_renewal",
                    Some(_) => "granted",
                }
            };
            PurposeConsent {
                purpose: purpose.clone(),
                granted: state == "granted",
                state: state.to_owned(),
                record,
                since,
                source,
            }
        })
        .collect()
}

/// Whether a decision given under `given` is older than the material version `now` in force.
pub fn outdated(given: Option<i64>, now: Option<i64>) -> bool {
    match (given, now) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(g), Some(n)) => g < n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(k: &[&str]) -> Vec<String> {
        k.iter().map(|s| (*s).to_owned()).collect()
    }

    fn sent(pairs: &[(&str, bool)]) -> BTreeMap<String, bool> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    }

    #[test]
    fn choices_name_consent_purposes_only_and_gpc_refuses_what_is_sold() {
        let purposes = keys(&["analytics", "ads"]);
        let sold = keys(&["ads"]);
        let c = choices(
            &sent(&[("analytics", true), ("ads", true)]),
            &purposes,
            &sold,
            true,
        )
        .unwrap();
        assert_eq!(
            c,
            [
                Choice {
                    purpose: "ads".into(),
                    granted: false,
                    reason: Some("gpc".into())
                },
                Choice {
                    purpose: "analytics".into(),
                    granted: true,
                    reason: None
                },
            ]
        );
        let without = choices(&sent(&[("ads", true)]), &purposes, &sold, false).unwrap();
        assert!(without[0].granted, "no GPC: the person's choice stands");
        let e = choices(&sent(&[("billing", true)]), &purposes, &sold, false).unwrap_err();
        assert!(e.0[0].message.contains("billing"), "{e:?}");
        assert!(choices(&sent(&[]), &purposes, &sold, false).is_err());
    }

    #[test]
    fn visitor_ids_are_random_looking_tokens_only() {
        assert!(parse_visitor("Zm9vYmFyYmF6cXV4cXV1").is_ok());
        assert!(parse_visitor("short").is_err());
        assert!(parse_visitor("has spaces in it, sixteen+").is_err());
        assert!(parse_visitor(&"a".repeat(65)).is_err());
    }

    #[test]
    fn user_agents_keep_their_family_only() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
        let edge =
            "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/131.0 Safari/537.36 Edg/131.0";
        let safari = "Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15";
        assert_eq!(user_agent_family(firefox), "Firefox");
        assert_eq!(user_agent_family(chrome), "Chrome");
        assert_eq!(user_agent_family(edge), "Edge");
        assert_eq!(user_agent_family(safari), "Safari");
        assert_eq!(user_agent_family("Googlebot/2.1"), "bot");
        assert_eq!(user_agent_family(""), "none");
        assert_eq!(user_agent_family("curl/8.5"), "other");
    }

    fn decision(id: &str, version: Option<i64>, choices: &[(&str, bool)]) -> Decision {
        Decision {
            id: id.into(),
            source: ConsentSource::Banner,
            decided_at: chrono::DateTime::UNIX_EPOCH,
            consent_version: version,
            choices: choices
                .iter()
                .map(|(p, g)| Choice {
                    purpose: (*p).into(),
                    granted: *g,
                    reason: None,
                })
                .collect(),
        }
    }

    fn states(c: &[PurposeConsent]) -> Vec<(&str, &str)> {
        c.iter()
            .map(|p| (p.purpose.as_str(), p.state.as_str()))
            .collect()
    }

    #[test]
    fn the_latest_decision_per_purpose_counts_and_requests_refuse_over_it() {
        let purposes = keys(&["analytics", "ads", "newsletter"]);
        // Newest first: analytics withdrawn later, ads granted earlier.
        let decisions = [
            decision("r2", Some(3), &[("analytics", false)]),
            decision("r1", Some(3), &[("analytics", true), ("ads", true)]),
        ];
        let now = current(&purposes, &decisions, &Overrides::default(), Some(3));
        assert_eq!(
            states(&now),
            [
                ("analytics", "refused"),
                ("ads", "granted"),
                ("newsletter", "not_asked")
            ]
        );
        assert_eq!(now[0].record.as_deref(), Some("r2"));
        assert!(now[1].granted && !now[0].granted && !now[2].granted);

        let objected = Overrides {
            objected: keys(&["ads"]),
            ..Overrides::default()
        };
        let now = current(&purposes, &decisions, &objected, Some(3));
        assert_eq!(now[1].state, "objected");
        assert!(!now[1].granted);
        for o in [
            Overrides {
                restricted: true,
                ..Overrides::default()
            },
            Overrides {
                withdrawn: true,
                ..Overrides::default()
            },
        ] {
            assert!(
                current(&purposes, &decisions, &o, Some(3))
                    .iter()
                    .all(|p| !p.granted)
            );
        }
    }

    #[test]
    fn a_grant_under_an_older_material_version_needs_renewal() {
        let purposes = keys(&["ads"]);
        let decisions = [decision("r1", Some(2), &[("ads", true)])];
        let now = current(&purposes, &decisions, &Overrides::default(), Some(4));
        assert_eq!(now[0].state, "needs_renewal");
        assert!(!now[0].granted);
        let same = current(&purposes, &decisions, &Overrides::default(), Some(2));
        assert_eq!(same[0].state, "granted");
        assert!(outdated(None, Some(1)), "given before any policy: renew");
        assert!(
            !outdated(Some(1), None),
            "no policy in force: nothing to renew"
        );
    }
}
