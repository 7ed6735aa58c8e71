//! The console at phone width (400 x 800) in headless Chromium: no page scrolls sideways as a
//! whole (wide tables scroll inside their own container), and the e-mail search finds a person
//! sent through the API.

use super::{Browser, seed_subject, spki_sha256_base64};
use crate::helpers::{self, PASSWORD};
use std::path::Path;

/// The page's width against the window's, and the elements that stick out past the window's
/// right edge outside a scrolling table (for the failure message).
const OVERFLOW: &str = "const w = window.innerWidth;\
    const out = [...document.querySelectorAll('body *')]\
      .filter(e => !e.closest('.table-wrap') && e.getBoundingClientRect().right > w + 1)\
      .slice(0, 8)\
      .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : '') + ' ' + Math.round(e.getBoundingClientRect().right));\
    return {scroll: document.documentElement.scrollWidth, inner: w, out};";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_fits_a_phone_and_finds_a_person_by_e_mail() {
    let app = helpers::spawn_app().await;
    let admin = app.create_admin("ada@example.org");
    app.create_workspace(admin, "aulm");
    // A full inventory and a published policy: the pages as long and wide as they get.
    lethe::services::demo::load(&app.db, &app.vault).expect("demo data");
    seed_subject(&app).await;
    let spki = spki_sha256_base64(&app.cert_pem);
    let mut browser = Browser::launch_sized(&spki, (400, 800)).await;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot directory");

    browser.goto(&app.url("/console/login")).await;
    browser.type_into("#email", "ada@example.org").await;
    browser.type_into("#password", PASSWORD).await;
    browser.click("button[type=submit]").await;
    browser
        .wait_for_url("the dashboard", |url| url.ends_with("/console/"))
        .await;

    let width = browser.script("return window.innerWidth;").await;
    assert!(
        width.as_u64().is_some_and(|w| w <= 420),
        "the window is not phone-sized: innerWidth {width}"
    );
    let pages = [
        "/console/",
        "/console/w/aulm/",
        "/console/w/aulm/subjects",
        "/console/w/aulm/subjects/cus_1",
        "/console/w/aulm/inventory",
        "/console/w/aulm/inventory/categories",
        "/console/w/aulm/inventory/purposes",
        "/console/w/aulm/inventory/systems",
        "/console/w/aulm/inventory/recipients",
        "/console/w/aulm/inventory/retention-rules",
        "/console/w/aulm/inventory/legal-holds",
        "/console/w/aulm/inventory/categories/new",
        "/console/w/aulm/inventory/categories/support.note",
        "/console/w/aulm/inventory/retention-rules/new",
        "/console/w/aulm/retention",
        "/console/w/aulm/policy",
    ];
    for path in pages {
        browser.goto(&app.url(path)).await;
        browser.wait_for("main h1").await;
        let m = browser.script(OVERFLOW).await;
        let (scroll, inner) = (m["scroll"].as_u64(), m["inner"].as_u64());
        assert!(
            scroll.is_some() && scroll <= inner,
            "{path} scrolls sideways at phone width: {m}"
        );
        let name = path.trim_matches('/').replace('/', "-");
        std::fs::write(
            dir.join(format!("phone-{name}.png")),
            browser.screenshot().await,
        )
        .expect("screenshot written");
    }

    // The navigation is there without JavaScript: the workspace's links wrap above the page.
    assert!(
        browser
            .find("nav.sidenav a[href='/console/w/aulm/inventory']")
            .await
            .is_some()
    );

    // The e-mail search, with the address typed as a person might.
    browser.goto(&app.url("/console/w/aulm/subjects")).await;
    browser
        .type_into("#email", " Grace.Hopper@Example.org")
        .await;
    browser.click("form.search button[type=submit]").await;
    browser
        .wait_for_url("the person's page", |url| {
            url.ends_with("/console/w/aulm/subjects/cus_1")
        })
        .await;
    browser
        .wait_for_text("table.access-log tbody", "Looked up by e-mail address")
        .await;
    // An address no one has: said plainly, on the same page.
    browser.goto(&app.url("/console/w/aulm/subjects")).await;
    browser.type_into("#email", "nobody@example.org").await;
    browser.click("form.search button[type=submit]").await;
    browser
        .wait_for_text("#search-result", "No person with that e-mail.")
        .await;
    browser.quit().await;
}
