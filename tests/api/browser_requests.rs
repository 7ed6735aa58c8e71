//! The privacy center's request form in Chromium: a person picks a type, gives an address and
//! sends it, as a browser posts it (the double-submit token from the cookie and the page).

use super::{Browser, spki_sha256_base64};
use crate::helpers;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_sends_the_request_form_in_chromium() {
    let app = helpers::spawn_app().await;
    let admin = app.create_admin("ada@example.org");
    app.create_workspace(admin, "aulm");
    let mut browser = Browser::launch(&spki_sha256_base64(&app.cert_pem)).await;

    browser.goto(&app.url("/p/aulm/")).await;
    browser.click("a[href='/p/aulm/requests/new']").await;
    browser.wait_for("#type-access").await;
    browser.click("#type-access").await;
    browser.type_into("#email", "grace@example.org").await;
    browser.type_into("#details", "Everything since 2020").await;
    browser.click("button[type=submit]").await;
    browser.wait_for_text("main h1", "Check your e-mail").await;

    let received = app
        .db
        .read(|c| {
            c.query_row(
                "SELECT count(*) FROM requests WHERE state = 'received' AND kind = 'access'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(lethe::store::StoreError::from)
        })
        .unwrap();
    assert_eq!(received, 1);
    browser.quit().await;
}
