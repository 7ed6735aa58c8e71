//! Retention through the API and the shell: rules with crontab schedules, runs over backdated
//! records that delete, anonymize, or leave to a legal hold exactly what each rule says, dry
//! runs, claims counted against the data, scopes, `lethe retention run` next to a running
//! server, period keys that make deleted records unreadable in older copies, and stored times
//! that are exact.

use crate::helpers::prepare_workspace;
use crate::helpers::serve;
use crate::helpers::{TestApp, lethe, spawn_app, spawn_app_with};
use crate::retention_crash::rfc3339;
use chrono::{DateTime, Datelike, Duration, Timelike, Utc, Weekday};
use lethe::store::{StoreError, WorkspaceScope};
use lethe::vault::record_aad;
use reqwest::Method;
use serde_json::{Map, Value, json};
use std::collections::{BTreeSet, HashMap};

const SCOPES: [&str; 5] = [
    "records:write",
    "records:read",
    "retention:read",
    "retention:write",
    "inventory:write",
];

struct Env {
    app: TestApp,
    key: String,
    scope: WorkspaceScope,
}

async fn env() -> Env {
    env_in(spawn_app().await)
}

fn env_in(app: TestApp) -> Env {
    let owner = app.create_admin("ada@example.org");
    let scope = app.create_workspace(owner, "aulm");
    let key = app.api_key("aulm", &SCOPES);
    Env { app, key, scope }
}

/// `days` days before now, as RFC 3339.
fn ago(days: f64) -> String {
    rfc3339(Utc::now() - Duration::seconds((days * 86_400.0) as i64))
}

fn record(category: &str, subject: &str, days_ago: f64, fields: Value) -> Value {
    json!({"category": category, "subject": subject, "occurred_at": ago(days_ago), "fields": fields})
}

/// A record's row as stored.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    subject_id: Option<i64>,
    key_id: String,
    period_key_id: Option<String>,
    anonymized_by: Option<String>,
    occurred_at: String,
    sealed: Vec<u8>,
}

impl Env {
    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .app
            .client
            .request(method, self.app.url(path))
            .bearer_auth(&self.key)
            .header("Lethe-Access-Reason", "retention test");
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(Method::POST, path, Some(body)).await
    }

    async fn put(&self, kind: &str, item: &str, body: Value) -> (u16, Value) {
        self.send(
            Method::PUT,
            &format!("/api/v1/inventory/{kind}/{item}"),
            Some(body),
        )
        .await
    }

    async fn category(&self, key: &str, fields: &[&str]) {
        let fields: Vec<Value> = fields.iter().map(|f| json!({"name": f})).collect();
        let (status, body) = self
            .put(
                "categories",
                key,
                json!({"key": key, "name": key, "sensitivity": "normal", "fields": fields}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }

    async fn rule(&self, body: Value) {
        let key = body["key"].as_str().unwrap().to_owned();
        let (status, answer) = self.put("retention-rules", &key, body).await;
        assert_eq!(status, 201, "{answer}");
    }

    async fn subject(&self, external_id: &str) {
        let (status, body) = self
            .post("/api/v1/subjects", json!({"external_id": external_id}))
            .await;
        assert_eq!(status, 201, "{body}");
    }

    /// Stores the records; their ids in the same order.
    async fn records(&self, records: &[Value]) -> Vec<String> {
        let (status, receipt) = self
            .post("/api/v1/records", json!({ "records": records }))
            .await;
        assert_eq!(status, 201, "{receipt}");
        receipt["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Starts real runs (202) and waits until each has ended; rule → run.
    async fn run(&self, body: Value) -> HashMap<String, Value> {
        let (status, started) = self.post("/api/v1/retention/runs", body).await;
        assert_eq!(status, 202, "{started}");
        let mut out = HashMap::new();
        for r in started["runs"].as_array().unwrap() {
            let run = self.wait(r["id"].as_i64().unwrap()).await;
            assert_eq!(run["status"], "completed", "{run}");
            out.insert(r["rule"].as_str().unwrap().to_owned(), run);
        }
        out
    }

    /// Polls a run until it is no longer running (at most 30 s); its last state.
    async fn wait(&self, id: i64) -> Value {
        self.wait_at_most(id, 30).await
    }

    async fn wait_at_most(&self, id: i64, seconds: u64) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
        loop {
            let (status, run) = self.get(&format!("/api/v1/retention/runs/{id}")).await;
            assert_eq!(status, 200, "{run}");
            if run["status"] != "running" || std::time::Instant::now() > deadline {
                return run;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Rule key → its status from `GET /api/v1/retention/rules`.
    async fn rule_statuses(&self) -> HashMap<String, Value> {
        let (status, rules) = self.get("/api/v1/retention/rules").await;
        assert_eq!(status, 200, "{rules}");
        rules
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["rule"]["key"].as_str().unwrap().to_owned(), r.clone()))
            .collect()
    }

    /// A subject's records through the API: id → fields.
    async fn readable(&self, subject: &str) -> HashMap<String, Value> {
        let (status, page) = self
            .get(&format!("/api/v1/subjects/{subject}/records?limit=1000"))
            .await;
        assert_eq!(status, 200, "{page}");
        page["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["id"].as_str().unwrap().to_owned(), r["fields"].clone()))
            .collect()
    }

    fn row(&self, id: &str) -> Option<Row> {
        self.app
            .db
            .read(|c| {
                use rusqlite::OptionalExtension;
                c.query_row(
                    "SELECT subject_id, key_id, period_key_id, anonymized_by, occurred_at, \
                     sealed_fields FROM records WHERE id = ?1",
                    [id],
                    |r| {
                        Ok(Row {
                            subject_id: r.get(0)?,
                            key_id: r.get(1)?,
                            period_key_id: r.get(2)?,
                            anonymized_by: r.get(3)?,
                            occurred_at: r.get(4)?,
                            sealed: r.get(5)?,
                        })
                    },
                )
                .optional()
                .map_err(StoreError::from)
            })
            .unwrap()
    }

    /// Opens a stored record in-process with the current key store (records detached from
    /// their person cannot be read through the API).
    fn open(&self, id: &str, row: &Row) -> Map<String, Value> {
        let mut ids = vec![row.key_id.as_str()];
        ids.extend(row.period_key_id.as_deref());
        let ring = self.app.vault.key_ring(&self.scope, &ids).unwrap();
        let key = ring
            .record_key(&row.key_id, row.period_key_id.as_deref())
            .expect("the record's keys exist");
        let plain = key
            .open(&record_aad(&self.scope, id), &row.sealed)
            .expect("the record opens");
        serde_json::from_slice(&plain).unwrap()
    }

    fn subject_key(&self, external_id: &str) -> String {
        self.app
            .db
            .read(|c| {
                c.query_row(
                    "SELECT key_id FROM subjects WHERE external_id = ?1",
                    [external_id],
                    |r| r.get(0),
                )
                .map_err(StoreError::from)
            })
            .unwrap()
    }

    /// Every stored record, byte for byte, to see that nothing changed.
    fn snapshot(&self) -> Vec<String> {
        self.app
            .db
            .read(|c| {
                let mut stmt = c.prepare(
                    "SELECT id || '|' || coalesce(subject_id, '') || '|' || key_id || '|' || \
                     coalesce(period_key_id, '') || '|' || coalesce(anonymized_by, '') || '|' || \
                     occurred_at || '|' || hex(sealed_fields) FROM records ORDER BY id",
                )?;
                let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
                rows.collect::<Result<Vec<_>, _>>()
                    .map_err(StoreError::from)
            })
            .unwrap()
    }

    fn count(&self, sql: &str) -> i64 {
        self.app
            .db
            .read(|c| c.query_row(sql, [], |r| r.get(0)).map_err(StoreError::from))
            .unwrap()
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Rules and cron
// ---------------------------------------------------------------------------------------------

/// The first `n` firings of "*/15 9-17 * * 1-5" strictly after `from`, minute by minute.
fn business_quarters_after(from: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
    let mut t = from.with_second(0).unwrap().with_nanosecond(0).unwrap();
    let mut out = Vec::new();
    while out.len() < n {
        t += Duration::minutes(1);
        let weekday = !matches!(t.weekday(), Weekday::Sat | Weekday::Sun);
        if weekday && (9..=17).contains(&t.hour()) && t.minute().is_multiple_of(15) && t > from {
            out.push(t);
        }
    }
    out
}

fn problem_text(body: &Value) -> String {
    let mut text = body["detail"].as_str().unwrap_or_default().to_owned();
    for e in body["errors"].as_array().into_iter().flatten() {
        text.push_str(&format!(" [{}] {}", e["field"], e["message"]));
    }
    text
}

fn error_fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["field"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_take_crontab_schedules_and_refusals_name_the_field_to_fix() {
    let e = env().await;
    e.category("usage.message_log", &["recipient", "status"])
        .await;
    let rule = |key: &str, schedule: &str| {
        json!({"key": key, "category": "usage.message_log", "trigger": "collected", "days": 30,
               "action": "delete", "schedule": schedule, "enabled": true})
    };

    let (status, body) = e
        .put(
            "retention-rules",
            "business-hours",
            rule("business-hours", "*/15 9-17 * * 1-5"),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["schedule"], "*/15 9-17 * * 1-5");
    let before = Utc::now();
    let statuses = e.rule_statuses().await;
    let after = Utc::now();
    let next: Vec<DateTime<Utc>> = statuses["business-hours"]["next_runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(next.len(), 3, "{:?}", statuses["business-hours"]);
    for t in &next {
        assert!(
            !matches!(t.weekday(), Weekday::Sat | Weekday::Sun),
            "{t} is a weekday (crontab 1-5 is Monday to Friday)"
        );
        assert!((9..=17).contains(&t.hour()), "{t}");
        assert_eq!(t.minute() % 15, 0, "{t}");
        assert_eq!(t.second(), 0, "{t}");
        assert!(*t > before - Duration::seconds(1), "{t} is in the future");
    }
    assert!(next.windows(2).all(|w| w[0] < w[1]), "{next:?}");
    // They are the next three firings, none skipped (the last one of a day is 17:45).
    assert!(
        next == business_quarters_after(before, 3) || next == business_quarters_after(after, 3),
        "{next:?}"
    );

    // An hour out of range: 422, naming the field and the part of the expression.
    let (status, body) = e
        .put(
            "retention-rules",
            "bad-hour",
            rule("bad-hour", "0 25 * * *"),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let text = problem_text(&body);
    assert!(
        error_fields(&body).iter().any(|f| f.contains("schedule")) || text.contains("schedule"),
        "the problem names the field `schedule`: {body}"
    );
    assert!(text.contains("hour"), "and says the hour is wrong: {body}");

    // An anonymize rule must say what it does to each field.
    let (status, body) = e
        .put(
            "retention-rules",
            "no-transforms",
            json!({"key": "no-transforms", "category": "usage.message_log",
                   "trigger": "collected", "days": 30, "action": "anonymize"}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        error_fields(&body).contains(&"transforms".to_owned()),
        "{body}"
    );

    // A transform on a field the category does not declare.
    let (status, body) = e
        .put(
            "retention-rules",
            "unknown-field",
            json!({"key": "unknown-field", "category": "usage.message_log",
                   "trigger": "collected", "days": 30, "action": "anonymize",
                   "transforms": [{"field": "recipient", "op": "mask", "keep_first": 3, "keep_last": 3},
                                  {"field": "colour", "op": "null"}]}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(error_fields(&body), ["transforms[1].field"], "{body}");
    assert!(problem_text(&body).contains("colour"), "{body}");

    // Nothing refused was stored.
    let keys: BTreeSet<String> = e.rule_statuses().await.into_keys().collect();
    assert_eq!(keys, BTreeSet::from(["business-hours".to_owned()]));
}

// ---------------------------------------------------------------------------------------------
// 2. and 3. Runs over backdated records, and dry runs
// ---------------------------------------------------------------------------------------------

const MESSAGES: &str = "usage.message_log";
const ACCESS: &str = "user.device.access";
const PROFILE: &str = "user.account.profile";
const INVOICES: &str = "billing.invoice";

#[derive(Debug, Clone)]
enum Fate {
    Kept,
    Deleted,
    /// Detached from its person, with these fields.
    Anonymized(Value),
    /// Past its rule but kept by a legal hold.
    Held,
}

struct Planted {
    id: String,
    subject: &'static str,
    fields: Value,
    fate: Fate,
}

/// Four categories, each with a rule: delete after 30 days; anonymize after 7 days (mask,
/// IP network, detach); delete when the account closes; delete after 30 days under a legal
/// hold. Two people, `cus_2` closed ten days ago.
async fn four_rules(e: &Env) -> Vec<Planted> {
    e.category(MESSAGES, &["recipient", "status"]).await;
    e.category(ACCESS, &["phone", "ip", "path"]).await;
    e.category(PROFILE, &["nickname"]).await;
    e.category(INVOICES, &["amount", "plan"]).await;
    e.rule(
        json!({"key": "messages-30d", "category": MESSAGES, "trigger": "collected",
                  "days": 30, "action": "delete", "schedule": "@daily", "enabled": true}),
    )
    .await;
    e.rule(
        json!({"key": "access-7d", "category": ACCESS, "trigger": "collected", "days": 7,
                  "action": "anonymize", "schedule": "@daily", "enabled": true,
                  "transforms": [
                      {"field": "phone", "op": "mask", "keep_first": 3, "keep_last": 3},
                      {"field": "ip", "op": "ip_network", "v4_prefix": 16, "v6_prefix": 32},
                      {"op": "drop_subject"}]}),
    )
    .await;
    e.rule(
        json!({"key": "profile-at-close", "category": PROFILE, "trigger": "account_closed",
                  "days": 0, "action": "delete", "schedule": "@daily", "enabled": true}),
    )
    .await;
    e.rule(
        json!({"key": "invoices-30d", "category": INVOICES, "trigger": "collected",
                  "days": 30, "action": "delete", "schedule": "@daily", "enabled": true}),
    )
    .await;
    let (status, body) = e
        .put(
            "legal-holds",
            "tax-law",
            json!({"key": "tax-law", "category": INVOICES,
                   "reason": "invoices are kept ten years for tax law", "until": "2036-12-31"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    e.subject("cus_1").await;
    e.subject("cus_2").await;

    let plan: Vec<(&str, &'static str, f64, Value, Fate)> = vec![
        (
            MESSAGES,
            "cus_1",
            40.0,
            json!({"recipient": "+4915100000001", "status": "delivered"}),
            Fate::Deleted,
        ),
        (
            MESSAGES,
            "cus_1",
            2.0,
            json!({"recipient": "+4915100000002", "status": "queued"}),
            Fate::Kept,
        ),
        (
            MESSAGES,
            "cus_2",
            40.0,
            json!({"recipient": "+4915100000003", "status": "failed"}),
            Fate::Deleted,
        ),
        (
            MESSAGES,
            "cus_2",
            2.0,
            json!({"recipient": "+4915100000004", "status": "delivered"}),
            Fate::Kept,
        ),
        (
            ACCESS,
            "cus_1",
            40.0,
            json!({"phone": "+4915199887766", "ip": "203.0.113.77", "path": "/pricing"}),
            Fate::Anonymized(
                json!({"phone": "+49********766", "ip": "203.0.0.0/16", "path": "/pricing"}),
            ),
        ),
        (
            ACCESS,
            "cus_1",
            10.0,
            json!({"phone": "0301234567", "ip": "2001:db8:1234:5678::9", "path": "/login"}),
            Fate::Anonymized(
                json!({"phone": "030****567", "ip": "2001:db8::/32", "path": "/login"}),
            ),
        ),
        (
            ACCESS,
            "cus_1",
            2.0,
            json!({"phone": "+4917612345678", "ip": "198.51.100.23", "path": "/account"}),
            Fate::Kept,
        ),
        (
            PROFILE,
            "cus_1",
            40.0,
            json!({"nickname": "adalovelace"}),
            Fate::Kept,
        ),
        (
            PROFILE,
            "cus_1",
            2.0,
            json!({"nickname": "countess-of-lovelace"}),
            Fate::Kept,
        ),
        (
            PROFILE,
            "cus_2",
            40.0,
            json!({"nickname": "gracehopper"}),
            Fate::Deleted,
        ),
        (
            PROFILE,
            "cus_2",
            2.0,
            json!({"nickname": "amazing-grace"}),
            Fate::Deleted,
        ),
        (
            INVOICES,
            "cus_1",
            40.0,
            json!({"amount": "49.00 EUR", "plan": "professional"}),
            Fate::Held,
        ),
        (
            INVOICES,
            "cus_1",
            2.0,
            json!({"amount": "59.00 EUR", "plan": "enterprise"}),
            Fate::Kept,
        ),
    ];
    let records: Vec<Value> = plan
        .iter()
        .map(|(category, subject, days, fields, _)| {
            record(category, subject, *days, fields.clone())
        })
        .collect();
    let ids = e.records(&records).await;
    let (status, body) = e
        .post(
            "/api/v1/subjects/cus_2/close",
            json!({"closed_at": ago(10.0)}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    ids.into_iter()
        .zip(plan)
        .map(|(id, (_, subject, _, fields, fate))| Planted {
            id,
            subject,
            fields,
            fate,
        })
        .collect()
}

fn counts(run: &Value) -> [u64; 5] {
    ["scanned", "changed", "deleted", "held", "errors"]
        .map(|k| run[k].as_u64().unwrap_or_else(|| panic!("{k} in {run}")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_deletes_anonymizes_and_keeps_exactly_what_each_rule_says() {
    let e = env().await;
    let planted = four_rules(&e).await;
    let cus_1_key = e.subject_key("cus_1");

    let runs = e.run(json!({})).await;
    let rules: BTreeSet<&str> = runs.keys().map(String::as_str).collect();
    assert_eq!(
        rules,
        BTreeSet::from([
            "access-7d",
            "invoices-30d",
            "messages-30d",
            "profile-at-close"
        ]),
        "`{{}}` runs every enabled rule"
    );
    //                                               scanned changed deleted held errors
    assert_eq!(
        counts(&runs["messages-30d"]),
        [2, 0, 2, 0, 0],
        "{}",
        runs["messages-30d"]
    );
    assert_eq!(
        counts(&runs["access-7d"]),
        [2, 2, 0, 0, 0],
        "{}",
        runs["access-7d"]
    );
    assert_eq!(
        counts(&runs["profile-at-close"]),
        [2, 0, 2, 0, 0],
        "{}",
        runs["profile-at-close"]
    );
    assert_eq!(
        counts(&runs["invoices-30d"]),
        [1, 0, 0, 1, 0],
        "{}",
        runs["invoices-30d"]
    );

    // Every record against its expected fate.
    let readable: HashMap<&str, HashMap<String, Value>> = [
        ("cus_1", e.readable("cus_1").await),
        ("cus_2", e.readable("cus_2").await),
    ]
    .into_iter()
    .collect();
    for p in &planted {
        let row = e.row(&p.id);
        let through_api = readable[p.subject].get(&p.id);
        match &p.fate {
            Fate::Deleted => {
                assert_eq!(row, None, "{} {}: deleted", p.id, p.fields);
                assert_eq!(through_api, None, "{}", p.fields);
            }
            Fate::Kept | Fate::Held => {
                let row = row.unwrap_or_else(|| panic!("{} {} is kept", p.id, p.fields));
                assert_eq!(row.anonymized_by, None, "{}", p.fields);
                assert!(row.subject_id.is_some(), "{}", p.fields);
                assert_eq!(
                    through_api,
                    Some(&p.fields),
                    "{}: untouched and readable",
                    p.fields
                );
            }
            Fate::Anonymized(expected) => {
                let row = row.unwrap_or_else(|| panic!("{} {} is kept", p.id, p.fields));
                assert_eq!(row.subject_id, None, "{}: detached", p.fields);
                assert_eq!(row.anonymized_by.as_deref(), Some("access-7d"));
                assert_eq!(row.period_key_id, None, "{}", p.fields);
                assert_ne!(
                    row.key_id, cus_1_key,
                    "not under the person's key: erasing them must not reach it"
                );
                assert_eq!(through_api, None, "no longer one of the person's records");
                assert_eq!(
                    Value::Object(e.open(&p.id, &row)),
                    *expected,
                    "{}",
                    p.fields
                );
            }
        }
    }
    assert_eq!(e.count("SELECT count(*) FROM records"), 9);

    // Every claim holds after the run; the held category's record is reported as held.
    let statuses = e.rule_statuses().await;
    for (rule, status) in &statuses {
        assert_eq!(status["last_check"]["passed"], true, "{rule}: {status}");
        assert_eq!(status["last_check"]["violations"], 0, "{rule}: {status}");
        assert_eq!(status["last_run"]["id"], runs[rule]["id"], "{rule}");
    }
    assert_eq!(statuses["invoices-30d"]["last_check"]["held"], 1);

    // A second run finds nothing left to do.
    let snapshot = e.snapshot();
    let again = e.run(json!({})).await;
    assert_eq!(again.len(), 4);
    for (rule, run) in &again {
        assert_eq!(run["changed"], 0, "{rule}: {run}");
        assert_eq!(run["deleted"], 0, "{rule}: {run}");
        assert_eq!(run["errors"], 0, "{rule}: {run}");
    }
    assert_eq!(again["invoices-30d"]["held"], 1);
    assert_eq!(e.snapshot(), snapshot, "the second run changed nothing");
}

/// Every personal value sent in the planted records (not the delivery statuses, which are
/// words like "failed" that a run's own text may contain).
fn sent_values(planted: &[Planted]) -> Vec<String> {
    planted
        .iter()
        .flat_map(|p| p.fields.as_object().unwrap())
        .filter(|(field, _)| *field != "status")
        .filter_map(|(_, v)| v.as_str())
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_counts_what_the_run_then_does_shows_no_personal_value_and_changes_nothing() {
    let e = env().await;
    let planted = four_rules(&e).await;
    let before = e.snapshot();

    let res = e
        .app
        .client
        .post(e.app.url("/api/v1/retention/runs"))
        .bearer_auth(&e.key)
        .json(&json!({"dry_run": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    let reports: Vec<Value> = serde_json::from_str(&text).unwrap();
    let reports: HashMap<String, Value> = reports
        .into_iter()
        .map(|r| (r["rule"].as_str().unwrap().to_owned(), r))
        .collect();
    assert_eq!(reports.len(), 4, "{text}");
    for value in sent_values(&planted) {
        assert!(
            !text.contains(&value),
            "the dry run shows the personal value {value}: {text}"
        );
    }
    // The examples are there (else the check above proves nothing) and show the outcome.
    let access = &reports["access-7d"];
    let examples = access["examples"].as_array().unwrap();
    assert_eq!(examples.len(), 2, "{access}");
    let afters: BTreeSet<String> = examples
        .iter()
        .map(|x| x["after"]["ip"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        afters,
        BTreeSet::from(["203.0.0.0/16".to_owned(), "2001:db8::/32".to_owned()])
    );
    assert!(examples.iter().all(|x| x["detached_from_person"] == true));
    assert!(
        !reports["messages-30d"]["examples"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(reports["invoices-30d"]["held_by"], "tax-law");

    // Nothing changed, and no run is left behind to resume.
    assert_eq!(e.snapshot(), before, "a dry run changes no record");
    assert_eq!(
        e.count("SELECT count(*) FROM retention_runs WHERE dry_run = 0"),
        0
    );
    for p in &planted {
        assert!(e.row(&p.id).is_some());
    }

    // The real run then does what the dry run said.
    let runs = e.run(json!({})).await;
    for (rule, report) in &reports {
        let run = &runs[rule];
        assert_eq!(
            report["would_delete"], run["deleted"],
            "{rule}: {report} / {run}"
        );
        assert_eq!(
            report["would_anonymize"], run["changed"],
            "{rule}: {report} / {run}"
        );
        assert_eq!(report["held"], run["held"], "{rule}: {report} / {run}");
    }
    let total = |k: &str| {
        reports
            .values()
            .map(|r| r[k].as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!(
        (
            total("would_delete"),
            total("would_anonymize"),
            total("held")
        ),
        (4, 2, 1)
    );
    // The dry runs are in the history, marked as such.
    let (_, history) = e.get("/api/v1/retention/runs").await;
    let dry = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["dry_run"] == true)
        .count();
    assert_eq!(dry, 4, "{history}");
    // Examples are shown once, never kept: the history holds no value either.
    let history = history.to_string();
    for value in sent_values(&planted) {
        assert!(
            !history.contains(&value),
            "{value} in the history: {history}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Claims
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_is_counted_against_the_data_and_fails_for_a_disabled_rule_with_old_records() {
    let e = env().await;
    e.category(MESSAGES, &["recipient"]).await;
    e.category("support.ticket", &["message"]).await;
    e.rule(
        json!({"key": "messages-30d", "category": MESSAGES, "trigger": "collected",
                  "days": 30, "action": "delete", "schedule": "@daily", "enabled": true}),
    )
    .await;
    e.rule(
        json!({"key": "tickets-30d", "category": "support.ticket", "trigger": "collected",
                  "days": 30, "action": "delete", "schedule": "@daily", "enabled": false}),
    )
    .await;
    e.subject("cus_1").await;
    let ticket = |days: f64, n: u32| {
        record(
            "support.ticket",
            "cus_1",
            days,
            json!({"message": format!("ticket {n}: my parcel did not arrive")}),
        )
    };
    let tickets = e
        .records(&[
            // Past the rule by more than a run interval (a day): violations.
            ticket(40.0, 1),
            ticket(45.0, 2),
            // Past the rule but within one run interval: backlog, not yet a violation.
            ticket(30.5, 3),
            ticket(2.0, 4),
        ])
        .await;
    e.records(&[
        record(
            MESSAGES,
            "cus_1",
            40.0,
            json!({"recipient": "+4915100000001"}),
        ),
        record(
            MESSAGES,
            "cus_1",
            2.0,
            json!({"recipient": "+4915100000002"}),
        ),
    ])
    .await;

    // `{}` runs the enabled rule only; its claim then holds.
    let runs = e.run(json!({})).await;
    assert_eq!(runs.keys().collect::<Vec<_>>(), ["messages-30d"]);
    assert_eq!(runs["messages-30d"]["deleted"], 1);
    for id in &tickets {
        assert!(e.row(id).is_some(), "a disabled rule does not run");
    }
    let statuses = e.rule_statuses().await;
    assert_eq!(statuses["messages-30d"]["last_check"]["passed"], true);
    assert_eq!(
        statuses["tickets-30d"]["next_runs"],
        json!([]),
        "a disabled rule is not scheduled"
    );

    // The claims job counts the disabled rule's claim against the data: it is broken.
    let broken =
        lethe::services::retention::check_all_claims(&e.app.db, &e.app.vault, Utc::now()).unwrap();
    assert_eq!(broken, 1);
    let statuses = e.rule_statuses().await;
    let check = &statuses["tickets-30d"]["last_check"];
    assert_eq!(check["passed"], false, "{check}");
    assert_eq!(check["violations"], 2, "{check}");
    assert_eq!(check["backlog"], 3, "{check}");
    assert!(
        check["claim"].as_str().unwrap().contains("30 days"),
        "{check}"
    );
    assert_eq!(statuses["messages-30d"]["last_check"]["passed"], true);

    // Run by hand, the disabled rule keeps its promise again.
    let runs = e.run(json!({"rule": "tickets-30d"})).await;
    assert_eq!(runs["tickets-30d"]["deleted"], 3);
    let statuses = e.rule_statuses().await;
    assert_eq!(statuses["tickets-30d"]["last_check"]["passed"], true);
    assert_eq!(statuses["tickets-30d"]["last_check"]["backlog"], 0);
    assert!(e.row(&tickets[3]).is_some(), "the recent ticket stays");
}

// ---------------------------------------------------------------------------------------------
// 5. The scope, bad bodies, unknown rules
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starting_runs_needs_retention_write_a_well_formed_body_and_a_known_rule() {
    let e = env().await;
    e.category(MESSAGES, &["recipient"]).await;
    e.rule(
        json!({"key": "messages-30d", "category": MESSAGES, "trigger": "collected",
                  "days": 30, "action": "delete", "schedule": "@daily", "enabled": true}),
    )
    .await;
    e.subject("cus_1").await;
    let old = e
        .records(&[record(
            MESSAGES,
            "cus_1",
            40.0,
            json!({"recipient": "+4915100000001"}),
        )])
        .await;

    let reader = e.app.api_key("aulm", &["retention:read"]);
    let post_as = |key: &str, body: &str| {
        e.app
            .client
            .post(e.app.url("/api/v1/retention/runs"))
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
    };
    for body in ["{}", r#"{"dry_run": true}"#, r#"{"rule": "messages-30d"}"#] {
        let res = post_as(&reader, body).await.unwrap();
        assert_eq!(res.status(), 403, "{body}");
        assert_eq!(res.headers()["content-type"], "application/problem+json");
    }
    // Reading is what retention:read allows.
    let res = e
        .app
        .client
        .get(e.app.url("/api/v1/retention/rules"))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let res = post_as(&e.key, r#"{"rul": "x"}"#).await.unwrap();
    assert_eq!(res.status(), 422);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let problem: Value = res.json().await.unwrap();
    assert!(problem_text(&problem).contains("rul"), "{problem}");

    let res = post_as(&e.key, r#"{"rule": "no-such-rule"}"#)
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let res = post_as(&e.key, r#"{"rule": "no-such-rule", "dry_run": true}"#)
        .await
        .unwrap();
    assert_eq!(res.status(), 404);

    // None of these started anything.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(e.count("SELECT count(*) FROM retention_runs"), 0);
    let (_, history) = e.get("/api/v1/retention/runs").await;
    assert_eq!(history, json!([]));
    assert!(e.row(&old[0]).is_some(), "the old record is still there");
}

// ---------------------------------------------------------------------------------------------
// 6. The shell next to a running server
// ---------------------------------------------------------------------------------------------

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The number after `word ` in `line`.
fn number_after(line: &str, word: &str) -> i64 {
    line.split(word)
        .nth(1)
        .and_then(|rest| {
            rest.trim_start()
                .split(|c: char| !c.is_ascii_digit())
                .next()
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after '{word}' in {line}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lethe_retention_run_works_from_the_shell_while_the_server_runs() {
    let dir = tempfile::tempdir().unwrap();
    drop(prepare_workspace(dir.path(), "aulm"));
    let d = dir.path().to_str().unwrap();
    let server = serve(dir.path(), &[]).header("Lethe-Access-Reason", "retention test");

    let mut create = vec!["apikey", "create", "--data-dir", d, "--workspace", "aulm"];
    for s in SCOPES {
        create.extend(["--scope", s]);
    }
    let out = lethe(&create).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let key = text(&out.stdout).trim().to_owned();
    let call = |method: Method, path: &str, body: Option<Value>| {
        let path = path.to_owned();
        let key = key.clone();
        let server = &server;
        async move { server.call(method, &path, &key, body).await }
    };

    let (status, body) = call(
        Method::PUT,
        "/api/v1/inventory/categories/usage.message_log",
        Some(
            json!({"key": MESSAGES, "name": "Message log", "sensitivity": "normal",
                    "fields": [{"name": "recipient"}]}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = call(
        Method::PUT,
        "/api/v1/inventory/retention-rules/messages-30d",
        Some(
            json!({"key": "messages-30d", "category": MESSAGES, "trigger": "collected",
                    "days": 30, "action": "delete", "schedule": "@daily"}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = call(
        Method::POST,
        "/api/v1/subjects",
        Some(json!({"external_id": "cus_1"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let records: Vec<Value> = [40.0, 50.0, 60.0, 2.0]
        .iter()
        .enumerate()
        .map(|(i, days)| {
            record(
                MESSAGES,
                "cus_1",
                *days,
                json!({"recipient": format!("+491510000000{i}")}),
            )
        })
        .collect();
    let (status, body) = call(
        Method::POST,
        "/api/v1/records",
        Some(json!({ "records": records })),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    let out = lethe(&[
        "retention",
        "run",
        "--data-dir",
        d,
        "--workspace",
        "aulm",
        "--dry-run",
    ])
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.contains("messages-30d"))
        .unwrap_or_else(|| panic!("the dry run names the rule: {stdout}"));
    assert!(line.contains("would delete 3"), "{line}");
    assert!(
        !stdout.contains("+4915100000"),
        "no personal value: {stdout}"
    );
    let (_, page) = call(Method::GET, "/api/v1/subjects/cus_1/records", None).await;
    assert_eq!(page["total"], 4, "the dry run deleted nothing: {page}");

    let out = lethe(&["retention", "run", "--data-dir", d, "--workspace", "aulm"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.contains("messages-30d"))
        .unwrap_or_else(|| panic!("the run names the rule: {stdout}"));
    assert!(line.contains("completed"), "{line}");
    assert!(line.contains("3 scanned"), "{line}");
    assert!(line.contains("3 deleted"), "{line}");
    assert!(line.contains("0 errors"), "{line}");
    let run_id = number_after(line, "run");

    // The server sees the shell's run and what it did.
    let (status, run) = call(
        Method::GET,
        &format!("/api/v1/retention/runs/{run_id}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["dry_run"], false, "{run}");
    assert_eq!(run["deleted"], 3, "{run}");
    assert_eq!(run["rule"], "messages-30d", "{run}");
    let (_, statuses) = call(Method::GET, "/api/v1/retention/rules", None).await;
    assert_eq!(statuses[0]["last_run"]["id"], run_id, "{statuses}");
    let (_, page) = call(Method::GET, "/api/v1/subjects/cus_1/records", None).await;
    assert_eq!(page["total"], 1, "{page}");
    server.kill_9();
}

// ---------------------------------------------------------------------------------------------
// 8. Deleted means unreadable in every copy
// ---------------------------------------------------------------------------------------------

/// The records' rows in another copy of `lethe.db`: id → (key id, period key id, sealed).
fn rows_in_copy(
    path: &std::path::Path,
    ids: &[String],
) -> HashMap<String, (String, Option<String>, Vec<u8>)> {
    let conn = rusqlite::Connection::open(path).unwrap();
    ids.iter()
        .map(|id| {
            let row = conn
                .query_row(
                    "SELECT key_id, period_key_id, sealed_fields FROM records WHERE id = ?1",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .unwrap();
            (id.clone(), row)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_records_are_unreadable_in_an_older_copy_once_their_weeks_key_is_destroyed() {
    // The period-keys job is left to this test (it would otherwise run at a quarter past).
    let e = env_in(
        spawn_app_with(|c| {
            c.period_keys_schedule =
                lethe::domain::schedule::CronSchedule::parse("0 0 1 1 *").unwrap();
        })
        .await,
    );
    e.category(ACCESS, &["ip", "path"]).await;
    e.rule(
        json!({"key": "access-30d", "category": ACCESS, "trigger": "collected",
                  "days": 30, "action": "delete", "schedule": "@daily", "enabled": true}),
    )
    .await;
    e.subject("cus_1").await;
    let old: Vec<Value> = (0..5)
        .map(|i| {
            record(
                ACCESS,
                "cus_1",
                60.0 - f64::from(i) / 24.0,
                json!({"ip": format!("203.0.113.{}", 10 + i), "path": format!("/old/{i}")}),
            )
        })
        .collect();
    let old_ids = e.records(&old).await;
    let recent = e
        .records(&[record(
            ACCESS,
            "cus_1",
            2.0,
            json!({"ip": "198.51.100.7", "path": "/recent"}),
        )])
        .await;
    let subject_key = e.subject_key("cus_1");
    let weeks: BTreeSet<String> = old_ids
        .iter()
        .map(|id| {
            e.row(id)
                .unwrap()
                .period_key_id
                .expect("sealed under a week's key")
        })
        .collect();

    // A copy of lethe.db taken before the run, as a backup would be.
    let backups = tempfile::tempdir().unwrap();
    let copy = backups.path().join("lethe-before-run.db");
    e.app
        .db
        .read(|c| {
            c.execute("VACUUM INTO ?1", [copy.to_str().unwrap()])
                .map_err(StoreError::from)
        })
        .unwrap();
    let open_from_copy = |id: &str, row: &(String, Option<String>, Vec<u8>)| {
        let mut ids = vec![row.0.as_str()];
        ids.extend(row.1.as_deref());
        let ring = e.app.vault.key_ring(&e.scope, &ids).unwrap();
        ring.record_key(&row.0, row.1.as_deref())
            .and_then(|k| k.open(&record_aad(&e.scope, id), &row.2).ok())
    };
    // Today the copy is readable with the key store (otherwise the end proves nothing).
    let in_copy = rows_in_copy(&copy, &old_ids);
    for (i, id) in old_ids.iter().enumerate() {
        let plain = open_from_copy(id, &in_copy[id]).expect("readable before the run");
        let fields: Value = serde_json::from_slice(&plain).unwrap();
        assert_eq!(fields, old[i]["fields"]);
    }

    let keys_path = e.app.data_dir.path().join("keys.db");
    let wrapped_weeks: Vec<Vec<u8>> = {
        let keys_db = rusqlite::Connection::open(&keys_path).unwrap();
        weeks
            .iter()
            .map(|w| {
                keys_db
                    .query_row("SELECT wrapped FROM data_keys WHERE id = ?1", [w], |r| {
                        r.get(0)
                    })
                    .unwrap()
            })
            .collect()
    };

    let runs = e.run(json!({"rule": "access-30d"})).await;
    assert_eq!(runs["access-30d"]["deleted"], 5);
    let destroyed =
        lethe::services::keys::destroy_all_spent_period_keys(&e.app.db, &e.app.vault, Utc::now())
            .unwrap();
    assert_eq!(
        destroyed,
        weeks.len(),
        "the old weeks' keys, and only those"
    );

    // Gone from the bytes too (not in a freed page, not in a log), so a copy of keys.db taken
    // from now on cannot bring it back.
    for (name, bytes) in crate::vault_at_rest::data_files(e.app.data_dir.path()) {
        for w in &wrapped_weeks {
            assert!(
                !crate::vault_at_rest::contains(&bytes, w),
                "{name} still holds a destroyed week key"
            );
        }
    }
    let keys_db = rusqlite::Connection::open(&keys_path).unwrap();
    let in_key_store = |id: &str| -> bool {
        keys_db
            .query_row("SELECT count(*) FROM data_keys WHERE id = ?1", [id], |r| {
                r.get::<_, i64>(0)
            })
            .unwrap()
            == 1
    };
    for week in &weeks {
        assert!(!in_key_store(week), "the week's key {week} is gone");
    }
    // The person's own key is still there: it is the week's key that makes the copy unreadable.
    assert!(in_key_store(&subject_key));
    assert!(
        e.app
            .vault
            .key_ring(&e.scope, &[subject_key.as_str()])
            .unwrap()
            .get(&subject_key)
            .is_some()
    );
    let in_copy = rows_in_copy(&copy, &old_ids);
    for id in &old_ids {
        assert_eq!(in_copy[id].0, subject_key);
        assert!(
            open_from_copy(id, &in_copy[id]).is_none(),
            "{id} is still readable in the copy"
        );
    }
    // The recent record, in a week still open, is readable as before.
    let readable = e.readable("cus_1").await;
    assert_eq!(
        readable.keys().collect::<Vec<_>>(),
        [&recent[0]],
        "{readable:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 9. Time is exact
// ---------------------------------------------------------------------------------------------

/// A delete-after-30-days rule and two recent records of `cus_1`, the first of which then gets
/// an `occurred_at` that is not in the stored form, written by SQL (as a hand edit or a bad
/// import would): a lenient reader would take it for 1970, and it sorts before any cutoff.
/// Returns the records' ids, the altered one first.
async fn with_an_unparsable_time(e: &Env) -> Vec<String> {
    e.category(MESSAGES, &["recipient"]).await;
    e.rule(
        json!({"key": "messages-30d", "category": MESSAGES, "trigger": "collected",
                  "days": 30, "action": "delete", "schedule": "@daily", "enabled": true}),
    )
    .await;
    e.subject("cus_1").await;
    let ids = e
        .records(&[
            record(
                MESSAGES,
                "cus_1",
                2.0,
                json!({"recipient": "+4915100000001"}),
            ),
            record(
                MESSAGES,
                "cus_1",
                3.0,
                json!({"recipient": "+4915100000002"}),
            ),
        ])
        .await;
    let conn = rusqlite::Connection::open(e.app.data_dir.path().join("lethe.db")).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    let changed = conn
        .execute(
            "UPDATE records SET occurred_at = '1970-01-01T00:00:00Z' WHERE id = ?1",
            [&ids[0]],
        )
        .unwrap();
    assert_eq!(changed, 1);
    ids
}

/// Starts the rule by hand and follows its run for up to ten seconds: long enough for the
/// scheduler to resume a run left unfinished.
async fn run_over_the_unparsable_time(e: &Env) -> Value {
    let (status, started) = e
        .post("/api/v1/retention/runs", json!({"rule": "messages-30d"}))
        .await;
    assert_eq!(status, 202, "{started}");
    e.wait_at_most(started["runs"][0]["id"].as_i64().unwrap(), 10)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unparsable_stored_time_is_an_error_never_an_ancient_record() {
    let e = env().await;
    let ids = with_an_unparsable_time(&e).await;
    let bad = &ids[0];

    let res = e
        .app
        .client
        .get(e.app.url("/api/v1/subjects/cus_1/records"))
        .bearer_auth(&e.key)
        .header("Lethe-Access-Reason", "retention test")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 500, "an error, not a record dated 1970");
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["status"], 500, "{problem}");
    assert!(problem.get("records").is_none(), "{problem}");

    let run = run_over_the_unparsable_time(&e).await;
    let row = e.row(bad);
    assert!(row.is_some(), "not deleted as ancient: {run}");
    assert_eq!(
        row.unwrap().occurred_at,
        "1970-01-01T00:00:00Z",
        "left as it was, for the operator to see"
    );
    assert!(e.row(&ids[1]).is_some(), "{run}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_cannot_read_a_record_says_so_instead_of_running_for_ever() {
    let e = env().await;
    let ids = with_an_unparsable_time(&e).await;
    let run = run_over_the_unparsable_time(&e).await;
    assert!(e.row(&ids[0]).is_some(), "{run}");
    // The run history says something went wrong (the run failed, or it names the error, or
    // counts the record as one it could not handle), rather than showing a run "running" for
    // ever, with no error, while the scheduler retries it.
    let job: String = e
        .app
        .db
        .read(|c| {
            c.query_row(
                "SELECT coalesce(last_started_at, '') || ' ' || last_outcome FROM job_schedule \
                 WHERE name LIKE 'retention/%/messages-30d'",
                [],
                |r| r.get(0),
            )
            .map_err(StoreError::from)
        })
        .unwrap_or_default();
    assert!(
        run["status"] == "failed" || !run["error"].is_null() || run["errors"].as_u64() > Some(0),
        "the run reports no problem: {run}\nits scheduler job meanwhile: {job}"
    );
}
