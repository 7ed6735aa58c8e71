//! `/api/docs`: the API reference for people, rendered on the server from the same OpenAPI
//! document as `/api/openapi.json` (no script, no CDN), so it cannot describe another API.

use crate::domain::apikey::Scope;
use crate::web::console::error::PageError;
use actix_web::HttpResponse;
use askama::Template;
use serde_json::Value;

/// One operation as the page shows it.
pub struct Operation {
    pub method: String,
    pub path: String,
    pub anchor: String,
    pub summary: String,
    pub description: String,
    pub scopes: Vec<String>,
    /// (name, where, required, description)
    pub parameters: Vec<(String, String, bool, String)>,
    /// The content types of the request body, when there is one.
    pub body: Vec<String>,
    /// (status, description)
    pub responses: Vec<(String, String)>,
}

pub struct Section {
    pub tag: String,
    pub description: String,
    pub operations: Vec<Operation>,
}

#[derive(Template)]
#[template(path = "api_docs.html")]
struct DocsPage {
    title: String,
    version: String,
    sections: Vec<Section>,
    scopes: Vec<(&'static str, &'static str)>,
}

fn text(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// The document's operations grouped by their first tag, in the document's tag order.
pub fn sections(doc: &Value) -> Vec<Section> {
    let mut sections: Vec<Section> = doc["tags"]
        .as_array()
        .map(|tags| {
            tags.iter()
                .map(|t| Section {
                    tag: text(t, "name"),
                    description: text(t, "description"),
                    operations: Vec::new(),
                })
                .collect()
        })
        .unwrap_or_default();
    let Some(paths) = doc["paths"].as_object() else {
        return sections;
    };
    for (path, item) in paths {
        for method in ["get", "put", "post", "delete", "patch"] {
            let Some(op) = item.get(method) else {
                continue;
            };
            let tag = op["tags"][0].as_str().unwrap_or("other").to_owned();
            let operation = Operation {
                method: method.to_uppercase(),
                path: path.clone(),
                anchor: text(op, "operationId"),
                summary: text(op, "summary"),
                description: text(op, "description"),
                scopes: op["security"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s.as_object())
                    .flat_map(|s| s.values())
                    .filter_map(Value::as_array)
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
                parameters: op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| {
                        (
                            text(p, "name"),
                            text(p, "in"),
                            p["required"].as_bool().unwrap_or(false),
                            text(p, "description"),
                        )
                    })
                    .collect(),
                body: op["requestBody"]["content"]
                    .as_object()
                    .map(|c| c.keys().cloned().collect())
                    .unwrap_or_default(),
                responses: op["responses"]
                    .as_object()
                    .map(|r| {
                        r.iter()
                            .map(|(status, v)| (status.clone(), text(v, "description")))
                            .collect()
                    })
                    .unwrap_or_default(),
            };
            match sections.iter_mut().find(|s| s.tag == tag) {
                Some(section) => section.operations.push(operation),
                None => sections.push(Section {
                    tag,
                    description: String::new(),
                    operations: vec![operation],
                }),
            }
        }
    }
    sections.retain(|s| !s.operations.is_empty());
    sections
}

pub async fn page() -> Result<HttpResponse, PageError> {
    let doc = serde_json::to_value(super::openapi::document())
        .map_err(crate::error::AppError::internal)?;
    crate::web::console::ok(&DocsPage {
        title: text(&doc["info"], "title"),
        version: text(&doc["info"], "version"),
        sections: sections(&doc),
        scopes: Scope::ALL
            .iter()
            .map(|s| (s.as_str(), s.explain()))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_of_the_document_is_on_the_page() {
        let doc = serde_json::to_value(crate::web::api::openapi::document()).unwrap();
        let listed: usize = sections(&doc).iter().map(|s| s.operations.len()).sum();
        let in_document: usize = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|item| {
                ["get", "put", "post", "delete", "patch"]
                    .iter()
                    .filter(|m| item.get(**m).is_some())
                    .count()
            })
            .sum();
        assert_eq!(listed, in_document);
        assert!(listed > 40, "{listed}");
    }
}
