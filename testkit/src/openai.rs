//! The fake OpenAI, Groq and Ollama: chat completions, the Responses API and embeddings.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use crate::respond::{
    authorization, endless_event_response, endless_response, json_content_stream, json_response,
    refusal_response, sse_response, sse_response_watched, with_json_content, with_model,
};
use crate::shared::{DEFAULT_JUDGE_REPLY, JUDGE_PROMPT_START, Shared};
use crate::strict;

/// The question a judge's request shows (a single user turn), as the gateway frames it.
pub(crate) fn judged_question(request: &Value) -> Option<String> {
    let shown = request.pointer("/messages/1/content")?.as_str()?;
    let start = shown.find("[User Question]\nuser: ")? + "[User Question]\nuser: ".len();
    let end = shown.find("\n\n[The Start of Assistant A's Answer]")?;
    shown.get(start..end).map(str::to_owned)
}

pub(crate) struct OpenAiLike {
    answer: &'static str,
    stream: &'static str,
    rate_limit: &'static str,
    not_found: (StatusCode, &'static str),
}

pub(crate) fn openai_like_fixtures(provider: &str) -> OpenAiLike {
    match provider {
        "groq" => OpenAiLike {
            answer: fixture!("groq/chat_completion.json"),
            stream: fixture!("groq/chat_completion_stream.sse"),
            rate_limit: fixture!("groq/error_rate_limit.json"),
            not_found: (
                StatusCode::NOT_FOUND,
                fixture!("openai/error_model_not_found.json"),
            ),
        },
        "ollama" => OpenAiLike {
            answer: fixture!("ollama/chat_completion.json"),
            stream: fixture!("ollama/chat_completion_stream.sse"),
            rate_limit: fixture!("openai/error_rate_limit.json"),
            not_found: (
                StatusCode::NOT_FOUND,
                fixture!("ollama/error_model_not_found.json"),
            ),
        },
        _ => OpenAiLike {
            answer: fixture!("openai/chat_completion.json"),
            stream: fixture!("openai/chat_completion_stream.sse"),
            rate_limit: fixture!("openai/error_rate_limit.json"),
            not_found: (
                StatusCode::NOT_FOUND,
                fixture!("openai/error_model_not_found.json"),
            ),
        },
    }
}

/// Records a request to an OpenAI-compatible fake and checks its bearer key (Ollama takes
/// none; the others refuse a missing or wrong one): the parsed body, or the 401.
pub(crate) fn openai_request(
    provider: &'static str,
    shared: &Shared,
    path: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Value, Response> {
    let bearer = authorization(headers);
    let request = shared.record(provider, path.into(), bearer.clone(), headers, body);
    let key = bearer.as_deref().and_then(|v| v.strip_prefix("Bearer "));
    if provider != "ollama" && !shared.key_ok(key) {
        return Err(json_response(
            StatusCode::UNAUTHORIZED,
            fixture!("openai/error_invalid_api_key.json"),
            &[],
        ));
    }
    Ok(request)
}

/// `GET /v1/models` of OpenAI, Groq and Ollama: the models the key may use, in OpenAI's list
/// shape; a missing or wrong key is refused as on chat (Ollama takes none).
pub(crate) async fn openai_models(
    provider: &'static str,
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = openai_request(provider, &shared, "/models", &headers, &Bytes::new()) {
        return refused;
    }
    let list = match provider {
        "groq" => fixture!("groq/models.json"),
        "ollama" => fixture!("ollama/models.json"),
        _ => fixture!("openai/models.json"),
    };
    json_response(StatusCode::OK, list, &[])
}

/// OpenAI's Responses API (`POST /v1/responses`): the answer "Hello from the fake OpenAI
/// server." whole or as the documented event stream; the error models as on chat.
pub(crate) async fn openai_responses(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = match openai_request("openai", &shared, "/responses", &headers, &body) {
        Ok(request) => request,
        Err(refused) => return refused,
    };
    if request.get("input").is_none() {
        return json_response(
            StatusCode::BAD_REQUEST,
            r#"{"error":{"message":"Missing required parameter: 'input'.","type":"invalid_request_error","param":"input","code":"missing_required_parameter"}}"#,
            &[],
        );
    }
    let model = request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match model {
        "fake-error-429" => json_response(
            StatusCode::TOO_MANY_REQUESTS,
            fixture!("openai/error_rate_limit.json"),
            &[("retry-after", "20")],
        ),
        "fake-error-500" => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            fixture!("openai/error_server.json"),
            &[],
        ),
        "fake-missing-model" => json_response(
            StatusCode::NOT_FOUND,
            fixture!("openai/error_model_not_found.json"),
            &[],
        ),
        "fake-tools" if request.get("stream").and_then(Value::as_bool) == Some(true) => {
            sse_response(
                fixture!("openai/response_tool_call_stream.sse"),
                "\n\n",
                false,
            )
        }
        "fake-tools" => json_response(
            StatusCode::OK,
            &with_model(fixture!("openai/response_tool_call.json"), "/model", model),
            &[],
        ),
        _ if request.get("stream").and_then(Value::as_bool) == Some(true) => {
            sse_response(fixture!("openai/response_stream.sse"), "\n\n", false)
        }
        _ => json_response(
            StatusCode::OK,
            &with_model(fixture!("openai/response.json"), "/model", model),
            &[],
        ),
    }
}

pub(crate) async fn openai_like(
    provider: &'static str,
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = match openai_request(provider, &shared, "/chat/completions", &headers, &body) {
        Ok(request) => request,
        Err(refused) => return refused,
    };
    if request.get("messages").and_then(Value::as_array).is_none() {
        return json_response(
            StatusCode::BAD_REQUEST,
            r#"{"error":{"message":"Missing required parameter: 'messages'.","type":"invalid_request_error","param":"messages","code":"missing_required_parameter"}}"#,
            &[],
        );
    }
    // The real OpenAI's rules for the real model names (Groq and Ollama are left as they were).
    if provider == "openai"
        && let Some(refusal) = strict::openai_chat(&request)
    {
        return refusal_response(refusal, &[("x-request-id", "req_fake_strict")]);
    }
    let fixtures = openai_like_fixtures(provider);
    let model = request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let stream = request
        .get("stream")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    // Structured output from a real OpenAI model: the answer is the JSON text.
    let json_answer = provider == "openai"
        && !strict::is_fake_model(model)
        && request
            .pointer("/response_format/type")
            .and_then(Value::as_str)
            == Some("json_schema");
    // A real OpenAI model given a function in `tool_choice` calls it, as OpenAI guarantees (the
    // weather call's arguments, under the forced name); whole answers only.
    let forced_function = (provider == "openai"
        && !strict::is_fake_model(model)
        && !stream
        && request.pointer("/tool_choice/type").and_then(Value::as_str) == Some("function"))
    .then(|| {
        request
            .pointer("/tool_choice/function/name")
            .and_then(Value::as_str)
    })
    .flatten();
    if let Some(name) = forced_function {
        let answer = with_model(
            fixture!("openai/chat_completion_tool_call.json"),
            "/model",
            model,
        );
        let answer = with_model(
            &answer,
            "/choices/0/message/tool_calls/0/function/name",
            name,
        );
        return json_response(StatusCode::OK, &answer, &[]);
    }
    match model {
        "fake-error-429" => json_response(
            StatusCode::TOO_MANY_REQUESTS,
            fixtures.rate_limit,
            &[("retry-after", "20")],
        ),
        "fake-error-500" => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            fixture!("openai/error_server.json"),
            &[],
        ),
        "fake-flaky" if shared.flaky_fails() => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            fixture!("openai/error_server.json"),
            &[],
        ),
        "fake-missing-model" => json_response(fixtures.not_found.0, fixtures.not_found.1, &[]),
        "fake-garbage" => json_response(StatusCode::OK, r#"{"unexpected": true}"#, &[]),
        // A provider sending the caller (and the key it carries) elsewhere.
        "fake-redirect" => json_response(
            StatusCode::TEMPORARY_REDIRECT,
            "{}",
            &[("location", "/v1/chat/completions?redirected=1")],
        ),
        "fake-tools" if stream => sse_response(
            fixture!("openai/chat_completion_tool_call_stream.sse"),
            "\n\n",
            false,
        ),
        "fake-tools" => json_response(
            StatusCode::OK,
            &with_model(
                fixture!("openai/chat_completion_tool_call.json"),
                "/model",
                model,
            ),
            &[],
        ),
        "fake-stream-cut" if stream => sse_response(fixtures.stream, "\n\n", true),
        // A provider gone wrong whose answer never ends: an SSE line, a JSON body, an error body.
        "fake-endless" if stream => {
            endless_response(StatusCode::OK, "text/event-stream", "data: {\"pad\":\"")
        }
        "fake-endless" => endless_response(StatusCode::OK, "application/json", "{\"pad\":\""),
        // Lines of a proper length, but never the blank line that would end the event.
        "fake-endless-event" if stream => endless_event_response(),
        // A provider naming a model of a megabyte.
        "fake-long-model-name" => json_response(
            StatusCode::OK,
            &with_model(fixtures.answer, "/model", &"m".repeat(1024 * 1024)),
            &[],
        ),
        "fake-endless-error" => endless_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "application/json",
            "{\"error\":{\"message\":\"",
        ),
        _ => {
            if model == "fake-slow" {
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
            let judged = request
                .pointer("/messages/0/content")
                .and_then(Value::as_str)
                .is_some_and(|system| system.starts_with(JUDGE_PROMPT_START));
            if judged && !stream {
                let pause = shared.judge_pause_ms.load(Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(pause)).await;
                if shared.judge_fails.load(Ordering::SeqCst) {
                    return json_response(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        fixture!("openai/error_server.json"),
                        &[],
                    );
                }
                let labelled = judged_question(&request)
                    .and_then(|question| shared.judge_labels.lock().get(&question).copied());
                let reply = match labelled {
                    Some(true) => "Assistant A: [[9]]\nAssistant B: [[9]]".to_owned(),
                    Some(false) => "Assistant A: [[3]]\nAssistant B: [[9]]".to_owned(),
                    None => shared
                        .judge_reply
                        .lock()
                        .clone()
                        .unwrap_or_else(|| DEFAULT_JUDGE_REPLY.to_owned()),
                };
                let mut answer: Value =
                    serde_json::from_str(fixtures.answer).expect("fixture is JSON");
                answer["model"] = Value::String(model.to_owned());
                if let Some(content) = answer.pointer_mut("/choices/0/message/content") {
                    *content = Value::String(reply);
                }
                return json_response(StatusCode::OK, &answer.to_string(), &[]);
            }
            if stream {
                let events = if json_answer {
                    std::borrow::Cow::Owned(json_content_stream(fixtures.stream))
                } else {
                    std::borrow::Cow::Borrowed(fixtures.stream)
                };
                sse_response_watched(
                    &events,
                    "\n\n",
                    false,
                    Some(shared.abandoned_streams.clone()),
                    shared.stream_pause(),
                )
            } else {
                let answer = if json_answer {
                    with_json_content(fixtures.answer, model)
                } else {
                    with_model(fixtures.answer, "/model", model)
                };
                json_response(
                    StatusCode::OK,
                    &answer,
                    &[("x-request-id", "req_fake0123456789")],
                )
            }
        }
    }
}

pub(crate) async fn openai_embeddings(
    provider: &'static str,
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(refused) = openai_request(provider, &shared, "/embeddings", &headers, &body) {
        return refused;
    }
    let fixture = if provider == "ollama" {
        fixture!("ollama/embeddings.json")
    } else {
        fixture!("openai/embeddings.json")
    };
    json_response(StatusCode::OK, fixture, &[])
}
