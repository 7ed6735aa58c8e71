//! The published privacy policy: Markdown written by the operator, with placeholders that render
//! the live inventory (`{{ categories_table() }}`, `{{ recipients_table() }}`,
//! `{{ retention_table() }}`, `{{ purposes_table() }}`, `{{ rights() }}`, `{{ contact() }}`),
//! turned into sanitized HTML. A published version keeps its rendered text forever; drift is a
//! difference between the inventory it was rendered from and the inventory now.

use super::inventory::{Inventory, LegalBasis, RecipientRole};
use super::workspace::Workspace;
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;
use std::sync::Arc;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the policy template cannot be rendered: {0}")]
pub struct TemplateError(pub String);

/// What a policy is rendered from.
pub struct PolicyFacts<'a> {
    pub workspace: &'a Workspace,
    pub inventory: &'a Inventory,
}

/// Cell text for a Markdown table: no pipes or line breaks that would break the row.
fn cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

fn table(header: &[&str], rows: Vec<Vec<String>>, empty: &str) -> String {
    if rows.is_empty() {
        return format!("_{empty}_\n");
    }
    let mut out = format!(
        "| {} |\n|{}\n",
        header.join(" | "),
        "---|".repeat(header.len())
    );
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out
}

fn category_names(inv: &Inventory, keys: &[String]) -> String {
    keys.iter()
        .map(|k| {
            inv.categories
                .iter()
                .find(|c| &c.key == k)
                .map_or(k.as_str(), |c| c.name.as_str())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn categories_table(inv: &Inventory) -> String {
    let rows = inv
        .categories
        .iter()
        .map(|c| {
            let purposes: Vec<&str> = inv
                .purposes
                .iter()
                .filter(|p| p.categories.contains(&c.key))
                .map(|p| p.name.as_str())
                .collect();
            vec![
                c.name.clone(),
                c.description.clone(),
                c.subject_kinds.join(", "),
                c.source.clone(),
                purposes.join("; "),
            ]
        })
        .collect();
    table(
        &[
            "Data",
            "What it is",
            "Whose",
            "Where it comes from",
            "Why we use it",
        ],
        rows,
        "We collect no personal data.",
    )
}

pub fn purposes_table(inv: &Inventory) -> String {
    let rows = inv
        .purposes
        .iter()
        .map(|p| {
            let basis = match (&p.legal_basis, &p.balancing_note) {
                (LegalBasis::LegitimateInterests, Some(note)) => {
                    format!("{}: {note}", p.legal_basis.label())
                }
                (basis, _) => basis.label().to_owned(),
            };
            vec![p.name.clone(), category_names(inv, &p.categories), basis]
        })
        .collect();
    table(
        &["Purpose", "Data used", "Legal basis"],
        rows,
        "We process no personal data.",
    )
}

fn role_text(role: RecipientRole) -> &'static str {
    match role {
        RecipientRole::Processor => "processes it for us, on our instructions",
        RecipientRole::IndependentController => "uses it under its own responsibility",
        RecipientRole::Authority => "public authority",
    }
}

pub fn recipients_table(inv: &Inventory) -> String {
    let rows = inv
        .recipients
        .iter()
        .map(|r| {
            vec![
                r.name.clone(),
                r.purpose.clone(),
                role_text(r.role).to_owned(),
                category_names(inv, &r.categories),
                super::transfer::location_text(&r.country, r.safeguard, r.derogation.as_deref()),
            ]
        })
        .collect();
    table(
        &[
            "Who",
            "What for",
            "Their role",
            "Data they receive",
            "Where, and how it is protected",
        ],
        rows,
        "We share personal data with no one.",
    )
}

pub fn retention_table(inv: &Inventory) -> String {
    let mut rows: Vec<Vec<String>> = inv
        .retention_rules
        .iter()
        .map(|r| {
            let fields: Vec<String> = inv
                .categories
                .iter()
                .find(|c| c.key == r.category)
                .map(|c| c.fields.iter().map(|f| f.name.clone()).collect())
                .unwrap_or_default();
            let mut text = super::retention::policy_text(r, &fields);
            if !r.note.is_empty() {
                text = format!("{text} ({})", r.note);
            }
            vec![category_names(inv, std::slice::from_ref(&r.category)), text]
        })
        .collect();
    for h in &inv.legal_holds {
        let what = h.category.as_ref().map_or_else(
            || "All data".to_owned(),
            |c| category_names(inv, std::slice::from_ref(c)),
        );
        let until = h.until.map_or_else(String::new, |d| format!(" until {d}"));
        rows.push(vec![
            what,
            format!("kept longer when required: {}{until}", h.reason),
        ]);
    }
    table(
        &["Data", "How long we keep it"],
        rows,
        "No retention periods are set.",
    )
}

/// The rights that apply, derived from the legal bases in use.
pub fn rights(workspace: &Workspace, inv: &Inventory) -> String {
    let uses = |b: LegalBasis| inv.purposes.iter().any(|p| p.legal_basis == b);
    let mut items = vec![
        "**Access**: ask what data we hold about you and get a copy.",
        "**Correction**: have inaccurate data corrected.",
        "**Deletion**: have your data deleted when we no longer need it or you withdraw consent.",
        "**Restriction**: have us stop using your data while a complaint is looked into.",
    ];
    if uses(LegalBasis::Consent) || uses(LegalBasis::Contract) {
        items.push("**Export**: receive the data you gave us in a machine-readable format.");
    }
    if uses(LegalBasis::LegitimateInterests) || uses(LegalBasis::PublicTask) {
        items.push("**Objection**: object to uses based on our legitimate interests.");
    }
    if uses(LegalBasis::Consent) {
        items.push("**Withdrawing consent**: at any time, as easily as you gave it.");
    }
    items.push("**Complaint**: complain to your data protection authority.");
    let mut out: String = items.iter().map(|i| format!("- {i}\n")).collect();
    out.push_str(&format!(
        "\nTo exercise a right, write to {}. We answer {}.\n",
        workspace.settings.contact_email,
        workspace.settings.request_law.answer_time()
    ));
    out
}

pub fn contact(workspace: &Workspace) -> String {
    let s = &workspace.settings;
    let mut out = format!("{}, {}", cell(&s.legal_name), s.contact_email);
    match (&s.dpo_name, &s.dpo_email) {
        (name, Some(email)) if !name.is_empty() => out.push_str(&format!(
            "\n\nData protection officer: {}, {email}",
            cell(name)
        )),
        (_, Some(email)) => out.push_str(&format!("\n\nData protection officer: {email}")),
        (name, None) if !name.is_empty() => {
            out.push_str(&format!("\n\nData protection officer: {}", cell(name)))
        }
        _ => {}
    }
    out.push('\n');
    out
}

/// Renders the Markdown template against the facts. Templates are sandboxed: no file access,
/// a fuel limit against runaway loops, and undefined names are errors rather than blanks.
pub fn render_markdown(template: &str, facts: &PolicyFacts<'_>) -> Result<String, TemplateError> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(50_000));
    let inv = Arc::new(facts.inventory.clone());
    let ws = Arc::new(facts.workspace.clone());
    let i = inv.clone();
    env.add_function("categories_table", move || categories_table(&i));
    let i = inv.clone();
    env.add_function("purposes_table", move || purposes_table(&i));
    let i = inv.clone();
    env.add_function("recipients_table", move || recipients_table(&i));
    let i = inv.clone();
    env.add_function("retention_table", move || retention_table(&i));
    let (i, w) = (inv.clone(), ws.clone());
    env.add_function("rights", move || rights(&w, &i));
    let w = ws.clone();
    env.add_function("contact", move || contact(&w));
    let ctx = minijinja::context! {
        legal_name => facts.workspace.settings.legal_name.clone(),
        contact_email => facts.workspace.settings.contact_email.to_string(),
        min_age => facts.workspace.settings.min_age,
    };
    env.render_str(template, ctx)
        .map_err(|e| TemplateError(one_line(&e)))
}

fn one_line(e: &minijinja::Error) -> String {
    let mut text = e.to_string();
    if let Some(line) = e.line() {
        text.push_str(&format!(" (line {line})"));
    }
    text.replace('\n', " ")
}

/// Markdown to HTML with everything that could run script removed.
pub fn to_safe_html(markdown: &str) -> String {
    use pulldown_cmark::{Options, Parser, html};
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TABLES);
    options.insert(Options::ENABLE_STRIKETHROUGH);
    let mut unsafe_html = String::new();
    html::push_html(&mut unsafe_html, Parser::new_ext(markdown, options));
    ammonia::clean(&unsafe_html)
}

/// How an inventory item changed since a version was published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftKind {
    Added,
    Changed,
    Removed,
}

impl DriftKind {
    pub fn verb(self) -> &'static str {
        match self {
            Self::Added => "added",
            Self::Changed => "changed",
            Self::Removed => "removed",
        }
    }
}

/// One inventory item that changed since a version was published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriftChange {
    /// The kind of item: "data category", "purpose", "system", "recipient", "retention rule",
    /// "legal hold".
    pub what: &'static str,
    pub key: String,
    /// Its name: as it is now, or as it was published for a removed item. Retention rules and
    /// legal holds have none.
    pub name: Option<String>,
    pub kind: DriftKind,
}

impl std::fmt::Display for DriftChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} '{}' was {}", self.what, self.key, self.kind.verb())
    }
}

/// What changed in the inventory since a version was published, for people to read.
pub fn drift(published: &Inventory, now: &Inventory) -> Vec<DriftChange> {
    fn compare<T: Serialize + PartialEq>(
        out: &mut Vec<DriftChange>,
        what: &'static str,
        before: &[T],
        after: &[T],
        key: impl Fn(&T) -> &str,
        name: impl Fn(&T) -> Option<&str>,
    ) {
        let change = |item: &T, kind| DriftChange {
            what,
            key: key(item).to_owned(),
            name: name(item).map(str::to_owned),
            kind,
        };
        for a in after {
            match before.iter().find(|b| key(b) == key(a)) {
                None => out.push(change(a, DriftKind::Added)),
                Some(b) if b != a => out.push(change(a, DriftKind::Changed)),
                Some(_) => {}
            }
        }
        for b in before {
            if !after.iter().any(|a| key(a) == key(b)) {
                out.push(change(b, DriftKind::Removed));
            }
        }
    }
    let mut out = Vec::new();
    compare(
        &mut out,
        "data category",
        &published.categories,
        &now.categories,
        |c| &c.key,
        |c| Some(&c.name),
    );
    compare(
        &mut out,
        "purpose",
        &published.purposes,
        &now.purposes,
        |p| &p.key,
        |p| Some(&p.name),
    );
    compare(
        &mut out,
        "system",
        &published.systems,
        &now.systems,
        |s| &s.key,
        |s| Some(&s.name),
    );
    compare(
        &mut out,
        "recipient",
        &published.recipients,
        &now.recipients,
        |r| &r.key,
        |r| Some(&r.name),
    );
    compare(
        &mut out,
        "retention rule",
        &published.retention_rules,
        &now.retention_rules,
        |r| &r.key,
        |_| None,
    );
    compare(
        &mut out,
        "legal hold",
        &published.legal_holds,
        &now.legal_holds,
        |h| &h.key,
        |_| None,
    );
    out
}

/// A starting point for a workspace's first policy; the operator edits the prose.
pub const DEFAULT_TEMPLATE: &str = "# Privacy policy of {{ legal_name }}\n\n\
## Who we are\n\n{{ contact() }}\n\
## What we collect and why\n\n{{ categories_table() }}\n\
## Our purposes and legal bases\n\n{{ purposes_table() }}\n\
## Who receives your data\n\n{{ recipients_table() }}\n\
## How long we keep it\n\n{{ retention_table() }}\n\
## Your rights\n\n{{ rights() }}\n\
## Children\n\nOur services are not for anyone under {{ min_age }}.\n\n\
## Changes\n\nWe publish every version of this policy with the date it takes effect, and tell you \
before a material change applies.\n";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Email;
    use crate::domain::inventory::{DataCategory, Purpose, Sensitivity};
    use crate::domain::workspace::WorkspaceSettings;

    fn workspace() -> Workspace {
        Workspace {
            slug: "aulm".into(),
            settings: WorkspaceSettings {
                legal_name: "Aulm Corporation".into(),
                contact_email: Email::parse("support@aulm.example").unwrap(),
                dpo_name: String::new(),
                dpo_email: None,
                min_age: 18,
                request_law: crate::domain::request_clock::Law::Gdpr,
                notice_days: 30,
                require_totp: false,
                review_requests: false,
                consent_origins: Vec::new(),
                consent_cookie_domain: None,
                time_zone: chrono_tz::Tz::UTC,
            },
            created_at: chrono::Utc::now(),
        }
    }

    fn inventory() -> Inventory {
        Inventory {
            categories: vec![DataCategory {
                key: "user.contact.email".into(),
                name: "E-mail | address".into(),
                description: "to log in".into(),
                subject_kinds: vec!["customer".into()],
                source: "you".into(),
                sensitivity: Sensitivity::Normal,
                fields: vec![],
                subject_optional: false,
            }],
            purposes: vec![Purpose {
                key: "newsletter".into(),
                name: "Newsletter".into(),
                description: String::new(),
                legal_basis: LegalBasis::Consent,
                balancing_note: None,
                consent_prompt: None,
                cookies: Vec::new(),
                local_storage: Vec::new(),
                opt_out_of_sale: false,
                categories: vec!["user.contact.email".into()],
            }],
            ..Inventory::default()
        }
    }

    #[test]
    fn placeholders_render_the_inventory() {
        let (ws, inv) = (workspace(), inventory());
        let md = render_markdown(
            DEFAULT_TEMPLATE,
            &PolicyFacts {
                workspace: &ws,
                inventory: &inv,
            },
        )
        .unwrap();
        assert!(md.contains("# Privacy policy of Aulm Corporation"));
        assert!(
            md.contains("E-mail \\| address"),
            "pipes are escaped in cells: {md}"
        );
        assert!(
            md.contains("Withdrawing consent"),
            "consent in use gives the right to withdraw it"
        );
        assert!(
            !md.contains("Objection"),
            "no legitimate interests, no objection right"
        );
        assert!(md.contains("not for anyone under 18"));
        let html = to_safe_html(&md);
        assert!(html.contains("<table>") && html.contains("E-mail | address"));
    }

    #[test]
    fn scripts_do_not_survive() {
        let html = to_safe_html(
            "Hi <script>alert(1)</script> <img src=x onerror=alert(2)> [x](javascript:alert(3))",
        );
        assert!(
            !html.contains("<script") && !html.contains("onerror") && !html.contains("javascript:"),
            "{html}"
        );
    }

    #[test]
    fn template_errors_are_reported_and_loops_are_bounded() {
        let (ws, inv) = (workspace(), inventory());
        let facts = PolicyFacts {
            workspace: &ws,
            inventory: &inv,
        };
        let e = render_markdown("{{ no_such_table() }}", &facts).unwrap_err();
        assert!(
            e.0.contains("no_such_table") || e.0.contains("unknown"),
            "{e}"
        );
        assert!(
            render_markdown(
                "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
                &facts
            )
            .is_err()
        );
        assert!(render_markdown("{{ unclosed", &facts).is_err());
    }

    #[test]
    fn drift_names_what_changed() {
        let before = inventory();
        let mut after = before.clone();
        after.categories[0].name = "E-mail".into();
        after.purposes.clear();
        let d: Vec<String> = drift(&before, &after)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            d,
            [
                "data category 'user.contact.email' was changed",
                "purpose 'newsletter' was removed"
            ]
        );
        assert!(drift(&before, &before).is_empty());
        let named = drift(&before, &after);
        assert_eq!(named[0].name.as_deref(), Some("E-mail"));
        assert_eq!(named[1].kind, DriftKind::Removed);
        assert!(
            named[1].name.is_some(),
            "a removed item keeps its published name"
        );
    }
}
