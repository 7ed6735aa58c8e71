//! The breach register's console pages in Chromium: axe-core finds no serious or critical
//! accessibility violation on the register, the form, an incident's page, its notice and its
//! letter to affected people, and the clock's script loads under the console's CSP.

use super::consent::axe_serious;
use super::{Browser, spki_sha256_base64};
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_incident_pages_pass_axe_and_run_the_clock_under_the_csp() {
    let s = crate::incidents::setup(|_| {}).await;
    s.ok(
        Method::PUT,
        "/api/v1/inventory/categories/support.tickets",
        json!({"key": "support.tickets", "name": "Support tickets", "sensitivity": "normal",
               "fields": [{"name": "text"}]}),
    )
    .await;
    let detected = (chrono::Utc::now() - chrono::Duration::hours(3)).to_rfc3339();
    let incident = s
        .register(
            json!({"title": "Support mailbox exposed", "detected_at": detected,
                         "categories": ["support.tickets"], "risk": "high_risk"}),
        )
        .await;
    let id = incident["id"].as_str().unwrap();
    let app = &s.app;
    let mut browser = Browser::launch(&spki_sha256_base64(&app.cert_pem)).await;
    browser.log_in(app, "ada@example.org").await;

    for path in [
        "/console/w/shop/incidents".to_owned(),
        "/console/w/shop/incidents/new".to_owned(),
        format!("/console/w/shop/incidents/{id}"),
        format!("/console/w/shop/incidents/{id}/notice"),
        format!("/console/w/shop/incidents/{id}/letter"),
    ] {
        browser.goto(&app.url(&path)).await;
        browser.wait_for("main h1").await;
        let serious = axe_serious(&browser, "body").await;
        assert!(serious.is_empty(), "axe-core on {path}: {serious:?}");
    }

    browser
        .goto(&app.url(&format!("/console/w/shop/incidents/{id}")))
        .await;
    let countdown = browser.wait_for_text("#countdown", "left").await;
    assert!(countdown.contains(" h "), "{countdown}");
    let loaded = browser
        .script(
            "return performance.getEntriesByType('resource')\
               .some(e => e.name.endsWith('/static/console-clock.js'));",
        )
        .await;
    assert_eq!(loaded, json!(true), "the clock's script loads");
    let refused: Vec<String> = browser
        .console_log()
        .await
        .into_iter()
        .filter(|m| m.contains("Content Security Policy") || m.contains("console-clock"))
        .collect();
    assert!(refused.is_empty(), "{refused:?}");
    browser.quit().await;
}
