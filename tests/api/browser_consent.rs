//! The consent banner on an operator's page, in Chromium. The page is served by a tiny HTTP
//! server on another loopback port as `www.shop.example` (Chromium resolves the name to
//! loopback), another origin than Lethe; it includes `/consent.js` from Lethe and holds a
//! blocked analytics script that sets a cookie on its host and one on the parent domain
//! `shop.example`. Each decision is checked where Lethe stored it, with its signed receipt.

use super::{Browser, spki_sha256_base64};
use crate::helpers::{self, TestApp};
use reqwest::Method;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

/// Serves the shop's page at `/` (English), `/de` (German) and `/gpc` (a browser sending
/// Global Privacy Control) on a free loopback port, for the rest of the test run.
fn shop_site(lethe: &str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("shop site port");
    let port = listener.local_addr().expect("shop site address").port();
    let lethe = lethe.to_owned();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let line = String::from_utf8_lossy(&request);
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
            let (status, body) = match path.as_str() {
                "/" => ("200 OK", page(&lethe, "en", "")),
                "/de" => ("200 OK", page(&lethe, "de", "")),
                "/gpc" => (
                    "200 OK",
                    page(
                        &lethe,
                        "en",
                        "<script>Object.defineProperty(navigator, 'globalPrivacyControl', \
                         {value: true});</script>",
                    ),
                ),
                _ => ("404 Not Found", String::new()),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\n\
                 content-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://www.shop.example:{port}")
}

/// Chromium's switch that sends `shop.example` and its subdomains to loopback.
const SHOP_RESOLVES_TO_LOOPBACK: &str =
    "--host-resolver-rules=MAP shop.example 127.0.0.1, MAP *.shop.example 127.0.0.1";

/// One purpose's answer as stored: (purpose, granted, reason).
type StoredChoice = (String, bool, Option<String>);
/// A decision as stored: (source, gpc, its choices by purpose).
type StoredDecision = (String, bool, Vec<StoredChoice>);

/// Lethe's stored decisions, newest last.
fn stored_decisions(app: &TestApp) -> Vec<StoredDecision> {
    app.db
        .read(|c| {
            let mut s = c.prepare(
                "SELECT r.id, r.source, r.gpc, c.purpose_key, c.granted, c.reason \
                 FROM consent_records r JOIN consent_choices c ON c.record_id = r.id \
                 ORDER BY r.decided_at, r.id, c.purpose_key",
            )?;
            let rows = s
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, bool>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, bool>(4)?,
                        r.get::<_, Option<String>>(5)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok::<_, lethe::store::StoreError>(rows)
        })
        .unwrap()
        .into_iter()
        .fold(
            Vec::new(),
            |mut out: Vec<(String, String, bool, Vec<_>)>, row| {
                let choice = (row.3, row.4, row.5);
                match out.last_mut() {
                    Some(last) if last.0 == row.0 => last.3.push(choice),
                    _ => out.push((row.0, row.1, row.2, vec![choice])),
                }
                out
            },
        )
        .into_iter()
        .map(|(_, source, gpc, choices)| (source, gpc, choices))
        .collect()
}

/// Waits until Lethe has stored `n` decisions (the banner posts after applying a choice).
async fn decisions_stored(app: &TestApp, n: usize) -> Vec<StoredDecision> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stored = stored_decisions(app);
        if stored.len() >= n {
            assert_eq!(stored.len(), n, "{stored:?}");
            return stored;
        }
        assert!(
            Instant::now() < deadline,
            "{n} decisions never stored: {stored:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn refused(purpose: &str) -> StoredChoice {
    (purpose.to_owned(), false, None)
}

fn granted(purpose: &str) -> StoredChoice {
    (purpose.to_owned(), true, None)
}

fn page(lethe: &str, lang: &str, extra: &str) -> String {
    format!(
        r#"<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>Shop</title>
{extra}
<script>window.events = []; document.addEventListener('lethe:consent-change', e => window.events.push(e.detail));</script>
<script type="text/plain" data-lethe-category="analytics">
document.cookie = '_ga_test=1; path=/'; document.cookie = '_ga_parent=1; path=/; domain=shop.example'; localStorage.setItem('stats_last', '1'); window.analyticsRan = true;
</script>
<script src="{lethe}/consent.js" data-workspace="shop" defer></script>
</head><body><main><h1>Shop</h1><p>Welcome to the shop.</p>
<footer><a href="/" id="prefs">Cookie settings</a></footer></main></body></html>"#
    )
}

async fn inventory(app: &TestApp, site: &str) {
    let owner = app.create_admin("owner@shop.example");
    app.create_workspace(owner, "shop");
    let key = app.api_key(
        "shop",
        &["inventory:read", "inventory:write", "workspace:write"],
    );
    let (status, body) = app
        .call(
            &key,
            Method::PATCH,
            "/api/v1/workspace",
            Some(json!({"consent_origins": [site], "consent_cookie_domain": "shop.example"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    for (path, body) in [
        (
            "categories/user.device.cookie_id",
            json!({"key": "user.device.cookie_id", "name": "Cookie identifier", "sensitivity": "normal"}),
        ),
        (
            "purposes/analytics",
            json!({"key": "analytics", "name": "Counting visits", "description": "Which pages are read, to improve them.",
                   "legal_basis": "consent", "consent_prompt": "May we count your visits?",
                   "cookies": ["_ga*"], "local_storage": ["stats*"], "categories": ["user.device.cookie_id"]}),
        ),
        (
            "purposes/ads",
            json!({"key": "ads", "name": "Advertising by partners", "legal_basis": "consent",
                   "consent_prompt": "May partners show you ads?", "opt_out_of_sale": true,
                   "categories": ["user.device.cookie_id"]}),
        ),
    ] {
        let (status, body) = app
            .call(
                &key,
                Method::PUT,
                &format!("/api/v1/inventory/{path}"),
                Some(body),
            )
            .await;
        assert_eq!(status, 201, "{path}: {body}");
    }
}

/// Polls `expression` (a JavaScript expression) until it is true.
async fn wait_until(browser: &Browser, what: &str, expression: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if browser.script(&format!("return !!({expression});")).await == Value::Bool(true) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: `{expression}` stayed false"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the banner has slid fully into view.
async fn banner_in_view(browser: &Browser) {
    browser.wait_for(".lethe-banner").await;
    wait_until(
        browser,
        "the banner slides in",
        "(b => b && !b.classList.contains('lethe-off') && b.getBoundingClientRect().bottom <= innerHeight + 0.5)\
         (document.querySelector('.lethe-banner'))",
    )
    .await;
}

async fn press(browser: &Browser, key: &str) {
    browser
        .post(
            "/actions",
            json!({"actions": [{"type": "key", "id": "keyboard", "actions": [
                {"type": "keyDown", "value": key}, {"type": "keyUp", "value": key}]}]}),
        )
        .await;
}

/// The serious and critical violations axe-core finds in the element `selector` of the page
/// (axe-core from npm, installed by scripts/test).
pub(super) async fn axe_serious(browser: &Browser, selector: &str) -> Vec<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/target/test-tools/node_modules/axe-core/axe.min.js"
    );
    let axe = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "{path}: {e}: the accessibility check needs axe-core; scripts/test installs it (npm)"
        )
    });
    browser.script(&format!("{axe}\n;return true;")).await;
    let found = browser
        .script(&format!(
            "return axe.run(document.querySelector({selector:?}), {{resultTypes: ['violations']}})\
               .then(r => r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')\
               .map(v => v.id + ': ' + v.help + ' (' + v.nodes.length + ')'));"
        ))
        .await;
    serde_json::from_value(found).unwrap_or_else(|e| panic!("axe's answer: {e}"))
}

const TAB: &str = "\u{E004}";
const ESCAPE: &str = "\u{E00C}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_banner_blocks_scripts_until_consent_and_withdrawal_deletes_their_cookies() {
    let app = helpers::spawn_app().await;
    let site = shop_site(&app.base);
    inventory(&app, &site).await;
    let mut browser = Browser::launch_with(
        &spki_sha256_base64(&app.cert_pem),
        (1280, 900),
        &[SHOP_RESOLVES_TO_LOOPBACK],
    )
    .await;

    // A first visit: the banner, and the analytics script has not run.
    browser.goto(&format!("{site}/")).await;
    let banner = browser.wait_for(".lethe-banner[role='region']").await;
    banner_in_view(&browser).await;
    let facts = browser
        .script(
            "const b = document.querySelector('.lethe-banner');\
             const box = s => { const r = b.querySelector(s).getBoundingClientRect(); return [r.width, r.height]; };\
             const style = s => { const c = getComputedStyle(b.querySelector(s)); return [c.backgroundColor, c.color, c.fontWeight, c.fontSize]; };\
             return {label: b.getAttribute('aria-label'), heading: b.querySelector('h2').textContent,\
               accept: box('[data-lethe-action=accept]'), reject: box('[data-lethe-action=reject]'),\
               acceptStyle: style('[data-lethe-action=accept]'), rejectStyle: style('[data-lethe-action=reject]'),\
               policy: b.querySelector('a').href, ran: window.analyticsRan === true};",
        )
        .await;
    assert_eq!(facts["label"], "Cookie consent", "{facts}");
    assert_eq!(facts["heading"], "Your privacy choices", "{facts}");
    assert_eq!(
        facts["accept"], facts["reject"],
        "equally prominent: {facts}"
    );
    assert_eq!(facts["acceptStyle"], facts["rejectStyle"], "{facts}");
    assert_eq!(facts["policy"], app.url("/p/shop/privacy"), "{facts}");
    assert_eq!(facts["ran"], false, "analytics ran before consent");
    assert!(!browser.text(&banner).await.is_empty());
    assert!(
        browser.find("[role='dialog']").await.is_none(),
        "not modal yet"
    );
    let serious = axe_serious(&browser, ".lethe-banner").await;
    assert!(serious.is_empty(), "axe-core on the banner: {serious:?}");

    // Reject all: nothing runs, the banner goes, the decision is kept.
    browser
        .click(".lethe-banner [data-lethe-action=reject]")
        .await;
    wait_until(
        &browser,
        "the banner closes",
        "!document.querySelector('.lethe-banner')",
    )
    .await;
    let after = browser
        .script(
            "return {ran: window.analyticsRan === true, choices: lethe.consent.get(), events: window.events,\
               stored: document.cookie.includes('lethe_consent='), visitor: (document.cookie.match(/lethe_visitor=([^;]+)/) || [])[1]};",
        )
        .await;
    assert_eq!(after["ran"], false, "{after}");
    assert_eq!(
        after["choices"],
        json!({"analytics": false, "ads": false}),
        "{after}"
    );
    assert_eq!(
        after["events"],
        json!([{"analytics": false, "ads": false}]),
        "{after}"
    );
    assert_eq!(after["stored"], true, "{after}");
    let stored = decisions_stored(&app, 1).await;
    assert_eq!(
        stored[0],
        (
            "banner".to_owned(),
            false,
            vec![refused("ads"), refused("analytics")]
        )
    );
    let visitor = after["visitor"].as_str().unwrap_or_default();
    assert!(
        visitor.len() >= 22
            && visitor
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "visitor id: {after}"
    );

    // The next page view keeps the decision: no banner, still nothing run.
    browser.goto(&format!("{site}/")).await;
    wait_until(
        &browser,
        "the configuration loads",
        "lethe.consent.get() !== null",
    )
    .await;
    assert!(browser.find(".lethe-banner").await.is_none(), "asked again");
    assert_eq!(
        browser.script("return window.analyticsRan === true;").await,
        false
    );

    // Consent through the API: the blocked script runs, its cookie is set.
    browser
        .script("lethe.consent.set({analytics: true}); return null;")
        .await;
    wait_until(&browser, "analytics runs", "window.analyticsRan === true").await;
    assert_eq!(
        browser.script("return [document.cookie.includes('_ga_test=1'), document.cookie.includes('_ga_parent=1'), localStorage.getItem('stats_last'), lethe.consent.get()];").await,
        json!([true, true, "1", {"analytics": true, "ads": false}])
    );
    let stored = decisions_stored(&app, 2).await;
    assert_eq!(stored[1].2, [refused("ads"), granted("analytics")]);
    // The receipt Lethe answered with is kept in the page and verifies.
    wait_until(
        &browser,
        "the receipt is kept",
        "localStorage.getItem('lethe_receipt')",
    )
    .await;
    let receipt = browser
        .script("return JSON.parse(localStorage.getItem('lethe_receipt'));")
        .await;
    let checker = app.api_key("shop", &["consent:read"]);
    let (status, verdict) = app
        .call(
            &checker,
            Method::POST,
            "/api/v1/consent/receipts/verify",
            Some(receipt.clone()),
        )
        .await;
    assert_eq!(status, 200, "{verdict}");
    assert_eq!(verdict["valid"], true, "{verdict} for {receipt}");

    // Withdrawal: the cookie and the local-storage key the inventory lists are deleted.
    browser
        .script("lethe.consent.set({analytics: false}); return null;")
        .await;
    wait_until(
        &browser,
        "the cookies are deleted, on the host and on the parent domain",
        "!document.cookie.includes('_ga_test') && !document.cookie.includes('_ga_parent')",
    )
    .await;
    let stored = decisions_stored(&app, 3).await;
    assert_eq!(stored[2].2, [refused("ads"), refused("analytics")]);
    assert_eq!(
        browser.script("return [localStorage.getItem('stats_last'), lethe.consent.get(), window.events.length];").await,
        json!([null, {"analytics": false, "ads": false}, 2])
    );

    // The preferences from a footer link: a modal dialog that holds the focus until Escape.
    browser.script("lethe.consent.show(); return null;").await;
    browser
        .wait_for(".lethe-dialog[role='dialog'][aria-modal='true']")
        .await;
    let inside = "document.querySelector('.lethe-dialog').contains(document.activeElement)";
    wait_until(&browser, "focus moves into the dialog", inside).await;
    let serious = axe_serious(&browser, ".lethe-dialog").await;
    assert!(
        serious.is_empty(),
        "axe-core on the preferences: {serious:?}"
    );
    let labelled = browser
        .script(
            "return [...document.querySelectorAll('.lethe-dialog input')].every(i => i.labels.length === 1 && i.labels[0].textContent.trim());",
        )
        .await;
    assert_eq!(labelled, true, "every checkbox has its label");
    for _ in 0..12 {
        press(&browser, TAB).await;
        assert_eq!(
            browser.script(&format!("return {inside};")).await,
            true,
            "Tab left the modal dialog"
        );
    }
    press(&browser, ESCAPE).await;
    wait_until(
        &browser,
        "Escape closes the dialog",
        "!document.querySelector('.lethe-dialog')",
    )
    .await;

    // In German, when the page is.
    browser
        .script("document.cookie = 'lethe_consent=; path=/; max-age=0; domain=shop.example'; document.cookie = 'lethe_consent=; path=/; max-age=0'; return null;")
        .await;
    browser.goto(&format!("{site}/de")).await;
    browser.wait_for(".lethe-banner").await;
    browser
        .wait_for_text(".lethe-banner [data-lethe-action=reject]", "Alle ablehnen")
        .await;

    // Global Privacy Control: the sale purpose is refused without asking, and says why.
    browser
        .script("document.cookie = 'lethe_consent=; path=/; max-age=0; domain=shop.example'; document.cookie = 'lethe_consent=; path=/; max-age=0'; return null;")
        .await;
    browser.goto(&format!("{site}/gpc")).await;
    banner_in_view(&browser).await;
    browser
        .click(".lethe-banner [data-lethe-action=choose]")
        .await;
    let ads = browser
        .script(
            "const i = document.querySelector('.lethe-dialog input[data-key=ads]');\
             return [i.disabled, i.checked, document.getElementById(i.getAttribute('aria-describedby')).textContent];",
        )
        .await;
    assert_eq!(ads[0], true, "{ads}");
    assert_eq!(ads[1], false, "{ads}");
    assert!(
        ads[2]
            .as_str()
            .unwrap_or_default()
            .contains("Global Privacy Control"),
        "{ads}"
    );
    browser
        .click(".lethe-dialog [data-lethe-action=accept]")
        .await;
    wait_until(&browser, "analytics runs", "window.analyticsRan === true").await;
    assert_eq!(
        browser.script("return lethe.consent.get();").await,
        json!({"analytics": true, "ads": false})
    );
    // Lethe's record says GPC refused the sale purpose.
    let stored = decisions_stored(&app, 4).await;
    assert_eq!(
        stored[3],
        (
            "banner".to_owned(),
            true,
            vec![
                ("ads".to_owned(), false, Some("gpc".to_owned())),
                granted("analytics")
            ]
        )
    );

    // A material policy version comes into force: the banner asks again, once its cached
    // configuration is renewed (cleared here rather than waited for).
    app.set_notice_days("shop", 0);
    let publisher = app.api_key("shop", &["inventory:read", "inventory:write"]);
    app.complete_for_publication(&publisher, "user.device.cookie_id")
        .await;
    crate::outbox::publish(&app, &publisher, "Partners now measure ads", None).await;
    browser.goto(&format!("{site}/")).await;
    wait_until(
        &browser,
        "the decision stands",
        "lethe.consent.get() !== null",
    )
    .await;
    browser
        .post(
            "/goog/cdp/execute",
            json!({"cmd": "Network.clearBrowserCache", "params": {}}),
        )
        .await;
    browser.goto(&format!("{site}/")).await;
    banner_in_view(&browser).await;

    let console = browser.console_log().await;
    for message in &console {
        println!("browser console: {message}");
    }
    browser.quit().await;
}
