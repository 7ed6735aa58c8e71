//! The default taxonomy of data categories operators start from and extend. Keys and meanings
//! follow fideslang's data categories (fideslang © Ethyca, CC BY 4.0,
//! <https://github.com/ethyca/fideslang>), so an inventory built from them can be exchanged with
//! Fides; the names and descriptions here are our own short wording.

use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct TaxonomyEntry {
    pub key: &'static str,
    pub name: &'static str,
    pub description: &'static str,
}

const fn e(key: &'static str, name: &'static str, description: &'static str) -> TaxonomyEntry {
    TaxonomyEntry {
        key,
        name,
        description,
    }
}

pub const DEFAULT_TAXONOMY: &[TaxonomyEntry] = &[
    e("user.name", "Name", "A person's name"),
    e(
        "user.contact.email",
        "E-mail address",
        "A person's e-mail address",
    ),
    e(
        "user.contact.phone_number",
        "Phone number",
        "A person's telephone number",
    ),
    e(
        "user.contact.address",
        "Postal address",
        "Street, city, postcode, country",
    ),
    e(
        "user.account.username",
        "Username",
        "The name a person chose for their account",
    ),
    e(
        "user.account.settings",
        "Account settings",
        "Preferences stored with an account",
    ),
    e(
        "user.authorization.credentials",
        "Credentials",
        "Passwords (hashed), API keys, tokens",
    ),
    e(
        "user.authorization.biometric",
        "Biometric credentials",
        "Fingerprints or face data used to log in",
    ),
    e(
        "user.unique_id",
        "Unique identifier",
        "An identifier assigned to a person by the system",
    ),
    e(
        "user.demographic.date_of_birth",
        "Date of birth",
        "Used among other things to check the minimum age",
    ),
    e("user.demographic.gender", "Gender", "Gender a person gives"),
    e(
        "user.financial",
        "Financial data",
        "Billing details, invoices, payment references",
    ),
    e(
        "user.financial.bank_account",
        "Bank account",
        "Account numbers used for payouts or direct debit",
    ),
    e(
        "user.payment",
        "Payment data",
        "Payment card and transaction details handled by a processor",
    ),
    e(
        "user.device",
        "Device information",
        "Browser, operating system and device type",
    ),
    e(
        "user.device.ip_address",
        "IP address",
        "The network address a request came from",
    ),
    e(
        "user.device.cookie_id",
        "Cookie identifier",
        "Identifiers stored in cookies or local storage",
    ),
    e(
        "user.device.device_id",
        "Device identifier",
        "Advertising or hardware identifiers",
    ),
    e(
        "user.location.imprecise",
        "Approximate location",
        "Country or city, for example derived from an IP address",
    ),
    e(
        "user.location.precise",
        "Precise location",
        "GPS or similar coordinates",
    ),
    e(
        "user.behavior.browsing_history",
        "Browsing history",
        "Pages visited and when",
    ),
    e(
        "user.behavior.purchase_history",
        "Purchase history",
        "What a person bought",
    ),
    e(
        "user.behavior",
        "Usage data",
        "How a person uses the service",
    ),
    e(
        "user.content",
        "User content",
        "Messages, files and posts a person creates",
    ),
    e(
        "user.content.private",
        "Private messages",
        "Content meant for a limited audience",
    ),
    e(
        "user.preferences",
        "Preferences",
        "Language and other choices",
    ),
    e(
        "user.health_and_medical",
        "Health data",
        "Special category (GDPR Art. 9)",
    ),
    e("user.criminal_history", "Criminal history", "GDPR Art. 10"),
    e(
        "user.biometric",
        "Biometric data",
        "Special category (GDPR Art. 9)",
    ),
    e(
        "user.political_opinion",
        "Political opinions",
        "Special category (GDPR Art. 9)",
    ),
    e(
        "user.religious_belief",
        "Religious beliefs",
        "Special category (GDPR Art. 9)",
    ),
    e(
        "user.sexual_orientation",
        "Sexual orientation",
        "Special category (GDPR Art. 9)",
    ),
    e("user.workplace", "Workplace", "Employer and job title"),
    e(
        "system.operations",
        "Operational data",
        "Logs and metrics about the system itself",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_a_valid_unique_key() {
        let mut seen = std::collections::HashSet::new();
        for entry in DEFAULT_TAXONOMY {
            assert!(
                crate::domain::inventory::parse_key(entry.key).is_ok(),
                "{}",
                entry.key
            );
            assert!(seen.insert(entry.key), "{} twice", entry.key);
        }
    }
}
