//! The audit page's evidence pack form and the doctor's page in Chromium: axe-core finds no
//! serious or critical violation, and the form, submitted as a person submits it, downloads a
//! pack that `lethe evidence verify` accepts.

use super::consent::axe_serious;
use super::{Browser, spki_sha256_base64};
use crate::helpers::lethe;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_evidence_form_and_the_doctor_page_pass_axe_and_the_form_downloads_a_pack() {
    let s = crate::incidents::setup(|_| {}).await;
    let app = &s.app;
    let mut browser = Browser::launch(&spki_sha256_base64(&app.cert_pem)).await;
    browser.log_in(app, "ada@example.org").await;

    for path in ["/console/w/shop/audit", "/console/doctor"] {
        browser.goto(&app.url(path)).await;
        browser.wait_for("main h1").await;
        let serious = axe_serious(&browser, "body").await;
        assert!(serious.is_empty(), "axe-core on {path}: {serious:?}");
    }

    // The form as the browser sends it (its fields, its action, the session's cookie); the
    // answer read in the page, since a headless download has nowhere to go.
    browser.goto(&app.url("/console/w/shop/audit")).await;
    browser.wait_for("#evidence-from").await;
    let answer = browser
        .script(
            "const form = document.querySelector('form[aria-label=\"Download the evidence pack\"]');\
             const url = form.action + '?' + new URLSearchParams(new FormData(form));\
             return fetch(url).then(async r => [r.status, r.headers.get('content-type'),\
               btoa(String.fromCharCode(...new Uint8Array(await r.arrayBuffer())))]);",
        )
        .await;
    assert_eq!(answer[0], 200, "{answer:?}");
    assert_eq!(answer[1], "application/zip", "{answer:?}");
    use base64::Engine;
    let zip = base64::engine::general_purpose::STANDARD
        .decode(answer[2].as_str().unwrap())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pack = dir.path().join("pack.zip");
    std::fs::write(&pack, zip).unwrap();
    let out = lethe(&["evidence", "verify", pack.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    browser.quit().await;
}
