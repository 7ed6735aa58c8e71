//! Subjects: the people the operator's records are about, named by the operator's own id.

use super::{Email, ValidationErrors, text};
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The operator's account id for a person: letters, digits and `. _ : -`. Not an e-mail
/// address: the id is stored in the clear so that it can be looked up.
pub fn parse_external_id(raw: &str) -> Result<String, String> {
    let id = raw.trim();
    if id.is_empty() || id.len() > 128 {
        return Err("give the person's account id from your system (1 to 128 characters)".into());
    }
    if id.contains('@') {
        return Err(
            "looks like an e-mail address: use your system's account id, and send the e-mail as 'email' (it is stored sealed)"
                .into(),
        );
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'))
    {
        return Err("use letters, digits and '.', '_', ':' or '-' only".into());
    }
    Ok(id.to_owned())
}

/// A subject as an API client sends it (create or update by `external_id`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubjectInput {
    pub external_id: String,
    #[serde(default)]
    pub email: Option<String>,
    /// e.g. `customer`, `instructor`, `recipient`.
    #[serde(default)]
    pub kind: Option<String>,
    /// YYYY-MM-DD; checked against the workspace's minimum age.
    #[serde(default)]
    pub birth_date: Option<NaiveDate>,
}

/// The sealed part of a subject.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub birth_date: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub external_id: String,
    pub kind: String,
    pub email: Option<Email>,
    pub birth_date: Option<NaiveDate>,
}

impl Subject {
    pub fn profile(&self) -> Profile {
        Profile {
            email: self.email.as_ref().map(|e| e.as_str().to_owned()),
            birth_date: self.birth_date,
        }
    }
}

/// Why a subject was not stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectRefusal {
    Invalid(ValidationErrors),
    /// Younger than the workspace's minimum age: nothing about them is stored.
    UnderAge {
        min_age: u8,
    },
}

/// Whole years from `birth` to `today`.
pub fn age_on(birth: NaiveDate, today: NaiveDate) -> i32 {
    let mut age = today.year() - birth.year();
    if (today.month(), today.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    age
}

impl SubjectInput {
    pub fn validate(self, min_age: u8, today: NaiveDate) -> Result<Subject, SubjectRefusal> {
        let mut errors = ValidationErrors::default();
        let external_id = errors.check("external_id", parse_external_id(&self.external_id));
        let kind = errors.check("kind", text(self.kind.as_deref().unwrap_or(""), 80, true));
        let email = match self.email.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(e) => errors.check("email", Email::parse(e)),
        };
        if let Some(b) = self.birth_date
            && (b > today || b.year() < 1900)
        {
            errors.add("birth_date", "is not a plausible birth date");
        }
        errors.into_result().map_err(SubjectRefusal::Invalid)?;
        if let Some(b) = self.birth_date
            && age_on(b, today) < i32::from(min_age)
        {
            return Err(SubjectRefusal::UnderAge { min_age });
        }
        Ok(Subject {
            external_id: external_id.unwrap_or_default(),
            kind: kind.unwrap_or_default(),
            email,
            birth_date: self.birth_date,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn input(birth: Option<&str>) -> SubjectInput {
        SubjectInput {
            external_id: "acct-1".into(),
            email: Some(" Ada@Example.org ".into()),
            kind: Some("customer".into()),
            birth_date: birth.map(d),
        }
    }

    #[test]
    fn age_counts_whole_years_up_to_the_birthday() {
        assert_eq!(age_on(d("2010-11-23"), d("2026-11-22")), 15);
        assert_eq!(age_on(d("2010-11-22"), d("2026-11-22")), 16);
        assert_eq!(age_on(d("2008-02-29"), d("2026-02-28")), 17);
    }

    #[test]
    fn people_under_the_minimum_age_are_refused() {
        let today = d("2026-11-22");
        assert_eq!(
            input(Some("2010-11-23")).validate(16, today),
            Err(SubjectRefusal::UnderAge { min_age: 16 })
        );
        let ok = input(Some("2010-11-22")).validate(16, today).unwrap();
        assert_eq!(ok.email.unwrap().as_str(), "ada@example.org");
        assert!(
            input(None).validate(16, today).is_ok(),
            "no birth date, no age check"
        );
        assert!(input(Some("2020-01-01")).validate(0, today).is_ok());
    }

    #[test]
    fn ids_are_account_ids_not_addresses() {
        assert!(parse_external_id("cus_123:eu-1.a").is_ok());
        for bad in ["", "ada@example.org", "a b", "a/b", &"x".repeat(129)] {
            assert!(parse_external_id(bad).is_err(), "{bad}");
        }
        let bad = SubjectInput {
            external_id: "a b".into(),
            email: Some("nope".into()),
            kind: None,
            birth_date: Some(d("2030-01-01")),
        };
        match bad.validate(16, d("2026-11-22")) {
            Err(SubjectRefusal::Invalid(e)) => {
                let fields: Vec<_> = e.0.iter().map(|f| f.field.as_str()).collect();
                assert_eq!(fields, ["external_id", "email", "birth_date"]);
            }
            other => panic!("{other:?}"),
        }
    }
}
