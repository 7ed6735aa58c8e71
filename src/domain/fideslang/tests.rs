//! The fideslang exchange: export, import and the round trip.
use super::*;
use crate::domain::inventory::{FieldHandling, FieldSpec};

#[test]
fn broken_syntax_is_malformed_but_an_unreadable_value_is_the_documents_fault() {
    assert!(parse("data_category: [").is_err());
    let huge = "data_category:\n- 1396207377469838538051255659128684544\n";
    let errors = parse(huge).expect("well-formed YAML").unwrap_err();
    assert_eq!(errors.0[0].field, "body", "{errors:?}");
}

fn inventory() -> Inventory {
    Inventory {
        categories: vec![
            DataCategory {
                key: "user.contact".into(),
                name: "Contact details".into(),
                description: String::new(),
                subject_kinds: vec!["customer".into()],
                source: "provided by the person".into(),
                sensitivity: Sensitivity::Normal,
                fields: vec![],
                subject_optional: false,
            },
            DataCategory {
                key: "user.contact.email".into(),
                name: "E-mail address".into(),
                description: "Where we write to".into(),
                subject_kinds: vec!["customer".into()],
                source: String::new(),
                sensitivity: Sensitivity::High,
                fields: vec![FieldSpec {
                    name: "email".into(),
                    description: String::new(),
                    handling: FieldHandling::Keep,
                    preview_chars: None,
                }],
                subject_optional: false,
            },
            DataCategory {
                key: "usage.message_log".into(),
                name: "Message log".into(),
                description: String::new(),
                subject_kinds: vec![],
                source: String::new(),
                sensitivity: Sensitivity::Low,
                fields: vec![],
                subject_optional: false,
            },
        ],
        purposes: vec![
            Purpose {
                key: "billing".into(),
                name: "Billing".into(),
                description: String::new(),
                legal_basis: LegalBasis::LegalObligation,
                balancing_note: None,
                consent_prompt: None,
                cookies: Vec::new(),
                local_storage: Vec::new(),
                opt_out_of_sale: false,
                categories: vec!["user.contact.email".into()],
            },
            Purpose {
                key: "abuse".into(),
                name: "Abuse".into(),
                description: String::new(),
                legal_basis: LegalBasis::LegitimateInterests,
                balancing_note: Some("Abuse hurts everyone.".into()),
                consent_prompt: None,
                cookies: Vec::new(),
                local_storage: Vec::new(),
                opt_out_of_sale: false,
                categories: vec!["usage.message_log".into(), "user.contact".into()],
            },
        ],
        systems: vec![System {
            key: "main-db".into(),
            name: "Main database".into(),
            description: String::new(),
            location: "EU".into(),
            categories: vec!["user.contact.email".into(), "usage.message_log".into()],
        }],
        ..Inventory::default()
    }
}

#[test]
fn export_names_parents_bases_and_declarations() {
    let doc = export(&inventory());
    let parents: Vec<_> = doc
        .data_category
        .iter()
        .map(|c| c.parent_key.as_deref())
        .collect();
    // fideslang requires the parent the key implies, whether or not the document has it.
    assert_eq!(parents, [Some("user"), Some("user.contact"), Some("usage")]);
    assert_eq!(
        doc.data_use[0].legal_basis.as_deref(),
        Some("Legal Obligation")
    );
    let decl = &doc.system[0].privacy_declarations;
    assert_eq!(decl.len(), 2);
    assert_eq!(decl[0].data_use.as_deref(), Some("billing"));
    assert_eq!(decl[1].data_categories, ["usage.message_log"]);
    assert_eq!(decl[0].data_subjects, ["customer"]);
    assert!(decl[1].data_subjects.is_empty());
    assert_eq!(doc.data_subject.len(), 1);
    assert_eq!(doc.data_subject[0].name.as_deref(), Some("customer"));
    assert_eq!(
        decl[1].legal_basis_for_processing.as_deref(),
        Some("Legitimate interests")
    );
}

#[test]
fn kinds_of_person_get_keys_fideslang_accepts() {
    let mut inv = inventory();
    inv.categories[0].subject_kinds = vec![
        "customer's recipient".into(),
        "Customer".into(),
        "Kunde (ausländisch)".into(),
        "€".into(),
    ];
    let keys: Vec<_> = export(&inv)
        .data_subject
        .into_iter()
        .filter_map(|d| d.fides_key)
        .collect();
    assert_eq!(
        keys,
        [
            "customers_recipient",
            "customer",
            "kunde_ausl_ndisch",
            "subject",
            "customer_2"
        ]
    );
}

#[test]
fn a_purpose_awaiting_its_basis_is_exported_without_one() {
    let mut inv = inventory();
    inv.purposes[0].legal_basis = LegalBasis::Awaiting;
    let doc = export(&inv);
    assert_eq!(doc.data_use[0].legal_basis, None);
    assert_eq!(
        doc.system[0].privacy_declarations[0].legal_basis_for_processing,
        None
    );
    let yaml = to_yaml(&doc).unwrap();
    let back = to_inventory(parse(&yaml).unwrap().unwrap(), &Inventory::default()).unwrap();
    assert_eq!(back, inv);
}

#[test]
fn export_then_import_is_the_same_inventory() {
    let yaml = to_yaml(&export(&inventory())).unwrap();
    let doc = parse(&yaml).unwrap().unwrap();
    let back = to_inventory(doc, &Inventory::default()).unwrap();
    assert_eq!(back, inventory());
}

#[test]
fn the_demo_inventories_survive_the_round_trip() {
    for json in [
        include_str!("../../services/demo/aulm.json"),
        include_str!("../../services/demo/aufum.json"),
    ] {
        let inv: Inventory = serde_json::from_str(json).unwrap();
        let yaml = to_yaml(&export(&inv)).unwrap();
        if std::env::var("SHOW_YAML").is_ok() {
            println!("{yaml}");
        }
        let back = to_inventory(parse(&yaml).unwrap().unwrap(), &Inventory::default()).unwrap();
        assert_eq!(back.categories, inv.categories);
        assert_eq!(back.purposes, inv.purposes);
        assert_eq!(back.systems, inv.systems);
        let mut rules = inv.retention_rules.clone();
        rules.sort_by(|a, b| (&a.category, &a.key).cmp(&(&b.category, &b.key)));
        let mut back_rules = back.retention_rules.clone();
        back_rules.sort_by(|a, b| (&a.category, &a.key).cmp(&(&b.category, &b.key)));
        assert_eq!(
            back_rules, rules,
            "rules with schedules, transforms and claims"
        );
    }
}

#[test]
fn a_plain_fideslang_document_imports_from_its_declarations() {
    let yaml = "
data_category:
  - fides_key: user.contact.email
    name: Email
    parent_key: user.contact
    is_default: false
data_use:
  - fides_key: marketing
    name: Marketing
  - fides_key: provide
    name: Provide the service
    legal_basis: Contract
system:
  - fides_key: crm
    name: CRM
    system_type: Application
    privacy_declarations:
      - data_use: marketing
        data_categories: [user.contact.email]
        legal_basis_for_processing: Consent
";
    let inv = to_inventory(parse(yaml).unwrap().unwrap(), &Inventory::default()).unwrap();
    assert_eq!(inv.categories[0].sensitivity, Sensitivity::Normal);
    assert_eq!(inv.purposes[0].legal_basis, LegalBasis::Consent);
    assert_eq!(inv.purposes[0].categories, ["user.contact.email"]);
    assert!(inv.purposes[1].categories.is_empty());
    assert_eq!(inv.systems[0].categories, ["user.contact.email"]);
}

#[test]
fn data_uses_without_a_basis_await_one_and_subjects_name_kinds() {
    let yaml = "
data_category:
  - fides_key: user.contact.email
    name: Email
    parent_key: user.contact
data_subject:
  - fides_key: customer
    name: Customer
data_use:
  - fides_key: marketing.advertising
    name: Advertising
    parent_key: marketing
system:
  - fides_key: crm
    name: CRM
    system_type: Application
    privacy_declarations:
      - data_use: marketing.advertising
        data_categories: [user.contact.email]
        data_subjects: [customer, visitor]
";
    let inv = to_inventory(parse(yaml).unwrap().unwrap(), &Inventory::default()).unwrap();
    assert_eq!(inv.purposes[0].legal_basis, LegalBasis::Awaiting);
    assert_eq!(inv.purposes[0].categories, ["user.contact.email"]);
    assert_eq!(inv.categories[0].subject_kinds, ["Customer", "visitor"]);
}

#[test]
fn every_bad_item_is_named_by_its_place() {
    let yaml = "
data_category:
  - fides_key: ok.one
    name: One
  - fides_key: Bad.Key
    name: Two
  - fides_key: ok.one
    name: Again
data_use:
  - fides_key: no-basis
    name: No basis
  - fides_key: li
    name: LI
    legal_basis: Legitimate Interests
  - fides_key: odd
    name: Odd
    legal_basis: Because
    lethe: {categories: [missing.category]}
system:
  - name: Nameless key
";
    let e = to_inventory(parse(yaml).unwrap().unwrap(), &Inventory::default()).unwrap_err();
    let fields: Vec<_> = e.0.iter().map(|f| f.field.as_str()).collect();
    assert!(
        !fields.contains(&"data_use[0].legal_basis"),
        "a data use without a basis awaits one"
    );
    for f in [
        "data_category[1].fides_key",
        "data_category[2].fides_key",
        "data_use[1].lethe.balancing_note",
        "data_use[2].legal_basis",
        "system[0].fides_key",
    ] {
        assert!(fields.contains(&f), "{f} missing from {fields:?}");
    }
    assert!(e.summary().contains("appears twice"));
}

#[test]
fn references_to_the_workspace_are_allowed() {
    let yaml = "
data_use:
  - fides_key: billing
    name: Billing
    legal_basis: contract
    lethe: {categories: [user.contact.email, nowhere]}
";
    let e = to_inventory(parse(yaml).unwrap().unwrap(), &inventory()).unwrap_err();
    assert_eq!(e.0.len(), 1, "{e}");
    assert_eq!(e.0[0].field, "data_use[0].lethe.categories");
    assert!(e.0[0].message.contains("'nowhere'"));
}

#[test]
fn malformed_and_misshapen_documents() {
    assert!(parse("data_category: [unclosed").is_err());
    let e = parse("just a string").unwrap().unwrap_err();
    assert_eq!(e.0[0].field, "body");
    let e = parse("data_category: 3").unwrap().unwrap_err();
    assert_eq!(e.0[0].field, "data_category");
    let e = parse("data_category:\n  - fides_key: [1, 2]\n")
        .unwrap()
        .unwrap_err();
    assert_eq!(e.0[0].field, "data_category[0]");
    let e = parse("organization: []").unwrap().unwrap_err();
    assert!(e.summary().contains("nothing to import"));
}

#[test]
fn legal_bases_in_any_of_the_spellings() {
    for (raw, basis) in [
        ("Legal Obligation", LegalBasis::LegalObligation),
        ("Legal obligations", LegalBasis::LegalObligation),
        ("legal_obligation", LegalBasis::LegalObligation),
        ("Public Interest", LegalBasis::PublicTask),
        ("public_task", LegalBasis::PublicTask),
        ("Vital interests", LegalBasis::VitalInterests),
        ("Legitimate Interests", LegalBasis::LegitimateInterests),
    ] {
        assert_eq!(parse_basis(raw), Ok(basis), "{raw}");
    }
    assert!(parse_basis("because").is_err());
    for b in [
        LegalBasis::Consent,
        LegalBasis::Contract,
        LegalBasis::LegalObligation,
        LegalBasis::VitalInterests,
        LegalBasis::PublicTask,
        LegalBasis::LegitimateInterests,
    ] {
        assert_eq!(data_use_basis(b).map(parse_basis), Some(Ok(b)));
        assert_eq!(declaration_basis(b).map(parse_basis), Some(Ok(b)));
    }
}
