//! Routing overrides through `/v1`: each override, per account and per key, and the preview.

use gateway::accounts;
use gateway::routing::RoutingPolicy;
use serde_json::{Value, json};

use crate::helpers::{Backend, OPENAI_KEY, TestApp, expect_openai_error, spawn_app};

crate::on_both_backends!(
    each_override_is_honoured,
    the_preview_matches_what_is_served
);

const SIMPLE: &str = "Thanks!";

fn ask(model: &str, content: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": content}]})
}

struct Routed {
    status: u16,
    model: String,
    tier: String,
    reason: String,
}

async fn send(app: &TestApp, key: &str, body: &Value) -> Routed {
    let response = app.chat(Some(key), body).await;
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    Routed {
        status: response.status().as_u16(),
        model: header("x-gateway-model"),
        tier: header("x-gateway-tier"),
        reason: header("x-gateway-route-reason"),
    }
}

/// An account with OpenAI, Anthropic and Groq at the fake, and two keys.
async fn three_provider_account(app: &TestApp) -> (i32, String, String) {
    let account_id = app.create_account("router@example.com").await;
    for provider in ["openai", "anthropic", "groq"] {
        let base_url = app.fake_openai.base_url_for(provider);
        app.state
            .add_provider(account_id, provider, OPENAI_KEY, Some(&base_url))
            .await
            .unwrap();
    }
    let first = app.create_key(account_id).await;
    let second = app.create_key(account_id).await;
    (account_id, first, second)
}

async fn set_account(app: &TestApp, account_id: i32, json: &str) {
    app.state
        .set_account_routing_policy(account_id, &RoutingPolicy::parse(json).unwrap())
        .await
        .unwrap();
}

async fn set_key(app: &TestApp, account_id: i32, key: &str, json: &str) {
    let key = accounts::find_key_by_prefix(&app.state.db, account_id, key)
        .await
        .unwrap();
    app.state
        .set_key_routing_policy(account_id, key.id, &RoutingPolicy::parse(json).unwrap())
        .await
        .unwrap();
}

async fn each_override_is_honoured(backend: Backend) {
    let app = spawn_app(backend).await;
    let (account_id, first, second) = three_provider_account(&app).await;

    // No overrides: the cheapest cheap model of all three providers.
    let plain = send(&app, &first, &ask("auto", SIMPLE)).await;
    assert_eq!(
        (plain.status, plain.model.as_str(), plain.tier.as_str()),
        (200, "groq/llama-3.1-8b-instant", "cheap"),
        "{}",
        plain.reason
    );

    // Allowed providers and their order, for the account: Groq is out, Anthropic first.
    set_account(
        &app,
        account_id,
        r#"{"providers": ["anthropic", "openai"]}"#,
    )
    .await;
    let ordered = send(&app, &first, &ask("auto", SIMPLE)).await;
    assert_eq!(
        ordered.model, "anthropic/claude-3-haiku-20240307",
        "{}",
        ordered.reason
    );
    assert!(
        ordered.reason.ends_with("first allowed provider's model"),
        "{}",
        ordered.reason
    );
    let refused = app
        .chat(Some(&first), &ask("llama-3.1-8b-instant", SIMPLE))
        .await;
    let error = expect_openai_error(refused, 403).await;
    assert_eq!(error["code"], "model_not_allowed");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("does not allow"),
        "{error}"
    );

    // A forced model on the second key only: pinned or auto, that key gets it; the first does not.
    set_key(
        &app,
        account_id,
        &second,
        r#"{"forced_model": "openai/gpt-4o-mini"}"#,
    )
    .await;
    for model in ["auto", "claude-3-5-haiku-latest"] {
        let forced = send(&app, &second, &ask(model, SIMPLE)).await;
        assert_eq!(
            (forced.status, forced.model.as_str()),
            (200, "openai/gpt-4o-mini")
        );
        assert_eq!(forced.reason, "policy: forced model openai/gpt-4o-mini");
    }
    assert_eq!(
        app.fake_openai.requests().last().unwrap().body["model"],
        "gpt-4o-mini"
    );
    assert_eq!(
        send(&app, &first, &ask("auto", SIMPLE)).await.model,
        "anthropic/claude-3-haiku-20240307"
    );

    // Minimum tier on the account: even a simple request goes strong.
    set_account(&app, account_id, r#"{"min_tier": "strong"}"#).await;
    let floored = send(&app, &first, &ask("auto", SIMPLE)).await;
    assert_eq!(floored.tier, "strong", "{}", floored.reason);
    assert!(
        floored.reason.contains("min tier strong"),
        "{}",
        floored.reason
    );

    // Maximum tier on the first key: the request that asks for quality at any price stays cheap.
    set_key(
        &app,
        account_id,
        &first,
        r#"{"max_tier": "cheap", "min_tier": "cheap"}"#,
    )
    .await;
    let capped = send(&app, &first, &ask("auto:0", SIMPLE)).await;
    assert_eq!(capped.tier, "cheap", "{}", capped.reason);
    assert!(
        capped.reason.contains("max tier cheap"),
        "{}",
        capped.reason
    );
    set_key(&app, account_id, &first, "{}").await;

    // Auto-routing off: `auto` takes the first allowed provider's default model, unscored.
    set_account(
        &app,
        account_id,
        r#"{"auto_routing": false, "providers": ["openai", "anthropic"]}"#,
    )
    .await;
    let off = send(&app, &first, &ask("auto", "Prove the Riemann hypothesis.")).await;
    assert_eq!(off.model, "openai/gpt-4o-mini");
    assert_eq!(
        off.reason,
        "policy: auto-routing off, default model of openai"
    );

    // A rule: requests with tools need at least the standard tier (threshold 1: the score alone
    // never leaves cheap).
    set_account(
        &app,
        account_id,
        r#"{"threshold": 1.0, "rules": [{"when": "tools", "at_least": "standard"}]}"#,
    )
    .await;
    let mut with_tools = ask("auto", SIMPLE);
    with_tools["tools"] = json!([{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]);
    let lifted = send(&app, &first, &with_tools).await;
    assert_eq!(
        (lifted.status, lifted.tier.as_str()),
        (200, "standard"),
        "{}",
        lifted.reason
    );
    assert!(
        lifted.reason.contains("rule tools: at least standard"),
        "{}",
        lifted.reason
    );
    assert_eq!(send(&app, &first, &ask("auto", SIMPLE)).await.tier, "cheap");

    // A threshold on the key: 0 sends everything to the strong tier.
    set_key(&app, account_id, &first, r#"{"threshold": 0.0}"#).await;
    assert_eq!(
        send(&app, &first, &ask("auto", SIMPLE)).await.tier,
        "strong"
    );

    // A pinned model without overrides in its way is untouched.
    let pinned = send(&app, &first, &ask("gpt-4o", SIMPLE)).await;
    assert_eq!(
        (pinned.model.as_str(), pinned.reason.as_str()),
        ("openai/gpt-4o", "pinned: requested model")
    );
}

async fn the_preview_matches_what_is_served(backend: Backend) {
    let app = spawn_app(backend).await;
    let (account_id, first, second) = three_provider_account(&app).await;
    set_account(
        &app,
        account_id,
        r#"{"providers": ["openai", "anthropic"]}"#,
    )
    .await;
    set_key(&app, account_id, &second, r#"{"min_tier": "standard"}"#).await;
    let preview = |key: String, body: Value| {
        let app = &app;
        async move {
            let response = app
                .http
                .post(app.url("/v1/routing/preview"))
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()
        }
    };
    // Both providers offer a cheap model (Anthropic, next in order, is the fallback); only OpenAI
    // offers a standard one.
    for (key, fallback) in [(&first, Some("anthropic")), (&second, None)] {
        let previewed = preview(key.clone(), ask("auto", SIMPLE)).await;
        let served = send(&app, key, &ask("auto", SIMPLE)).await;
        assert_eq!(previewed["model"], served.model.as_str());
        assert_eq!(previewed["tier"], served.tier.as_str());
        assert_eq!(previewed["reason"], served.reason.as_str());
        assert!(
            previewed["score"]
                .as_f64()
                .is_some_and(|score| (0.0..=1.0).contains(&score))
        );
        assert_eq!(
            previewed["fallbacks"][0]
                .as_str()
                .and_then(|m| m.split('/').next()),
            fallback,
            "{previewed}"
        );
    }
    let pinned = preview(first.clone(), ask("gpt-4o", SIMPLE)).await;
    assert_eq!(
        (pinned["model"].as_str(), pinned["score"].is_null()),
        (Some("openai/gpt-4o"), true)
    );
    let refused = app
        .http
        .post(app.url("/v1/routing/preview"))
        .bearer_auth(&first)
        .json(&ask("groq/llama-3.1-8b-instant", SIMPLE))
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect_openai_error(refused, 403).await["code"],
        "model_not_allowed"
    );
    // Nothing reached a provider for the previews.
    let sent = app.fake_openai.requests().len();
    preview(first.clone(), ask("auto", SIMPLE)).await;
    assert_eq!(app.fake_openai.requests().len(), sent);
}
