//! A retention run killed with SIGKILL in the middle resumes after a restart and handles every
//! due record exactly once: none skipped, none transformed twice (a `pseudonym` applied twice
//! gives another value, so a record changed twice would show).

use crate::helpers::{prepare_workspace, serve};
use lethe::domain::transform::pseudonym;
use lethe::services::{Caller, apikeys};
use lethe::store::{Db, WorkspaceScope};
use lethe::vault::{KeyPurpose, Vault, record_aad};
use reqwest::Method;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// A data directory with an admin, workspace `slug` and an API key with `scopes`, made before
/// any server runs on it.
pub(crate) fn prepare_data_dir(dir: &Path, slug: &str, scopes: &[&str]) -> String {
    let db = prepare_workspace(dir, slug);
    let scope = workspace_scope(&db, slug);
    apikeys::create(
        &db,
        &Caller::cli(),
        &scope,
        "retention",
        scopes.iter().copied(),
    )
    .unwrap()
    .secret
}

pub(crate) fn workspace_scope(db: &Db, slug: &str) -> WorkspaceScope {
    db.read(|c| lethe::store::workspaces::find_by_slug(c, slug))
        .unwrap()
        .expect("workspace exists")
        .0
}

/// RFC 3339 text of an instant.
pub(crate) fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

const RULE: &str = "sessions-pseudonymized";
const CATEGORY: &str = "usage.session";
const DUE: usize = 5000;
const RECENT: usize = 30;

fn recipient(i: usize) -> String {
    format!("+49151{i:08}")
}

/// A stored record's row and its opened fields.
struct Opened {
    subject_id: Option<i64>,
    key_id: String,
    period_key_id: Option<String>,
    anonymized_by: Option<String>,
    fields: Map<String, Value>,
}

/// A record as stored, still sealed.
struct Sealed {
    id: String,
    subject_id: Option<i64>,
    key_id: String,
    period_key_id: Option<String>,
    anonymized_by: Option<String>,
    sealed: Vec<u8>,
}

fn open_all(dir: &Path) -> HashMap<String, Opened> {
    let db = Db::open(&dir.join("lethe.db")).unwrap();
    let vault = Vault::open(dir, None).unwrap();
    let scope = workspace_scope(&db, "aulm");
    let rows: Vec<Sealed> = db
        .read(|c| {
            let mut stmt = c.prepare(
                "SELECT id, subject_id, key_id, period_key_id, anonymized_by, sealed_fields \
                 FROM records WHERE workspace_id = ?1",
            )?;
            let rows = stmt.query_map([scope.id()], |r| {
                Ok(Sealed {
                    id: r.get(0)?,
                    subject_id: r.get(1)?,
                    key_id: r.get(2)?,
                    period_key_id: r.get(3)?,
                    anonymized_by: r.get(4)?,
                    sealed: r.get(5)?,
                })
            })?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(lethe::store::StoreError::from)
        })
        .unwrap();
    let mut ids: Vec<&str> = rows
        .iter()
        .flat_map(|r| std::iter::once(r.key_id.as_str()).chain(r.period_key_id.as_deref()))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let ring = vault.key_ring(&scope, &ids).unwrap();
    rows.into_iter()
        .map(|r| {
            let key = ring
                .record_key(&r.key_id, r.period_key_id.as_deref())
                .unwrap_or_else(|| panic!("record {} has its keys", r.id));
            let plain = key
                .open(&record_aad(&scope, &r.id), &r.sealed)
                .unwrap_or_else(|_| panic!("record {} opens", r.id));
            let fields = serde_json::from_slice(&plain).unwrap();
            (
                r.id,
                Opened {
                    subject_id: r.subject_id,
                    key_id: r.key_id,
                    period_key_id: r.period_key_id,
                    anonymized_by: r.anonymized_by,
                    fields,
                },
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_mid_way_resumes_after_restart_and_changes_every_record_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let key = prepare_data_dir(
        dir.path(),
        "aulm",
        &[
            "records:write",
            "records:read",
            "inventory:write",
            "retention:read",
            "retention:write",
        ],
    );
    let server = serve(dir.path(), &["--retention-batch-size", "100"])
        .header("Lethe-Access-Reason", "retention test");
    let put = |kind: &str, item: &str, body: Value| {
        let path = format!("/api/v1/inventory/{kind}/{item}");
        let (server, key) = (&server, &key);
        async move { server.call(Method::PUT, &path, key, Some(body)).await }
    };
    let (status, body) = put(
        "categories",
        CATEGORY,
        json!({"key": CATEGORY, "name": "Sessions", "sensitivity": "normal",
               "fields": [{"name": "recipient"}, {"name": "status"}]}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = put(
        "retention-rules",
        RULE,
        json!({"key": RULE, "category": CATEGORY, "trigger": "collected", "days": 30,
               "action": "anonymize", "schedule": "@daily",
               "transforms": [{"field": "recipient", "op": "pseudonym"}]}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let subjects = ["cus_1", "cus_2", "cus_3", "cus_4"];
    for s in subjects {
        let (status, body) = server
            .call(
                Method::POST,
                "/api/v1/subjects",
                &key,
                Some(json!({"external_id": s})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }

    // 5,000 records collected 40 days ago (due), 30 collected yesterday (not due).
    let now = chrono::Utc::now();
    let old = now - chrono::Duration::days(40);
    let mut originals: HashMap<String, (String, bool)> = HashMap::new();
    let all: Vec<(usize, bool)> = (0..DUE)
        .map(|i| (i, true))
        .chain((DUE..DUE + RECENT).map(|i| (i, false)))
        .collect();
    for chunk in all.chunks(1000) {
        let records: Vec<Value> = chunk
            .iter()
            .map(|&(i, due)| {
                let at = if due {
                    old + chrono::Duration::seconds(i as i64)
                } else {
                    now - chrono::Duration::days(1)
                };
                json!({"category": CATEGORY, "subject": subjects[i % subjects.len()],
                       "occurred_at": rfc3339(at),
                       "fields": {"recipient": recipient(i), "status": "delivered"}})
            })
            .collect();
        let (status, receipt) = server
            .call(
                Method::POST,
                "/api/v1/records",
                &key,
                Some(json!({ "records": records })),
            )
            .await;
        assert_eq!(status, 201, "{receipt}");
        let stored = receipt["records"].as_array().unwrap();
        assert_eq!(stored.len(), chunk.len());
        for (r, &(i, due)) in stored.iter().zip(chunk) {
            originals.insert(r["id"].as_str().unwrap().to_owned(), (recipient(i), due));
        }
    }

    let (status, started) = server
        .call(
            Method::POST,
            "/api/v1/retention/runs",
            &key,
            Some(json!({"rule": RULE})),
        )
        .await;
    assert_eq!(status, 202, "{started}");
    let run_id = started["runs"][0]["id"].as_i64().unwrap();
    let run_path = format!("/api/v1/retention/runs/{run_id}");
    // Killed once at least two batches are committed, while it is still running.
    let deadline = Instant::now() + Duration::from_secs(30);
    let seen = loop {
        let (status, run) = server.call(Method::GET, &run_path, &key, None).await;
        assert_eq!(status, 200, "{run}");
        assert_eq!(
            run["status"], "running",
            "the run ended before it could be killed; give it more records: {run}"
        );
        if run["batches"].as_u64().unwrap() >= 2 {
            break run;
        }
        assert!(Instant::now() < deadline, "no batch committed: {run}");
    };
    server.kill_9();
    assert!(seen["changed"].as_u64().unwrap() < DUE as u64, "{seen}");

    let server = serve(dir.path(), &["--retention-batch-size", "100"])
        .header("Lethe-Access-Reason", "retention test");
    // Right after the restart the run is still unfinished: the kill cut it short.
    let (status, run) = server.call(Method::GET, &run_path, &key, None).await;
    assert_eq!(status, 200, "{run}");
    assert!(
        run["status"] == "running" || run["status"] == "interrupted",
        "{run}"
    );
    assert!(run["changed"].as_u64().unwrap() < DUE as u64, "{run}");
    // The dead run's lease expires (30 s), then the scheduler resumes it.
    let deadline = Instant::now() + Duration::from_secs(90);
    let run = loop {
        let (status, run) = server.call(Method::GET, &run_path, &key, None).await;
        assert_eq!(status, 200, "{run}");
        if run["status"] != "running" && run["status"] != "interrupted" {
            break run;
        }
        assert!(
            Instant::now() < deadline,
            "the run was not resumed within 90 s: {run}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["errors"], 0, "{run}");
    assert_eq!(run["changed"], DUE, "every due record counted once: {run}");
    assert_eq!(run["scanned"], DUE, "{run}");
    assert_eq!(run["deleted"], 0, "{run}");
    // The run did not start over: it is the same run, resumed.
    let (_, runs) = server
        .call(
            Method::GET,
            &format!("/api/v1/retention/runs?rule={RULE}"),
            &key,
            None,
        )
        .await;
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs}");
    server.kill_9();

    // In the data: every due record pseudonymized exactly once, every recent one untouched.
    let opened = open_all(dir.path());
    assert_eq!(opened.len(), DUE + RECENT, "nothing was deleted or added");
    let pseudonym_key = {
        let db = Db::open(&dir.path().join("lethe.db")).unwrap();
        let vault = Vault::open(dir.path(), None).unwrap();
        let scope = workspace_scope(&db, "aulm");
        let before = vault.labels_of(&scope, KeyPurpose::Pseudonym).unwrap();
        assert_eq!(before.len(), 1, "the run made the pseudonym key");
        vault
            .shared_key(&scope, KeyPurpose::Pseudonym, "pseudonym")
            .unwrap()
            .1
    };
    let mut anonymized = 0;
    for (id, (original, due)) in &originals {
        let r = &opened[id];
        assert_eq!(r.fields["status"], "delivered", "{id}");
        assert!(r.subject_id.is_some(), "{id}: still linked to its person");
        if *due {
            assert_eq!(r.anonymized_by.as_deref(), Some(RULE), "{id}");
            let expected = pseudonym(pseudonym_key.as_bytes(), original);
            assert_eq!(
                r.fields["recipient"], expected,
                "{id}: pseudonymized exactly once"
            );
            assert_eq!(
                r.period_key_id, None,
                "{id}: no longer under its week's key"
            );
            anonymized += 1;
        } else {
            assert_eq!(r.anonymized_by, None, "{id}");
            assert_eq!(r.fields["recipient"], original.as_str(), "{id}");
            assert!(r.period_key_id.is_some(), "{id}");
        }
        assert!(!r.key_id.is_empty());
    }
    assert_eq!(anonymized, DUE, "no due record was skipped");
    let changed_total = opened
        .values()
        .filter(|r| r.anonymized_by.is_some())
        .count();
    assert_eq!(changed_total, DUE);
}
