//! Signed consent receipts: checked through the API against the key's workspace's key only, and
//! checkable by anyone with the key the privacy center publishes.

use crate::consent::{METRICS_TOKEN, Shop};
use crate::helpers::{TestApp, spawn_app};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lethe::domain::consent_receipt::{
    CollectionMethod, ReceiptBody, ReceiptConsent, ReceiptController, ReceiptLegalBasis,
    ReceiptSubject, SubjectKind, VERSION, canonical_json,
};
use reqwest::Method;
use serde_json::{Value, json};

const VERIFY: &str = "/api/v1/consent/receipts/verify";

/// A decision's receipt body as the consent service would make it.
pub fn receipt_body(controller: &str) -> ReceiptBody {
    ReceiptBody {
        receipt_id: uuid::Uuid::now_v7(),
        version: VERSION.into(),
        issued_at: chrono::Utc::now(),
        jurisdiction: Some("EU".into()),
        controller: ReceiptController {
            name: controller.into(),
            contact_email: "privacy@example.org".into(),
            policy_url: "https://lethe.example/p/alpha/privacy".into(),
            policy_version: None,
        },
        subject: ReceiptSubject {
            kind: SubjectKind::ExternalId,
            id: "cus_42".into(),
        },
        method: CollectionMethod::Banner,
        banner_version: Some("1".into()),
        consents: vec![
            ReceiptConsent {
                purpose: "marketing".into(),
                purpose_name: "Newsletter".into(),
                legal_basis: ReceiptLegalBasis::Consent,
                granted: true,
                reason: None,
            },
            ReceiptConsent {
                purpose: "analytics".into(),
                purpose_name: "Statistics".into(),
                legal_basis: ReceiptLegalBasis::Consent,
                granted: false,
                reason: Some("gpc".into()),
            },
        ],
        record_id: uuid::Uuid::now_v7().to_string(),
    }
}

/// A receipt signed with `slug`'s key, as JSON.
pub fn issue(app: &TestApp, slug: &str) -> Value {
    let signed = lethe::services::consent_receipts::issue(
        &app.vault,
        &app.scope(slug),
        receipt_body(&format!("{slug} Ltd")),
    )
    .unwrap();
    serde_json::to_value(signed).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_verifies_with_its_own_workspaces_key_only_and_not_once_changed() {
    let app = spawn_app().await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "alpha");
    app.create_workspace(owner, "beta");
    let alpha = app.api_key("alpha", &["consent:read"]);
    let beta = app.api_key("beta", &["consent:read"]);
    let receipt = issue(&app, "alpha");

    let (status, body) = app
        .call(&alpha, Method::POST, VERIFY, Some(receipt.clone()))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["valid"], true, "{body}");
    assert_eq!(body["receipt_id"], receipt["receipt"]["receipt_id"]);
    assert_eq!(body["key_id"], receipt["signature"]["key_id"]);
    assert!(body.get("reason").is_none(), "{body}");

    // The person changed their refusal into a consent.
    let mut tampered = receipt.clone();
    tampered["receipt"]["consents"][1]["granted"] = json!(true);
    let (status, body) = app.call(&alpha, Method::POST, VERIFY, Some(tampered)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["valid"], &body["reason"]),
        (&json!(false), &json!("bad_signature"))
    );

    // Beta's key knows nothing of alpha's receipts, even with its own key id claimed.
    let (status, body) = app
        .call(&beta, Method::POST, VERIFY, Some(receipt.clone()))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["valid"], &body["reason"]),
        (&json!(false), &json!("unknown_key"))
    );
    let beta_key_id = body["key_id"].clone();
    assert_ne!(beta_key_id, receipt["signature"]["key_id"]);
    let mut claimed = receipt.clone();
    claimed["signature"]["key_id"] = beta_key_id;
    let (_, body) = app.call(&beta, Method::POST, VERIFY, Some(claimed)).await;
    assert_eq!(body["reason"], "bad_signature", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_not_a_receipt_is_refused_with_the_field_named() {
    let app = spawn_app().await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "alpha");
    let key = app.api_key("alpha", &["consent:read"]);
    let receipt = issue(&app, "alpha");
    let mut short_signature = receipt.clone();
    short_signature["signature"]["value"] = json!("AAAA");
    let mut other_alg = receipt.clone();
    other_alg["signature"]["alg"] = json!("RS256");
    let mut other_version = receipt.clone();
    other_version["receipt"]["version"] = json!("kantara-1.1");
    for (body, field) in [
        (json!({"hello": "world"}), "body"),
        (json!([receipt.clone()]), "body"),
        (json!({"receipt": receipt["receipt"].clone()}), "body"),
        (short_signature, "signature.value"),
        (other_alg, "body"),
        (other_version, "receipt.version"),
    ] {
        let res = app
            .client
            .post(app.url(VERIFY))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 422, "{body}");
        assert_eq!(
            res.headers()["content-type"],
            "application/problem+json",
            "{body}"
        );
        let problem: Value = res.json().await.unwrap();
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    // Not JSON at all.
    let res = app
        .client
        .post(app.url(VERIFY))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body("receipt?")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    // Checking receipts takes consent:read.
    let other = app.api_key("alpha", &["records:read"]);
    let (status, _) = app.call(&other, Method::POST, VERIFY, Some(receipt)).await;
    assert_eq!(status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_privacy_center_publishes_the_key_that_checks_receipts_offline() {
    let app = spawn_app().await;
    let owner = app.create_admin("ada@example.org");
    app.create_workspace(owner, "alpha");
    app.create_workspace(owner, "beta");
    let receipt = issue(&app, "alpha");

    let res = app
        .new_client()
        .get(app.url("/p/alpha/consent/public-key"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let headers = res.headers().clone();
    assert_eq!(headers["cache-control"], "public, max-age=86400");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let key: Value = res.json().await.unwrap();
    assert_eq!(key["alg"], "Ed25519");
    assert_eq!(key["key_id"], receipt["signature"]["key_id"]);
    assert_eq!(etag, format!("\"{}\"", key["key_id"].as_str().unwrap()));
    assert!(
        key["public_key_pem"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN PUBLIC KEY-----\n")
    );
    assert_eq!(
        (&key["jwk"]["kty"], &key["jwk"]["crv"], &key["jwk"]["x"]),
        (&json!("OKP"), &json!("Ed25519"), &key["public_key"])
    );

    // Checked the way someone without Lethe would: the canonical JSON of `receipt`, Ed25519.
    let raw = URL_SAFE_NO_PAD
        .decode(key["public_key"].as_str().unwrap())
        .unwrap();
    let signature = URL_SAFE_NO_PAD
        .decode(receipt["signature"]["value"].as_str().unwrap())
        .unwrap();
    let signed = canonical_json(&receipt["receipt"]).unwrap();
    let public = ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, &raw);
    public.verify(&signed, &signature).unwrap();
    let mut changed = receipt["receipt"].clone();
    changed["consents"][0]["granted"] = json!(false);
    assert!(
        public
            .verify(&canonical_json(&changed).unwrap(), &signature)
            .is_err()
    );

    // Cacheable: a client that holds it is told so.
    let res = app
        .new_client()
        .get(app.url("/p/alpha/consent/public-key"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304);

    // The overview says what a receipt is and shows the key.
    let page = app.public_page("/p/alpha/").await;
    assert!(page.contains("Consent receipts"), "{page}");
    assert!(page.contains(key["key_id"].as_str().unwrap()), "{page}");
    assert!(page.contains(key["public_key"].as_str().unwrap()), "{page}");
    assert!(page.contains("/p/alpha/consent/public-key"), "{page}");

    // Each workspace its own key; an unknown workspace has none.
    let beta: Value = app
        .new_client()
        .get(app.url("/p/beta/consent/public-key"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(beta["key_id"], key["key_id"]);
    assert_ne!(beta["public_key"], key["public_key"]);
    let res = app
        .new_client()
        .get(app.url("/p/nobody/consent/public-key"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

/// Decisions taken at once get receipts signed together (one signature over several, each with
/// its path) or alone; every one verifies through the API and none verifies once changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_of_decisions_taken_together_each_verify() {
    let Shop { app, key } = Shop::with_banner(1000, &[("analytics", false)]).await;
    const N: usize = 48;
    let mut posts = tokio::task::JoinSet::new();
    for i in 0..N {
        let req = app
            .client
            .post(app.url("/consent/shop/decisions"))
            .header("content-type", "application/json")
            .header("origin", "https://shop.example")
            .body(
                json!({"visitor": format!("visitor-number-{i:04}"),
                    "choices": {"analytics": i % 2 == 0}})
                .to_string(),
            );
        posts.spawn(async move {
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 201);
            res.json::<Value>().await.unwrap()
        });
    }
    let recorded = posts.join_all().await;
    let mut together = 0;
    for r in &recorded {
        let receipt = &r["receipt"];
        let (status, verdict) = app
            .call(&key, Method::POST, VERIFY, Some(receipt.clone()))
            .await;
        assert_eq!(status, 200, "{verdict}");
        assert_eq!(verdict["valid"], true, "{verdict} for {receipt}");
        let mut changed = receipt.clone();
        let granted = changed["receipt"]["consents"][0]["granted"]
            .as_bool()
            .unwrap();
        changed["receipt"]["consents"][0]["granted"] = json!(!granted);
        let (_, verdict) = app.call(&key, Method::POST, VERIFY, Some(changed)).await;
        assert_eq!(verdict["reason"], "bad_signature", "{verdict}");
        if receipt["signature"].get("batch").is_some() {
            together += 1;
        }
    }
    let metrics = app.metrics(METRICS_TOKEN).await;
    let counter = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} "))?.parse().ok())
            .unwrap()
    };
    assert_eq!(counter("lethe_receipts_signed_total"), N as u64);
    let signatures = counter("lethe_receipt_signatures_total");
    // Every receipt signed alone is one signature; the rest share theirs.
    assert!(
        signatures <= (N - together) as u64 + together as u64 / 2,
        "{signatures}, {together}"
    );
}
