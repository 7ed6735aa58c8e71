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
}

/// The notice before a material policy change applies, unless the workspace sets another.
pub const DEFAULT_NOTICE_DAYS: u16 = 30;

impl WorkspaceSettings {
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
        match (
            legal_name,
            contact_email,
            dpo_name,
            dpo_email,
            min_age,
            notice,
            law,
        ) {
            (
                Some(legal_name),
                Some(contact_email),
                Some(dpo_name),
                Some(dpo_email),
                Some(min_age),
                Some(notice),
                Some(request_law),
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
        let mut bad = input();
        bad.contact_email = "nope".into();
        bad.min_age = "200".into();
        bad.request_law = "lgpd".into();
        let e = WorkspaceSettings::parse(&bad).unwrap_err();
        let fields: Vec<_> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["contact_email", "min_age", "request_law"]);
    }
}
