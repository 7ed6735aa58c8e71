//! Lists of people and records through the API: every subject a page at a time, query strings
//! that do not parse (named), and an erased person's records, which a legal hold keeps but which
//! are no longer theirs: read by hold.

use crate::vault::{billing, message, setup};
use serde_json::{Value, json};

async fn get_raw(v: &crate::vault::Vault, path: &str) -> (u16, String, Value) {
    let res = v
        .app
        .client
        .get(v.app.url(path))
        .bearer_auth(&v.key)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (
        status,
        content_type,
        res.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_string_that_does_not_parse_is_a_problem_naming_the_parameter() {
    let v = setup().await;
    v.subject("cus_1").await;
    for path in [
        "/api/v1/subjects?limit=abc",
        "/api/v1/subjects/cus_1/records?limit=abc",
        "/api/v1/legal-holds/tax-law/records?offset=2&limit=abc",
    ] {
        let (status, content_type, problem) = get_raw(&v, path).await;
        assert_eq!(status, 400, "{path}: {problem}");
        assert_eq!(content_type, "application/problem+json", "{path}");
        assert_eq!(problem["status"], 400);
        assert_eq!(
            problem["detail"], "The query parameter `limit` should be a whole number, not \"abc\".",
            "{path}"
        );
    }
    // The key's scope is judged first: this one may not read retention runs at all.
    let (status, _, problem) = get_raw(&v, "/api/v1/retention/runs?limit=abc").await;
    assert_eq!(status, 403, "{problem}");
    // What was sent is quoted, but not at length.
    let long = "x".repeat(4000);
    let (status, _, problem) = get_raw(&v, &format!("/api/v1/subjects?limit={long}")).await;
    assert_eq!(status, 400);
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("`limit`") && detail.len() < 200, "{detail}");
    let (status, _, problem) = get_raw(&v, "/api/v1/subjects?colour=red").await;
    assert_eq!(status, 400);
    assert_eq!(
        problem["detail"],
        "This operation takes no query parameter `colour`."
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_is_checked_before_the_query_string() {
    // A stranger learns nothing from how a query string is judged: no key, no answer but 401.
    let v = setup().await;
    for path in [
        "/api/v1/subjects?limit=abc",
        "/api/v1/retention/runs?limit=abc",
        "/api/v1/policies/1/diff?against=x",
    ] {
        let res = v
            .app
            .client
            .get(v.app.url(path))
            .bearer_auth("lethe_not_a_key")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 401, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_subject_is_listed_once_a_page_at_a_time_without_personal_values() {
    let v = setup().await;
    for n in 1..=7 {
        v.subject(&format!("cus_{n}")).await;
    }
    let (status, _) = v
        .records(json!([
            message("cus_2", "hello"),
            message("cus_2", "again")
        ]))
        .await;
    assert_eq!(status, 201);
    let mut seen = Vec::new();
    let mut pages = Vec::new();
    let mut path = "/api/v1/subjects?limit=3".to_owned();
    loop {
        let (status, page) = v.get(&path).await;
        assert_eq!(status, 200, "{page}");
        let subjects = page["subjects"].as_array().unwrap();
        pages.push(subjects.len());
        for s in subjects {
            assert!(
                s.get("email").is_none() && s.get("birth_date").is_none(),
                "{s}"
            );
            assert!(!s.to_string().contains(crate::vault::EMAIL), "{s}");
            seen.push(s["external_id"].as_str().unwrap().to_owned());
            if s["external_id"] == "cus_2" {
                assert_eq!(s["records"], 2, "{s}");
            }
        }
        match page["next_after"].as_str() {
            Some(after) => path = format!("/api/v1/subjects?limit=3&after={after}"),
            None => break,
        }
    }
    assert_eq!(pages, [3, 3, 1], "three pages, the last one says it is");
    let expected: Vec<String> = (1..=7).map(|n| format!("cus_{n}")).collect();
    assert_eq!(seen, expected, "each subject once, in order");
    assert_eq!(
        v.count("SELECT count(*) FROM subject_access_log"),
        0,
        "listing reads no one's data"
    );
    // The default page holds them all; finding by e-mail still answers a list.
    let (_, page) = v.get("/api/v1/subjects").await;
    assert_eq!(page["subjects"].as_array().unwrap().len(), 7);
    assert_eq!(page["next_after"], Value::Null);
    let (status, found) = v
        .get(&format!("/api/v1/subjects?email={}", crate::vault::EMAIL))
        .await;
    assert_eq!(status, 200);
    assert_eq!(found.as_array().unwrap().len(), 7);
    let (status, problem) = v
        .get(&format!(
            "/api/v1/subjects?email={}&limit=2",
            crate::vault::EMAIL
        ))
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_persons_held_records_are_not_theirs_and_are_read_by_the_hold() {
    let v = setup().await;
    v.subject("cus_1").await;
    v.subject("cus_2").await;
    let (status, _) = v
        .records(json!([
            message("cus_1", "bye"),
            billing("cus_1", json!({"plan": "pro"})),
            billing("cus_2", json!({"plan": "team"})),
        ]))
        .await;
    assert_eq!(status, 201);
    let (status, report) = v.post("/api/v1/subjects/cus_1/erase", json!({})).await;
    assert_eq!(status, 200, "{report}");

    let (status, content_type, problem) = get_raw(&v, "/api/v1/subjects/cus_1/records").await;
    assert_eq!(status, 410, "{problem}");
    assert_eq!(content_type, "application/problem+json");
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("was erased"), "{detail}");
    assert!(detail.contains("no longer theirs"), "{detail}");
    assert!(!detail.contains("plan"), "no record's value: {detail}");
    let (_, page) = v.get("/api/v1/subjects").await;
    let erased = &page["subjects"][0];
    assert_eq!(erased["external_id"], "cus_1");
    assert!(erased["erased_at"].is_string(), "{erased}");
    assert_eq!(
        erased["records"], 0,
        "held records are not counted as theirs"
    );

    let (status, held) = v.get("/api/v1/legal-holds/tax-law/records").await;
    assert_eq!(status, 200, "{held}");
    assert_eq!(held["hold"], "tax-law");
    assert_eq!(held["total"], 1, "cus_2's own billing record is not held");
    assert_eq!(held["records"][0]["fields"]["plan"], "pro");
    assert_eq!(held["records"][0]["held"]["until"], "2036-12-31");
    assert!(held.get("subject").is_none() && !held.to_string().contains("cus_1"));
    assert!(
        v.app
            .audit_actions()
            .contains(&"legal_hold.read".to_owned())
    );
    let (status, _) = v.get("/api/v1/legal-holds/no-such-hold/records").await;
    assert_eq!(status, 404);
    let reader = v.app.api_key("aulm", &["inventory:read"]);
    let res = v
        .app
        .client
        .get(v.app.url("/api/v1/legal-holds/tax-law/records"))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "held records need records:read");
}
