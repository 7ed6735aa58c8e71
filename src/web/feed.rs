//! The Atom feed of a privacy center, `/p/{workspace}/feed.atom`: one entry per policy version in
//! effect (dated by its effective date) and one per change of the recipient list between two
//! consecutive versions ("Sub-processors changed", with who was added and removed).

use crate::domain::inventory::{Inventory, Recipient};
use crate::error::AppError;
use crate::services::policies as service;
use crate::services::policies::PolicyVersion;
use crate::services::workspaces;
use crate::web::AppState;
use crate::web::console::error::PageError;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, SecondsFormat, Utc};
use std::fmt::Write;

/// Escapes text for XML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

struct Entry {
    id: String,
    title: String,
    updated: DateTime<Utc>,
    link: String,
    summary: String,
}

fn recipients(v: &PolicyVersion) -> Vec<Recipient> {
    v.inventory_snapshot
        .as_deref()
        .and_then(|s| serde_json::from_str::<Inventory>(s).ok())
        .map(|i| i.recipients)
        .unwrap_or_default()
}

fn describe(r: &Recipient) -> String {
    let mut s = r.name.clone();
    if !r.country.is_empty() || !r.purpose.is_empty() {
        s.push_str(" (");
        s.push_str(
            &[r.purpose.as_str(), r.country.as_str()]
                .into_iter()
                .filter(|x| !x.is_empty())
                .collect::<Vec<_>>()
                .join(", "),
        );
        s.push(')');
    }
    s
}

/// The feed document. `versions` are the published versions in effect, in any order.
pub fn atom(
    base_url: &str,
    slug: &str,
    legal_name: &str,
    mut versions: Vec<PolicyVersion>,
) -> String {
    versions.sort_by_key(|v| (v.effective_at, v.version));
    let base = format!("{base_url}/p/{slug}");
    let mut entries = Vec::new();
    let mut previous: Vec<Recipient> = Vec::new();
    for v in &versions {
        let Some(effective) = v.effective_at else {
            continue;
        };
        let summary = if v.summary.is_empty() {
            format!("Version {} of the privacy policy took effect.", v.version)
        } else {
            v.summary.clone()
        };
        let version_entry = Entry {
            id: format!("{base}/privacy/v/{}", v.version),
            title: format!(
                "Privacy policy version {}{}",
                v.version,
                if v.material { " (material change)" } else { "" }
            ),
            updated: effective,
            link: format!("{base}/privacy/v/{}", v.version),
            summary,
        };
        let now = recipients(v);
        let added: Vec<String> = now
            .iter()
            .filter(|r| !previous.iter().any(|p| p.key == r.key))
            .map(describe)
            .collect();
        let removed: Vec<String> = previous
            .iter()
            .filter(|p| !now.iter().any(|r| r.key == p.key))
            .map(describe)
            .collect();
        if !added.is_empty() || !removed.is_empty() {
            let mut text = String::new();
            if !added.is_empty() {
                let _ = write!(text, "Added: {}.", added.join("; "));
            }
            if !removed.is_empty() {
                if !text.is_empty() {
                    text.push(' ');
                }
                let _ = write!(text, "Removed: {}.", removed.join("; "));
            }
            entries.push(Entry {
                id: format!("{base}/subprocessors#v{}", v.version),
                title: format!("Sub-processors changed (policy version {})", v.version),
                updated: effective,
                link: format!("{base}/subprocessors"),
                summary: text,
            });
        }
        // Newest first once reversed: a version, then the recipient change it brought.
        entries.push(version_entry);
        previous = now;
    }
    entries.reverse();
    let updated = entries
        .iter()
        .map(|e| e.updated)
        .max()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    let mut xml = String::new();
    xml.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    xml.push_str("<feed xmlns=\"http://www.w3.org/2005/Atom\">\n");
    let _ = writeln!(xml, "  <id>{}</id>", escape(&format!("{base}/feed.atom")));
    let _ = writeln!(
        xml,
        "  <title>{}</title>",
        escape(&format!("{legal_name}: privacy policy and sub-processors"))
    );
    let _ = writeln!(xml, "  <updated>{}</updated>", rfc3339(updated));
    let _ = writeln!(
        xml,
        "  <author><name>{}</name></author>",
        escape(legal_name)
    );
    let _ = writeln!(
        xml,
        "  <link rel=\"self\" type=\"application/atom+xml\" href=\"{}\"/>",
        escape(&format!("{base}/feed.atom"))
    );
    let _ = writeln!(
        xml,
        "  <link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>",
        escape(&format!("{base}/privacy"))
    );
    for e in entries {
        xml.push_str("  <entry>\n");
        let _ = writeln!(xml, "    <id>{}</id>", escape(&e.id));
        let _ = writeln!(xml, "    <title>{}</title>", escape(&e.title));
        let _ = writeln!(xml, "    <updated>{}</updated>", rfc3339(e.updated));
        let _ = writeln!(xml, "    <link href=\"{}\"/>", escape(&e.link));
        let _ = writeln!(xml, "    <summary>{}</summary>", escape(&e.summary));
        xml.push_str("  </entry>\n");
    }
    xml.push_str("</feed>\n");
    xml
}

pub async fn feed(
    state: web::Data<AppState>,
    slug: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let slug = slug.into_inner();
    let (workspace, versions) = state
        .db
        .run(move |db| {
            let (scope, workspace) = workspaces::find_public(db, &slug)?
                .ok_or_else(|| AppError::NotFound("privacy center".into()))?;
            let now = Utc::now();
            let versions: Vec<PolicyVersion> = service::list(db, &scope)?
                .into_iter()
                .filter(|v| v.published && v.effective_at.is_some_and(|t| t <= now))
                .collect();
            Ok::<_, AppError>((workspace, versions))
        })
        .await?;
    let body = atom(
        &state.base_url,
        &workspace.slug,
        &workspace.settings.legal_name,
        versions,
    );
    Ok(HttpResponse::Ok()
        .content_type("application/atom+xml; charset=utf-8")
        .body(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_quotes_and_control_characters() {
        assert_eq!(
            escape("<a href=\"x\">Tom & Jerry's</a>\u{1}"),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&apos;s&lt;/a&gt;"
        );
    }
}
