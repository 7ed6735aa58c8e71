//! The inventory pages of the console, driven as a browser would: forms with the session's CSRF
//! token, 303 after a save, 422 with every typed value kept, 409 for a category in use, 403 for
//! roles that only read.

use crate::helpers::{TestApp, location, spawn_app};
use reqwest::Client;

const BASE: &str = "/console/w/aulm/inventory";

async fn setup() -> (TestApp, Client) {
    let app = spawn_app().await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "aulm");
    let client = app.logged_in("ada@example.org").await;
    (app, client)
}

/// Posts `fields` (plus the CSRF token of the page at `form_page`) to `action`.
async fn submit(
    app: &TestApp,
    client: &Client,
    form_page: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> (u16, String, String) {
    let (status, csrf, _) = app.page(client, form_page).await;
    assert_eq!(status, 200, "{form_page}");
    let mut all = fields.to_vec();
    all.push(("csrf", &csrf));
    let res = app
        .post_form(client, &format!("{BASE}{action}"), &all)
        .await;
    let status = res.status().as_u16();
    let to = location(&res);
    (status, to, res.text().await.unwrap())
}

async fn add_email_category(app: &TestApp, client: &Client) {
    let (status, to, _) = submit(
        app,
        client,
        &format!("{BASE}/categories/new"),
        "/categories/new",
        &[
            ("key", "user.contact.email"),
            ("name", "E-mail address"),
            (
                "description",
                "The address a customer signs up with.\r\nUsed to log in.",
            ),
            // Lists come one value a row, the same name repeated; empty rows are skipped.
            ("subject_kinds", "customer"),
            ("subject_kinds", "instructor"),
            ("subject_kinds", ""),
            ("source", "provided by the person"),
            ("sensitivity", "normal"),
            ("field_name", "email"),
            ("field_handling", "keep"),
            ("field_preview", ""),
            ("field_description", "the address"),
            ("field_name", "note"),
            ("field_handling", "preview"),
            ("field_preview", "40"),
            ("field_description", ""),
            ("field_name", ""),
            ("field_handling", "keep"),
            ("field_preview", ""),
            ("field_description", ""),
        ],
    )
    .await;
    assert_eq!(status, 303);
    assert!(
        to.starts_with(&format!("{BASE}/categories?done=saved")),
        "{to}"
    );
}

fn purpose_count(app: &TestApp) -> i64 {
    app.db
        .read(|c| {
            c.query_row("SELECT count(*) FROM purposes", [], |r| r.get(0))
                .map_err(lethe::store::StoreError::from)
        })
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn categories_and_purposes_are_added_edited_and_listed() {
    let (app, client) = setup().await;
    let (status, _, body) = app.page(&client, BASE).await;
    assert_eq!(status, 200);
    assert!(body.contains(r#"aria-current="page">Inventory</a>"#));
    assert!(body.contains(&format!(r#"href="{BASE}/categories/new""#)));
    assert!(
        body.contains("the inventory has no data category"),
        "the check"
    );
    let (status, _, body) = app.page(&client, &format!("{BASE}/categories")).await;
    assert_eq!(status, 200);
    assert!(body.contains("No data categories yet"), "{body}");
    assert!(body.contains(&format!(r#"href="{BASE}/categories" aria-current="page""#)));

    add_email_category(&app, &client).await;

    // The purpose form offers the category as a checkbox.
    let (_, _, form) = app.page(&client, &format!("{BASE}/purposes/new")).await;
    assert!(form.contains(r#"name="categories" value="user.contact.email""#));
    assert!(form.contains("Legitimate interests (Art. 6(1)(f))"));
    let (status, _, _) = submit(
        &app,
        &client,
        &format!("{BASE}/purposes/new"),
        "/purposes/new",
        &[
            ("key", "account"),
            ("name", "Running the account"),
            ("legal_basis", "contract"),
            ("balancing_note", ""),
            ("categories", "user.contact.email"),
        ],
    )
    .await;
    assert_eq!(status, 303);

    // Edit: the key is the address, the form shows the saved values and the box ticked.
    let edit = format!("{BASE}/purposes/account");
    let (status, _, form) = app.page(&client, &edit).await;
    assert_eq!(status, 200);
    assert!(form.contains(r#"value="Running the account""#));
    assert!(form.contains(r#"value="user.contact.email" id="categories-1" checked"#));
    assert!(
        !form.contains(r#"name="key""#),
        "the key of an existing item is not editable"
    );
    let (status, _, _) = submit(
        &app,
        &client,
        &edit,
        "/purposes/account",
        &[
            ("name", "Preventing abuse of accounts"),
            ("legal_basis", "legitimate_interests"),
            (
                "balancing_note",
                "Abuse harms every customer; only the address is used.",
            ),
            ("categories", "user.contact.email"),
        ],
    )
    .await;
    assert_eq!(status, 303);

    // Each kind has its page; items are listed by name, their keys second.
    let (_, _, body) = app.page(&client, &format!("{BASE}/categories")).await;
    assert!(body.contains("E-mail address"));
    assert!(body.contains(r#"<code class="key">user.contact.email</code>"#));
    assert!(body.contains("customer, instructor"));
    assert!(body.contains("note (preview, 40 characters)"));
    let (_, _, body) = app.page(&client, &format!("{BASE}/purposes")).await;
    assert!(body.contains("Preventing abuse of accounts"));
    assert!(body.contains("Legitimate interests (Art. 6(1)(f))"));
    assert!(body.contains("only the address is used"));
    assert!(body.contains(&format!(r#"href="{BASE}/purposes/account""#)));
    assert!(
        body.contains(r#"E-mail address <code class="key">user.contact.email</code>"#),
        "categories by name: {body}"
    );
    let (_, _, overview) = app.page(&client, BASE).await;
    assert!(overview.contains(r#"Purposes <span class="count">(1)</span>"#));
    // A textarea's line breaks become one paragraph; each field and kind is a row of its own,
    // with two spare rows.
    let (_, _, form) = app
        .page(&client, &format!("{BASE}/categories/user.contact.email"))
        .await;
    assert!(form.contains("The address a customer signs up with. Used to log in."));
    assert!(form.contains(r#"id="fields-1" name="field_name" value="email""#));
    assert!(form.contains(r#"id="fields-2-preview" name="field_preview" value="40""#));
    assert!(form.contains(r#"id="fields-4" name="field_name" value="""#));
    assert!(!form.contains(r#"id="fields-5""#));
    assert!(form.contains(r#"id="subject_kinds-2" name="subject_kinds" value="instructor""#));
    assert!(form.contains(r#"id="subject_kinds-4" name="subject_kinds" value="""#));

    let actions = app.audit_actions();
    assert!(actions.contains(&"inventory.category.put".to_owned()));
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "inventory.purpose.put")
            .count(),
        2
    );
    // A key that is taken is not silently replaced by the "new" form.
    let (status, _, body) = submit(
        &app,
        &client,
        &format!("{BASE}/purposes/new"),
        "/purposes/new",
        &[
            ("key", "account"),
            ("name", "Other"),
            ("legal_basis", "consent"),
        ],
    )
    .await;
    assert_eq!(status, 422);
    assert!(body.contains("already used by another purpose"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_input_is_refused_with_the_typed_values_kept() {
    let (app, client) = setup().await;
    add_email_category(&app, &client).await;

    let (status, _, body) = submit(
        &app,
        &client,
        &format!("{BASE}/purposes/new"),
        "/purposes/new",
        &[
            ("key", "fraud-prevention"),
            ("name", "Stopping <fraud> & abuse"),
            ("description", "Typed with care"),
            ("legal_basis", "legitimate_interests"),
            ("balancing_note", "   "),
            ("categories", "user.contact.email"),
        ],
    )
    .await;
    assert_eq!(status, 422);
    assert!(body.contains("Nothing was saved"));
    assert!(
        body.contains("is required for legitimate interests"),
        "{body}"
    );
    assert!(body.contains(
        r#"id="balancing_note" name="balancing_note" rows="4" cols="60" aria-invalid="true""#
    ));
    assert!(body.contains(r#"value="fraud-prevention""#));
    assert!(
        body.contains(r#"value="Stopping &#60;fraud&#62; &#38; abuse""#)
            || body.contains("Stopping &lt;fraud&gt; &amp; abuse"),
        "{body}"
    );
    assert!(body.contains("Typed with care"));
    assert!(body.contains(r#"value="legitimate_interests" selected"#));
    assert!(body.contains(r#"value="user.contact.email" id="categories-1" checked"#));
    assert_eq!(purpose_count(&app), 0);

    // Bad field rows are named by their row, next to it; the rest of the form comes back.
    let mut fields = vec![
        ("key", "usage.message_log"),
        ("name", "Message log"),
        ("sensitivity", "high"),
    ];
    for (name, handling) in [
        ("recipient", "keep"),
        ("payload", "shred"),
        ("Preview", "preview"),
        ("", "keep"),
    ] {
        fields.extend([
            ("field_name", name),
            ("field_handling", handling),
            ("field_preview", ""),
            ("field_description", ""),
        ]);
    }
    let (status, _, body) = submit(
        &app,
        &client,
        &format!("{BASE}/categories/new"),
        "/categories/new",
        &fields,
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        body.contains("Fields, row 2: &#39;shred&#39; is not a handling")
            || body.contains("Fields, row 2: 'shred' is not a handling"),
        "{body}"
    );
    assert!(body.contains("Fields, row 3: name"), "{body}");
    assert!(body.contains("Fields, row 3: preview_chars"), "{body}");
    assert!(body.contains(r#"<p class="field-error" id="fields-3-error">"#));
    assert!(body.contains(r#"id="fields-2" name="field_name" value="payload""#));
    assert!(body.contains(r#"value="high" selected"#));
    let (_, _, list) = app.page(&client, &format!("{BASE}/categories")).await;
    assert!(!list.contains("usage.message_log"));

    // A retention rule needs a category and a number of days.
    let (status, _, body) = submit(
        &app,
        &client,
        &format!("{BASE}/retention-rules/new"),
        "/retention-rules/new",
        &[
            ("key", "emails"),
            ("category", ""),
            ("trigger", "account_closed"),
            ("days", "thirty"),
            ("action", "anonymize"),
        ],
    )
    .await;
    assert_eq!(status, 422);
    assert!(body.contains("choose the data category"), "{body}");
    assert!(body.contains("Days must be a whole number"), "{body}");
    assert!(body.contains(r#"value="thirty""#));
    assert!(body.contains(r#"value="account_closed" selected"#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_category_in_use_cannot_be_deleted() {
    let (app, client) = setup().await;
    add_email_category(&app, &client).await;
    for (kind, fields) in [
        (
            "systems",
            vec![
                ("key", "main-db"),
                ("name", "Main database"),
                ("location", "EU (Germany)"),
                ("categories", "user.contact.email"),
            ],
        ),
        (
            "recipients",
            vec![
                ("key", "mailer"),
                ("name", "Mail delivery"),
                ("role", "processor"),
                ("purpose", "e-mail delivery"),
                ("country", "us"),
                ("safeguard", "sccs"),
                ("categories", "user.contact.email"),
            ],
        ),
        (
            "retention-rules",
            vec![
                ("key", "emails"),
                ("category", "user.contact.email"),
                ("trigger", "account_closed"),
                ("days", "30"),
                ("action", "delete"),
            ],
        ),
        (
            "legal-holds",
            vec![
                ("key", "tax"),
                ("category", ""),
                ("reason", "Accounting law"),
                ("until", "2031-12-31"),
            ],
        ),
    ] {
        let new = format!("{BASE}/{kind}/new");
        let (status, _, body) = submit(&app, &client, &new, &format!("/{kind}/new"), &fields).await;
        assert_eq!(status, 303, "{kind}: {body}");
    }
    let page = |kind: &str| {
        let (app, client) = (&app, &client);
        let path = format!("{BASE}/{kind}");
        async move { app.page(client, &path).await.2 }
    };
    let body = page("recipients").await;
    assert!(body.contains("standard contractual clauses (Art. 46(2)(c))"));
    assert!(body.contains(">US<"));
    let body = page("retention-rules").await;
    assert!(body.contains("30 days after account closure"));
    assert!(body.contains(r#"E-mail address <code class="key">user.contact.email</code>"#));
    let body = page("legal-holds").await;
    assert!(body.contains("all categories"));
    assert!(body.contains("2031-12-31"));

    let edit = format!("{BASE}/categories/user.contact.email");
    let (status, _, body) = submit(
        &app,
        &client,
        &edit,
        "/categories/user.contact.email/delete",
        &[],
    )
    .await;
    assert_eq!(status, 409);
    assert!(body.contains("Nothing was deleted"), "{body}");
    assert!(
        body.contains("system &#39;main-db&#39;") || body.contains("system 'main-db'"),
        "{body}"
    );
    assert!(body.contains("E-mail address"), "the categories are shown");
    assert!(body.contains(r#"<h1>Data categories</h1>"#));

    // Once nothing uses it, it goes.
    for (kind, key) in [
        ("systems", "main-db"),
        ("recipients", "mailer"),
        ("retention-rules", "emails"),
    ] {
        let (status, _, _) = submit(
            &app,
            &client,
            &format!("{BASE}/{kind}/{key}"),
            &format!("/{kind}/{key}/delete"),
            &[],
        )
        .await;
        assert_eq!(status, 303, "{kind}");
    }
    let (status, to, _) = submit(
        &app,
        &client,
        &edit,
        "/categories/user.contact.email/delete",
        &[],
    )
    .await;
    assert_eq!(status, 303);
    assert!(to.contains("done=deleted"));
    assert_eq!(app.page(&client, &edit).await.0, 404);
    assert!(
        app.audit_actions()
            .contains(&"inventory.category.delete".to_owned())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_reads_but_cannot_change() {
    let (app, owner) = setup().await;
    add_email_category(&app, &owner).await;
    app.add_member("aulm", "audrey@example.org", "auditor");
    let auditor = app.logged_in("audrey@example.org").await;

    let (status, csrf, body) = app.page(&auditor, &format!("{BASE}/categories")).await;
    assert_eq!(status, 200);
    assert!(body.contains("E-mail address"));
    assert!(!body.contains("/categories/new"), "no add links");
    assert!(!body.contains(&format!(r#"href="{BASE}/categories/user.contact.email""#)));
    assert_eq!(
        app.page(&auditor, &format!("{BASE}/categories/new"))
            .await
            .0,
        403
    );

    for (path, fields) in [
        (
            "/categories/new",
            vec![("key", "x.y"), ("name", "X"), ("sensitivity", "low")],
        ),
        (
            "/categories/user.contact.email",
            vec![("name", "Changed"), ("sensitivity", "low")],
        ),
        ("/categories/user.contact.email/delete", vec![]),
    ] {
        let mut fields = fields;
        fields.push(("csrf", &csrf));
        let res = app
            .post_form(&auditor, &format!("{BASE}{path}"), &fields)
            .await;
        assert_eq!(res.status(), 403, "{path}");
    }
    let (_, _, body) = app.page(&owner, &format!("{BASE}/categories")).await;
    assert!(body.contains("E-mail address") && !body.contains("Changed"));

    // A post without the session's token is refused even for the owner.
    let res = app
        .post_form(
            &owner,
            &format!("{BASE}/categories/user.contact.email/delete"),
            &[("csrf", "forged")],
        )
        .await;
    assert_eq!(res.status(), 403);
    // Unknown kinds are no page.
    assert_eq!(
        app.page(&owner, &format!("{BASE}/widgets/new")).await.0,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_are_shown_escaped() {
    let (app, client) = setup().await;
    let (status, _, _) = submit(
        &app,
        &client,
        &format!("{BASE}/categories/new"),
        "/categories/new",
        &[
            ("key", "user.name"),
            ("name", "<script>alert(1)</script>"),
            ("sensitivity", "normal"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    for path in [
        format!("{BASE}/categories"),
        format!("{BASE}/categories/user.name"),
        format!("{BASE}/purposes/new"),
    ] {
        let (_, _, body) = app.page(&client, &path).await;
        assert!(!body.contains("<script>alert(1)</script>"), "{path}");
        assert!(
            body.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
            "{path}: {body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_offers_the_taxonomy_and_a_ropa_download() {
    let app = crate::helpers::spawn_app().await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "aulm");
    lethe::services::demo::load(&app.db, &app.vault).unwrap();
    let client = app.logged_in("ada@example.org").await;
    let (status, _, form) = app
        .page(&client, "/console/w/aulm/inventory/categories/new")
        .await;
    assert_eq!(status, 200);
    assert!(
        form.contains("<datalist id=\"taxonomy\">")
            && form.contains("value=\"user.contact.email\"")
    );
    let res = client
        .get(app.url("/console/w/aulm/inventory/ropa.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("ropa-aulm.csv")
    );
    let csv = res.text().await.unwrap();
    assert!(csv.lines().count() > 5, "one row per purpose: {csv}");
    assert!(csv.contains("Preventing abuse, fraud and attacks"));
}
