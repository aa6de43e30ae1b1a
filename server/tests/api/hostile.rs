//! Findings of the third round of hostile probes (issue 31), each closed with a test that failed
//! on the code before its fix: what a tenant, a provider or an anonymous client can send, bounded.

use gateway::entities::usage_event;
use gateway::sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use crate::helpers::{Backend, expect_openai_error, spawn_app};

#[tokio::test]
async fn model_names_are_bounded_refused_and_never_echoed_or_stored_long() {
    let app = spawn_app(Backend::Sqlite).await;
    let tenant = app.tenant("names@example.com").await;
    let long = format!("openai/{}", "a".repeat(1024 * 1024));

    let response = app
        .chat(
            Some(&tenant.key),
            &json!({"model": long, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert!(response.headers().get("x-gateway-model").is_none());
    let error = expect_openai_error(response, 400).await;
    assert_eq!(error["param"], "model");
    assert!(error["message"].as_str().unwrap().len() < 200, "not echoed");

    let fallback = json!({"model": "gpt-4o-mini", "models": ["openai/gpt 4o\r\nx-injected: 1"],
        "messages": [{"role": "user", "content": "hi"}]});
    let error = expect_openai_error(app.chat(Some(&tenant.key), &fallback).await, 400).await;
    assert_eq!(error["param"], "models[0]");

    let embeddings = app
        .http
        .post(app.url("/v1/embeddings"))
        .bearer_auth(&tenant.key)
        .json(&json!({"model": long, "input": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(expect_openai_error(embeddings, 400).await["param"], "model");
    assert!(app.fake_openai.requests().is_empty(), "nothing was sent on");

    // A provider naming a model of a megabyte: served, and stored cut to the bound.
    let response = app
        .chat(
            Some(&tenant.key),
            &json!({"model": "openai/fake-long-model-name", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["x-gateway-model"],
        "openai/fake-long-model-name"
    );
    app.flush_usage().await;
    let stored = usage_event::Entity::find()
        .filter(usage_event::Column::AccountId.eq(tenant.account_id))
        .all(&app.state.db)
        .await
        .unwrap();
    // The three refusals are in the request log too, with their status and code, but without
    // the model they named; the answer served is stored with its model cut to the bound.
    assert_eq!(stored.len(), 4);
    let (served, refused): (Vec<_>, Vec<_>) = stored.iter().partition(|event| event.status == 200);
    assert_eq!(
        served[0].model,
        "m".repeat(gateway::openai::MAX_MODEL_NAME_BYTES)
    );
    for event in refused {
        assert_eq!(
            (event.status, event.model.as_str(), event.counted),
            (400, "", false)
        );
        assert!(event.error_code.is_some(), "{event:?}");
    }
}

#[tokio::test]
async fn portal_pages_say_how_a_browser_may_use_them() {
    let app = spawn_app(Backend::Sqlite).await;
    for path in ["/login", "/signup", "/", "/no-such-page"] {
        let response = app.http.get(app.url(path)).send().await.unwrap();
        let headers = response.headers();
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "same-origin", "{path}");
        assert!(
            headers["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn metrics_answer_only_the_token_or_this_machine() {
    // With a token: only a bearer of it.
    let app = crate::helpers::spawn_app_with(Backend::Sqlite, |config| {
        config.metrics_token = Some("metrics-secret-0123".into());
    })
    .await;
    let get = |token: Option<&str>| {
        let mut request = app.http.get(app.url("/metrics"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(get(None).await, 401);
    assert_eq!(get(Some("metrics-secret-012")).await, 401);
    assert_eq!(get(Some("metrics-secret-0123")).await, 200);

    // Without one: a client on this machine, and no other.
    let open = spawn_app(Backend::Sqlite).await;
    let status = reqwest::get(open.url("/metrics")).await.unwrap().status();
    assert_eq!(status, 200);
    let application = server::app::build(&open.config, open.addr).await.unwrap();
    let from =
        |ip: [u8; 4]| {
            let mut request = axum::http::Request::get("/metrics")
                .body(axum::body::Body::empty())
                .unwrap();
            request.extensions_mut().insert(axum::extract::ConnectInfo(
                std::net::SocketAddr::from((ip, 40_000)),
            ));
            request
        };
    use tower::ServiceExt as _;
    let far = application
        .router
        .clone()
        .oneshot(from([10, 0, 0, 7]))
        .await
        .unwrap();
    assert_eq!(far.status(), 401);
    let near = application
        .router
        .oneshot(from([127, 0, 0, 1]))
        .await
        .unwrap();
    assert_eq!(near.status(), 200);
}

#[tokio::test]
async fn a_body_of_many_tiny_values_is_refused_before_it_is_decoded() {
    let app = spawn_app(Backend::Sqlite).await;
    let tenant = app.tenant("amplify@example.com").await;
    // 12 MiB of `0,`: six million values, over half a gigabyte once decoded.
    let zeros = "0,".repeat(6 * 1024 * 1024);
    let body = format!(
        r#"{{"model":"gpt-4o-mini","messages":[{{"role":"user","content":"hi"}}],"metadata":{{"x":[{zeros}0]}}}}"#
    );
    for path in ["/v1/chat/completions", "/v1/responses", "/v1/embeddings"] {
        let response = app
            .http
            .post(app.url(path))
            .bearer_auth(&tenant.key)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let error = expect_openai_error(response, 413).await;
        assert_eq!(error["code"], "request_too_large", "{path}");
    }
    let messages = app
        .http
        .post(app.url("/v1/messages"))
        .header("x-api-key", &tenant.key)
        .header("anthropic-version", "2023-06-01")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(messages.status(), 413);
    let error: serde_json::Value = messages.json().await.unwrap();
    assert_eq!(error["type"], "error", "Anthropic's shape: {error}");
    assert!(app.fake_openai.requests().is_empty());
}
