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
];

fn form_for(path: &str, csrf: &str) -> Vec<(String, String)> {
    let pairs: Vec<(&str, &str)> = if path.ends_with("/settings") {
        vec![
            ("legal_name", "Aulm Corporation"),
            ("contact_email", "a@aulm.example"),
            ("min_age", "18"),
            ("request_deadline_days", "30"),
        ]
    } else if path.contains("/inventory/") {
        vec![("name", "Role test"), ("sensitivity", "normal")]
    } else if path.ends_with("/webhooks") {
        vec![("url", "https://hooks.example.org/lethe")]
    } else if path.ends_with("/policy/new") {
        vec![]
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

async fn status_as(app: &TestApp, client: &reqwest::Client, case: &Case) -> u16 {
    if case.post {
        let (_, csrf, _) = app.page(client, "/console/").await;
        let res = client
            .post(app.url(case.path))
            .form(&form_for(case.path, &csrf))
            .send()
            .await
            .unwrap();
        res.status().as_u16()
    } else {
        app.page(client, case.path).await.0
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_can_do_what_the_matrix_says_and_nothing_more() {
    let app = spawn_app().await;
    let owner = app.create_admin("owner@example.org");
    app.create_workspace(owner, "aulm");
    let mut clients = vec![app.logged_in("owner@example.org").await];
    for role in &ROLES[1..] {
        let email = format!("{role}@example.org");
        app.add_member("aulm", &email, role);
        clients.push(app.logged_in(&email).await);
    }
    for case in CASES {
        for (i, client) in clients.iter().enumerate() {
            let status = status_as(&app, client, case).await;
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
