//! The consent banner's configuration: what `/consent.js` fetches from
//! `/consent/{slug}/config.json` before it shows anything. Built from the workspace, the live
//! inventory's consent purposes and the policy versions in force; its shape is a contract with
//! the script and with the decision endpoint (`policy_version`, `consent_version` and
//! `banner_version` come back in every decision).

use super::inventory::{Inventory, LegalBasis};
use serde::Serialize;

/// The banner's words in one language. The purposes' names and descriptions are the
/// inventory's own (one language); these are the banner's controls and notes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Texts {
    /// The banner region's accessible name.
    pub region: &'static str,
    pub heading: &'static str,
    pub intro: &'static str,
    pub accept_all: &'static str,
    pub reject_all: &'static str,
    /// Opens the per-purpose choices.
    pub choose: &'static str,
    pub save: &'static str,
    /// Closes the choices, back to the banner.
    pub close: &'static str,
    /// The choices dialog's heading.
    pub preferences: &'static str,
    /// The link to the privacy policy.
    pub policy: &'static str,
    /// Next to a purpose refused because the browser sent Global Privacy Control.
    pub gpc: &'static str,
}

pub const ENGLISH: Texts = Texts {
    region: "Cookie consent",
    heading: "Your privacy choices",
    intro: "We would like to store cookies and similar data on your device and use them for the \
            purposes below. Nothing is stored for a purpose you do not allow, and you can change \
            your choice at any time.",
    accept_all: "Accept all",
    reject_all: "Reject all",
    choose: "Choose",
    save: "Save choices",
    close: "Back",
    preferences: "Choose what you allow",
    policy: "Privacy policy",
    gpc: "Refused: your browser sent a Global Privacy Control signal.",
};

pub const GERMAN: Texts = Texts {
    region: "Cookie-Einwilligung",
    heading: "Ihre Datenschutz-Einstellungen",
    intro: "Wir möchten Cookies und ähnliche Daten auf Ihrem Gerät speichern und für die unten \
            genannten Zwecke nutzen. Für einen Zweck, den Sie nicht erlauben, wird nichts \
            gespeichert, und Sie können Ihre Wahl jederzeit ändern.",
    accept_all: "Alle akzeptieren",
    reject_all: "Alle ablehnen",
    choose: "Auswählen",
    save: "Auswahl speichern",
    close: "Zurück",
    preferences: "Wählen Sie, was Sie erlauben",
    policy: "Datenschutzerklärung",
    gpc: "Abgelehnt: Ihr Browser hat ein Global-Privacy-Control-Signal gesendet.",
};

/// The languages shipped, by the `lang` prefix the script matches (`de-AT` → `de`); the script
/// falls back to `en`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Translations {
    pub en: Texts,
    pub de: Texts,
}

/// One purpose the banner asks about: a consent purpose of the inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BannerPurpose {
    /// The category name blocked scripts carry in `data-lethe-category`.
    pub key: String,
    pub name: String,
    pub description: String,
    /// The inventory's consent question, if it has one.
    pub prompt: Option<String>,
    /// Refused without asking under Global Privacy Control.
    pub opt_out_of_sale: bool,
    /// Cookie names (a trailing `*`: a prefix) deleted when the purpose is refused.
    pub cookies: Vec<String>,
    /// Local-storage keys, by the same rule.
    pub local_storage: Vec<String>,
}

/// The body of `/consent/{slug}/config.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BannerConfig {
    pub workspace: String,
    pub organisation: String,
    pub policy_url: String,
    /// The policy version in force, if any.
    pub policy_version: Option<i64>,
    /// The newest material policy version in force: a decision given under an older one (or
    /// under none, once there is one) is asked again.
    pub consent_version: Option<i64>,
    /// Changes whenever what the banner shows changes (see [`BannerConfig::with_version`]).
    pub banner_version: String,
    pub decision_url: String,
    pub cookie_domain: Option<String>,
    pub purposes: Vec<BannerPurpose>,
    pub texts: Translations,
}

/// What the configuration is built from.
pub struct BannerFacts<'a> {
    pub slug: &'a str,
    pub organisation: &'a str,
    /// Where people reach Lethe, without a trailing slash.
    pub base_url: &'a str,
    pub policy_version: Option<i64>,
    pub consent_version: Option<i64>,
    pub cookie_domain: Option<&'a str>,
    pub inventory: &'a Inventory,
}

impl BannerConfig {
    /// The configuration, with an empty `banner_version` (see [`BannerConfig::with_version`]).
    pub fn build(f: &BannerFacts<'_>) -> BannerConfig {
        let base = f.base_url.trim_end_matches('/');
        BannerConfig {
            workspace: f.slug.to_owned(),
            organisation: f.organisation.to_owned(),
            policy_url: format!("{base}/p/{}/privacy", f.slug),
            policy_version: f.policy_version,
            consent_version: f.consent_version,
            banner_version: String::new(),
            decision_url: format!("{base}/consent/{}/decisions", f.slug),
            cookie_domain: f.cookie_domain.map(str::to_owned),
            purposes: f
                .inventory
                .purposes
                .iter()
                .filter(|p| p.legal_basis == LegalBasis::Consent)
                .map(|p| BannerPurpose {
                    key: p.key.clone(),
                    name: p.name.clone(),
                    description: p.description.clone(),
                    prompt: p.consent_prompt.clone(),
                    opt_out_of_sale: p.opt_out_of_sale,
                    cookies: p.cookies.clone(),
                    local_storage: p.local_storage.clone(),
                })
                .collect(),
            texts: Translations {
                en: ENGLISH,
                de: GERMAN,
            },
        }
    }

    /// The configuration with `banner_version` set from `digest`, a hex digest of the
    /// configuration as built (everything the banner shows and the versions it asks under):
    /// its first 16 characters.
    pub fn with_version(mut self, digest: &str) -> BannerConfig {
        self.banner_version = digest.chars().take(16).collect();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::inventory::Purpose;

    fn purpose(key: &str, basis: LegalBasis) -> Purpose {
        Purpose {
            key: key.into(),
            name: key.to_uppercase(),
            description: format!("{key} described"),
            legal_basis: basis,
            balancing_note: None,
            consent_prompt: None,
            cookies: vec![],
            local_storage: vec![],
            opt_out_of_sale: false,
            categories: vec![],
        }
    }

    #[test]
    fn the_banner_asks_about_consent_purposes_only() {
        let mut ads = purpose("ads", LegalBasis::Consent);
        ads.opt_out_of_sale = true;
        ads.cookies = vec!["_fbp".into(), "_ga*".into()];
        ads.consent_prompt = Some("May we show you ads?".into());
        let inventory = Inventory {
            purposes: vec![purpose("billing", LegalBasis::Contract), ads],
            ..Inventory::default()
        };
        let config = BannerConfig::build(&BannerFacts {
            slug: "shop",
            organisation: "Shop Ltd",
            base_url: "https://lethe.example/",
            policy_version: Some(3),
            consent_version: Some(2),
            cookie_domain: Some("shop.example"),
            inventory: &inventory,
        })
        .with_version("0123456789abcdef0123");
        assert_eq!(config.policy_url, "https://lethe.example/p/shop/privacy");
        assert_eq!(
            config.decision_url,
            "https://lethe.example/consent/shop/decisions"
        );
        assert_eq!(config.banner_version, "0123456789abcdef");
        assert_eq!(config.purposes.len(), 1);
        let json = serde_json::to_value(&config).unwrap();
        assert_eq!(json["purposes"][0]["key"], "ads");
        assert_eq!(json["purposes"][0]["opt_out_of_sale"], true);
        assert_eq!(json["purposes"][0]["prompt"], "May we show you ads?");
        assert_eq!(json["purposes"][0]["cookies"][1], "_ga*");
        assert_eq!(json["texts"]["de"]["reject_all"], "Alle ablehnen");
        assert_eq!(json["cookie_domain"], "shop.example");
    }
}
