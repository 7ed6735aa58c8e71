//! The OpenAPI document matches the server, as schemathesis judges it: `lethe serve` (the real
//! binary, plain HTTP on loopback) with the demo workspaces and a key with every scope, and
//! `st run` with every check over every operation of `/api/openapi.json`. Any failure fails the
//! test with schemathesis's report. Bounded by `--max-examples`, so it takes a few minutes at most
//! on two cores; the seed is fixed so that a failure reproduces (`st run ... --seed`).
//!
//! `tests/tools/schemathesis.toml` says which answers are right (a 422 for a schema-valid request
//! the domain refuses); `tests/tools/schemathesis_hooks.py` sends NDJSON bodies.

use crate::helpers::{lethe, serve};
use crate::standards::require_python_package;
use lethe::domain::apikey::Scope;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Test cases per operation and phase: about a minute alone on two cores, a few beside the rest.
const MAX_EXAMPLES: &str = "100";
const SEED: &str = "20261127";
/// Beyond this the run is killed and the test fails: the bound is part of the contract.
const TIME_LIMIT: Duration = Duration::from_secs(420);

fn tool(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/tools")
        .join(name)
        .to_str()
        .unwrap()
        .to_owned()
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("lethe runs");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_the_server_as_the_openapi_document_describes_it() {
    require_python_package("schemathesis", "schemathesis==4.32.5");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    run_ok(&mut lethe(&["demo", "--data-dir", data]));
    let mut args = vec![
        "apikey",
        "create",
        "--data-dir",
        data,
        "--workspace",
        "aulm",
    ];
    for scope in Scope::ALL {
        args.extend(["--scope", scope.as_str()]);
    }
    let key = run_ok(&mut lethe(&args)).trim().to_owned();
    assert!(key.starts_with("lethe_"), "{key}");

    let server = serve(Path::new(data), &["--no-tls"]);
    let schema = format!("{}/api/openapi.json", server.base);
    let work = dir.path().join("st");
    std::fs::create_dir(&work).unwrap();
    let document: serde_json::Value = server
        .client
        .get(&schema)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let operations: usize = document["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum();
    let report_file = work.join("report.txt");
    let started = Instant::now();
    let mut child = Command::new("st")
        .current_dir(&work)
        .env("SCHEMATHESIS_HOOKS", tool("schemathesis_hooks.py"))
        .args([
            "--no-color",
            "--config-file",
            &tool("schemathesis.toml"),
            "run",
            &schema,
        ])
        .args([
            "--checks",
            "all",
            "--max-examples",
            MAX_EXAMPLES,
            "--seed",
            SEED,
        ])
        .args(["--workers", "1", "--request-timeout", "30"])
        .args(["--header", &format!("Authorization: Bearer {key}")])
        .args([
            "--header",
            "Lethe-Access-Reason: schemathesis checks the API",
        ])
        .stdout(std::fs::File::create(&report_file).unwrap())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("st (schemathesis) runs; scripts/test installs it");
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > TIME_LIMIT {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!(
                "schemathesis ran longer than {TIME_LIMIT:?}:\n{}",
                std::fs::read_to_string(&report_file).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    server.stop();
    let report = std::fs::read_to_string(&report_file).unwrap();
    assert!(
        status.success(),
        "schemathesis found the server and /api/openapi.json apart ({:?}):\n{report}",
        started.elapsed()
    );
    // A run that tested nothing would also succeed.
    assert!(
        report.contains(&format!("Tested: {operations}")),
        "schemathesis did not test all {operations} operations:\n{report}"
    );
    eprintln!("schemathesis: {:?}\n{report}", started.elapsed());
}
