//! Requests written for one model reach another: the body is adapted to the model that serves it
//! (`gateway::adapt`), auto-routing picks only models that can serve it, pass-through is decided
//! per attempt, and the entry points agents call first (`HEAD /`, `/v1/models`) answer as their
//! clients expect. The fake providers refuse what the real ones refuse (`testkit`), so a field
//! forwarded to a model that cannot take it fails here as it would in production.

use serde_json::{Value, json};

use crate::helpers::{Backend, OPENAI_KEY, TestApp, expect_openai_error, spawn_app};

/// Which providers an account has.
#[derive(Debug, Clone, Copy)]
enum Shape {
    OpenAiOnly,
    AnthropicOnly,
    Both,
}

impl Shape {
    const ALL: [Shape; 3] = [Shape::OpenAiOnly, Shape::AnthropicOnly, Shape::Both];

    fn providers(self) -> &'static [&'static str] {
        match self {
            Shape::OpenAiOnly => &["openai"],
            Shape::AnthropicOnly => &["anthropic"],
            Shape::Both => &["anthropic", "openai"],
        }
    }

    /// A model of the account to pin.
    fn pinned(self) -> &'static str {
        match self {
            Shape::OpenAiOnly => "openai/gpt-4o-mini",
            Shape::AnthropicOnly | Shape::Both => "anthropic/claude-sonnet-4-0",
        }
    }
}

async fn account(app: &TestApp, email: &str, providers: &[&str]) -> String {
    let account_id = app.create_account(email).await;
    for provider in providers {
        let base_url = app.fake_openai.base_url_for(provider);
        app.state
            .add_provider(account_id, provider, OPENAI_KEY, Some(&base_url))
            .await
            .unwrap();
    }
    app.create_key(account_id).await
}

/// A main turn of Claude Code as it writes it for the newest Claude: a large output budget,
/// adaptive thinking with an effort, context management, cached system blocks, a system turn in
/// the middle of the conversation, earlier thinking, and tools.
fn claude_code_turn(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "max_tokens": 32000,
        "stream": stream,
        "thinking": {"type": "adaptive"},
        "output_config": {"effort": "high"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "metadata": {"user_id": "user_abc_account_def_session_123"},
        "system": [
            {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
            {"type": "text", "text": "Help the user with software engineering tasks.", "cache_control": {"type": "ephemeral"}}
        ],
        "tools": [
            {"name": "Bash", "description": "Run a shell command", "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}},
            {"name": "Read", "description": "Read a file", "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}}, "required": ["file_path"]}}
        ],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "What does main.rs do?", "cache_control": {"type": "ephemeral"}}]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "I should read the file.", "signature": "c2lnbmF0dXJl"},
                {"type": "text", "text": "Let me look."}
            ]},
            {"role": "system", "content": "The user switched to plan mode."},
            {"role": "user", "content": "Go on."}
        ]
    })
}

async fn messages(app: &TestApp, key: &str, body: &Value) -> reqwest::Response {
    app.http
        .post(app.url("/v1/messages"))
        .header("x-api-key", key)
        .header("anthropic-version", "2023-06-01")
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn responses(app: &TestApp, key: &str, body: &Value) -> reqwest::Response {
    app.http
        .post(app.url("/v1/responses"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn claude_code_turns_are_served_on_every_account_shape_auto_and_pinned() {
    let app = spawn_app(Backend::Sqlite).await;
    for (index, shape) in Shape::ALL.into_iter().enumerate() {
        let key = account(
            &app,
            &format!("shape{index}@example.com"),
            shape.providers(),
        )
        .await;
        for model in ["auto", shape.pinned()] {
            for stream in [false, true] {
                let case = format!("{shape:?} {model} stream={stream}");
                let response = messages(&app, &key, &claude_code_turn(model, stream)).await;
                let status = response.status();
                let served = response.headers()["x-gateway-model"]
                    .to_str()
                    .unwrap()
                    .to_owned();
                let adapted = response.headers().get("x-gateway-adapted").is_some();
                let text = response.text().await.unwrap();
                assert_eq!(status, 200, "{case}: {text}");
                if stream {
                    assert!(text.contains("event: message_stop"), "{case}: {text}");
                } else {
                    let body: Value = serde_json::from_str(&text).unwrap();
                    assert_eq!(body["type"], "message", "{case}");
                }
                // No Claude of these routes takes the body as written for the newest one:
                // passed through, it was adapted, and said so.
                if served.starts_with("anthropic/") {
                    assert!(adapted, "{case}: served by {served}");
                }
            }
        }
    }
}

#[tokio::test]
async fn an_older_claude_gets_budgeted_thinking_and_the_system_turn_moved() {
    let app = spawn_app(Backend::Sqlite).await;
    let key = account(&app, "older@example.com", &["anthropic"]).await;
    let response = messages(&app, &key, &claude_code_turn("claude-sonnet-4-0", false)).await;
    assert_eq!(response.status(), 200);
    let sent = app.fake_openai.requests().pop().unwrap().body;
    assert_eq!(sent["model"], "claude-sonnet-4-0");
    assert_eq!(sent["max_tokens"], 32000);
    assert_eq!(
        sent["thinking"],
        json!({"type": "enabled", "budget_tokens": 24000})
    );
    assert!(sent.get("output_config").is_none());
    assert!(sent.get("context_management").is_none());
    assert!(
        sent["messages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|turn| turn["role"] != "system")
    );
    assert_eq!(sent["system"][2]["text"], "The user switched to plan mode.");
    // What pass-through is for: the cache marks and earlier thinking reach Anthropic.
    assert_eq!(sent["system"][1]["cache_control"]["type"], "ephemeral");
    assert_eq!(sent["messages"][1]["content"][0]["type"], "thinking");

    // The newest Claude takes the body as written.
    let response = messages(&app, &key, &claude_code_turn("claude-opus-4-6", false)).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("x-gateway-adapted").is_none());
    let sent = app.fake_openai.requests().pop().unwrap().body;
    assert_eq!(sent, claude_code_turn("claude-opus-4-6", false));
}

#[tokio::test]
async fn a_reasoning_model_gets_max_completion_tokens_and_no_temperature() {
    let app = spawn_app(Backend::Sqlite).await;
    let key = account(&app, "o4@example.com", &["openai"]).await;
    let body = json!({"model": "o4-mini", "max_tokens": 32000, "temperature": 0.2,
        "messages": [{"role": "user", "content": "Say hello"}]});
    let response = app.chat(Some(&key), &body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["x-gateway-adapted"],
        "max_tokens sent as max_completion_tokens; temperature dropped (o4-mini takes none)"
    );
    let sent = app.fake_openai.requests().pop().unwrap().body;
    assert_eq!(sent["max_completion_tokens"], 32000);
    assert!(sent.get("max_tokens").is_none());
    assert!(sent.get("temperature").is_none());

    // Over gpt-4o-mini's limit: clamped, streamed too.
    let mut body = json!({"model": "gpt-4o-mini", "max_tokens": 32000, "stream": true,
        "messages": [{"role": "user", "content": "Say hello"}]});
    let response = app.chat(Some(&key), &body).await;
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().ends_with("data: [DONE]\n\n"));
    assert_eq!(
        app.fake_openai.requests().pop().unwrap().body["max_tokens"],
        16384
    );
    // A model the catalog does not know is sent what was asked, and its provider judges.
    body["model"] = json!("openai/fake-unknown");
    body["stream"] = json!(false);
    assert_eq!(app.chat(Some(&key), &body).await.status(), 200);
    assert_eq!(
        app.fake_openai.requests().pop().unwrap().body["max_tokens"],
        32000
    );
}

#[tokio::test]
async fn a_mixed_route_passes_the_anthropic_attempt_through_and_translates_the_other() {
    let app = spawn_app(Backend::Sqlite).await;
    let key = account(&app, "mixed@example.com", &["anthropic", "openai"]).await;
    let cached_turn = |model: &str, fallback: &str| {
        json!({"model": model, "models": [fallback], "max_tokens": 64, "top_k": 5,
            "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": "Say hello"}]})
    };
    // OpenAI first, failing for the provider's reasons; Anthropic's fallback gets the body whole.
    let response = messages(
        &app,
        &key,
        &cached_turn("openai/fake-error-500", "anthropic/claude-3-5-haiku-latest"),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-gateway-provider"], "anthropic");
    let requests = app.fake_openai.requests();
    let anthropic = requests
        .iter()
        .rfind(|sent| sent.provider == "anthropic")
        .unwrap();
    assert_eq!(anthropic.body["top_k"], 5, "passed through");
    assert_eq!(
        anthropic.body["system"][0]["cache_control"]["type"],
        "ephemeral"
    );
    let openai = requests
        .iter()
        .rfind(|sent| sent.provider == "openai")
        .unwrap();
    assert!(openai.body.get("top_k").is_none(), "translated");
    assert_eq!(openai.body["messages"][0]["role"], "system");
    // The answer is Anthropic's own, byte for byte.
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "message");
    assert!(body["id"].as_str().unwrap().starts_with("msg_"));

    // Anthropic first and failing; OpenAI's translated answer comes back as a Message.
    let response = messages(
        &app,
        &key,
        &cached_turn("anthropic/fake-error-500", "openai/gpt-4o-mini"),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-gateway-provider"], "openai");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "message");
    assert_eq!(
        body["content"][0]["text"],
        "Hello from the fake OpenAI server."
    );
}

#[tokio::test]
async fn json_output_beside_tools_reaches_anthropic() {
    let app = spawn_app(Backend::Sqlite).await;
    let key = account(&app, "agent@example.com", &["anthropic"]).await;
    let agent = json!({"model": "auto", "messages": [{"role": "user", "content": "Weather in Paris?"}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "final_output", "schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}});
    let response = app.chat(Some(&key), &agent).await;
    assert_eq!(response.status(), 200);
    let sent = app.fake_openai.requests().pop().unwrap().body;
    assert_eq!(sent["tool_choice"], json!({"type": "any"}));
    assert_eq!(sent["tools"].as_array().unwrap().len(), 2);
    let body: Value = response.json().await.unwrap();
    // The fake calls the last tool offered: the answer tool.
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "{\"city\":\"Paris\"}"
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");

    // The same through the Responses API (`text.format`), as the Agents SDK sends it.
    let response = responses(&app, &key, &json!({"model": "auto", "input": "Weather in Paris?",
            "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}],
            "text": {"format": {"type": "json_schema", "name": "final_output", "schema": {"type": "object", "properties": {"city": {"type": "string"}}}}}})).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["output"][0]["content"][0]["text"],
        "{\"city\":\"Paris\"}"
    );
}

#[tokio::test]
async fn hosted_tools_are_left_out_of_a_translation_unless_forced() {
    let app = spawn_app(Backend::Sqlite).await;
    let key = account(&app, "codex@example.com", &["anthropic"]).await;
    let offered = json!({"model": "auto", "input": "Say hello",
        "tools": [{"type": "web_search"}, {"type": "function", "name": "shell", "parameters": {"type": "object"}}]});
    let response = responses(&app, &key, &offered).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-gateway-dropped-tools"], "web_search");
    let sent = app.fake_openai.requests().pop().unwrap().body;
    assert_eq!(sent["tools"].as_array().unwrap().len(), 1);
    assert_eq!(sent["tools"][0]["name"], "shell");

    let mut forced = offered;
    forced["tool_choice"] = json!({"type": "web_search"});
    // With OpenAI among the account's providers, `auto` considers only OpenAI's models for it.
    let both = account(&app, "codex-both@example.com", &["anthropic", "openai"]).await;
    let response = responses(&app, &both, &forced).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-gateway-provider"], "openai");
    let sent = app.fake_openai.requests().pop().unwrap();
    assert_eq!(sent.path, "/responses");
    assert_eq!(sent.body["tool_choice"], json!({"type": "web_search"}));
    let error = expect_openai_error(responses(&app, &key, &forced).await, 400).await;
    let message = error["message"].as_str().unwrap();
    assert_eq!(error["param"], "tools[0]");
    assert!(
        message
            .contains("'tools[0]': web_search tools cannot be translated for providers other than")
            && message.contains("They reach OpenAI when every model of the route is OpenAI's"),
        "{message}"
    );
}

#[tokio::test]
async fn auto_embeddings_take_an_embedding_model() {
    let app = spawn_app(Backend::Sqlite).await;
    let key = account(&app, "embed@example.com", &["openai"]).await;
    let response = app
        .http
        .post(app.url("/v1/embeddings"))
        .bearer_auth(&key)
        .json(&json!({"model": "auto", "input": "hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["x-gateway-model"],
        "openai/text-embedding-3-small"
    );
    let sent = app.fake_openai.requests().pop().unwrap();
    assert_eq!(sent.path, "/embeddings");
    assert_eq!(sent.body["model"], "text-embedding-3-small");
}

/// A GET of `/v1/…` as Anthropic's SDKs send it (`x-api-key`, `anthropic-version`), or as
/// OpenAI's do.
async fn get_as(app: &TestApp, key: &str, path: &str, anthropic: bool) -> Value {
    let request = app.http.get(app.url(path));
    let request = if anthropic {
        request
            .header("x-api-key", key)
            .header("anthropic-version", "2023-06-01")
    } else {
        request.bearer_auth(key)
    };
    request.send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn anthropic_clients_get_the_model_list_in_anthropics_shape() {
    let app = spawn_app(Backend::Sqlite).await;
    let key = account(&app, "models@example.com", &["anthropic"]).await;
    let list = get_as(&app, &key, "/v1/models", true).await;
    assert_eq!(list["has_more"], false);
    assert_eq!(list["first_id"], "auto");
    let data = list["data"].as_array().unwrap();
    assert!(data.iter().all(|model| model["type"] == "model"
        && model["display_name"].is_string()
        && model["created_at"].is_string()));
    assert!(
        data.iter()
            .any(|model| model["id"] == "anthropic/claude-sonnet-4-0")
    );
    assert_eq!(list["last_id"], data.last().unwrap()["id"]);
    let one = get_as(&app, &key, "/v1/models/anthropic/claude-sonnet-4-0", true).await;
    assert_eq!(one["type"], "model");
    // OpenAI's clients still get OpenAI's shape.
    assert_eq!(
        get_as(&app, &key, "/v1/models", false).await["object"],
        "list"
    );
}

#[tokio::test]
async fn head_is_answered_like_get_without_a_body() {
    let app = spawn_app(Backend::Sqlite).await;
    for path in ["/", "/login", "/keys", "/no-such-page"] {
        let get = app.http.get(app.url(path)).send().await.unwrap();
        let head = app.http.head(app.url(path)).send().await.unwrap();
        assert_eq!(head.status(), get.status(), "{path}");
        assert_eq!(
            head.headers().get("location"),
            get.headers().get("location"),
            "{path}"
        );
        assert_eq!(
            head.headers().get("content-type"),
            get.headers().get("content-type"),
            "{path}"
        );
        assert!(head.bytes().await.unwrap().is_empty(), "{path}");
    }
    assert_eq!(
        app.http.head(app.url("/")).send().await.unwrap().status(),
        303
    );
}

#[tokio::test]
async fn a_refused_translation_names_the_field_the_client_sent() {
    let app = spawn_app(Backend::Sqlite).await;
    let anthropic = account(&app, "terms@example.com", &["anthropic"]).await;
    let body = json!({"model": "auto", "input": "hi", "max_output_tokens": -5});
    let response = responses(&app, &anthropic, &body).await;
    let error = expect_openai_error(response, 400).await;
    assert_eq!(error["param"], "max_output_tokens");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("'max_output_tokens'"),
        "{error}"
    );

    let gemini = account(&app, "terms-gemini@example.com", &["gemini"]).await;
    let response = messages(
        &app,
        &gemini,
        &json!({"model": "auto", "max_tokens": 64, "stop_sequences": [1],
            "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("'stop_sequences'"),
        "{body}"
    );
}
