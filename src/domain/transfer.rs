//! Transfers out of the EEA (GDPR Chapter V): which countries need no safeguard, which safeguard a
//! recipient's country allows, and the one wording of a recipient's location that the policy, the
//! RoPA and the privacy center all show. "Within the EEA" is derived from the country, never typed.

use super::inventory::TransferSafeguard;

/// The EU's 27 member states and Iceland, Liechtenstein and Norway (ISO 3166-1 alpha-2; Greece
/// is `GR`).
const EEA: [&str; 30] = [
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IS",
    "IT", "LI", "LT", "LU", "LV", "MT", "NL", "NO", "PL", "PT", "RO", "SE", "SI", "SK",
];

/// Countries with an adequacy decision of the European Commission (Art. 45), and for the partial
/// ones what the decision covers.
const ADEQUACY: [(&str, Option<&str>); 15] = [
    ("AD", None),
    ("AR", None),
    (
        "CA",
        Some("it covers only organisations subject to Canada's PIPEDA"),
    ),
    ("CH", None),
    ("FO", None),
    ("GB", None),
    ("GG", None),
    ("IL", None),
    ("IM", None),
    ("JE", None),
    ("JP", None),
    ("KR", None),
    ("NZ", None),
    (
        "US",
        Some("it covers only organisations certified under the EU-US Data Privacy Framework"),
    ),
    ("UY", None),
];

pub fn in_eea(country: &str) -> bool {
    EEA.contains(&country)
}

/// Whether the country has an adequacy decision, and what limits it when it is partial.
pub fn adequacy(country: &str) -> Option<Option<&'static str>> {
    ADEQUACY
        .iter()
        .find(|(c, _)| *c == country)
        .map(|(_, limit)| *limit)
}

/// Why a country and a safeguard do not agree, or `None` when they do. `derogation` is the named
/// Art. 49 derogation, when one is given.
pub fn disagreement(
    country: &str,
    safeguard: TransferSafeguard,
    derogation: Option<&str>,
) -> Option<(&'static str, String)> {
    use TransferSafeguard::*;
    let named = derogation.is_some_and(|d| !d.trim().is_empty());
    if in_eea(country) {
        return (safeguard != NotATransfer).then(|| {
            (
                "safeguard",
                format!(
                    "{country} is in the EEA, so sending data there is not a transfer: \
                     choose \"none needed\""
                ),
            )
        });
    }
    match safeguard {
        NotATransfer => Some((
            "safeguard",
            format!(
                "{country} is outside the EEA: name the safeguard of the transfer (an adequacy \
                 decision where there is one, standard contractual clauses, binding corporate \
                 rules, or an Art. 49 derogation)"
            ),
        )),
        Adequacy if adequacy(country).is_none() => Some((
            "safeguard",
            format!(
                "{country} has no adequacy decision of the European Commission: use standard \
                 contractual clauses, binding corporate rules or an Art. 49 derogation"
            ),
        )),
        Derogation if !named => Some((
            "derogation",
            "name the Art. 49 derogation the transfer relies on, e.g. \"explicit consent \
             (Art. 49(1)(a))\""
                .to_owned(),
        )),
        _ if named && safeguard != Derogation => Some((
            "derogation",
            "belongs to transfers that rely on an Art. 49 derogation only".to_owned(),
        )),
        _ => None,
    }
}

/// How a recipient's location reads everywhere Lethe shows it, e.g. "US: standard contractual
/// clauses (Art. 46(2)(c))" or "DE: within the EEA".
pub fn location_text(
    country: &str,
    safeguard: TransferSafeguard,
    derogation: Option<&str>,
) -> String {
    format!(
        "{country}: {}",
        safeguard_text(country, safeguard, derogation)
    )
}

/// The safeguard part of [`location_text`]. A country outside the EEA stored without a safeguard
/// (before transfers were checked) says so instead of claiming the data stays in the EEA.
pub fn safeguard_text(
    country: &str,
    safeguard: TransferSafeguard,
    derogation: Option<&str>,
) -> String {
    use TransferSafeguard::*;
    match safeguard {
        _ if in_eea(country) => "within the EEA".to_owned(),
        NotATransfer => "outside the EEA, no safeguard named".to_owned(),
        Adequacy => "adequacy decision (Art. 45)".to_owned(),
        Sccs => "standard contractual clauses (Art. 46(2)(c))".to_owned(),
        Bcrs => "binding corporate rules (Art. 47)".to_owned(),
        Derogation => match derogation.map(str::trim).filter(|d| !d.is_empty()) {
            Some(d) => format!("derogation for a specific situation: {d} (Art. 49)"),
            None => "derogation for a specific situation (Art. 49)".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TransferSafeguard::*;

    #[test]
    fn the_eea_needs_no_safeguard_and_refuses_one() {
        assert_eq!(disagreement("DE", NotATransfer, None), None);
        assert_eq!(disagreement("NO", NotATransfer, None), None);
        assert!(disagreement("DE", Sccs, None).is_some());
        assert_eq!(
            location_text("DE", NotATransfer, None),
            "DE: within the EEA"
        );
    }

    #[test]
    fn outside_the_eea_a_safeguard_is_named() {
        let (field, message) = disagreement("US", NotATransfer, None).unwrap();
        assert_eq!(field, "safeguard");
        assert!(message.contains("US is outside the EEA"), "{message}");
        assert_eq!(disagreement("US", Sccs, None), None);
        assert_eq!(disagreement("US", Adequacy, None), None);
        assert_eq!(disagreement("JP", Adequacy, None), None);
        assert!(disagreement("IN", Adequacy, None).is_some());
        assert_eq!(disagreement("IN", Bcrs, None), None);
        assert_eq!(
            location_text("US", NotATransfer, None),
            "US: outside the EEA, no safeguard named",
            "what an older inventory stored is shown as it is, not as staying in the EEA"
        );
    }

    #[test]
    fn a_derogation_is_named_and_only_where_it_applies() {
        assert_eq!(
            disagreement("IN", Derogation, None).unwrap().0,
            "derogation"
        );
        assert_eq!(
            disagreement("IN", Derogation, Some("  ")).unwrap().0,
            "derogation"
        );
        let named = Some("explicit consent (Art. 49(1)(a))");
        assert_eq!(disagreement("IN", Derogation, named), None);
        assert_eq!(disagreement("IN", Sccs, named).unwrap().0, "derogation");
        assert!(location_text("IN", Derogation, named).contains("explicit consent"));
    }

    #[test]
    fn no_country_is_both_in_the_eea_and_under_an_adequacy_decision() {
        for (country, _) in ADEQUACY {
            assert!(!in_eea(country), "{country}");
        }
        let mut eea = EEA.to_vec();
        eea.dedup();
        assert_eq!(eea.len(), 30);
    }
}
