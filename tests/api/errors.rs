//! Bad input: oversized, malformed and invalid bodies, unknown routes. Nothing is half-written.

use crate::helpers::{spawn_app, spawn_app_with};
use serde_json::{Value, json};

async fn status_and_problem(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    assert_eq!(
        res.headers().get("content-type").unwrap(),
        "application/problem+json",
        "status {status}"
    );
    (status, res.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_bodies_get_413_400_415_and_422_and_change_nothing() {
    let app = spawn_app_with(|c| c.max_body_bytes = 4096).await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "aulm");
    let key = app.api_key("aulm", &["workspace:write"]);
    let url = app.url("/api/v1/workspace");
    let before = app.audit_actions().len();

    let big = json!({ "legal_name": "x".repeat(10_000) });
    let (status, body) = status_and_problem(
        app.client
            .patch(&url)
            .bearer_auth(&key)
            .json(&big)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 413);
    assert!(body["detail"].as_str().unwrap().contains("4096"));

    let send = |body: &'static str, ct: &'static str| {
        app.client
            .patch(&url)
            .bearer_auth(&key)
            .header("content-type", ct)
            .body(body)
            .send()
    };
    let (status, body) =
        status_and_problem(send("{\"legal_name\": ", "application/json").await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(body["detail"].as_str().unwrap().contains("not valid JSON"));
    let (status, _) = status_and_problem(
        send("legal_name=x", "application/x-www-form-urlencoded")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 415);
    let (status, body) = status_and_problem(
        send("{\"min_age\": \"old\"}", "application/json")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("min_age")
            || body["detail"].as_str().unwrap().contains("invalid type")
    );
    let (status, _) = status_and_problem(
        send("{\"colour\": \"blue\"}", "application/json")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 422, "unknown fields are refused, not ignored");
    // Valid JSON, one bad value among good ones: 422 naming the field, and the good ones not saved.
    let (status, body) = status_and_problem(
        send(
            "{\"legal_name\": \"Changed\", \"contact_email\": \"nope\"}",
            "application/json",
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["field"], "contact_email");
    let ws = app
        .db
        .read(|c| lethe::store::workspaces::get(c, &app.scope("aulm")))
        .unwrap();
    assert_eq!(ws.settings.legal_name, "aulm Ltd");
    assert_eq!(app.audit_actions().len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_are_404_as_problem_json_or_a_page() {
    let app = spawn_app().await;
    let (status, body) = status_and_problem(
        app.client
            .get(app.url("/api/v1/nothing-here"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(body["title"], "Not found");
    let res = app
        .client
        .get(app.url("/console/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert!(
        res.headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(res.text().await.unwrap().contains("lang=\"en\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_form_gets_a_readable_413_page() {
    let app = spawn_app_with(|c| c.max_body_bytes = 2048).await;
    app.create_admin("ada@example.org");
    let client = app.new_client();
    let big = "x".repeat(5000);
    let res = app
        .post_form(
            &client,
            "/console/login",
            &[("email", big.as_str()), ("password", "p")],
        )
        .await;
    assert_eq!(res.status(), 413);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("larger than the limit of 2048 bytes")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_body_over_the_limit_gets_a_413_problem() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // Plain HTTP (as behind a proxy) to write the chunked request by hand.
    let app = spawn_app_with(|c| {
        c.max_body_bytes = 4096;
        c.tls = lethe::config::TlsMode::Off;
    })
    .await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "aulm");
    let key = app.api_key("aulm", &["records:write"]);
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .unwrap();
    let chunk = "x".repeat(1000);
    let mut request = format!(
        "POST /api/v1/records HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    for _ in 0..10 {
        request.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    request.push_str("0\r\n\r\n");
    // The server may answer and close before it has read everything.
    let _ = stream.write_all(request.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer).to_lowercase();
    assert!(answer.starts_with("http/1.1 413"), "{answer}");
    assert!(
        answer.contains("content-type: application/problem+json"),
        "{answer}"
    );
    assert!(
        answer.contains("larger than the limit of 4096 bytes"),
        "{answer}"
    );
}

/// Found by schemathesis: serde reads a struct from an array of its fields in order, so
/// `["cus_9"]` created a subject and `[null]` started every retention rule. Every JSON body,
/// required or optional, is an object or refused; an optional one may also be `null`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_body_is_an_object_or_refused() {
    let app = spawn_app().await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "aulm");
    let key = app.api_key(
        "aulm",
        &["records:write", "inventory:write", "retention:write"],
    );
    let post = |path: &str, body: &'static str| {
        app.client
            .post(app.url(path))
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    for (path, body) in [
        ("/api/v1/subjects", r#"["cus_9"]"#),
        ("/api/v1/policies", r##"["# Privacy"]"##),
        ("/api/v1/records", r#"[[]]"#),
        ("/api/v1/retention/runs", "[null]"),
        ("/api/v1/subjects/cus_9/close", "[]"),
        ("/api/v1/subjects", "7"),
    ] {
        let (status, problem) = status_and_problem(post(path, body).await.unwrap()).await;
        assert_eq!(status, 422, "{path} {body}: {problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains("JSON object"),
            "{problem}"
        );
    }
    let (status, _) = status_and_problem(
        app.client
            .get(app.url("/api/v1/subjects/cus_9"))
            .bearer_auth(app.api_key("aulm", &["records:read"]))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404, "nothing was created");
    // An optional body may be `null`: the same as none (here: a subject that is not there).
    let (status, _) =
        status_and_problem(post("/api/v1/subjects/cus_9/close", "null").await.unwrap()).await;
    assert_eq!(status, 404);
}

/// A path the API has, asked with a method it does not answer: 405 with the methods it does,
/// as the OpenAPI document lists them; a path it does not have stays 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_method_the_path_does_not_answer_is_405_with_allow() {
    let app = spawn_app().await;
    let res = app
        .client
        .request(reqwest::Method::DELETE, app.url("/api/v1/workspace"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["allow"], "GET, PATCH");
    let (status, problem) = status_and_problem(res).await;
    assert_eq!(status, 405, "{problem}");
    let res = app
        .client
        .put(app.url("/api/v1/subjects/cus_1/records"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["allow"], "GET");
    assert_eq!(status_and_problem(res).await.0, 405);
    let res = app
        .client
        .get(app.url("/api/v1/nothing/here"))
        .send()
        .await
        .unwrap();
    assert_eq!(status_and_problem(res).await.0, 404);
}
