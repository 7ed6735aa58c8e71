//! The anchored audit chain, with the real binary: anchors kept in `keys.db` and heads published
//! on the privacy center catch entries removed from the end of the chain even with the triggers
//! dropped; reads of personal data are chained; commands refuse a data directory that is not
//! there instead of making an empty one.

use crate::helpers::{lethe, serve, spawn_app_with};
use crate::vault::{message, setup};
use lethe::domain::schedule::CronSchedule;
use lethe::services::{Caller, apikeys};
use reqwest::Method;
use rusqlite::{Connection, OptionalExtension};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `lethe audit verify` on `dir` with `extra` arguments: (exit code, stdout, stderr).
fn verify(dir: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["audit", "verify", "--data-dir", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = lethe(&args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

/// The newest entry of `lethe.db`'s chain.
fn head(dir: &Path) -> (i64, String) {
    let conn = Connection::open(dir.join("lethe.db")).unwrap();
    conn.query_row(
        "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

/// The newest anchor in `keys.db`, if any.
fn newest_anchor(dir: &Path) -> Option<(i64, String)> {
    let conn = Connection::open(dir.join("keys.db")).ok()?;
    conn.query_row(
        "SELECT seq, hash FROM audit_anchors ORDER BY seq DESC LIMIT 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
    .ok()
    .flatten()
}

/// Waits until `keys.db` holds an anchor at the chain's current head.
async fn wait_for_anchor_at_head(dir: &Path) -> (i64, String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let head = head(dir);
        if newest_anchor(dir).as_ref() == Some(&head) {
            return head;
        }
        assert!(
            Instant::now() < deadline,
            "no anchor at the head {head:?}; newest is {:?}",
            newest_anchor(dir)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// An admin, the workspace `aulm` and an API key for it, made before the server starts.
fn prepare(dir: &Path) -> String {
    let db = crate::helpers::prepare_workspace(dir, "aulm");
    let scope = db
        .read(|c| lethe::store::workspaces::find_by_slug(c, "aulm"))
        .unwrap()
        .unwrap()
        .0;
    apikeys::create(
        &db,
        &Caller::cli(),
        &scope,
        "anchors",
        ["records:write", "records:read", "inventory:write"],
    )
    .unwrap()
    .secret
}

/// What someone with the file and SQL does to hide the newest entries.
fn drop_triggers_and_delete_after(dir: &Path, seq: i64) {
    let conn = Connection::open(dir.join("lethe.db")).unwrap();
    conn.execute_batch("DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;")
        .unwrap();
    let n = conn
        .execute("DELETE FROM audit_log WHERE seq > ?1", [seq])
        .unwrap();
    assert!(n > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_removed_from_the_end_break_the_anchor_kept_in_the_key_store() {
    let dir = tempfile::tempdir().unwrap();
    let key = prepare(dir.path());
    // Anchored every second here; every minute by default.
    let server = serve(dir.path(), &["--audit-anchor-schedule", "* * * * * *"])
        .header("Lethe-Access-Reason", "ticket 77");
    let category = json!({"key": "support.ticket", "name": "Support tickets",
                          "sensitivity": "normal", "fields": [{"name": "message"}]});
    let (status, _) = server
        .call(
            Method::PUT,
            "/api/v1/inventory/categories/support.ticket",
            &key,
            Some(category),
        )
        .await;
    assert_eq!(status, 201);
    for id in ["cus_1", "cus_2", "cus_3"] {
        let (status, body) = server
            .call(
                Method::POST,
                "/api/v1/subjects",
                &key,
                Some(json!({ "external_id": id })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let (seq, hash) = wait_for_anchor_at_head(dir.path()).await;
    server.kill_9();

    // Intact: the head is printed, with the anchor that holds it.
    let (code, out, err) = verify(dir.path(), &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("head: entry {seq}, hash {hash}")),
        "{out}"
    );
    assert!(out.contains(&format!("--expect {seq}:{hash}")), "{out}");
    let anchor_line = out
        .lines()
        .find(|l| l.contains(&format!("anchor at entry {seq} ")))
        .unwrap_or_else(|| panic!("no line for the anchor at {seq}: {out}"));
    assert!(anchor_line.ends_with(": held"), "{anchor_line}");

    // The newest two entries go, with the triggers that would refuse it. The chain that is left
    // links up perfectly; only the anchor outside lethe.db knows it was longer.
    drop_triggers_and_delete_after(dir.path(), seq - 2);
    let (code, out, _) = verify(dir.path(), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("head: entry {}, hash", seq - 2)),
        "{out}"
    );
    let anchor_line = out
        .lines()
        .find(|l| l.contains(&format!("anchor at entry {seq} ")))
        .unwrap_or_else(|| panic!("no line for the anchor at {seq}: {out}"));
    assert!(
        anchor_line.contains("BROKEN")
            && anchor_line.contains(&format!("ends at entry {}", seq - 2)),
        "{anchor_line}"
    );
    assert!(out.contains("audit log BROKEN"), "{out}");
    assert!(out.contains("triggers") && out.contains("missing"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_shutdown_anchors_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let key = prepare(dir.path());
    // The job would not run for an hour: only the shutdown anchors.
    let server = serve(dir.path(), &["--audit-anchor-schedule", "@hourly"]);
    let (status, body) = server
        .call(
            Method::POST,
            "/api/v1/subjects",
            &key,
            Some(json!({"external_id": "cus_1"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(newest_anchor(dir.path()), None);
    server.stop();
    assert_eq!(newest_anchor(dir.path()), Some(head(dir.path())));
}

/// Puts a head into `keys.db` as the anchor job would have on `at`.
fn anchor_on(dir: &Path, seq: i64, hash: &str, at: &str) {
    let conn = Connection::open(dir.join("keys.db")).unwrap();
    conn.execute(
        "INSERT OR REPLACE INTO audit_anchors (seq, hash, at) VALUES (?1, ?2, ?3)",
        rusqlite::params![seq, hash, at],
    )
    .unwrap();
}

fn hash_at(dir: &Path, seq: i64) -> String {
    let conn = Connection::open(dir.join("lethe.db")).unwrap();
    conn.query_row("SELECT hash FROM audit_log WHERE seq = ?1", [seq], |r| {
        r.get(0)
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_transparency_page_publishes_past_days_heads_that_verify_expect_holds_lethe_to() {
    // The job stays out of the way: the anchors are put in by hand, dated.
    let app = spawn_app_with(|c| {
        c.audit_anchor_schedule = CronSchedule::parse("@yearly").unwrap();
    })
    .await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "aulm");
    app.create_workspace(owner, "aufum");
    app.api_key("aufum", &["records:read"]);
    app.add_member("aufum", "bob@example.org", "support");
    let dir = app.data_dir.path();
    let (last, _) = head(dir);
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1)).date_naive();
    let earlier = yesterday - chrono::Duration::days(1);
    let (old_seq, old_hash) = (2, hash_at(dir, 2));
    let (seq, hash) = (last - 1, hash_at(dir, last - 1));
    anchor_on(
        dir,
        old_seq,
        &old_hash,
        &format!("{earlier}T12:00:00.000000Z"),
    );
    anchor_on(dir, seq, &hash, &format!("{yesterday}T23:59:00.000000Z"));
    // Today's head waits for the day to end.
    let today_hash = hash_at(dir, last);
    anchor_on(
        dir,
        last,
        &today_hash,
        &lethe::domain::time::format(chrono::Utc::now()),
    );

    let res = app
        .client
        .get(app.url("/p/aulm/transparency"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(page.contains(&yesterday.to_string()), "{page}");
    assert!(page.contains(&format!("<td>{seq}</td>")), "{page}");
    assert!(page.contains(&hash), "{page}");
    assert!(page.contains(&earlier.to_string()) && page.contains(&old_hash));
    assert!(
        !page.contains(&today_hash),
        "today's head is published tomorrow"
    );
    // One chain for the instance, but nothing of another workspace: neither its name, nor its
    // members, nor what happened in it.
    for other in ["aufum", "bob@example.org", "member.add", "apikey.create"] {
        assert!(!page.contains(other), "{other} on aulm's page");
    }
    assert!(page.contains("lethe audit verify --expect"));
    assert_eq!(
        app.client
            .get(app.url("/p/nope/transparency"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // The saved head holds…
    let saved = format!("{seq}:{hash}");
    let (code, out, err) = verify(dir, &["--expect", &saved]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.lines().any(
            |l| l.contains(&format!("anchor at entry {seq} (given with --expect"))
                && l.ends_with(": held")
        ),
        "{out}"
    );
    // …a head the chain never had does not…
    let wrong = format!("{seq}:{}", "0".repeat(64));
    let (code, out, _) = verify(dir, &["--expect", &wrong]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("another hash"), "{out}");
    // …and nonsense is refused, naming the option.
    let (code, _, err) = verify(dir, &["--expect", "yesterday"]);
    assert_eq!(code, 2);
    assert!(err.contains("--expect"), "{err}");

    // Someone with both files removes the newest entries and the key store's anchors: the
    // chain and keys.db agree again, but the head saved from the page does not.
    drop_triggers_and_delete_after(dir, seq - 1);
    Connection::open(dir.join("keys.db"))
        .unwrap()
        .execute("DELETE FROM audit_anchors", [])
        .unwrap();
    let (code, out, _) = verify(dir, &[]);
    assert_eq!(code, 0, "without the saved head nothing shows: {out}");
    let (code, out, _) = verify(dir, &["--expect", &saved]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "anchor at entry {seq} (given with --expect, hash {}): BROKEN: the chain now ends at entry {}",
            &hash[..16],
            seq - 1
        )),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_a_persons_data_is_chained_without_the_reason() {
    let v = setup().await;
    v.subject("cus_1").await;
    let (status, _) = v.records(json!([message("cus_1", "see you soon")])).await;
    assert_eq!(status, 201);
    let (status, _) = v.get("/api/v1/subjects/cus_1/records").await;
    assert_eq!(status, 200);
    let (status, _) = v.get("/api/v1/subjects/cus_1").await;
    assert_eq!(status, 200);

    let reads: Vec<(String, String, String)> = v
        .app
        .db
        .read(|c| {
            let mut stmt = c.prepare(
                "SELECT actor, target, detail FROM audit_log WHERE action = 'subject.read' ORDER BY seq",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(lethe::store::StoreError::from)
        })
        .unwrap();
    assert_eq!(reads.len(), 2, "{reads:?}");
    let (actor, target, detail) = &reads[0];
    assert!(actor.starts_with("apikey:"), "{actor}");
    assert_eq!(target, "cus_1");
    let detail: serde_json::Value = serde_json::from_str(detail).unwrap();
    assert_eq!(detail["read"], "records");
    assert_eq!(detail["records"], 1);
    assert_eq!(detail["categories"], json!(["usage.message_log"]));
    assert!(detail["access_log"].is_i64());
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&reads[1].2).unwrap()["read"],
        "profile"
    );
    for (_, _, d) in &reads {
        assert!(!d.contains("ticket 4411"), "the reason reached the chain");
        assert!(!d.contains("see you soon") && !d.contains(crate::vault::EMAIL));
    }
    // In the chain, not beside it.
    let (code, out, _) = verify(v.app.data_dir.path(), &[]);
    assert_eq!(code, 0, "{out}");
    // And on the workspace's audit page.
    let ada = v.app.logged_in("ada@example.org").await;
    let (status, _, page) = v
        .app
        .page(&ada, "/console/w/aulm/audit?action=subject.read")
        .await;
    assert_eq!(status, 200);
    assert!(page.contains("subject.read") && page.contains("cus_1"));
    assert!(!page.contains("ticket 4411"));
}

#[test]
fn commands_refuse_a_data_directory_that_does_not_exist_and_create_nothing() {
    let root = tempfile::tempdir().unwrap();
    let missing = root.path().join("mistyped").join("lethe-data");
    let m = missing.to_str().unwrap();
    let commands: Vec<Vec<&str>> = vec![
        vec!["audit", "verify", "--data-dir", m],
        vec![
            "apikey",
            "create",
            "--data-dir",
            m,
            "--workspace",
            "aulm",
            "--scope",
            "records:read",
        ],
        vec!["retention", "run", "--data-dir", m],
        vec!["keys", "rotate", "--data-dir", m],
    ];
    for args in &commands {
        let out = lethe(args).output().unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = text(&out.stderr);
        assert!(
            err.contains(m) && err.contains("does not exist"),
            "{args:?}: {err}"
        );
        assert!(
            !root.path().join("mistyped").exists(),
            "{args:?} created the directory"
        );
    }
    // Through the environment too.
    let out = lethe(&["audit", "verify"])
        .env("LETHE_DATA_DIR", m)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(!root.path().join("mistyped").exists());

    // A directory that is there but holds no Lethe is not made into one.
    let empty = root.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let (code, _, err) = verify(&empty, &[]);
    assert_ne!(code, 0);
    assert!(err.contains("holds no lethe.db"), "{err}");
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);
}
