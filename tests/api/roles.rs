//! The permission matrix, checked through the console as each role.

use crate::helpers::{TestApp, spawn_app};

/// What one request is, and which roles (owner, privacy officer, support, auditor) may make it.
struct Case {
    what: &'static str,
    post: bool,
    path: &'static str,
    allowed: [bool; 4],
}

const ROLES: [&str; 4] = ["owner", "privacy_officer", "support", "auditor"];

const CASES: &[Case] = &[
    Case {
        what: "view overview",
        post: false,
        path: "/console/w/aulm/",
        allowed: [true, true, true, true],
    },
    Case {
        what: "view settings",
        post: false,
        path: "/console/w/aulm/settings",
        allowed: [true, true, true, true],
    },
    Case {
        what: "edit settings",
        post: true,
        path: "/console/w/aulm/settings",
        allowed: [true, false, false, false],
    },
    Case {
        what: "view members",
        post: false,
        path: "/console/w/aulm/members",
        allowed: [true, true, false, true],
    },
    Case {
        what: "add member",
        post: true,
        path: "/console/w/aulm/members",
        allowed: [true, false, false, false],
    },
    Case {
        what: "view keys",
        post: false,
        path: "/console/w/aulm/keys",
        allowed: [true, true, false, true],
    },
    Case {
        what: "create key",
        post: true,
        path: "/console/w/aulm/keys",
        allowed: [true, false, false, false],
    },
    Case {
        what: "read audit",
        post: false,
        path: "/console/w/aulm/audit",
        allowed: [true, true, false, true],
    },
    Case {
        what: "view inventory",
        post: false,
        path: "/console/w/aulm/inventory",
        allowed: [true, true, true, true],
    },
    Case {
        what: "post an inventory form",
        post: true,
        path: "/console/w/aulm/inventory/categories/role.test",
        allowed: [true, true, false, false],
    },
    Case {
        what: "view the policy",
        post: false,
        path: "/console/w/aulm/policy",
        allowed: [true, true, true, true],
    },
    Case {
        what: "start a policy draft",
        post: true,
        path: "/console/w/aulm/policy/new",
        allowed: [true, true, false, false],
    },
    Case {
        what: "view the outbox",
        post: false,
        path: "/console/w/aulm/outbox",
        allowed: [true, true, true, true],
    },
    Case {
        what: "view webhooks",
        post: false,
        path: "/console/w/aulm/webhooks",
        allowed: [true, true, true, true],
    },
    Case {
        what: "add a webhook endpoint",
        post: true,
        path: "/console/w/aulm/webhooks",
        allowed: [true, true, false, false],
    },
    Case {
        what: "list subjects",
        post: false,
        path: "/console/w/aulm/subjects",
        allowed: [true, true, true, true],
    },
    Case {
        what: "view a subject's page",
        post: false,
        path: "/console/w/aulm/subjects/role_read",
        allowed: [true, true, true, true],
    },
    Case {
        what: "read a person's records",
        post: true,
        path: "/console/w/aulm/subjects/role_read/records",
        allowed: [true, true, true, false],
    },
    Case {
        what: "read a restricted person's records",
        post: true,
        path: "/console/w/aulm/subjects/role_restricted/records",
        allowed: [false, true, false, false],
    },
    Case {
        what: "view consent rates",
        post: false,
        path: "/console/w/aulm/consent",
        allowed: [true, true, true, true],
    },
    Case {
        what: "read a person's consent history",
        post: true,
        path: "/console/w/aulm/subjects/role_read/consent",
        allowed: [true, true, true, false],
    },
    Case {
        what: "read a restricted person's consent history",
        post: true,
        path: "/console/w/aulm/subjects/role_restricted/consent",
        allowed: [false, true, false, false],
    },
    Case {
        what: "restrict processing",
        post: true,
        path: "/console/w/aulm/subjects/role_manage/restrict",
        allowed: [true, true, false, false],
    },
    Case {
        what: "lift a restriction",
        post: true,
        path: "/console/w/aulm/subjects/role_manage/unrestrict",
        allowed: [true, true, false, false],
    },
    // Erasure happens once per person, so each role tries its own.
    Case {
        what: "erase a person",
        post: true,
        path: "/console/w/aulm/subjects/erase_{role}/erase",
        allowed: [true, true, false, false],
    },
];

fn form_for(path: &str, csrf: &str) -> Vec<(String, String)> {
    let pairs: Vec<(&str, &str)> = if path.ends_with("/settings") {
        vec![
            ("legal_name", "Aulm Corporation"),
            ("contact_email", "a@aulm.example"),
            ("min_age", "18"),
        ]
    } else if path.contains("/inventory/") {
        vec![("name", "Role test"), ("sensitivity", "normal")]
    } else if path.ends_with("/webhooks") {
        vec![("url", "https://hooks.example.org/lethe")]
    } else if path.ends_with("/policy/new") {
        vec![]
    } else if path.ends_with("/records")
        || path.ends_with("/consent")
        || path.ends_with("/restrict")
    {
        vec![("reason", "role test ticket 1")]
    } else if path.ends_with("/unrestrict") {
        vec![]
    } else if let Some(erase) = path.strip_suffix("/erase") {
        vec![("confirm", erase.rsplit('/').next().unwrap_or_default())]
    } else if path.ends_with("/members") {
        vec![("email", "new@example.org"), ("role", "auditor")]
    } else {
        vec![("name", "role test"), ("scope", "records:read")]
    };
    pairs
        .into_iter()
        .chain([("csrf", csrf)])
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

async fn status_as(app: &TestApp, client: &reqwest::Client, case: &Case, role: &str) -> u16 {
    let path = case.path.replace("{role}", role);
    if case.post {
        let (_, csrf, _) = app.page(client, "/console/").await;
        let res = client
            .post(app.url(&path))
            .form(&form_for(&path, &csrf))
            .send()
            .await
            .unwrap();
        res.status().as_u16()
    } else {
        app.page(client, &path).await.0
    }
}

/// The people the subject cases act on, sent in through the API as the operator's systems would.
async fn subjects(app: &TestApp) {
    let key = app.api_key("aulm", &["records:write"]);
    let erase: Vec<String> = ROLES.iter().map(|r| format!("erase_{r}")).collect();
    let ids = ["role_read", "role_restricted", "role_manage"]
        .into_iter()
        .chain(erase.iter().map(String::as_str));
    for id in ids {
        let res = app
            .client
            .post(app.url("/api/v1/subjects"))
            .bearer_auth(&key)
            .json(&serde_json::json!({"external_id": id, "kind": "customer"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "{id}: {}", res.text().await.unwrap());
    }
    let res = app
        .client
        .post(app.url("/api/v1/subjects/role_restricted/restrict"))
        .bearer_auth(&key)
        .json(&serde_json::json!({"reason": "contests accuracy"}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_can_do_what_the_matrix_says_and_nothing_more() {
    let app = spawn_app().await;
    let owner = app.create_admin("owner@example.org");
    app.create_workspace(owner, "aulm");
    subjects(&app).await;
    let mut clients = vec![app.logged_in("owner@example.org").await];
    for role in &ROLES[1..] {
        let email = format!("{role}@example.org");
        app.add_member("aulm", &email, role);
        clients.push(app.logged_in(&email).await);
    }
    for case in CASES {
        for (i, client) in clients.iter().enumerate() {
            let status = status_as(&app, client, case, ROLES[i]).await;
            let ok = matches!(status, 200 | 303);
            assert_eq!(
                ok, case.allowed[i],
                "{} as {}: got {status}",
                case.what, ROLES[i]
            );
            if !ok {
                assert_eq!(status, 403, "{} as {}", case.what, ROLES[i]);
            }
        }
    }
    // A stranger to the workspace gets 404: its existence is not confirmed.
    app.create_admin("stranger@example.org");
    let stranger = app.logged_in("stranger@example.org").await;
    for case in CASES.iter().filter(|c| !c.post) {
        assert_eq!(app.page(&stranger, case.path).await.0, 404, "{}", case.what);
    }
    // Non-administrators cannot create workspaces.
    assert_eq!(
        app.page(&clients[1], "/console/workspaces/new").await.0,
        403
    );
}

/// A one-person business: its owner ticks the privacy officer role too, and then reads a
/// restricted person's records exactly as a privacy officer would, with a reason that goes to
/// the access log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_who_is_also_privacy_officer_reads_a_restricted_person_with_a_reason() {
    use serde_json::json;
    let app = spawn_app().await;
    let solo = app.create_admin("solo@example.org");
    let scope = app.create_workspace(solo, "aulm");
    let key = app.api_key("aulm", &["records:write", "inventory:write"]);
    let send = |path: &str, method: reqwest::Method, body: serde_json::Value| {
        app.client
            .request(method, app.url(path))
            .bearer_auth(&key)
            .json(&body)
            .send()
    };
    let res = send(
        "/api/v1/inventory/categories/support.note",
        reqwest::Method::PUT,
        json!({"key": "support.note", "name": "Notes", "sensitivity": "normal", "fields": [{"name": "text"}]}),
    )
    .await
    .unwrap();
    assert!(res.status().is_success());
    for (path, body) in [
        ("/api/v1/subjects", json!({"external_id": "cus_1"})),
        (
            "/api/v1/records",
            json!({"records": [{"category": "support.note", "subject": "cus_1",
                "occurred_at": "2026-11-20T10:00:00Z", "fields": {"text": "wants a refund"}}]}),
        ),
        (
            "/api/v1/subjects/cus_1/restrict",
            json!({"reason": "contests accuracy"}),
        ),
    ] {
        let res = send(path, reqwest::Method::POST, body).await.unwrap();
        assert!(res.status().is_success(), "{path}");
    }
    let client = app.logged_in("solo@example.org").await;
    let read = |reason: &'static str| {
        let (client, app) = (&client, &app);
        async move {
            let page = "/console/w/aulm/subjects/cus_1";
            let (_, csrf, _) = app.page(client, page).await;
            let res = app
                .post_form(
                    client,
                    &format!("{page}/records"),
                    &[("reason", reason), ("csrf", &csrf)],
                )
                .await;
            (res.status().as_u16(), res.text().await.unwrap())
        }
    };
    let (status, page) = read("ticket 5120").await;
    assert_eq!(status, 403, "the owner alone may not: {page}");

    // The owner ticks both roles on the members page: one form, one checkbox a role.
    let (_, csrf, members) = app.page(&client, "/console/w/aulm/members").await;
    assert!(
        members.contains(&format!("id=\"role-{solo}-privacy_officer\"")),
        "{members}"
    );
    let res = app
        .post_form(
            &client,
            &format!("/console/w/aulm/members/{solo}/role"),
            &[
                ("role", "owner"),
                ("role", "privacy_officer"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    let (_, _, members) = app.page(&client, "/console/w/aulm/members").await;
    assert!(members.contains("Owner, Privacy officer"), "{members}");

    let (status, page) = read("ticket 5121").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("wants a refund"), "{page}");
    let log = lethe::services::subjects::access_log(&app.db, &app.vault, &scope, "cus_1").unwrap();
    assert_eq!(log.len(), 1, "the read that happened, and only it");
    assert_eq!(log[0].reason, "ticket 5121");
    assert_eq!(log[0].actor, "solo@example.org");
    let actions = app.audit_actions();
    assert!(
        actions.contains(&"member.role_change".to_owned()),
        "{actions:?}"
    );
    assert!(actions.contains(&"subject.read".to_owned()), "{actions:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_owner_keeps_the_owner_role_and_every_member_keeps_a_role() {
    let app = spawn_app().await;
    let ada = app.create_admin("ada@example.org");
    app.create_workspace(ada, "aulm");
    let bob = app.add_member("aulm", "bob@example.org", "support,auditor");
    let client = app.logged_in("ada@example.org").await;
    let (_, csrf, page) = app.page(&client, "/console/w/aulm/members").await;
    assert!(
        page.contains("Support agent, Auditor (read-only)"),
        "{page}"
    );
    let set = |who: i64, roles: &[&'static str]| {
        let mut form: Vec<(&str, &str)> = roles.iter().map(|r| ("role", *r)).collect();
        form.push(("csrf", &csrf));
        let (app, client) = (&app, &client);
        async move {
            let res = app
                .post_form(
                    client,
                    &format!("/console/w/aulm/members/{who}/role"),
                    &form,
                )
                .await;
            (res.status().as_u16(), res.text().await.unwrap())
        }
    };
    let (status, page) = set(ada, &["privacy_officer"]).await;
    assert_eq!(status, 409);
    assert!(page.contains("at least one owner"), "{page}");
    let (status, page) = set(bob, &[]).await;
    assert_eq!(status, 422);
    assert!(page.contains("choose at least one role"), "{page}");
    let (status, _) = set(bob, &["support", "root"]).await;
    assert_eq!(status, 422);
    // Adding roles to the last owner is fine; so is dropping owner while another holds it.
    assert_eq!(set(ada, &["owner", "auditor"]).await.0, 303);
    assert_eq!(set(bob, &["owner", "support"]).await.0, 303);
    assert_eq!(set(bob, &["support"]).await.0, 303);
    let (status, page) = set(ada, &["auditor"]).await;
    assert_eq!(status, 409, "Ada is the last owner again: {page}");
    let changes = app
        .audit_actions()
        .into_iter()
        .filter(|a| a == "member.role_change")
        .count();
    assert_eq!(changes, 3, "each change audited, refusals not");
}
