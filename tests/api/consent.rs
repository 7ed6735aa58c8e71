//! Consent decisions through the API: recorded durably by the group-commit writer, the current
//! state derived from them per purpose, a withdrawal as easy as a grant, a person's requests
//! (restriction, withdrawal, objection) shown as refusals, renewal after a material policy
//! change, records append-only, and nothing another workspace's key can see.

use crate::helpers::{TestApp, spawn_app};
use crate::outbox::publish;
use reqwest::Method;
use serde_json::{Value, json};

/// The `/metrics` token of the servers [`Shop::with_banner`] starts.
pub(crate) const METRICS_TOKEN: &str = "metrics-token-for-consent";

pub(crate) struct Shop {
    pub(crate) app: TestApp,
    pub(crate) key: String,
}

impl Shop {
    /// A server taking `rate` banner decisions a minute per network, with a metrics token, and
    /// the workspace `shop`: consent purposes (key, opted out of by GPC as a sale) and
    /// `https://shop.example` as its banner's origin.
    pub(crate) async fn with_banner(rate: u32, purposes: &[(&str, bool)]) -> Shop {
        let app = crate::helpers::spawn_app_with(|c| {
            c.consent_rate = rate;
            c.metrics_token = Some(lethe::config::Secret::new(METRICS_TOKEN));
        })
        .await;
        let owner = app.create_admin("ada@example.org");
        app.create_workspace(owner, "shop");
        let key = app.api_key(
            "shop",
            &["inventory:write", "workspace:write", "consent:read"],
        );
        let shop = Shop { app, key };
        for &(purpose, sold) in purposes {
            let (status, body) = shop
                .call(
                    Method::PUT,
                    &format!("/api/v1/inventory/purposes/{purpose}"),
                    Some(
                        json!({"key": purpose, "name": purpose, "legal_basis": "consent",
                        "consent_prompt": "May we?", "opt_out_of_sale": sold}),
                    ),
                )
                .await;
            assert_eq!(status, 201, "{body}");
        }
        let (status, body) = shop
            .call(
                Method::PATCH,
                "/api/v1/workspace",
                Some(json!({"consent_origins": ["https://shop.example"]})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        shop
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.app.call(&self.key, method, path, body).await
    }

    async fn decide(&self, body: Value) -> (u16, Value) {
        self.call(Method::POST, "/api/v1/consent", Some(body)).await
    }

    async fn state(&self, subject: &str) -> Vec<(String, String)> {
        let (status, body) = self
            .call(Method::GET, &format!("/api/v1/consent/{subject}"), None)
            .await;
        assert_eq!(status, 200, "{body}");
        body["purposes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["purpose"].as_str().unwrap().to_owned(),
                    p["state"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

/// `shop` with two consent purposes (`analytics`, `newsletter`), one contract purpose, and the
/// subject `cus_1`.
async fn shop() -> Shop {
    let app = spawn_app().await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "shop");
    let key = app.api_key(
        "shop",
        &[
            "consent:read",
            "consent:write",
            "inventory:write",
            "records:write",
            "requests:write",
            "requests:read",
            "workspace:write",
        ],
    );
    let s = Shop { app, key };
    let (status, body) = s
        .call(
            Method::PUT,
            "/api/v1/inventory/categories/usage",
            Some(json!({"key": "usage", "name": "Usage", "sensitivity": "normal"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    for (key, basis) in [
        ("analytics", "consent"),
        ("newsletter", "consent"),
        ("orders", "contract"),
    ] {
        let (status, body) = s
            .call(
                Method::PUT,
                &format!("/api/v1/inventory/purposes/{key}"),
                Some(match basis {
                    "consent" => json!({"key": key, "name": key, "legal_basis": basis,
                        "categories": ["usage"], "consent_prompt": format!("May we use {key}?")}),
                    _ => json!({"key": key, "name": key, "legal_basis": basis,
                        "categories": ["usage"]}),
                }),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    s.app.complete_for_publication(&s.key, "usage").await;
    let (status, body) = s
        .call(
            Method::POST,
            "/api/v1/subjects",
            Some(json!({"external_id": "cus_1", "email": "grace@example.org"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_is_recorded_and_the_latest_per_purpose_is_the_state() {
    let s = shop().await;
    assert_eq!(
        s.state("cus_1").await,
        pairs(&[("analytics", "not_asked"), ("newsletter", "not_asked")])
    );
    let (status, recorded) = s
        .decide(json!({"subject": "cus_1", "choices": {"newsletter": true}}))
        .await;
    assert_eq!(status, 201, "{recorded}");
    assert_eq!(recorded["source"], "api");
    let first = recorded["id"].as_str().unwrap().to_owned();
    assert_eq!(
        s.state("cus_1").await,
        pairs(&[("analytics", "not_asked"), ("newsletter", "granted")])
    );
    let (_, body) = s.call(Method::GET, "/api/v1/consent/cus_1", None).await;
    assert_eq!(body["purposes"][1]["record"], first.as_str());
    assert_eq!(body["purposes"][1]["granted"], true);

    // A withdrawal is the same call.
    let (status, recorded) = s
        .decide(json!({"subject": "cus_1", "choices": {"newsletter": false, "analytics": true}}))
        .await;
    assert_eq!(status, 201, "{recorded}");
    assert_eq!(
        s.state("cus_1").await,
        pairs(&[("analytics", "granted"), ("newsletter", "refused")])
    );

    // GPC sent by the person's browser is kept with the decision.
    let (status, recorded) = s
        .decide(json!({"subject": "cus_1", "choices": {"analytics": false}, "gpc": true}))
        .await;
    assert_eq!(status, 201);
    assert_eq!(recorded["gpc"], true);

    // Records are append-only, even by hand.
    let changed = s.app.db.write(|tx| {
        tx.execute("UPDATE consent_choices SET granted = 1", [])
            .map_err(lethe::store::StoreError::from)
    });
    assert!(changed.is_err(), "an update of a decision is refused");
    // The decision is its own record: not copied into the audit chain.
    assert!(
        !s.app
            .audit_actions()
            .iter()
            .any(|a| a.starts_with("consent."))
    );

    // The person's access package holds their consent history, newest first.
    let (status, request) = s
        .call(
            Method::POST,
            "/api/v1/requests",
            Some(json!({"type": "access", "external_id": "cus_1"})),
        )
        .await;
    assert_eq!(status, 201, "{request}");
    assert_eq!(request["state"], "completed", "{request}");
    let res = s
        .app
        .client
        .get(s.app.url(&format!(
            "/api/v1/requests/{}/package",
            request["id"].as_str().unwrap()
        )))
        .bearer_auth(&s.key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let bytes = res.bytes().await.unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.as_ref())).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("consent.json").unwrap(), &mut text).unwrap();
    let history: Value = serde_json::from_str(&text).unwrap();
    let decisions = history["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 3, "{history}");
    assert_eq!(decisions[2]["record"], first.as_str(), "oldest last");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_decisions_are_refused_by_field_and_nothing_is_stored() {
    let s = shop().await;
    for (body, field) in [
        (
            json!({"subject": "cus_1", "choices": {"orders": true}}),
            "choices",
        ),
        (
            json!({"subject": "cus_1", "choices": {"billing": true}}),
            "choices",
        ),
        (json!({"subject": "cus_1", "choices": {}}), "choices"),
        (
            json!({"subject": "nobody", "choices": {"analytics": true}}),
            "subject",
        ),
        (
            json!({"subject": "cus_1", "choices": {"analytics": true},
                "decided_at": "2026-01-01T00:00:00Z"}),
            "decided_at",
        ),
        (
            json!({"subject": "cus_1", "choices": {"analytics": true}, "source": "import",
                "decided_at": "2999-01-01T00:00:00Z"}),
            "decided_at",
        ),
    ] {
        let (status, problem) = s.decide(body.clone()).await;
        assert_eq!(status, 422, "{body}: {problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    let (status, _) = s
        .decide(json!({"subject": "cus_1", "choices": "yes"}))
        .await;
    assert_eq!(status, 422);
    let stored: i64 = s
        .app
        .db
        .read(|c| {
            c.query_row("SELECT count(*) FROM consent_records", [], |r| r.get(0))
                .map_err(lethe::store::StoreError::from)
        })
        .unwrap();
    assert_eq!(stored, 0);

    // An import says when; another workspace's key sees nothing of cus_1.
    let (status, recorded) = s
        .decide(
            json!({"subject": "cus_1", "choices": {"analytics": true}, "source": "import",
            "decided_at": "2025-06-01T12:00:00Z"}),
        )
        .await;
    assert_eq!(status, 201, "{recorded}");
    assert_eq!(recorded["source"], "import");
    assert!(
        recorded["decided_at"]
            .as_str()
            .unwrap()
            .starts_with("2025-06-01")
    );
    let owner = s.app.create_admin("eve@example.org");
    s.app.create_workspace(owner, "other");
    let eve = s.app.api_key("other", &["consent:read", "consent:write"]);
    let (status, _) = s
        .app
        .call(&eve, Method::GET, "/api/v1/consent/cus_1", None)
        .await;
    assert_eq!(status, 404);
    let (status, _) = s
        .app
        .call(
            &eve,
            Method::POST,
            "/api/v1/consent",
            Some(json!({"subject": "cus_1", "choices": {"analytics": false}})),
        )
        .await;
    assert_eq!(status, 422);
    // And a key without the scope is refused.
    let reader = s.app.api_key("shop", &["consent:read"]);
    let (status, _) = s
        .app
        .call(
            &reader,
            Method::POST,
            "/api/v1/consent",
            Some(json!({"subject": "cus_1", "choices": {"analytics": false}})),
        )
        .await;
    assert_eq!(status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_refuse_over_decisions_and_a_material_change_asks_again() {
    let s = shop().await;
    let (status, _) = s
        .decide(json!({"subject": "cus_1", "choices": {"analytics": true, "newsletter": true}}))
        .await;
    assert_eq!(status, 201);
    // An objection to the newsletter, through a request Lethe carries out at once.
    let (status, body) = s
        .call(
            Method::POST,
            "/api/v1/requests",
            Some(json!({"type": "objection", "external_id": "cus_1", "purpose": "newsletter"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        s.state("cus_1").await,
        pairs(&[("analytics", "granted"), ("newsletter", "objected")])
    );

    // A material policy version in force: consent given before it needs renewal.
    s.app.set_notice_days("shop", 0);
    publish(&s.app, &s.key, "We now share usage data", None).await;
    let (_, body) = s.call(Method::GET, "/api/v1/consent/cus_1", None).await;
    assert!(body["consent_version"].as_i64().is_some(), "{body}");
    assert_eq!(body["purposes"][0]["state"], "needs_renewal", "{body}");
    assert_eq!(body["purposes"][0]["granted"], false);
    let (status, _) = s
        .decide(json!({"subject": "cus_1", "choices": {"analytics": true}}))
        .await;
    assert_eq!(status, 201);
    assert_eq!(s.state("cus_1").await[0].1, "granted", "renewed");

    // A withdrawal of consent through a request refuses every consent purpose.
    let (status, _) = s
        .call(
            Method::POST,
            "/api/v1/requests",
            Some(json!({"type": "withdrawal", "external_id": "cus_1"})),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(
        s.state("cus_1").await,
        pairs(&[("analytics", "withdrawn"), ("newsletter", "withdrawn")])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_banners_endpoint_takes_only_its_sites_decisions_within_a_rate() {
    let s = Shop::with_banner(7, &[("analytics", false), ("ads", true)]).await;
    let url = s.app.url("/consent/shop/decisions");
    const VISITOR: &str = "dmlzaXRvci1pZC1vZi1ncmFjZQ";
    let decision = json!({"visitor": VISITOR, "choices": {"analytics": true, "ads": true},
        "banner_version": "abc", "gpc": false, "source": "banner"});
    let post = |origin: Option<&str>, body: String| {
        let mut req = s
            .app
            .client
            .post(&url)
            .header("content-type", "application/json")
            .header(
                "user-agent",
                "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
            )
            .body(body);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        req
    };

    // The preflight names the one origin asked for.
    let res = s
        .app
        .client
        .request(Method::OPTIONS, &url)
        .header("origin", "https://shop.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://shop.example"
    );

    // Another site, or no site at all: refused, nothing stored.
    for origin in [Some("https://evil.example"), None] {
        let res = post(origin, decision.to_string()).send().await.unwrap();
        assert_eq!(res.status(), 403, "{origin:?}");
        assert!(res.headers().get("access-control-allow-origin").is_none());
    }

    // A decision, with GPC in the header: the sale purpose is refused and says so.
    let res = post(Some("https://shop.example"), decision.to_string())
        .header("sec-gpc", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
    let recorded: Value = res.json().await.unwrap();
    assert_eq!(recorded["gpc"], true, "{recorded}");
    assert_eq!(recorded["choices"][0]["purpose"], "ads");
    assert_eq!(recorded["choices"][0]["granted"], false);
    assert_eq!(recorded["choices"][0]["reason"], "gpc");
    assert_eq!(recorded["choices"][1]["granted"], true);
    let (status, verdict) = s
        .call(
            Method::POST,
            "/api/v1/consent/receipts/verify",
            Some(recorded["receipt"].clone()),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(verdict["valid"], true, "{verdict}");

    // What is not a decision: 400 with the reason, and the origin may read it.
    for body in [
        json!({"visitor": VISITOR, "choices": {"analytics": true}, "extra": 1}).to_string(),
        "not json".to_owned(),
        json!({"visitor": "short", "choices": {"analytics": true}}).to_string(),
        json!({"visitor": VISITOR, "choices": {"billing": true}}).to_string(),
        "x".repeat(20_000),
    ] {
        let res = post(Some("https://shop.example"), body.clone())
            .send()
            .await
            .unwrap();
        assert!(
            [400, 413, 422].contains(&res.status().as_u16()),
            "{} for {}",
            res.status(),
            &body[..body.len().min(60)]
        );
        assert_eq!(
            res.headers()["content-type"],
            "application/problem+json",
            "{body:.60}"
        );
    }

    // Over the rate for this network: 429 (seven a minute here; the seven posts above, one of
    // them from another site, reached it).
    let res = post(Some("https://shop.example"), decision.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);

    // The one decision stored is counted by the group-commit writer.
    let metrics = s.app.metrics(METRICS_TOKEN).await;
    assert!(
        metrics.contains("\nlethe_record_writer_decisions_total 1\n"),
        "{metrics}"
    );
    assert!(metrics.contains("\nlethe_record_writer_batches_total 0\n"));

    // The visitor's id is nowhere on disk in the clear; the network is, the address is not.
    let stored: (String, String) = s
        .app
        .db
        .read(|c| {
            c.query_row("SELECT network, user_agent FROM consent_records", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(lethe::store::StoreError::from)
        })
        .unwrap();
    assert_eq!(stored, ("127.0.0.0/24".to_owned(), "Firefox".to_owned()));
    for (name, bytes) in crate::vault_at_rest::data_files(s.app.data_dir.path()) {
        assert!(
            !crate::vault_at_rest::contains(&bytes, VISITOR.as_bytes()),
            "{name} holds the visitor id in the clear"
        );
    }
}

/// What a decision is checked against is kept between decisions (`services::consent_rules`);
/// every change to it is seen by the very next decision: a purpose added or no longer asked
/// by consent, a site's origin replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_decision_sees_every_change_to_the_purposes_and_origins() {
    let s = shop().await;
    let (status, body) = s
        .decide(json!({"subject": "cus_1", "choices": {"analytics": true}}))
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = s
        .decide(json!({"subject": "cus_1", "choices": {"ads": true}}))
        .await;
    assert_eq!(status, 422, "no consent purpose 'ads' yet: {body}");

    let (status, body) = s
        .call(
            Method::PUT,
            "/api/v1/inventory/purposes/ads",
            Some(
                json!({"key": "ads", "name": "Ads", "legal_basis": "consent",
                "categories": ["usage"], "consent_prompt": "May we show ads?"}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = s
        .decide(json!({"subject": "cus_1", "choices": {"ads": true}}))
        .await;
    assert_eq!(status, 201, "the new purpose is asked at once: {body}");

    let (status, body) = s
        .call(
            Method::PUT,
            "/api/v1/inventory/purposes/analytics",
            Some(json!({"key": "analytics", "name": "analytics",
                "legal_basis": "legitimate_interests", "categories": ["usage"],
                "balancing_note": "Counting visits keeps the site working; visitors expect it"})),
        )
        .await;
    assert!(status == 200 || status == 201, "{body}");
    let (status, body) = s
        .decide(json!({"subject": "cus_1", "choices": {"analytics": true}}))
        .await;
    assert_eq!(
        status, 422,
        "analytics is no longer asked by consent: {body}"
    );

    // The banner's origins: the one listed is taken, the one replaced no longer.
    let banner = |origin: &'static str| {
        s.app
            .client
            .post(s.app.url("/consent/shop/decisions"))
            .header("origin", origin)
            .json(&json!({"visitor": "dmlzaXRvci1pZC1vZi1ncmFjZQ", "choices": {"ads": false}}))
            .send()
    };
    for (origins, old, new) in [
        (json!(["https://one.example"]), 201, 403),
        (json!(["https://two.example"]), 403, 201),
    ] {
        let (status, body) = s
            .call(
                Method::PATCH,
                "/api/v1/workspace",
                Some(json!({ "consent_origins": origins })),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(banner("https://one.example").await.unwrap().status(), old);
        assert_eq!(banner("https://two.example").await.unwrap().status(), new);
    }
}
