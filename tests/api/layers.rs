//! The layers of ARCHITECTURE.md, checked on the source rather than trusted: `domain` holds pure
//! rules (no SQL, no HTTP, no other layer), `store` knows nothing above it and is the only code
//! that names `rusqlite` or runs SQL, `services` know no HTTP and no scheduler, and `web` holds no
//! SQL and reaches the store only through `services`.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs")
            // A module's unit tests in a file of their own may build fixtures as they like.
            && path.file_name().is_some_and(|n| n != "tests.rs")
        {
            out.push(path);
        }
    }
}

/// `(file, line)` of every line of the layer's code (tests excluded) containing a forbidden
/// pattern, but for `(file name, pattern)` pairs that are the one allowed place.
fn violations(layer: &str, forbidden: &[&str], allowed: &[(&str, &str)]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src")
        .join(layer);
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(!files.is_empty(), "no sources under {}", root.display());
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        // Unit tests may build fixtures with whatever they need.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (i, line) in code.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for pattern in forbidden {
                let exempt = allowed
                    .iter()
                    .any(|(name, p)| file.ends_with(name) && p == pattern);
                if line.contains(pattern) && !exempt {
                    found.push(format!("{}:{}: {pattern}", file.display(), i + 1));
                }
            }
        }
    }
    found
}

#[test]
fn domain_is_pure_rules() {
    let found = violations(
        "domain",
        &[
            "actix",
            "rusqlite",
            "crate::store",
            "crate::services",
            "crate::web::",
            "crate::jobs",
            "crate::vault",
            "std::fs",
            "Utc::now()",
        ],
        // The system clock is read in one place; everything else takes a clock or an instant.
        &[("time.rs", "Utc::now()")],
    );
    assert!(
        found.is_empty(),
        "domain reaches out of its layer:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_store_knows_nothing_above_it() {
    let found = violations(
        "store",
        &["actix", "crate::services", "crate::web::", "crate::jobs"],
        &[],
    );
    assert!(found.is_empty(), "store reaches up:\n{}", found.join("\n"));
}

#[test]
fn services_know_no_http_and_no_scheduler() {
    let found = violations("services", &["actix", "crate::web::", "crate::jobs"], &[]);
    assert!(found.is_empty(), "services reach up:\n{}", found.join("\n"));
}

#[test]
fn the_web_layer_holds_no_sql() {
    let found = violations(
        "web",
        &[
            "rusqlite",
            "SELECT ",
            "INSERT INTO",
            "DELETE FROM",
            "UPDATE ",
        ],
        &[],
    );
    assert!(
        found.is_empty(),
        "SQL in the web layer:\n{}",
        found.join("\n")
    );
}

#[test]
fn only_the_store_names_rusqlite_or_runs_sql() {
    // Services receive the connection of a `Db::read`/`write` (as `store::Connection`) only to
    // hand it to store functions, so that several of them share one transaction.
    let sql = [
        "rusqlite",
        ".execute(",
        ".execute_batch(",
        ".query_row(",
        ".query_map(",
        "pragma_",
        "SELECT ",
        "INSERT INTO",
        "DELETE FROM",
        "UPDATE ",
    ];
    let mut found = Vec::new();
    for layer in ["services", "jobs", "web", "vault", "domain"] {
        found.extend(violations(layer, &sql, &[]));
    }
    assert!(
        found.is_empty(),
        "SQL outside the store:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_web_layer_reaches_the_store_only_through_services() {
    // A handler parses, authorizes, calls a service and renders. The exceptions: the application
    // state holds the database handle and the record writer, and the one mapping of errors to
    // HTTP (one for the API, one for pages) knows the store's error.
    let found = violations(
        "web",
        &[
            "crate::store",
            ".read(|",
            ".write(|",
            "read_snapshot",
            "write_durable",
        ],
        &[
            ("web/mod.rs", "crate::store"),
            ("web/api/problem.rs", "crate::store"),
            ("web/console/error.rs", "crate::store"),
        ],
    );
    assert!(
        found.is_empty(),
        "the web layer reads the store itself:\n{}",
        found.join("\n")
    );
}

#[test]
fn every_csv_export_goes_through_the_one_writer() {
    // Its cells are neutralised against spreadsheet formulas; a writer made elsewhere is not.
    let found = violations(
        "",
        &["csv::Writer", "csv::WriterBuilder"],
        &[("domain/csv_export.rs", "csv::Writer")],
    );
    assert!(
        found.is_empty(),
        "CSV written past domain::csv_export:\n{}",
        found.join("\n")
    );
}

#[test]
fn api_bodies_are_read_as_json_objects() {
    // serde reads a struct from an array of its fields too; `JsonObject` and `json_object`
    // refuse anything but an object, as the OpenAPI document describes the bodies.
    let found = violations(
        "web/api",
        &["web::Json<", "Json<", "serde_json::from_slice"],
        &[
            ("web/api/mod.rs", "serde_json::from_slice"),
            ("web/api/mod.rs", "Json<"),
        ],
    );
    assert!(
        found.is_empty(),
        "an API body read past JsonObject / json_object:\n{}",
        found.join("\n")
    );
}
