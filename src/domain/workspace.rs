//! Workspaces: one brand or company served by this Lethe, with its legal identity and defaults.

use super::request_clock::Law;
use super::{Email, ValidationErrors, text};
use serde::Serialize;

/// A workspace's URL name: lower-case letters, digits and dashes, 2 to 40 long.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Slug(String);

const RESERVED_SLUGS: &[&str] = &[
    "api",
    "console",
    "static",
    "new",
    "admin",
    "p",
    "well-known",
];

impl Slug {
    pub fn parse(raw: &str) -> Result<Slug, String> {
        let s = raw.trim();
        let shape = (2..=40).contains(&s.len())
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        if !shape {
            return Err("use 2 to 40 lower-case letters, digits or dashes".into());
        }
        if RESERVED_SLUGS.contains(&s) {
            return Err(format!("'{s}' is reserved"));
        }
        Ok(Slug(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What staff edit about a workspace (everything but the slug, which is fixed at creation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkspaceSettings {
    pub legal_name: String,
    pub contact_email: Email,
    pub dpo_name: String,
    pub dpo_email: Option<Email>,
    /// People younger than this are refused (the vault enforces it).
    pub min_age: u8,
    /// The law data subject requests fall under when they do not name one.
    pub request_law: Law,
    /// How long before a material policy change applies people are told of it.
    pub notice_days: u16,
    /// Members must have TOTP enrolled to open this workspace.
    pub require_totp: bool,
    /// Staff review each verified data subject request before Lethe carries it out; off, Lethe
    /// carries it out as soon as it is verified.
    pub review_requests: bool,
    /// The origins of the operator's sites (`https://shop.example`) whose pages may post
    /// consent decisions from the banner.
    pub consent_origins: Vec<String>,
    /// The parent domain the sites' cookies are set on (`shop.example`), so that the banner
    /// deletes a refused purpose's cookies there too; `None`: the page's own host only.
    pub consent_cookie_domain: Option<String>,
    /// The zone staff's typed times are read in and deadlines are shown in (IANA, e.g.
    /// `Europe/Berlin`); stored instants stay UTC.
    #[serde(serialize_with = "zone_name")]
    pub time_zone: chrono_tz::Tz,
}

fn zone_name<S: serde::Serializer>(zone: &chrono_tz::Tz, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(zone.name())
}

/// An IANA time zone name, e.g. `Europe/Berlin` or `UTC`, as the tz database spells it.
pub fn parse_time_zone(raw: &str) -> Result<chrono_tz::Tz, String> {
    raw.trim().parse::<chrono_tz::Tz>().map_err(|_| {
        format!(
            "'{}' is not a time zone: give an IANA name such as Europe/Berlin, America/New_York or UTC",
            raw.trim().chars().take(60).collect::<String>()
        )
    })
}

/// At most this many consent origins per workspace.
pub const MAX_CONSENT_ORIGINS: usize = 20;

/// A web origin: `http` or `https`, a host and an optional port, nothing else (no path, query,
/// fragment or user). Returned in its serialized form (`https://shop.example`, lower case,
/// without a default port).
pub fn parse_origin(raw: &str) -> Result<String, String> {
    let o = raw.trim();
    let refuse = || {
        format!(
            "'{o}' is not an origin: give the scheme and host, and a port if it is not the usual \
             one, e.g. https://shop.example or http://localhost:8080, with nothing after them"
        )
    };
    let url = url::Url::parse(o).map_err(|_| refuse())?;
    let bare = matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some_and(|h| !h.is_empty())
        && url.username().is_empty()
        && url.password().is_none()
        && url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none()
        && o.len() <= 300;
    if !bare {
        return Err(refuse());
    }
    Ok(url.origin().ascii_serialization())
}

/// A parent domain for cookies: two or more dot-separated labels of letters, digits and
/// dashes (internationalised names as punycode), at most 253 characters; a leading dot is
/// dropped, as browsers do.
pub fn parse_cookie_domain(raw: &str) -> Result<String, String> {
    let d = raw.trim().trim_start_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = d.split('.').collect();
    let ok = d.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            (1..=63).contains(&l.len())
                && l.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    if ok {
        Ok(d)
    } else {
        Err(format!(
            "'{}' is not a domain: give the parent domain of your sites, e.g. shop.example",
            raw.trim()
        ))
    }
}

/// A stored workspace.
#[derive(Debug, Clone, Serialize)]
pub struct Workspace {
    pub slug: String,
    #[serde(flatten)]
    pub settings: WorkspaceSettings,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Raw input from a form or a JSON body, before validation.
#[derive(Debug, Clone, Default)]
pub struct WorkspaceSettingsInput {
    pub legal_name: String,
    pub contact_email: String,
    pub dpo_name: String,
    pub dpo_email: String,
    pub min_age: String,
    /// `gdpr` or `ccpa`; empty means GDPR.
    pub request_law: String,
    /// Empty means the default, [`DEFAULT_NOTICE_DAYS`].
    pub notice_days: String,
    pub require_totp: bool,
    pub review_requests: bool,
    /// Origins, one an entry (empty entries are dropped).
    pub consent_origins: Vec<String>,
    /// Empty means none.
    pub consent_cookie_domain: String,
    /// An IANA name; empty means UTC.
    pub time_zone: String,
}

/// The notice before a material policy change applies, unless the workspace sets another.
pub const DEFAULT_NOTICE_DAYS: u16 = 30;

impl WorkspaceSettings {
    /// Whether a page of `origin` (an `Origin` header, as the browser sent it) may post
    /// consent decisions: it is one of the workspace's consent origins, stored in their
    /// serialized form, which is the form browsers send.
    pub fn allows_consent_origin(&self, origin: &str) -> bool {
        self.consent_origins.iter().any(|o| o == origin)
    }

    pub fn parse(input: &WorkspaceSettingsInput) -> Result<WorkspaceSettings, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let legal_name = errors.check("legal_name", text(&input.legal_name, 200, false));
        let contact_email = errors.check("contact_email", Email::parse(&input.contact_email));
        let dpo_name = errors.check("dpo_name", text(&input.dpo_name, 200, true));
        let dpo_email = if input.dpo_email.trim().is_empty() {
            Some(None)
        } else {
            errors.check("dpo_email", Email::parse(&input.dpo_email).map(Some))
        };
        let min_age = errors.check(
            "min_age",
            parse_in_range(&input.min_age, 0, 21, "an age from 0 to 21"),
        );
        let law = match input.request_law.trim() {
            "" => Some(Law::Gdpr),
            l => errors.check(
                "request_law",
                Law::parse(l).ok_or_else(|| "must be gdpr or ccpa".to_owned()),
            ),
        };
        let notice = if input.notice_days.trim().is_empty() {
            Some(u32::from(DEFAULT_NOTICE_DAYS))
        } else {
            errors.check(
                "notice_days",
                parse_in_range(&input.notice_days, 0, 365, "a number of days from 0 to 365"),
            )
        };
        let mut consent_origins = Vec::new();
        let given: Vec<&str> = input
            .consent_origins
            .iter()
            .map(|o| o.trim())
            .filter(|o| !o.is_empty())
            .collect();
        if given.len() > MAX_CONSENT_ORIGINS {
            errors.add(
                "consent_origins",
                format!("give at most {MAX_CONSENT_ORIGINS} origins"),
            );
        }
        for o in given {
            if let Some(o) = errors.check("consent_origins", parse_origin(o))
                && !consent_origins.contains(&o)
            {
                consent_origins.push(o);
            }
        }
        let consent_cookie_domain = match input.consent_cookie_domain.trim() {
            "" => None,
            d => errors.check("consent_cookie_domain", parse_cookie_domain(d)),
        };
        let time_zone = match input.time_zone.trim() {
            "" => Some(chrono_tz::Tz::UTC),
            z => errors.check("time_zone", parse_time_zone(z)),
        };
        match (
            legal_name,
            contact_email,
            dpo_name,
            dpo_email,
            min_age,
            notice,
            law,
            time_zone,
        ) {
            (
                Some(legal_name),
                Some(contact_email),
                Some(dpo_name),
                Some(dpo_email),
                Some(min_age),
                Some(notice),
                Some(request_law),
                Some(time_zone),
            ) if errors.is_empty() => Ok(WorkspaceSettings {
                legal_name,
                contact_email,
                dpo_name,
                dpo_email,
                min_age: min_age as u8,
                request_law,
                notice_days: notice as u16,
                require_totp: input.require_totp,
                review_requests: input.review_requests,
                consent_origins,
                consent_cookie_domain,
                time_zone,
            }),
            _ => Err(errors),
        }
    }
}

fn parse_in_range(raw: &str, min: u32, max: u32, what: &str) -> Result<u32, String> {
    match raw.trim().parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("must be {what}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> WorkspaceSettingsInput {
        WorkspaceSettingsInput {
            legal_name: "Aulm Corporation".into(),
            contact_email: "support@aulm.example".into(),
            dpo_name: String::new(),
            dpo_email: String::new(),
            min_age: "18".into(),
            request_law: String::new(),
            notice_days: String::new(),
            require_totp: false,
            review_requests: false,
            consent_origins: vec![],
            consent_cookie_domain: String::new(),
            time_zone: String::new(),
        }
    }

    #[test]
    fn slugs() {
        assert!(Slug::parse("aulm").is_ok());
        assert!(Slug::parse("my-shop-2").is_ok());
        for bad in ["A", "a", "-x", "x-", "with space", "console", "ümlaut"] {
            assert!(Slug::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn settings_collect_every_error() {
        let ok = WorkspaceSettings::parse(&input()).unwrap();
        assert_eq!(ok.min_age, 18);
        assert_eq!(ok.dpo_email, None);
        assert_eq!(ok.request_law, Law::Gdpr);
        assert_eq!(ok.time_zone, chrono_tz::Tz::UTC, "UTC unless set");
        let mut bad = input();
        bad.contact_email = "nope".into();
        bad.min_age = "200".into();
        bad.request_law = "lgpd".into();
        bad.time_zone = "Europe/Bonn".into();
        let e = WorkspaceSettings::parse(&bad).unwrap_err();
        let fields: Vec<_> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            ["contact_email", "min_age", "request_law", "time_zone"]
        );
        let mut berlin = input();
        berlin.time_zone = " Europe/Berlin ".into();
        assert_eq!(
            WorkspaceSettings::parse(&berlin).unwrap().time_zone,
            chrono_tz::Europe::Berlin
        );
    }

    #[test]
    fn consent_origins_are_scheme_host_and_port() {
        assert_eq!(
            parse_origin(" HTTPS://Shop.Example/ ").unwrap(),
            "https://shop.example"
        );
        assert_eq!(
            parse_origin("https://shop.example:443").unwrap(),
            "https://shop.example"
        );
        assert_eq!(
            parse_origin("http://localhost:8080").unwrap(),
            "http://localhost:8080"
        );
        for bad in [
            "shop.example",
            "https://shop.example/cart",
            "https://shop.example/?a=1",
            "https://shop.example#x",
            "https://user@shop.example",
            "ftp://shop.example",
            "https://",
            "javascript:alert(1)",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_cookie_domain(".Shop.Example").unwrap(),
            "shop.example"
        );
        for bad in [
            "example",
            "shop..example",
            "-a.example",
            "a b.example",
            "https://a.example",
        ] {
            assert!(parse_cookie_domain(bad).is_err(), "{bad}");
        }
        let mut i = input();
        i.consent_origins = vec!["https://a.example".into(), "".into(), "nope".into()];
        i.consent_cookie_domain = "x".into();
        let e = WorkspaceSettings::parse(&i).unwrap_err();
        let fields: Vec<_> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["consent_origins", "consent_cookie_domain"]);
        i.consent_origins.pop();
        i.consent_cookie_domain = "a.example".into();
        let ok = WorkspaceSettings::parse(&i).unwrap();
        assert_eq!(ok.consent_origins, ["https://a.example"]);
        assert_eq!(ok.consent_cookie_domain.as_deref(), Some("a.example"));
    }
}
