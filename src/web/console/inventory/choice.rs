//! The enums the inventory forms offer as selects, with the labels the console shows.

use crate::domain::inventory::{
    FieldHandling, LegalBasis, RecipientRole, RetentionAction, RetentionTrigger, Sensitivity,
    TransferSafeguard,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// An enum offered as a select: its values are the serde names the API uses.
pub trait Choice: Copy + PartialEq + Serialize + DeserializeOwned + 'static {
    const ALL: &'static [Self];
    /// What the console shows for it.
    fn label(self) -> &'static str;

    fn value(self) -> String {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::String(s)) => s,
            _ => String::new(),
        }
    }

    fn parse(raw: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(raw.trim().to_owned())).ok()
    }
}

macro_rules! choice {
    ($ty:ty, [$($variant:ident => $label:literal),+ $(,)?]) => {
        impl Choice for $ty {
            const ALL: &'static [Self] = &[$(<$ty>::$variant),+];
            fn label(self) -> &'static str {
                match self {
                    $(<$ty>::$variant => $label),+
                }
            }
        }
    };
}

choice!(Sensitivity, [
    Low => "Low",
    Normal => "Normal",
    High => "High",
    Special => "Special category (GDPR Art. 9 or 10)",
]);
choice!(FieldHandling, [
    Keep => "keep",
    Preview => "preview",
    RefuseCard => "refuse card numbers",
    MaskCard => "mask card numbers",
    IpCountry => "IP address: country and network",
]);
choice!(RecipientRole, [
    Processor => "Processor (acts on our instructions)",
    IndependentController => "Independent controller",
    Authority => "Public authority",
]);
choice!(TransferSafeguard, [
    NotATransfer => "None needed (a country in the EEA)",
    Adequacy => "Adequacy decision (Art. 45)",
    Sccs => "Standard contractual clauses (Art. 46)",
    Bcrs => "Binding corporate rules (Art. 47)",
    Derogation => "Derogation for a specific situation (Art. 49)",
]);
choice!(RetentionTrigger, [
    Collected => "after collection",
    AccountClosed => "after account closure",
]);
choice!(RetentionAction, [
    Delete => "Delete",
    Anonymize => "Anonymize",
]);

impl Choice for LegalBasis {
    // `Awaiting` is not offered: it is how an import brings a purpose without a basis, and a
    // person saving the form chooses one (the select then shows its placeholder).
    const ALL: &'static [Self] = &[
        LegalBasis::Consent,
        LegalBasis::Contract,
        LegalBasis::LegalObligation,
        LegalBasis::VitalInterests,
        LegalBasis::PublicTask,
        LegalBasis::LegitimateInterests,
    ];
    fn label(self) -> &'static str {
        LegalBasis::label(self)
    }
}

/// One option of a select.
pub struct Opt {
    pub value: String,
    pub label: &'static str,
}

fn options<C: Choice>() -> Vec<Opt> {
    C::ALL
        .iter()
        .map(|c| Opt {
            value: c.value(),
            label: c.label(),
        })
        .collect()
}

/// The options of every select of the inventory forms.
pub struct Options {
    pub sensitivity: Vec<Opt>,
    pub handling: Vec<Opt>,
    pub legal_basis: Vec<Opt>,
    pub role: Vec<Opt>,
    pub safeguard: Vec<Opt>,
    pub trigger: Vec<Opt>,
    pub action: Vec<Opt>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            sensitivity: options::<Sensitivity>(),
            handling: options::<FieldHandling>(),
            legal_basis: options::<LegalBasis>(),
            role: options::<RecipientRole>(),
            safeguard: options::<TransferSafeguard>(),
            trigger: options::<RetentionTrigger>(),
            action: options::<RetentionAction>(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<C: Choice + std::fmt::Debug>() {
        for c in C::ALL {
            assert_eq!(C::parse(&c.value()), Some(*c), "{c:?}");
            assert!(!c.label().is_empty());
        }
    }

    #[test]
    fn choices_use_the_api_names() {
        round_trips::<Sensitivity>();
        round_trips::<FieldHandling>();
        round_trips::<LegalBasis>();
        round_trips::<RecipientRole>();
        round_trips::<TransferSafeguard>();
        round_trips::<RetentionTrigger>();
        round_trips::<RetentionAction>();
        assert_eq!(LegalBasis::Consent.value(), "consent");
        assert_eq!(FieldHandling::IpCountry.value(), "ip_country");
    }
}
