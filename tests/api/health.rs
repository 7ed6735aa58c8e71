//! Probes, metrics, OpenAPI, well-known files, security headers and TLS behaviour.

use crate::helpers::{client_for, spawn_app, spawn_app_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_and_readyz_answer_over_https() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"status": "ok"}));
    let res = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_carries_strict_security_headers() {
    let app = spawn_app().await;
    for path in [
        "/healthz",
        "/console/login",
        "/no/such/page",
        "/api/v1/workspace",
        "/static/console.css",
    ] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        let h = res.headers();
        let csp = h
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert!(
            h.get("strict-transport-security").is_some(),
            "{path}: no HSTS"
        );
        assert_eq!(
            h.get("x-content-type-options").unwrap(),
            "nosniff",
            "{path}"
        );
        assert_eq!(h.get("referrer-policy").unwrap(), "no-referrer", "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_by_route_and_status() {
    const TOKEN: &str = "metrics-token-0123456789";
    let app = spawn_app_with(|c| c.metrics_token = Some(lethe::config::Secret::new(TOKEN))).await;
    // The counts are the operator's business only.
    for token in [None, Some("wrong-token-000000000000")] {
        let mut req = app.client.get(app.url("/metrics"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 401);
        assert!(!res.text().await.unwrap().contains("lethe_"));
    }
    for _ in 0..3 {
        app.client.get(app.url("/healthz")).send().await.unwrap();
    }
    app.client
        .get(app.url("/api/v1/workspace"))
        .send()
        .await
        .unwrap();
    let text = app.metrics(TOKEN).await;
    assert!(
        text.contains(
            "lethe_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 3"
        ),
        "{text}"
    );
    assert!(
        text.contains("route=\"/api/v1/workspace\",status=\"401\""),
        "{text}"
    );
    assert!(text.contains("lethe_http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\",status=\"200\",le=\"+Inf\"} 3"));
    assert!(text.contains("lethe_workspaces 0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_metrics_are_off() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    assert!(res.text().await.unwrap().contains("--metrics-token"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_is_3_1_and_lists_the_api() {
    let app = spawn_app().await;
    let doc: serde_json::Value = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    for p in ["/api/v1/workspace", "/api/v1/audit", "/api/v1/audit/{seq}"] {
        assert!(paths.contains_key(p), "{p} missing");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["api_key"]["scheme"],
        "bearer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_txt_names_the_administrator() {
    let app = spawn_app().await;
    app.create_admin("ops@example.org");
    let res = app
        .client
        .get(app.url("/.well-known/security.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(text.contains("Contact: mailto:ops@example.org"), "{text}");
    assert!(text.contains("Expires: "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_self_signed_certificate_covers_localhost_and_is_reused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    let first = spawn_app_with(|c| c.data_dir = path.clone()).await;
    // The same certificate answers for localhost, which the client checks against the SAN.
    let by_name = format!("https://localhost:{}/healthz", first.port);
    assert_eq!(
        first.client.get(by_name).send().await.unwrap().status(),
        200
    );
    let second = spawn_app_with(|c| c.data_dir = path.clone()).await;
    assert_eq!(
        first.cert_pem, second.cert_pem,
        "a restart must reuse the certificate"
    );
    // A client that trusts a different certificate refuses the connection.
    let other = tempfile::tempdir().unwrap();
    let stranger = spawn_app_with(|c| c.data_dir = other.path().to_owned()).await;
    let res = client_for(&stranger.cert_pem)
        .get(second.url("/healthz"))
        .send()
        .await;
    assert!(
        res.is_err(),
        "a certificate that was not trusted was accepted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_redirects_to_https() {
    let app =
        spawn_app_with(|c| c.http_redirect_listen = Some("127.0.0.1:0".parse().unwrap())).await;
    let port = app.redirect_port.expect("redirect listener");
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = plain
        .get(format!(
            "http://127.0.0.1:{port}/console/login?next=/console/"
        ))
        .header("Host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 308);
    // The target comes from configuration, not from the Host header.
    assert_eq!(
        crate::helpers::location(&res),
        app.url("/console/login?next=/console/")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_pem_files_are_served_instead_of_the_generated_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let generated =
        rcgen::generate_simple_self_signed(vec!["lethe.test".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
    let (c, k) = (cert.clone(), key.clone());
    let app = spawn_app_with(move |config| {
        config.tls = lethe::config::TlsMode::Files { cert: c, key: k }
    })
    .await;
    assert_eq!(app.cert_pem, generated.cert.pem().into_bytes());
    assert_eq!(
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert!(
        !app.data_dir.path().join("tls").exists(),
        "no self-signed certificate was generated"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_tls_serves_plain_http_for_a_proxy() {
    let app = spawn_app_with(|c| c.tls = lethe::config::TlsMode::Off).await;
    assert!(app.base.starts_with("http://"));
    let res = reqwest::get(app.url("/readyz")).await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_reference_is_served_from_the_binary_and_lists_every_scope() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/api/docs")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("default-src 'none'") || csp.contains("default-src 'self'"),
        "{csp}"
    );
    let page = res.text().await.unwrap();
    assert!(
        page.contains("<code>POST /api/v1/records</code>"),
        "the operations"
    );
    assert!(page.contains("<code>records:write</code>"), "their scopes");
    for scope in lethe::domain::apikey::Scope::ALL {
        assert!(
            page.contains(&scope.explain().replace('\'', "&#39;")),
            "{} is explained",
            scope.as_str()
        );
    }
    assert!(
        !page.contains("<script") && !page.contains("http://") && !page.contains("https://"),
        "nothing from elsewhere"
    );
}
