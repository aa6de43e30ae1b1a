//! One conformance suite, run against every provider through the fake servers that replay each
//! provider's documented wire format: plain, streaming, tools (also streamed), images, JSON mode,
//! embeddings, each error class, retries and fallback.

use gateway::accounts;
use gateway::entities::usage_event;
use gateway::providers::{PROVIDERS, ProviderKind};
use gateway::sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::{Backend, OPENAI_KEY, TestApp, eventually, expect_openai_error, spawn_app};

/// A provider as the suite sees it: its row in the engine's provider table, and the name its
/// fake server signs its answers with.
struct Provider {
    id: &'static str,
    name: &'static str,
    model: &'static str,
}

const fn provider(kind: ProviderKind, name: &'static str) -> Provider {
    let spec = &PROVIDERS[kind as usize];
    Provider {
        id: spec.id,
        name,
        model: spec.default_model,
    }
}

const OPENAI: Provider = provider(ProviderKind::OpenAi, "OpenAI");
const ANTHROPIC: Provider = provider(ProviderKind::Anthropic, "Anthropic");
const GEMINI: Provider = provider(ProviderKind::Gemini, "Gemini");
const GROQ: Provider = provider(ProviderKind::Groq, "Groq");
const OLLAMA: Provider = provider(ProviderKind::Ollama, "Ollama");

#[test]
fn the_suite_covers_every_provider_in_the_table() {
    let covered = [&OPENAI, &ANTHROPIC, &GEMINI, &GROQ, &OLLAMA].map(|p| p.id);
    let table: Vec<&str> = PROVIDERS.iter().map(|spec| spec.id).collect();
    assert_eq!(covered.as_slice(), table.as_slice());
}

/// Generates `mod <provider> { #[tokio::test] fn <case>() }` for every provider and case.
macro_rules! for_every_provider {
    ($($case:ident),* $(,)?) => {
        for_every_provider!(@provider openai, OPENAI, $($case),*);
        for_every_provider!(@provider anthropic, ANTHROPIC, $($case),*);
        for_every_provider!(@provider gemini, GEMINI, $($case),*);
        for_every_provider!(@provider groq, GROQ, $($case),*);
        for_every_provider!(@provider ollama, OLLAMA, $($case),*);
    };
    (@provider $module:ident, $provider:ident, $($case:ident),*) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(&super::$provider).await
                }
            )*
        }
    };
}

for_every_provider!(
    plain_completion,
    streaming_with_and_without_usage,
    tool_calls,
    streamed_tool_calls,
    json_mode_and_images_are_translated,
    error_classes_are_mapped,
    a_failure_before_the_first_chunk_is_a_clean_error,
    retries_then_falls_back,
    usage_is_recorded_when_a_stream_is_cut,
    embeddings_where_the_provider_has_them,
    responses_api_plain_streamed_tools_json_and_images,
    responses_api_errors_and_fallback,
    messages_api_plain_streamed_tools_and_images,
    messages_api_errors_and_fallback,
);

/// An app with one account whose only provider is `provider`, at the fake.
async fn setup(provider: &Provider) -> (TestApp, i32, String) {
    let app = spawn_app(Backend::Sqlite).await;
    let account_id = app.create_account("conformance@example.com").await;
    let base_url = app.fake_openai.base_url_for(provider.id);
    app.state
        .add_provider(account_id, provider.id, OPENAI_KEY, Some(&base_url))
        .await
        .unwrap();
    let key = app.create_key(account_id).await;
    (app, account_id, key)
}

fn model(provider: &Provider, name: &str) -> String {
    format!("{}/{name}", provider.id)
}

/// A model of the provider that takes images: the default one, but for Groq's and Ollama's
/// default Llamas, which take none (the gateway refuses images for them, as their APIs would).
fn vision_model(provider: &Provider) -> String {
    match provider.id {
        "groq" => model(provider, "meta-llama/llama-4-scout-17b-16e-instruct"),
        "ollama" => model(provider, "llama3.2-vision"),
        _ => model(provider, provider.model),
    }
}

fn ask(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}]})
}

fn answer(provider: &Provider) -> String {
    format!("Hello from the fake {} server.", provider.name)
}

/// The `data:` payloads of an SSE body, checking OpenAI's framing on the way.
fn sse_payloads(body: &str) -> Vec<String> {
    assert!(
        body.ends_with("data: [DONE]\n\n"),
        "the stream ends with [DONE]: {body}"
    );
    body.split("\n\n")
        .filter(|event| !event.is_empty())
        .map(|event| {
            event
                .strip_prefix("data: ")
                .unwrap_or_else(|| panic!("not an SSE data line: {event}"))
                .to_owned()
        })
        .collect()
}

fn chunks(body: &str) -> Vec<Value> {
    let payloads = sse_payloads(body);
    payloads[..payloads.len() - 1]
        .iter()
        .map(|data| serde_json::from_str(data).unwrap())
        .collect()
}

async fn plain_completion(provider: &Provider) {
    let (app, _, key) = setup(provider).await;
    let response = app
        .chat(Some(&key), &ask(&model(provider, provider.model)))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-gateway-provider"], provider.id);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    assert_eq!(body["choices"][0]["message"]["content"], answer(provider));
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert!(body["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    assert!(body["usage"]["completion_tokens"].as_u64().unwrap() > 0);

    // The system prompt reached the provider in its own form.
    let sent = &app.fake_openai.requests()[0];
    match provider.id {
        "anthropic" => assert_eq!(sent.body["system"], "Be brief."),
        "gemini" => assert_eq!(
            sent.body["systemInstruction"]["parts"][0]["text"],
            "Be brief."
        ),
        _ => assert_eq!(sent.body["messages"][0]["role"], "system"),
    }
    // Bare catalog names route to the provider as well.
    let bare = app.chat(Some(&key), &ask(provider.model)).await;
    assert_eq!(bare.status(), 200, "{}", provider.model);
}

async fn streaming_with_and_without_usage(provider: &Provider) {
    let (app, account_id, key) = setup(provider).await;
    for include_usage in [false, true] {
        let mut request = ask(&model(provider, provider.model));
        request["stream"] = json!(true);
        if include_usage {
            request["stream_options"] = json!({"include_usage": true});
        }
        let response = app.chat(Some(&key), &request).await;
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        let chunks = chunks(&response.text().await.unwrap());
        assert!(
            chunks
                .iter()
                .all(|c| c["object"] == "chat.completion.chunk")
        );
        let text: String = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert_eq!(text, answer(provider));
        assert!(
            chunks
                .iter()
                .any(|c| c["choices"][0]["finish_reason"] == "stop")
        );
        let usage_chunk = chunks
            .iter()
            .find(|c| c["choices"].as_array().is_some_and(Vec::is_empty));
        if include_usage {
            let usage = &usage_chunk.expect("a usage chunk when asked")["usage"];
            assert!(usage["total_tokens"].as_u64().unwrap() > 0);
            assert_eq!(
                chunks.last().unwrap()["choices"],
                json!([]),
                "usage comes last"
            );
        } else {
            assert!(usage_chunk.is_none(), "no usage chunk unless asked");
        }
    }
    // Usage was recorded for both streams even though only one client asked for it.
    app.flush_usage().await;
    let events = usage_event::Entity::find()
        .filter(usage_event::Column::AccountId.eq(account_id))
        .all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(events.len(), 2);
    assert!(
        events
            .iter()
            .all(|e| e.status == 200 && e.prompt_tokens > 0),
        "{events:?}"
    );
}

fn weather_tool() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])
}

async fn tool_calls(provider: &Provider) {
    let (app, _, key) = setup(provider).await;
    let mut request = ask(&model(provider, "fake-tools"));
    request["tools"] = weather_tool();
    request["tool_choice"] = json!("auto");
    let body: Value = app.chat(Some(&key), &request).await.json().await.unwrap();
    let call = &body["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    assert!(call["id"].as_str().is_some_and(|id| !id.is_empty()));
    let arguments: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(arguments, json!({"city": "Paris"}));
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");

    // The result goes back as a `tool` message and reaches the provider in its own form.
    let follow_up = json!({
        "model": model(provider, provider.model),
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": null, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call["id"], "content": "{\"celsius\": 18}"}
        ],
        "tools": weather_tool()
    });
    assert_eq!(app.chat(Some(&key), &follow_up).await.status(), 200);
    let sent = app.fake_openai.requests().pop().unwrap().body;
    assert_tool_result_reached(provider, &sent);
}

async fn streamed_tool_calls(provider: &Provider) {
    let (app, _, key) = setup(provider).await;
    let mut request = ask(&model(provider, "fake-tools"));
    request["tools"] = weather_tool();
    request["stream"] = json!(true);
    let chunks = chunks(&app.chat(Some(&key), &request).await.text().await.unwrap());
    let deltas: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"].get("tool_calls"))
        .collect();
    assert!(!deltas.is_empty(), "tool call deltas");
    assert_eq!(deltas[0][0]["function"]["name"], "get_weather");
    assert!(deltas[0][0]["id"].as_str().is_some());
    let arguments: String = deltas
        .iter()
        .filter_map(|d| d[0]["function"]["arguments"].as_str())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&arguments).unwrap(),
        json!({"city": "Paris"})
    );
    assert!(
        chunks
            .iter()
            .any(|c| c["choices"][0]["finish_reason"] == "tool_calls")
    );
}

async fn json_mode_and_images_are_translated(provider: &Provider) {
    let (app, _, key) = setup(provider).await;
    let request = json!({
        "model": vision_model(provider),
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "Describe as JSON"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
        ]}],
        "response_format": {"type": "json_object"}
    });
    if vision_model(provider) != model(provider, provider.model) {
        // The default model takes no images: refused, naming the part and the model.
        let mut blind = request.clone();
        blind["model"] = json!(model(provider, provider.model));
        let error = expect_openai_error(app.chat(Some(&key), &blind).await, 400).await;
        assert_eq!(error["param"], "messages[0].content[1]");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .ends_with("takes no images"),
            "{error}"
        );
    }
    let response = app.chat(Some(&key), &request).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let sent = app.fake_openai.requests().pop().unwrap().body;
    match provider.id {
        "anthropic" => {
            assert_eq!(
                sent["messages"][0]["content"][1]["source"]["type"],
                "base64"
            );
            assert_eq!(sent["tool_choice"]["type"], "tool");
            let content = body["choices"][0]["message"]["content"].as_str().unwrap();
            assert_eq!(
                serde_json::from_str::<Value>(content).unwrap(),
                json!({"city": "Paris"})
            );
        }
        "gemini" => {
            assert_eq!(
                sent["contents"][0]["parts"][1]["inlineData"]["mimeType"],
                "image/png"
            );
            assert_eq!(
                sent["generationConfig"]["responseMimeType"],
                "application/json"
            );
        }
        _ => {
            assert_eq!(sent["response_format"], json!({"type": "json_object"}));
            assert_eq!(sent["messages"][0]["content"][1]["type"], "image_url");
        }
    }
}

async fn error_classes_are_mapped(provider: &Provider) {
    let (app, _, key) = setup(provider).await;
    let response = app
        .chat(Some(&key), &ask(&model(provider, "fake-error-429")))
        .await;
    assert_eq!(
        response.headers()["retry-after"],
        "20",
        "Retry-After is kept"
    );
    expect_openai_error(response, 429).await;

    let error = expect_openai_error(
        app.chat(Some(&key), &ask(&model(provider, "fake-error-500")))
            .await,
        502,
    )
    .await;
    assert!(
        error["message"].as_str().unwrap().starts_with(provider.id),
        "{error}"
    );

    expect_openai_error(
        app.chat(Some(&key), &ask(&model(provider, "fake-missing-model")))
            .await,
        404,
    )
    .await;
    let error = expect_openai_error(
        app.chat(Some(&key), &ask(&model(provider, "fake-garbage")))
            .await,
        502,
    )
    .await;
    assert_eq!(error["code"], "upstream_invalid_response");

    if provider.id != "ollama" {
        // A provider key the provider refuses is an authentication error, whatever status the
        // provider uses for it (Gemini says 400).
        let other = app.create_account("refused@example.com").await;
        let base_url = app.fake_openai.base_url_for(provider.id);
        accounts::add_provider(
            &app.state.db,
            &app.state.settings.plans,
            &app.state.master_key,
            &app.state.settings.egress,
            other,
            provider.id,
            "wrong-key",
            Some(&base_url),
        )
        .await
        .unwrap();
        let other_key = app.create_key(other).await;
        expect_openai_error(
            app.chat(Some(&other_key), &ask(&model(provider, provider.model)))
                .await,
            401,
        )
        .await;
    }
}

async fn a_failure_before_the_first_chunk_is_a_clean_error(provider: &Provider) {
    let (app, _, key) = setup(provider).await;
    let mut request = ask(&model(provider, "fake-error-429"));
    request["stream"] = json!(true);
    let response = app.chat(Some(&key), &request).await;
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    expect_openai_error(response, 429).await;
}

async fn retries_then_falls_back(provider: &Provider) {
    let (app, _, key) = setup(provider).await;
    // The first call fails with a server error, the retry succeeds.
    let response = app
        .chat(Some(&key), &ask(&model(provider, "fake-flaky")))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        app.fake_openai.requests().len(),
        2,
        "one failure, one retry"
    );

    // A model that keeps failing gives way to the next in `models`.
    let mut request = ask(&model(provider, "fake-error-500"));
    request["models"] = json!([model(provider, provider.model)]);
    let response = app.chat(Some(&key), &request).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["x-gateway-route-reason"]
            .to_str()
            .unwrap()
            .starts_with("fallback 1")
    );
    assert_eq!(
        response.headers()["x-gateway-model"],
        model(provider, provider.model)
    );
    let sent = app.fake_openai.requests();
    assert!(
        sent.iter().all(|r| r.body.get("models").is_none()),
        "`models` is not forwarded"
    );

    // A client error is not retried, and not a reason to fall back.
    let mut request = ask(&model(provider, "fake-missing-model"));
    request["models"] = json!([model(provider, provider.model)]);
    let before = app.fake_openai.requests().len();
    expect_openai_error(app.chat(Some(&key), &request).await, 404).await;
    assert_eq!(app.fake_openai.requests().len(), before + 1);
}

async fn usage_is_recorded_when_a_stream_is_cut(provider: &Provider) {
    let (app, account_id, key) = setup(provider).await;
    let mut request = ask(&model(provider, "fake-stream-cut"));
    request["stream"] = json!(true);
    let response = app.chat(Some(&key), &request).await;
    assert_eq!(
        response.status(),
        200,
        "the cut comes after the first chunk"
    );
    let body = response.text().await.unwrap_or_default();
    assert!(
        !body.contains("[DONE]"),
        "a cut stream does not claim to be complete: {body}"
    );
    assert!(
        body.contains("\"error\""),
        "the client is told in the stream: {body}"
    );

    // A client that goes away after the first chunk: the upstream call is dropped, usage kept.
    // The fake's events come 300 ms apart here, so that however loaded the machine, the client
    // leaves in the middle of the stream and not after its end.
    app.fake_openai
        .set_stream_pause(std::time::Duration::from_millis(300));
    let mut request = ask(&model(provider, provider.model));
    request["stream"] = json!(true);
    let mut response = app.chat(Some(&key), &request).await;
    let _first = response.chunk().await.unwrap();
    drop(response);

    let recorded = eventually(std::time::Duration::from_secs(10), || async {
        app.flush_usage().await;
        let events = usage_event::Entity::find()
            .filter(usage_event::Column::AccountId.eq(account_id))
            .all(&app.state.db)
            .await
            .unwrap();
        events.iter().any(|e| e.status == 502) && events.iter().any(|e| e.status == 499)
    })
    .await;
    assert!(recorded, "both interrupted streams are in the usage log");
    let cancelled = eventually(std::time::Duration::from_secs(10), || async {
        app.fake_openai.abandoned_streams() >= 1
    })
    .await;
    assert!(
        cancelled,
        "the gateway dropped the upstream stream when its client left"
    );
}

async fn embeddings_where_the_provider_has_them(provider: &Provider) {
    let (app, _, key) = setup(provider).await;
    let embedding_model = match provider.id {
        "openai" => "text-embedding-3-small",
        "gemini" => "text-embedding-004",
        "ollama" => "nomic-embed-text",
        _ => provider.model,
    };
    let response = app
        .http
        .post(app.url("/v1/embeddings"))
        .bearer_auth(&key)
        .json(&json!({"model": model(provider, embedding_model), "input": ["first", "second"]}))
        .send()
        .await
        .unwrap();
    if matches!(provider.id, "anthropic" | "groq") {
        let error = expect_openai_error(response, 400).await;
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("has no embeddings API"),
            "{error}"
        );
        return;
    }
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "list");
    let data = body["data"].as_array().unwrap();
    assert!(!data.is_empty());
    assert!(
        data[0]["embedding"]
            .as_array()
            .is_some_and(|values| !values.is_empty())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_lists_what_the_key_can_reach() {
    let (app, account_id, key) = setup(&ANTHROPIC).await;
    let base_url = app.fake_openai.base_url_for("gemini");
    app.state
        .add_provider(account_id, "gemini", OPENAI_KEY, Some(&base_url))
        .await
        .unwrap();
    let body: Value = app
        .http
        .get(app.url("/v1/models"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert_eq!(ids[0], "auto");
    assert!(
        ids.contains(&"anthropic/claude-3-5-haiku-latest")
            && ids.contains(&"gemini/gemini-2.0-flash"),
        "{ids:?}"
    );
    assert!(
        !ids.iter().any(|id| id.starts_with("openai/")),
        "only the account's providers"
    );
}

/// A provider gone wrong whose answer never ends costs a bounded read, then a clear 502: a JSON
/// body past 64 MiB, an error body past its first 64 KiB, an event line past 8 MiB. Without the
/// caps each would be read into memory until the timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_without_end_are_cut_off_and_mapped_to_a_502() {
    // A timeout no read reaches: each error below can only come from its cap.
    let app = crate::helpers::spawn_app_with(Backend::Sqlite, |config| {
        config.upstream_timeout_secs = 300
    })
    .await;
    let tenant = app.tenant("endless@example.com").await;

    let error = expect_openai_error(
        app.chat(Some(&tenant.key), &ask("openai/fake-endless"))
            .await,
        502,
    )
    .await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("larger than 64 MiB"),
        "{error}"
    );

    let error = expect_openai_error(
        app.chat(Some(&tenant.key), &ask("openai/fake-endless-error"))
            .await,
        502,
    )
    .await;
    assert!(
        error["message"].as_str().unwrap().contains("500"),
        "the provider's failure is named: {error}"
    );

    let mut request = ask("openai/fake-endless");
    request["stream"] = json!(true);
    let error = expect_openai_error(app.chat(Some(&tenant.key), &request).await, 502).await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("longer than 8 MiB"),
        "{error}"
    );

    // Lines of 64 KiB, never a blank one: the event, not only the line, has a bound.
    let mut request = ask("openai/fake-endless-event");
    request["stream"] = json!(true);
    let error = expect_openai_error(app.chat(Some(&tenant.key), &request).await, 502).await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("an event is longer than 8 MiB"),
        "{error}"
    );
}

/// The upstream timeout bounds the wait for an answer to start and each wait between two chunks,
/// never a whole stream: a long answer streams to its end, a stalled one ends with an error event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_outlasts_the_timeout_while_chunks_keep_coming_and_a_stall_ends_it() {
    let app =
        crate::helpers::spawn_app_with(Backend::Sqlite, |config| config.upstream_timeout_secs = 1)
            .await;
    let tenant = app.tenant("long@example.com").await;
    let mut request = ask("openai/gpt-4o-mini");
    request["stream"] = json!(true);

    // Eight events 400 ms apart: about three seconds in all, never a second without a chunk.
    app.fake_openai
        .set_stream_pause(std::time::Duration::from_millis(400));
    let started = std::time::Instant::now();
    let response = app.chat(Some(&tenant.key), &request).await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    assert!(
        started.elapsed() > std::time::Duration::from_millis(2000),
        "the stream ran past the one-second timeout"
    );
    assert!(
        body.contains("[DONE]") && !body.contains("\"error\""),
        "the whole answer arrived: {body}"
    );

    // Then a provider that goes quiet for 5 s after its first event.
    app.fake_openai
        .set_stream_pause(std::time::Duration::from_secs(5));
    let response = app.chat(Some(&tenant.key), &request).await;
    assert_eq!(response.status(), 200, "the first chunk came in time");
    let body = response.text().await.unwrap();
    assert!(
        !body.contains("[DONE]") && body.contains("did not answer within 1 seconds"),
        "the stall ends the stream with an error event: {body}"
    );
    assert_eq!(
        body.matches("chat.completion.chunk").count(),
        1,
        "the gateway gave up after the idle timeout, not at the provider's next event: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_takes_too_long_is_a_504() {
    let app =
        crate::helpers::spawn_app_with(Backend::Sqlite, |config| config.upstream_timeout_secs = 1)
            .await;
    let tenant = app.tenant("slow@example.com").await;
    let error = expect_openai_error(
        app.chat(Some(&tenant.key), &ask("openai/fake-slow")).await,
        504,
    )
    .await;
    assert_eq!(error["code"], "upstream_timeout");
}

/// A POST of `body` to a `/v1` path with the gateway key, as the SDKs send it.
async fn post(app: &TestApp, path: &str, key: &str, body: &Value) -> reqwest::Response {
    app.http
        .post(app.url(path))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Named server-sent events: (event name, data).
fn named_events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter(|frame| !frame.is_empty())
        .map(|frame| {
            let (name, data) = frame
                .strip_prefix("event: ")
                .and_then(|rest| rest.split_once("\ndata: "))
                .unwrap_or_else(|| panic!("not a named event: {frame}"));
            let data: Value = serde_json::from_str(data).unwrap();
            assert_eq!(data["type"], name, "the data repeats the event's name");
            (name.to_owned(), data)
        })
        .collect()
}

fn responses_tool() -> Value {
    json!([{"type": "function", "name": "get_weather", "description": "Weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}])
}

async fn responses_api_plain_streamed_tools_json_and_images(provider: &Provider) {
    let (app, account_id, key) = setup(provider).await;
    // Plain.
    let response = post(&app, "/v1/responses", &key,
        &json!({"model": model(provider, provider.model), "instructions": "Be brief.", "input": "Say hello"})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-gateway-provider"], provider.id);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        (body["object"].as_str(), body["status"].as_str()),
        (Some("response"), Some("completed"))
    );
    assert_eq!(body["output"][0]["content"][0]["text"], answer(provider));
    assert!(body["usage"]["input_tokens"].as_u64().unwrap() > 0);
    let sent = app.fake_openai.requests().pop().unwrap();
    match provider.id {
        // OpenAI's own API: passed through as written, asked to store nothing.
        "openai" => {
            assert_eq!(sent.path, "/responses");
            assert_eq!(sent.body["instructions"], "Be brief.");
            assert_eq!(sent.body["model"], provider.model);
            assert_eq!(sent.body["store"], false);
        }
        "anthropic" => assert_eq!(sent.body["system"], "Be brief."),
        "gemini" => assert_eq!(
            sent.body["systemInstruction"]["parts"][0]["text"],
            "Be brief."
        ),
        _ => assert_eq!(
            sent.body["messages"][0],
            json!({"role": "system", "content": "Be brief."})
        ),
    }

    // Streamed: the documented events, text deltas adding up to the answer, usage at the end.
    let text = post(
        &app,
        "/v1/responses",
        &key,
        &json!({"model": model(provider, provider.model), "input": "Say hello", "stream": true}),
    )
    .await
    .text()
    .await
    .unwrap();
    let events = named_events(&text);
    assert_eq!(events[0].0, "response.created");
    assert_eq!(events.last().unwrap().0, "response.completed");
    let streamed: String = events
        .iter()
        .filter(|(name, _)| name == "response.output_text.delta")
        .map(|(_, data)| data["delta"].as_str().unwrap())
        .collect();
    assert_eq!(streamed, answer(provider));
    let completed = &events.last().unwrap().1["response"];
    assert_eq!(
        completed["output"][0]["content"][0]["text"],
        answer(provider)
    );
    assert!(completed["usage"]["output_tokens"].as_u64().unwrap() > 0);

    // A function tool, then its output sent back; also streamed.
    let request = json!({"model": model(provider, "fake-tools"), "input": "Weather in Paris?", "tools": responses_tool()});
    let body: Value = post(&app, "/v1/responses", &key, &request)
        .await
        .json()
        .await
        .unwrap();
    let call = first_of_type(&body["output"], "function_call");
    assert_eq!(call["name"], "get_weather");
    assert_eq!(
        serde_json::from_str::<Value>(call["arguments"].as_str().unwrap()).unwrap(),
        json!({"city": "Paris"})
    );
    let follow_up = json!({"model": model(provider, provider.model), "tools": responses_tool(), "input": [
        {"role": "user", "content": "Weather in Paris?"},
        {"type": "function_call", "call_id": call["call_id"], "name": "get_weather", "arguments": call["arguments"]},
        {"type": "function_call_output", "call_id": call["call_id"], "output": "{\"celsius\": 18}"}]});
    assert_eq!(
        post(&app, "/v1/responses", &key, &follow_up).await.status(),
        200
    );
    let sent = app.fake_openai.requests().pop().unwrap().body;
    if provider.id == "openai" {
        assert_eq!(
            sent["input"][2]["type"], "function_call_output",
            "passed through"
        );
    } else {
        assert_tool_result_reached(provider, &sent);
    }
    let mut streamed_call = request.clone();
    streamed_call["stream"] = json!(true);
    let text = post(&app, "/v1/responses", &key, &streamed_call)
        .await
        .text()
        .await
        .unwrap();
    let events = named_events(&text);
    let arguments: String = events
        .iter()
        .filter(|(name, _)| name == "response.function_call_arguments.delta")
        .map(|(_, data)| data["delta"].as_str().unwrap())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&arguments).unwrap(),
        json!({"city": "Paris"})
    );
    assert!(
        events
            .iter()
            .any(|(name, data)| name == "response.output_item.done"
                && data["item"]["type"] == "function_call")
    );

    // JSON output and an image.
    let request = json!({"model": vision_model(provider), "text": {"format": {"type": "json_object"}},
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "Describe as JSON"},
            {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "auto"}]}]});
    assert_eq!(
        post(&app, "/v1/responses", &key, &request).await.status(),
        200
    );
    let sent = app.fake_openai.requests().pop().unwrap().body;
    match provider.id {
        "anthropic" => assert_eq!(
            sent["messages"][0]["content"][1]["source"]["type"],
            "base64"
        ),
        "gemini" => assert_eq!(
            sent["generationConfig"]["responseMimeType"],
            "application/json"
        ),
        "openai" => {
            assert_eq!(sent["text"]["format"]["type"], "json_object");
            assert_eq!(sent["input"][0]["content"][1]["type"], "input_image");
        }
        _ => assert_eq!(sent["response_format"], json!({"type": "json_object"})),
    }

    // Counted and recorded like chat requests.
    assert_eq!(
        counted_requests(&app, account_id).await,
        6,
        "one counted event per request"
    );
}

async fn responses_api_errors_and_fallback(provider: &Provider) {
    let (app, _, key) = setup(provider).await;
    // A hosted tool: chat cannot express it, OpenAI takes it as it is.
    let hosted = json!({"model": model(provider, provider.model), "input": "News today?",
        "tools": [{"type": "web_search"}]});
    let response = post(&app, "/v1/responses", &key, &hosted).await;
    if provider.id == "openai" {
        assert_eq!(response.status(), 200);
        let sent = app.fake_openai.requests().pop().unwrap().body;
        assert_eq!(sent["tools"][0]["type"], "web_search", "passed through");
    } else {
        // Offered, not forced: the translation goes without it, and says so.
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-gateway-dropped-tools"], "web_search");
        // Forced: only OpenAI could serve it.
        let mut forced = hosted.clone();
        forced["tool_choice"] = json!({"type": "web_search"});
        let response = post(&app, "/v1/responses", &key, &forced).await;
        let error = expect_openai_error(response, 400).await;
        assert_eq!(error["param"], "tools[0]");
        assert!(
            error["message"].as_str().unwrap().contains("reach OpenAI"),
            "{error}"
        );
    }
    let response = post(
        &app,
        "/v1/responses",
        &key,
        &json!({"model": model(provider, "fake-error-429"), "input": "x"}),
    )
    .await;
    assert_eq!(response.headers()["retry-after"], "20");
    expect_openai_error(response, 429).await;
    expect_openai_error(
        post(
            &app,
            "/v1/responses",
            &key,
            &json!({"model": model(provider, "fake-missing-model"), "input": "x"}),
        )
        .await,
        404,
    )
    .await;
    let error = expect_openai_error(
        post(
            &app,
            "/v1/responses",
            &key,
            &json!({"input": "x", "store": true}),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(error["param"], "store");
    // A failure before the first event is a clean error, not a broken stream.
    expect_openai_error(
        post(
            &app,
            "/v1/responses",
            &key,
            &json!({"model": model(provider, "fake-error-500"), "input": "x", "stream": true}),
        )
        .await,
        502,
    )
    .await;
    // Fallback.
    let response = post(
        &app,
        "/v1/responses",
        &key,
        &json!({"model": model(provider, "fake-error-500"),
        "models": [model(provider, provider.model)], "input": "x"}),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["x-gateway-route-reason"]
            .to_str()
            .unwrap()
            .starts_with("fallback 1")
    );
}

async fn messages_api_plain_streamed_tools_and_images(provider: &Provider) {
    let (app, account_id, key) = setup(provider).await;
    let messages = |app: &TestApp, body: Value| {
        let request = app
            .http
            .post(app.url("/v1/messages"))
            .header("x-api-key", key.clone())
            .header("anthropic-version", "2023-06-01")
            .json(&body);
        async move { request.send().await.unwrap() }
    };
    // A prompt-caching mark and top_k: chat has neither, so only a pass-through keeps them.
    let response = messages(
        &app,
        json!({"model": model(provider, provider.model), "max_tokens": 64, "top_k": 5,
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": "Say hello"}]}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let sent = app.fake_openai.requests().pop().unwrap();
    if provider.id == "anthropic" {
        assert_eq!(sent.headers["anthropic-version"], "2023-06-01");
        assert_eq!(sent.body["top_k"], 5, "passed through as written");
        assert_eq!(sent.body["system"][0]["cache_control"]["type"], "ephemeral");
        assert_eq!(sent.body["model"], provider.model, "with the routed model");
    } else {
        assert!(sent.body.get("top_k").is_none(), "translated");
    }
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        (body["type"].as_str(), body["role"].as_str()),
        (Some("message"), Some("assistant"))
    );
    assert_eq!(
        body["content"][0],
        json!({"type": "text", "text": answer(provider)})
    );
    assert_eq!(body["stop_reason"], "end_turn");
    if provider.id != "anthropic" {
        // Translated answers name the model as the client did; Anthropic's own say its id.
        assert_eq!(body["model"], model(provider, provider.model));
    }
    assert!(body["usage"]["output_tokens"].as_u64().unwrap() > 0);

    let text = messages(
        &app,
        json!({"model": model(provider, provider.model), "max_tokens": 64, "stream": true,
        "messages": [{"role": "user", "content": "Say hello"}]}),
    )
    .await
    .text()
    .await
    .unwrap();
    let events = named_events(&text);
    assert_eq!(events[0].0, "message_start");
    assert_eq!(events.last().unwrap().0, "message_stop");
    let streamed: String = events
        .iter()
        .filter_map(|(_, data)| data["delta"]["text"].as_str())
        .collect();
    assert_eq!(streamed, answer(provider));

    // Tools, streamed too, with an image and a tool result sent back.
    let tools = json!([{"name": "get_weather", "description": "Weather of a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]);
    let body: Value = messages(
        &app,
        json!({"model": model(provider, "fake-tools"), "max_tokens": 64, "tools": tools,
        "messages": [{"role": "user", "content": "Weather in Paris?"}]}),
    )
    .await
    .json()
    .await
    .unwrap();
    let tool_use = first_of_type(&body["content"], "tool_use");
    assert_eq!(
        (tool_use["name"].clone(), tool_use["input"].clone()),
        (json!("get_weather"), json!({"city": "Paris"}))
    );
    assert_eq!(body["stop_reason"], "tool_use");
    let text = messages(&app, json!({"model": model(provider, "fake-tools"), "max_tokens": 64, "tools": tools, "stream": true,
        "messages": [{"role": "user", "content": "Weather in Paris?"}]})).await.text().await.unwrap();
    let partial: String = named_events(&text)
        .iter()
        .filter_map(|(_, data)| data["delta"]["partial_json"].as_str())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&partial).unwrap(),
        json!({"city": "Paris"})
    );
    let follow_up = json!({"model": vision_model(provider), "max_tokens": 64, "tools": tools, "messages": [
        {"role": "user", "content": [{"type": "text", "text": "Weather here?"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}]},
        {"role": "assistant", "content": [tool_use.clone()]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use["id"], "content": "18C"}]}]});
    assert_eq!(messages(&app, follow_up).await.status(), 200);
    let sent = app.fake_openai.requests().pop().unwrap().body;
    assert_tool_result_reached(provider, &sent);
    match provider.id {
        "anthropic" => assert_eq!(
            sent["messages"][0]["content"][1]["source"]["type"],
            "base64"
        ),
        "gemini" => assert_eq!(
            sent["contents"][0]["parts"][1]["inlineData"]["mimeType"],
            "image/png"
        ),
        _ => assert_eq!(sent["messages"][0]["content"][1]["type"], "image_url"),
    }
    assert_eq!(
        counted_requests(&app, account_id).await,
        5,
        "one counted event per request"
    );
    // Tokens are known, passed through or translated, streamed or not.
    let events = usage_event::Entity::find()
        .filter(usage_event::Column::AccountId.eq(account_id))
        .all(&app.state.db)
        .await
        .unwrap();
    assert!(
        events
            .iter()
            .all(|e| e.status == 200 && e.prompt_tokens > 0 && e.completion_tokens > 0),
        "{:?}",
        events
            .iter()
            .map(|e| (e.status, e.prompt_tokens, e.completion_tokens))
            .collect::<Vec<_>>()
    );
}

async fn messages_api_errors_and_fallback(provider: &Provider) {
    let (app, account_id, key) = setup(provider).await;
    let anthropic_error = |response: reqwest::Response, status: u16| async move {
        assert_eq!(response.status().as_u16(), status);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["type"], "error", "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{body}"
        );
        body["error"]["type"].as_str().unwrap().to_owned()
    };
    let ask = |model: String| json!({"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": "x"}]});
    let unauthenticated = app
        .http
        .post(app.url("/v1/messages"))
        .json(&ask(model(provider, provider.model)))
        .send()
        .await
        .unwrap();
    assert_eq!(
        anthropic_error(unauthenticated, 401).await,
        "authentication_error"
    );
    assert_eq!(
        anthropic_error(
            post(
                &app,
                "/v1/messages",
                &key,
                &ask(model(provider, "fake-error-429"))
            )
            .await,
            429
        )
        .await,
        "rate_limit_error"
    );
    assert_eq!(
        anthropic_error(
            post(
                &app,
                "/v1/messages",
                &key,
                &ask(model(provider, "fake-missing-model"))
            )
            .await,
            404
        )
        .await,
        "not_found_error"
    );
    assert_eq!(
        anthropic_error(
            post(
                &app,
                "/v1/messages",
                &key,
                &json!({"model": "x", "messages": []})
            )
            .await,
            400
        )
        .await,
        "invalid_request_error"
    );
    let mut streamed = ask(model(provider, "fake-error-500"));
    streamed["stream"] = json!(true);
    assert_eq!(
        anthropic_error(post(&app, "/v1/messages", &key, &streamed).await, 502).await,
        "api_error"
    );
    // Counting tokens: Anthropic's own count, a call to Anthropic counted as a request (free of
    // tokens and cost); else an estimate that says so, which reaches no one and counts nothing.
    let before = counted_requests(&app, account_id).await;
    let counted = post(
        &app,
        "/v1/messages/count_tokens",
        &key,
        &json!({"model": model(provider, provider.model), "system": "Be brief.",
            "messages": [{"role": "user", "content": "How many tokens is this?"}]}),
    )
    .await;
    assert_eq!(counted.status(), 200);
    let estimated = counted.headers().get("x-gateway-token-count").cloned();
    let body: Value = counted.json().await.unwrap();
    assert!(body["input_tokens"].as_u64().unwrap() > 0, "{body}");
    if provider.id == "anthropic" {
        assert_eq!(
            app.fake_openai.requests().pop().unwrap().path,
            "/v1/messages/count_tokens"
        );
        assert!(estimated.is_none());
        assert_eq!(counted_requests(&app, account_id).await, before + 1);
    } else {
        assert_eq!(estimated.unwrap(), "estimated");
        assert_eq!(counted_requests(&app, account_id).await, before);
    }
    // A base URL that already ends in /v1 (Anthropic's SDKs add /v1 themselves).
    assert_eq!(
        post(
            &app,
            "/v1/v1/messages",
            &key,
            &ask(model(provider, provider.model))
        )
        .await
        .status(),
        200
    );
    let mut fallback = ask(model(provider, "fake-error-500"));
    fallback["models"] = json!([model(provider, provider.model)]);
    let response = post(&app, "/v1/messages", &key, &fallback).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["x-gateway-route-reason"]
            .to_str()
            .unwrap()
            .starts_with("fallback 1")
    );
}

/// Requests counted against the quota for the account (one counted event per request).
async fn counted_requests(app: &TestApp, account_id: i32) -> usize {
    app.flush_usage().await;
    usage_event::Entity::find()
        .filter(usage_event::Column::AccountId.eq(account_id))
        .all(&app.state.db)
        .await
        .unwrap()
        .iter()
        .filter(|event| event.counted)
        .count()
}

/// The third message the provider got (after the question and the call) is the tool's result,
/// in the provider's own form.
fn assert_tool_result_reached(provider: &Provider, sent: &Value) {
    match provider.id {
        "anthropic" => assert_eq!(sent["messages"][2]["content"][0]["type"], "tool_result"),
        "gemini" => assert_eq!(
            sent["contents"][2]["parts"][0]["functionResponse"]["name"],
            "get_weather"
        ),
        _ => assert_eq!(sent["messages"][2]["role"], "tool"),
    }
}

/// The first item of a Responses `output` or a Messages `content` with this `type`.
fn first_of_type(items: &Value, kind: &str) -> Value {
    items
        .as_array()
        .into_iter()
        .flatten()
        .find(|item| item["type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {items}"))
        .clone()
}
