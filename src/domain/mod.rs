//! Pure rules: validation, permissions, formats, state. No SQL, no HTTP (see ARCHITECTURE.md).

pub mod acme;
pub mod anchor;
pub mod apikey;
pub mod audit;
pub mod backup;
pub mod consent;
pub mod consent_banner;
pub mod consent_rates;
pub mod consent_receipt;
pub mod csv_export;
pub mod doctor;
pub mod evidence;
pub mod fideslang;
pub mod hidden_chars;
pub mod import_plan;
pub mod incident;
pub mod incident_notice;
pub mod ingest;
pub mod inventory;
pub mod inventory_check;
pub mod ip_country;
pub mod keys;
pub mod network;
pub mod outbox;
pub mod policy;
pub mod policy_diff;
pub mod policy_timeline;
pub mod publication;
pub mod qr;
pub mod receipt_batch;
pub mod record;
pub mod request;
pub mod request_clock;
pub mod request_task;
pub mod retention;
pub mod ropa;
pub mod schedule;
pub mod special_addresses;
pub mod staff;
pub mod subject;
pub mod taxonomy;
pub mod time;
pub mod totp;
pub mod transfer;
pub mod transform;
pub mod workspace;

use serde::Serialize;

/// One thing wrong with one input field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// Everything wrong with an input, so a form or an API client can fix it all in one go.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{}", self.summary())]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    pub fn single(field: &str, message: impl Into<String>) -> Self {
        ValidationErrors(vec![FieldError {
            field: field.to_owned(),
            message: message.into(),
        }])
    }

    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.to_owned(),
            message: message.into(),
        });
    }

    /// Records the error of a parse, keeping its value when it succeeded.
    pub fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(message) => {
                self.add(field, message);
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_result(self) -> Result<(), ValidationErrors> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }

    pub fn summary(&self) -> String {
        self.0
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub fn for_field(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    }
}

/// A syntactically plausible e-mail address, lower-cased. Deliverability is checked by mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Email, String> {
        let e = raw.trim().to_lowercase();
        // The domain in ASCII (internationalised names as punycode, `xn--`): a non-ASCII domain
        // can mix look-alike letters of several scripts. The local part may be UTF-8 (RFC 6531)
        // but holds nothing invisible.
        let ok = e.len() <= 254
            && hidden_chars::first_hidden(&e).is_none()
            && e.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && domain.contains('.')
                    && !e.chars().any(|c| c.is_whitespace() || c == '<' || c == '>')
                    && domain.split('.').all(|label| {
                        !label.is_empty()
                            && !label.starts_with('-')
                            && !label.ends_with('-')
                            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    })
            });
        if ok {
            Ok(Email(e))
        } else {
            Err(format!("'{}' is not an e-mail address", raw.trim()))
        }
    }

    /// For values read back from storage, which were parsed before they were stored.
    pub fn from_stored(stored: String) -> Email {
        Email(stored)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Trimmed text with a length limit; an empty value is refused unless `optional`.
pub fn text(raw: &str, max: usize, optional: bool) -> Result<String, String> {
    let t = raw.trim();
    if t.is_empty() && !optional {
        return Err("is required".into());
    }
    if t.chars().count() > max {
        return Err(format!("is longer than {max} characters"));
    }
    if let Some(c) = hidden_chars::first_hidden(t) {
        return Err(format!(
            "contains an invisible or control character (U+{:04X})",
            u32::from(c)
        ));
    }
    Ok(t.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse(" Ada@Example.ORG ").unwrap().as_str(),
            "ada@example.org"
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.org",
            "ada@example",
            "a b@example.org",
            "<x>@e.org",
            "ada\u{0}@example.org",
            "ada@exam\u{0}ple.org",
            "ada\u{202E}gro@example.org",
            "ada@example\u{2066}.org",
            "a\u{200B}da@example.org",
            "ada@exa\u{200D}mple.org",
            // Cyrillic а and о among Latin letters: a look-alike of example.org.
            "ada@ex\u{0430}mple.\u{043E}rg",
            "ada@bücher.example",
            "ada@example..org",
            "ada@-example.org",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn text_limits() {
        assert_eq!(text("  hi ", 5, false).unwrap(), "hi");
        assert!(text("   ", 5, false).is_err());
        assert_eq!(text("", 5, true).unwrap(), "");
        assert!(text("toolong", 5, false).is_err());
        assert!(text("a\u{0}b", 5, false).is_err());
        assert!(text("Acme\u{202E}gnp", 20, false).is_err());
        assert!(text("Ac\u{200D}me", 20, false).is_err());
        assert!(text("Ac\u{200B}me", 20, false).is_err());
        assert_eq!(text("Zoë", 20, false).unwrap(), "Zoë");
        // Punycode stays possible for internationalised domains.
        assert!(Email::parse("ada@xn--bcher-kva.example").is_ok());
    }
}
