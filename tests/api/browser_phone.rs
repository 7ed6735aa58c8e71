//! The console at phone width (400 x 800) in headless Chromium: no page scrolls sideways as a
//! whole (wide tables scroll inside their own container), the navigation is one "Menu" that
//! opens (a column again on a wide screen), and the e-mail search finds a person sent through the
//! API.

use super::{Browser, seed_subject, spki_sha256_base64};
use crate::helpers;
use serde_json::json;
use std::path::Path;

/// The page's width against the window's, and the elements that stick out past the window's
/// right edge outside a scrolling table (for the failure message).
const OVERFLOW: &str = "const w = window.innerWidth;\
    const out = [...document.querySelectorAll('body *')]\
      .filter(e => !e.closest('.table-wrap') && e.getBoundingClientRect().right > w + 1)\
      .slice(0, 8)\
      .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : '') + ' ' + Math.round(e.getBoundingClientRect().right));\
    return {scroll: document.documentElement.scrollWidth, inner: w, out};";

/// Which of the workspace's inventory links in the navigation are visible (the navigation holds
/// one in the wide column and one in the phone menu), and how tall the navigation is.
const NAV: &str = "const links = [...document.querySelectorAll(\"nav.sidenav a[href='/console/w/aulm/inventory']\")];\
    const summary = document.querySelector('nav.sidenav details.nav-menu > summary');\
    return {\
      visible: links.filter(a => a.checkVisibility()).map(a => a.closest('details') ? 'menu' : 'column'),\
      summary: !!summary && summary.checkVisibility(),\
      height: Math.round(document.querySelector('nav.sidenav').getBoundingClientRect().height)};";

/// Asserts that the page shown does not scroll sideways, and keeps a screenshot of it.
async fn assert_fits(browser: &Browser, dir: &Path, label: &str) {
    let m = browser.script(OVERFLOW).await;
    let (scroll, inner) = (m["scroll"].as_u64(), m["inner"].as_u64());
    assert!(
        scroll.is_some() && scroll <= inner,
        "{label} scrolls sideways at phone width: {m}"
    );
    let name = label.trim_matches('/').replace('/', "-");
    std::fs::write(
        dir.join(format!("phone-{name}.png")),
        browser.screenshot().await,
    )
    .expect("screenshot written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_fits_a_phone_and_finds_a_person_by_e_mail() {
    let app = helpers::spawn_app().await;
    let admin = app.create_admin("ada@example.org");
    app.create_workspace(admin, "aulm");
    // A full inventory and a published policy: the pages as long and wide as they get.
    lethe::services::demo::load(&app.db, &app.vault).expect("demo data");
    seed_subject(&app).await;
    // A request matched to cus_1, for the requests desk and a request's page.
    let key = app.api_key("aulm", &["requests:write"]);
    let (status, request) = app
        .call(
            &key,
            reqwest::Method::POST,
            "/api/v1/requests",
            Some(
                serde_json::json!({"type": "objection", "external_id": "cus_1",
                "purpose": "service-improvement", "details": "No more newsletters, please."}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{request}");
    let request_page = format!(
        "/console/w/aulm/requests/{}",
        request["id"].as_str().unwrap()
    );
    // The demo's open incident, for the breach register's pages.
    let incident =
        lethe::services::incidents::list(&app.db, &app.scope("aulm"), chrono::Utc::now())
            .expect("the demo register")
            .into_iter()
            .next()
            .expect("the demo incident")
            .id;
    let incident_pages = [
        format!("/console/w/aulm/incidents/{incident}"),
        format!("/console/w/aulm/incidents/{incident}/notice"),
        format!("/console/w/aulm/incidents/{incident}/letter"),
    ];
    let spki = spki_sha256_base64(&app.cert_pem);
    let mut browser = Browser::launch_sized(&spki, (400, 800)).await;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot directory");

    browser.log_in(&app, "ada@example.org").await;

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
        "/console/w/aulm/policy/1",
        "/console/w/aulm/policy/1/diff",
        "/console/w/aulm/requests",
        "/console/w/aulm/consent",
        "/console/w/aulm/incidents",
        "/console/w/aulm/incidents/new",
        "/console/w/aulm/audit",
        "/console/doctor",
        &request_page,
        &incident_pages[0],
        &incident_pages[1],
        &incident_pages[2],
    ];
    for path in pages {
        browser.goto(&app.url(path)).await;
        browser.wait_for("main h1").await;
        assert_fits(&browser, &dir, path).await;
    }
    // The pages a form leads to: a person's records (read with a reason) and a dry run.
    browser
        .goto(&app.url("/console/w/aulm/subjects/cus_1"))
        .await;
    browser
        .type_into("#reason", "ticket 4411: phone check")
        .await;
    browser.click("form.read-form button[type=submit]").await;
    let heading = browser.wait_for("ol.records .record h3").await;
    let heading = browser.text(&heading).await;
    assert!(
        heading.starts_with("Support notes support.note"),
        "the record names its category: {heading}"
    );
    assert_fits(&browser, &dir, "subject-records").await;
    browser.goto(&app.url("/console/w/aulm/retention")).await;
    browser
        .click("form[action='/console/w/aulm/retention/dry-run'] button[type=submit]")
        .await;
    browser.wait_for_text("main h1", "Dry run").await;
    assert_fits(&browser, &dir, "retention-dry-run").await;

    // The navigation is one "Menu" at the top: its links are there (no JavaScript needed) but
    // hidden until it is opened, and they do not push the page down.
    browser.goto(&app.url("/console/w/aulm/policy")).await;
    browser.wait_for("main h1").await;
    let nav = browser.script(NAV).await;
    assert_eq!(
        nav["visible"],
        json!([]),
        "closed menu shows no link: {nav}"
    );
    assert_eq!(nav["summary"], json!(true), "the Menu is shown: {nav}");
    assert!(
        nav["height"].as_u64().is_some_and(|h| h <= 80),
        "the closed menu takes {nav}"
    );
    assert_eq!(
        browser.find("nav.sidenav details.nav-menu[open]").await,
        None,
        "the menu starts closed"
    );
    browser
        .click("nav.sidenav details.nav-menu > summary")
        .await;
    let nav = browser.script(NAV).await;
    assert_eq!(nav["visible"], json!(["menu"]), "the opened menu: {nav}");
    std::fs::write(dir.join("phone-menu-open.png"), browser.screenshot().await)
        .expect("screenshot written");
    let current = browser
        .wait_for("nav.sidenav details.nav-menu a[aria-current='page']")
        .await;
    assert_eq!(
        browser.text(&current).await,
        "Policy",
        "the current page is marked"
    );
    browser
        .click("nav.sidenav details.nav-menu a[href='/console/w/aulm/inventory']")
        .await;
    browser
        .wait_for_url("the inventory from the menu", |url| {
            url.ends_with("/console/w/aulm/inventory")
        })
        .await;

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

    // On a wide screen the navigation is the column again, without a Menu to open. (The phone
    // session's viewport is fixed by its mobile emulation: a second, desktop-sized browser.)
    let mut browser = Browser::launch(&spki).await;
    browser.log_in(&app, "ada@example.org").await;
    browser.goto(&app.url("/console/w/aulm/policy")).await;
    browser.wait_for("main h1").await;
    let width = browser.script("return window.innerWidth;").await;
    assert!(
        width.as_u64().is_some_and(|w| w >= 1000),
        "the window is not wide: innerWidth {width}"
    );
    let nav = browser.script(NAV).await;
    assert_eq!(nav["visible"], json!(["column"]), "wide navigation: {nav}");
    assert_eq!(
        nav["summary"],
        json!(false),
        "no Menu on a wide screen: {nav}"
    );
    browser
        .click("nav.sidenav .nav-full a[href='/console/w/aulm/inventory']")
        .await;
    browser
        .wait_for_url("the inventory from the column", |url| {
            url.ends_with("/console/w/aulm/inventory")
        })
        .await;
    browser.quit().await;
}
