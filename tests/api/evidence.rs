//! The evidence pack (issue 20.3) with the real binary: `lethe evidence` makes a pack of the
//! demo's `aulm` that `lethe evidence verify` accepts, each file holds what it should and no
//! person's details, a changed byte, an extra file or a changed manifest are named, the period
//! limits the request log; and the console's download for those who read the audit log.

use crate::helpers::{TestApp, lethe, spawn_app};
use chrono::Utc;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;

/// What the demo and this test put into the vault and the request desk that must never be in
/// a pack: the demo people's addresses, and what a request's person wrote.
const PERSONAL: [&str; 9] = [
    "mira.okafor@example.com",
    "jonas.berg@example.net",
    "li.wen@example.org",
    "tomas.novak@example.com",
    "sam.rivera@example.com",
    "ana.costa@example.net",
    "mira.okafor",
    "Storgatan 12",
    "Everything since my first order",
];

const BACKDATED: &str = "2026-01-15T10:00:00.000000Z";

fn arg(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The demo workspaces, three requests to `aulm` (one backdated to January and still open, one
/// completed), a consent decision in `aufum` and a read of a person's records (the access log).
/// Returns the backdated request's id.
async fn seeded(app: &TestApp) -> String {
    lethe::services::demo::load(&app.db, &app.vault).unwrap();
    let key = app.api_key("aulm", &["requests:write", "requests:read", "records:read"]);
    let mut ids = Vec::new();
    for (kind, email) in [
        ("access", "mira.okafor@example.com"),
        ("erasure", "jonas.berg@example.net"),
        ("export", "li.wen@example.org"),
    ] {
        let (status, body) = app
            .call(
                &key,
                Method::POST,
                "/api/v1/requests",
                Some(json!({"type": kind, "email": email,
                            "details": "Everything since my first order, please."})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    // The erasure request is answered at once (denied on a listed ground): its deadline is met.
    let (status, body) = app
        .call(
            &key,
            Method::POST,
            &format!("/api/v1/requests/{}/deny", ids[1]),
            Some(json!({"reason": "manifestly_unfounded_or_excessive"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // A reader of a person's records leaves an access log entry.
    let res = app
        .client
        .get(app.url("/api/v1/subjects/cus_1001/records"))
        .bearer_auth(&key)
        .header("Lethe-Access-Reason", "ticket 4711")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    // One request came in January and is still open: overdue.
    let conn = rusqlite::Connection::open(app.data_dir.path().join("lethe.db")).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    let changed = conn
        .execute(
            "UPDATE requests SET received_at = ?1, due_at = '2026-02-15T23:59:59.999999Z' \
             WHERE id = ?2",
            [BACKDATED, ids[0].as_str()],
        )
        .unwrap();
    assert_eq!(changed, 1);
    let consent = app.api_key("aufum", &["consent:write"]);
    let (status, body) = app
        .call(
            &consent,
            Method::POST,
            "/api/v1/consent",
            Some(
                json!({"subject": "lrn_2001", "choices": {"analytics": false,
                                                            "remember-preferences": true}}),
            ),
        )
        .await;
    assert!(status == 200 || status == 201, "{body}");
    ids[0].clone()
}

/// `lethe evidence` into `out`; the binary's output.
fn make(data: &Path, slug: &str, out: &Path, period: &[&str]) -> std::process::Output {
    let mut args = vec![
        "evidence",
        "--workspace",
        slug,
        "--data-dir",
        arg(data),
        "--out",
        arg(out),
    ];
    args.extend_from_slice(period);
    lethe(&args).output().unwrap()
}

fn made(data: &Path, slug: &str, out: &Path, period: &[&str]) {
    let o = make(data, slug, out, period);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), arg(out));
}

/// `lethe evidence verify`: exit code and everything it said.
fn verify(file: &Path, data: Option<&Path>) -> (i32, String) {
    let mut args = vec!["evidence", "verify", arg(file)];
    if let Some(d) = data {
        args.extend(["--data-dir", arg(d)]);
    }
    let o = lethe(&args).output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.code().unwrap_or(-1), said)
}

fn unzip(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut files = BTreeMap::new();
    for i in 0..archive.len() {
        let mut f = archive.by_index(i).unwrap();
        let mut data = Vec::new();
        f.read_to_end(&mut data).unwrap();
        files.insert(f.name().unwrap().into_owned(), data);
    }
    files
}

fn rezip(files: &BTreeMap<String, Vec<u8>>, to: &Path) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(to).unwrap());
    let options = zip::write::SimpleFileOptions::default();
    for (name, data) in files {
        zip.start_file(name.as_str(), options).unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap();
}

fn json_of(files: &BTreeMap<String, Vec<u8>>, name: &str) -> Value {
    serde_json::from_slice(&files[name]).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn request_ids(files: &BTreeMap<String, Vec<u8>>) -> Vec<String> {
    json_of(files, "requests.json")["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pack_verifies_holds_each_record_and_no_persons_details() {
    let app = spawn_app().await;
    let backdated = seeded(&app).await;
    let data = app.data_dir.path();
    // The demo's retention rules run once, so the pack has runs and claim checks to show.
    let o = lethe(&[
        "retention",
        "run",
        "--workspace",
        "aulm",
        "--data-dir",
        arg(data),
    ])
    .output()
    .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out_dir = tempfile::tempdir().unwrap();
    let pack = out_dir.path().join("aulm.zip");
    made(data, "aulm", &pack, &[]);

    let (code, said) = verify(&pack, Some(data));
    assert_eq!(code, 0, "{said}");
    assert!(said.contains("is workspace aulm's signing key"), "{said}");
    let (code, said) = verify(&pack, None);
    assert_eq!(code, 0, "{said}");
    assert!(said.contains("checked against the manifest only"), "{said}");

    let files = unzip(&std::fs::read(&pack).unwrap());
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "access-log.json",
            "audit.json",
            "consent.json",
            "incidents.json",
            "index.html",
            "manifest.json",
            "manifest.sig",
            "policies.json",
            "requests.csv",
            "requests.json",
            "retention.json",
            "ropa.csv",
            "ropa.json",
        ]
    );
    // The manifest: every other file with its size and digest, the workspace, the key.
    let manifest = json_of(&files, "manifest.json");
    assert_eq!(manifest["workspace"]["slug"], "aulm");
    assert_eq!(manifest["period"], json!({"from": null, "to": null}));
    assert_eq!(manifest["signing_key"]["alg"], "Ed25519");
    let listed = manifest["files"].as_array().unwrap();
    assert_eq!(listed.len(), files.len() - 2);
    for f in listed {
        let name = f["name"].as_str().unwrap();
        assert_eq!(f["size"], files[name].len(), "{name}");
        assert_eq!(
            f["sha256"],
            lethe::crypto::sha256_hex(&files[name]),
            "{name}"
        );
    }
    // The key is the one the privacy center publishes for receipts.
    let published =
        lethe::services::consent_receipts::public_key(&app.vault, &app.scope("aulm")).unwrap();
    assert_eq!(manifest["signing_key"]["public_key"], published.public_key);
    assert_eq!(manifest["signing_key"]["key_id"], published.key_id);

    // Each file holds what it says.
    let ropa = json_of(&files, "ropa.json");
    assert!(!ropa["records"].as_array().unwrap().is_empty(), "{ropa}");
    let policies = json_of(&files, "policies.json");
    let v1 = &policies["versions"][0];
    assert_eq!(v1["version"], 1);
    assert!(v1["effective_from"].is_string() && v1["text_sha256"].is_string());
    let retention = json_of(&files, "retention.json");
    let rules = retention["rules"].as_array().unwrap();
    let runs = retention["runs"].as_array().unwrap();
    assert!(!rules.is_empty());
    assert_eq!(runs.len(), rules.len(), "{retention}");
    assert!(
        runs.iter().all(|r| r["status"] == "completed"),
        "{retention}"
    );
    assert!(
        runs.iter()
            .any(|r| r["counts"]["deleted"].as_u64().unwrap() > 0),
        "{retention}"
    );
    assert!(
        !retention["latest_claim_checks"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{retention}"
    );
    let requests = json_of(&files, "requests.json");
    assert_eq!(requests["received"], 3, "{requests}");
    assert_eq!(requests["met"], 1, "{requests}");
    assert_eq!(requests["overdue"], 1, "{requests}");
    assert_eq!(requests["open"], 1, "{requests}");
    let old = requests["requests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == backdated.as_str())
        .unwrap();
    assert_eq!(old["received_at"], BACKDATED);
    assert_eq!(old["deadline"], "overdue");
    assert_eq!(old["kind"], "access");
    let csv = String::from_utf8(files["requests.csv"].clone()).unwrap();
    assert_eq!(csv.lines().count(), 4, "{csv}");
    let incidents = json_of(&files, "incidents.json");
    let incident = &incidents["incidents"][0];
    assert!(incident["title"].is_string() && incident["timeline"].is_array());
    let access = json_of(&files, "access-log.json");
    let months = access["months"].as_array().unwrap();
    assert_eq!(months.len(), 1, "{access}");
    assert_eq!(months[0]["reads"], 1);
    assert_eq!(months[0]["people"], 1);
    assert_eq!(months[0]["month"], Utc::now().format("%Y-%m").to_string());
    let audit = json_of(&files, "audit.json");
    assert!(audit["head"]["seq"].as_i64().unwrap() > 0, "{audit}");
    assert!(audit["head"]["hash"].as_str().unwrap().len() == 64);
    let index = String::from_utf8(files["index.html"].clone()).unwrap();
    assert!(index.contains("@media print"));
    assert!(
        index.contains("3 received: 1 answered in time, 0 late, 1 open, 1 overdue"),
        "{index}"
    );
    for f in listed.iter().filter(|f| f["name"] != "index.html") {
        assert!(
            index.contains(f["sha256"].as_str().unwrap()),
            "{}",
            f["name"]
        );
    }
    assert!(
        !index.contains("<script") && !index.contains("http"),
        "self-contained"
    );
    // Making the pack is in the audit log.
    assert!(
        app.audit_actions()
            .contains(&"evidence.exported".to_owned()),
        "{:?}",
        app.audit_actions()
    );

    // Nobody's details, in any file.
    for (name, bytes) in &files {
        let text = String::from_utf8_lossy(bytes).to_lowercase();
        for value in PERSONAL {
            assert!(
                !text.contains(&value.to_lowercase()),
                "{name} holds '{value}'"
            );
        }
    }

    // The consent statistics of the workspace with consent purposes.
    let aufum = out_dir.path().join("aufum.zip");
    made(data, "aufum", &aufum, &[]);
    let files = unzip(&std::fs::read(&aufum).unwrap());
    let consent = json_of(&files, "consent.json");
    let totals: BTreeMap<&str, (i64, i64)> = consent["totals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["purpose"].as_str().unwrap(),
                (
                    t["granted"].as_i64().unwrap(),
                    t["refused"].as_i64().unwrap(),
                ),
            )
        })
        .collect();
    assert_eq!(totals["analytics"], (0, 1), "{consent}");
    assert_eq!(totals["remember-preferences"], (1, 0), "{consent}");
    let analytics = consent["totals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["purpose"] == "analytics")
        .unwrap();
    assert_eq!(analytics["grant_rate"], "0 %", "{consent}");
    assert_eq!(consent["daily"].as_array().unwrap().len(), 2, "{consent}");
    assert_eq!(verify(&aufum, Some(data)).0, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_extra_or_missing_file_and_a_changed_manifest_are_named() {
    let app = spawn_app().await;
    seeded(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let pack = dir.path().join("pack.zip");
    made(app.data_dir.path(), "aulm", &pack, &[]);
    let files = unzip(&std::fs::read(&pack).unwrap());

    // One byte of one member.
    let mut changed = files.clone();
    changed.get_mut("requests.json").unwrap()[3] ^= 0x01;
    let bad = dir.path().join("changed.zip");
    rezip(&changed, &bad);
    let (code, said) = verify(&bad, None);
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("FAILED: requests.json differs"), "{said}");
    assert!(said.contains("signature: verifies"), "{said}");

    // One byte of the zip file itself, in a member's compressed bytes: that member is named.
    let mut raw = std::fs::read(&pack).unwrap();
    let at = {
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(raw.clone())).unwrap();
        let member = archive.by_name("incidents.json").unwrap();
        usize::try_from(member.data_start().unwrap() + member.compressed_size() / 2).unwrap()
    };
    raw[at] ^= 0x01;
    let bad = dir.path().join("flipped.zip");
    std::fs::write(&bad, &raw).unwrap();
    let (code, said) = verify(&bad, None);
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("incidents.json is damaged"), "{said}");
    assert!(!said.contains("incidents.json is missing"), "{said}");

    // A file the manifest does not list.
    let mut extra = files.clone();
    extra.insert("notes.txt".into(), b"added later".to_vec());
    let bad = dir.path().join("extra.zip");
    rezip(&extra, &bad);
    let (code, said) = verify(&bad, None);
    assert_eq!(code, 1, "{said}");
    assert!(
        said.contains("notes.txt is in the pack but not in the manifest"),
        "{said}"
    );

    // A listed file gone.
    let mut missing = files.clone();
    missing.remove("incidents.json");
    let bad = dir.path().join("missing.zip");
    rezip(&missing, &bad);
    let (code, said) = verify(&bad, None);
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("incidents.json is missing"), "{said}");

    // The manifest changed (a file's digest replaced by the digest of other bytes, so that the
    // file would match): the signature no longer holds.
    let mut forged = changed.clone();
    let manifest = String::from_utf8(files["manifest.json"].clone()).unwrap();
    let old = lethe::crypto::sha256_hex(&files["requests.json"]);
    let new = lethe::crypto::sha256_hex(&changed["requests.json"]);
    forged.insert(
        "manifest.json".into(),
        manifest.replace(&old, &new).into_bytes(),
    );
    let bad = dir.path().join("forged.zip");
    rezip(&forged, &bad);
    let (code, said) = verify(&bad, None);
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("signature does not verify"), "{said}");
    assert!(!said.contains("requests.json differs"), "{said}");

    // The untouched pack, re-zipped, still holds; not a zip at all is a usage error (2).
    let same = dir.path().join("same.zip");
    rezip(&files, &same);
    assert_eq!(verify(&same, None).0, 0);
    let junk = dir.path().join("junk.zip");
    std::fs::write(&junk, b"not a zip").unwrap();
    let (code, said) = verify(&junk, None);
    assert_eq!(code, 2, "{said}");
    let (code, said) = verify(&dir.path().join("absent.zip"), None);
    assert_eq!(code, 2, "{said}");
    // Thousands of members is not a pack: refused before any is read.
    let many: BTreeMap<String, Vec<u8>> = (0..1000).map(|i| (format!("f{i}"), vec![])).collect();
    let crowded = dir.path().join("crowded.zip");
    rezip(&many, &crowded);
    let (code, said) = verify(&crowded, None);
    assert_eq!(code, 2, "{said}");
    assert!(said.contains("1000 files: not an evidence pack"), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_period_limits_the_request_log_and_a_workspace_is_named() {
    let app = spawn_app().await;
    let backdated = seeded(&app).await;
    let data = app.data_dir.path();
    let dir = tempfile::tempdir().unwrap();

    let january = dir.path().join("january.zip");
    made(
        data,
        "aulm",
        &january,
        &["--from", "2026-01-01", "--to", "2026-01-31"],
    );
    let files = unzip(&std::fs::read(&january).unwrap());
    assert_eq!(request_ids(&files), vec![backdated.clone()]);
    let manifest = json_of(&files, "manifest.json");
    assert_eq!(
        manifest["period"],
        json!({"from": "2026-01-01", "to": "2026-01-31"})
    );
    assert_eq!(json_of(&files, "access-log.json")["months"], json!([]));
    // Policies as of the period's end: the demo's first version came later.
    assert_eq!(json_of(&files, "policies.json")["versions"], json!([]));
    assert_eq!(verify(&january, Some(data)).0, 0);

    let today = Utc::now().format("%Y-%m-%d").to_string();
    let recent = dir.path().join("recent.zip");
    made(data, "aulm", &recent, &["--from", &today]);
    let ids = request_ids(&unzip(&std::fs::read(&recent).unwrap()));
    assert_eq!(ids.len(), 2);
    assert!(!ids.contains(&backdated));

    // A workspace that is not there is named; so is a period that ends before it starts.
    let o = make(data, "nowhere", &dir.path().join("x.zip"), &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no workspace 'nowhere'"), "{err}");
    let o = make(
        data,
        "aulm",
        &dir.path().join("x.zip"),
        &["--from", "2026-02-01", "--to", "2026-01-01"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--to"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_download_is_for_those_who_read_the_audit_log_and_is_audited() {
    let app = spawn_app().await;
    seeded(&app).await;
    app.add_member("aulm", "olga@example.org", "owner");
    app.add_member("aulm", "aude@example.org", "auditor");
    app.add_member("aulm", "sven@example.org", "support");
    let dir = tempfile::tempdir().unwrap();

    for (who, email) in [
        ("owner", "olga@example.org"),
        ("auditor", "aude@example.org"),
    ] {
        let client = app.logged_in(email).await;
        let (status, _, page) = app.page(&client, "/console/w/aulm/audit").await;
        assert_eq!(status, 200);
        assert!(page.contains("/console/w/aulm/evidence.zip"), "{who}");
        let res = client
            .get(app.url("/console/w/aulm/evidence.zip?from=&to="))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{who}");
        assert_eq!(res.headers()["content-type"], "application/zip");
        let disposition = res.headers()["content-disposition"].to_str().unwrap();
        assert!(
            disposition.starts_with("attachment; filename=\"lethe-evidence-aulm-"),
            "{disposition}"
        );
        let pack = dir.path().join(format!("{who}.zip"));
        std::fs::write(&pack, res.bytes().await.unwrap()).unwrap();
        let (code, said) = verify(&pack, Some(app.data_dir.path()));
        assert_eq!(code, 0, "{who}: {said}");
    }

    // A bad date is refused, naming it.
    let client = app.logged_in("olga@example.org").await;
    let res = client
        .get(app.url("/console/w/aulm/evidence.zip?from=yesterday"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);

    // Support staff do not read the audit log, so no pack either.
    let support = app.logged_in("sven@example.org").await;
    let res = support
        .get(app.url("/console/w/aulm/evidence.zip"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);

    // Each download is an audit entry, with who made it and the manifest's digest.
    let entries = app
        .db
        .read(|c| {
            let mut stmt = c.prepare(
                "SELECT actor, detail FROM audit_log WHERE action = 'evidence.exported' \
                 ORDER BY seq",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)));
            rows?
                .collect::<Result<Vec<_>, _>>()
                .map_err(lethe::store::StoreError::from)
        })
        .unwrap();
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert!(entries[0].0.contains("olga@example.org"), "{entries:?}");
    assert!(entries[1].0.contains("aude@example.org"), "{entries:?}");
    let detail: Value = serde_json::from_str(&entries[0].1).unwrap();
    assert_eq!(detail["manifest_sha256"].as_str().unwrap().len(), 64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pack_re_signed_with_another_key_fails_against_the_workspaces_key() {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use ring::signature::{Ed25519KeyPair, KeyPair};
    let app = spawn_app().await;
    seeded(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let pack = dir.path().join("pack.zip");
    made(app.data_dir.path(), "aulm", &pack, &[]);
    let mut files = unzip(&std::fs::read(&pack).unwrap());

    // Someone edits a file, lists its new digest and signs the manifest with a key of their own,
    // which they put in the manifest: the pack holds together by itself...
    files
        .get_mut("requests.csv")
        .unwrap()
        .extend_from_slice(b"x,y\n");
    let mut manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    for f in manifest["files"].as_array_mut().unwrap() {
        let name = f["name"].as_str().unwrap().to_owned();
        f["size"] = json!(files[&name].len());
        f["sha256"] = json!(lethe::crypto::sha256_hex(&files[&name]));
    }
    let theirs = Ed25519KeyPair::from_seed_unchecked(&[42u8; 32]).unwrap();
    manifest["signing_key"]["public_key"] =
        json!(URL_SAFE_NO_PAD.encode(theirs.public_key().as_ref()));
    let bytes = serde_json::to_vec_pretty(&manifest).unwrap();
    let sig = STANDARD.encode(theirs.sign(&bytes).as_ref());
    files.insert("manifest.json".into(), bytes);
    files.insert("manifest.sig".into(), sig.into_bytes());
    let forged = dir.path().join("forged.zip");
    rezip(&files, &forged);
    let (code, said) = verify(&forged, None);
    assert_eq!(code, 0, "{said}");
    assert!(said.contains("checked against the manifest only"), "{said}");

    // ...but the key is not the workspace's, which the data directory tells.
    let (code, said) = verify(&forged, Some(app.data_dir.path()));
    assert_eq!(code, 1, "{said}");
    assert!(
        said.contains("is NOT workspace aulm's signing key"),
        "{said}"
    );
    assert!(
        said.contains("the signing key is not workspace aulm's key"),
        "{said}"
    );

    // A data directory without the workspace says so, and checks the manifest only.
    let other = spawn_app().await;
    let (code, said) = verify(&pack, Some(other.data_dir.path()));
    assert_eq!(code, 0, "{said}");
    assert!(said.contains("has no workspace 'aulm'"), "{said}");

    // One whose 'aulm' never signed anything has no key for the pack's to be: it is refused,
    // and checking leaves no new key behind.
    lethe::services::demo::load(&other.db, &other.vault).unwrap();
    let receipt_keys = || {
        rusqlite::Connection::open(other.data_dir.path().join("keys.db"))
            .unwrap()
            .query_row(
                "SELECT count(*) FROM data_keys WHERE purpose = 'consent-receipts'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap()
    };
    assert_eq!(receipt_keys(), 0);
    let (code, said) = verify(&pack, Some(other.data_dir.path()));
    assert_eq!(code, 1, "{said}");
    assert!(
        said.contains("is NOT workspace aulm's signing key"),
        "{said}"
    );
    assert_eq!(receipt_keys(), 0, "verifying made a key");
}
