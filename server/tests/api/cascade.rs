//! The cascade (`auto:verify`, issue 33) through `/v1` against the fake providers: a cheap answer
//! that passes its checks goes back after one upstream call; one that fails is replaced by the
//! next tier's after two, and usage records both, the first claiming no saving.

use gateway::analytics;
use gateway::routing::RoutingPolicy;
use serde_json::json;

use crate::helpers::{Backend, TestApp, spawn_app};

/// A structured-output request; the fake OpenAI answers `{"city":"Paris"}` to every one.
fn ask(model: &str, required: &str) -> serde_json::Value {
    json!({
        "model": model,
        "messages": [{"role": "user", "content": "Thanks! Where was that?"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "place", "strict": true, "schema": {
            "type": "object",
            "properties": {required: {"type": "string"}},
            "required": [required],
            "additionalProperties": false
        }}}
    })
}

fn chat_models(app: &TestApp) -> Vec<String> {
    app.fake_openai
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/chat/completions"))
        .filter_map(|r| r.body["model"].as_str().map(str::to_owned))
        .collect()
}

async fn events(app: &TestApp, account_id: i32) -> Vec<gateway::entities::usage_event::Model> {
    app.flush_usage().await;
    analytics::events_since(&app.state.db, account_id, 0)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_passing_answer_goes_back_after_one_call_and_a_failing_one_escalates() {
    let app = spawn_app(Backend::Sqlite).await;
    let tenant = app.tenant("cascade@example.com").await;

    let passed = app
        .chat(Some(&tenant.key), &ask("auto:verify", "city"))
        .await;
    assert_eq!(passed.status(), 200);
    assert_eq!(passed.headers()["x-gateway-verify"], "passed");
    let header = |response: &reqwest::Response, name: &str| {
        response.headers()[name].to_str().unwrap().to_owned()
    };
    let first = header(&passed, "x-gateway-model");
    let first_tier = header(&passed, "x-gateway-tier");
    assert_ne!(first_tier, "strong", "a tier to escalate to");
    let first = first.strip_prefix("openai/").unwrap().to_owned();
    assert_eq!(chat_models(&app), [first.clone()]);

    let escalated = app
        .chat(Some(&tenant.key), &ask("auto:verify", "name"))
        .await;
    assert_eq!(escalated.status(), 200);
    assert_eq!(
        escalated.headers()["x-gateway-verify"],
        "escalated (json_schema)"
    );
    let next_tier = if first_tier == "cheap" {
        "standard"
    } else {
        "strong"
    };
    assert_eq!(header(&escalated, "x-gateway-tier"), next_tier);
    let second = header(&escalated, "x-gateway-model");
    let second = second.strip_prefix("openai/").unwrap().to_owned();
    assert_eq!(
        chat_models(&app),
        [first.clone(), first.clone(), second.clone()]
    );

    // Plain `auto` is not checked: one call, no header.
    let plain = app.chat(Some(&tenant.key), &ask("auto", "name")).await;
    assert_eq!(plain.status(), 200);
    assert!(plain.headers().get("x-gateway-verify").is_none());

    let stored = events(&app, tenant.account_id).await;
    assert_eq!(stored.len(), 4, "{stored:?}");
    let superseded = &stored[1];
    assert_eq!(superseded.model, first);
    assert!(superseded.cost_usd > 0.0);
    assert_eq!(
        superseded.saving_usd, -superseded.cost_usd,
        "a loss, not a saving"
    );
    assert_eq!(superseded.baseline_cost_usd, Some(0.0));
    let strong = &stored[2];
    assert_eq!(strong.model, second);
    assert!(strong.saving_usd > 0.0 && strong.baseline_cost_usd.unwrap() > 0.0);
    // The quota counts the request once.
    assert_eq!(stored.iter().filter(|e| e.counted).count(), 3);
}

#[tokio::test]
async fn the_policy_turns_the_cascade_on_for_auto_and_chooses_the_checks() {
    let app = spawn_app(Backend::Sqlite).await;
    let tenant = app.tenant("policy@example.com").await;
    let policy = RoutingPolicy {
        verify: Some(true),
        verify_checks: Some(vec!["cut_off".into(), "math".into()]),
        ..Default::default()
    };
    app.state
        .set_account_routing_policy(tenant.account_id, &policy)
        .await
        .unwrap();
    // `auto` is checked, but not for the schema: the policy leaves that check out.
    let answer = app.chat(Some(&tenant.key), &ask("auto", "name")).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["x-gateway-verify"], "passed");
    assert_eq!(chat_models(&app).len(), 1);
    // A pinned model is the caller's choice: never checked.
    let pinned = app
        .chat(Some(&tenant.key), &ask("openai/gpt-4o-mini", "name"))
        .await;
    assert!(pinned.headers().get("x-gateway-verify").is_none());

    let unknown = RoutingPolicy {
        verify_checks: Some(vec!["spelling".into()]),
        ..Default::default()
    };
    assert!(
        unknown
            .validate()
            .unwrap_err()
            .to_string()
            .contains("spelling")
    );
}

#[tokio::test]
async fn an_answer_from_the_top_tier_allowed_is_returned_and_says_so() {
    let app = spawn_app(Backend::Sqlite).await;
    let tenant = app.tenant("top@example.com").await;
    let policy = RoutingPolicy {
        max_tier: Some(gateway::catalog::Tier::Cheap),
        ..Default::default()
    };
    app.state
        .set_account_routing_policy(tenant.account_id, &policy)
        .await
        .unwrap();
    let answer = app
        .chat(Some(&tenant.key), &ask("auto:verify", "name"))
        .await;
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.headers()["x-gateway-verify"],
        "failed (json_schema); no tier above"
    );
    assert_eq!(chat_models(&app).len(), 1);
}

#[tokio::test]
async fn a_stream_is_held_and_checked_only_where_the_policy_says() {
    let app = spawn_app(Backend::Sqlite).await;
    let tenant = app.tenant("streams@example.com").await;
    let mut streamed = ask("auto:verify", "name");
    streamed["stream"] = json!(true);
    streamed["stream_options"] = json!({"include_usage": true});

    // Not held: served as `auto`, streamed from the provider, unchecked.
    let unchecked = app.chat(Some(&tenant.key), &streamed).await;
    assert_eq!(unchecked.status(), 200);
    assert!(unchecked.headers().get("x-gateway-verify").is_none());
    assert_eq!(chat_models(&app).len(), 1);

    let policy = RoutingPolicy {
        verify_streams: Some(true),
        ..Default::default()
    };
    app.state
        .set_account_routing_policy(tenant.account_id, &policy)
        .await
        .unwrap();
    let held = app.chat(Some(&tenant.key), &streamed).await;
    assert_eq!(held.status(), 200);
    assert_eq!(held.headers()["content-type"], "text/event-stream");
    assert_eq!(
        held.headers()["x-gateway-verify"],
        "escalated (json_schema)"
    );
    let body = held.text().await.unwrap();
    let events: Vec<serde_json::Value> = body
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .filter(|data| *data != "[DONE]")
        .map(|data| serde_json::from_str(data).unwrap())
        .collect();
    let text: String = events
        .iter()
        .filter_map(|e| {
            e.pointer("/choices/0/delta/content")
                .and_then(|c| c.as_str())
        })
        .collect();
    assert_eq!(text, r#"{"city":"Paris"}"#);
    assert!(
        events.last().unwrap()["usage"]["total_tokens"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(body.trim_end().ends_with("data: [DONE]"), "{body}");
    // Both attempts were whole (not streamed) calls: the answer was read before it went back.
    let sent: Vec<serde_json::Value> = app
        .fake_openai
        .requests()
        .into_iter()
        .skip(1)
        .map(|r| r.body)
        .collect();
    assert_eq!(sent.len(), 2);
    assert!(
        sent.iter()
            .all(|b| b.get("stream").is_none() && b.get("stream_options").is_none())
    );
}

/// Anthropic's Messages API on `auto:verify`, as Claude Code would send it (here whole): the
/// request is checked in its chat translation and the answer comes back in Anthropic's shape,
/// escalated when the cheap model ignores a required tool call.
#[tokio::test]
async fn the_messages_api_is_checked_and_answered_in_its_own_shape() {
    let app = spawn_app(Backend::Sqlite).await;
    let tenant = app.tenant("messages@example.com").await;
    let body = json!({
        "model": "auto:verify",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "What's the weather in Paris?"}],
        "tools": [{"name": "get_weather", "description": "Weather", "input_schema": {
            "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]
        }}],
        "tool_choice": {"type": "tool", "name": "get_weather"}
    });
    let answer = app
        .http
        .post(app.url("/v1/messages"))
        .header("x-api-key", &tenant.key)
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["x-gateway-verify"], "passed");
    let message: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(message["type"], "message");
    assert_eq!(message["content"][0]["type"], "tool_use");
    assert_eq!(message["content"][0]["name"], "get_weather");
    assert_eq!(chat_models(&app).len(), 1);
}
