//! The Responses and Messages routes. A request whose whole route is the provider whose API it
//! is in goes there untouched ([`super::native`]). Any other is converted to chat on the way in
//! (stage 2) and runs the chat pipeline unchanged (stages 3 to 8, so quota, routing, cache,
//! fallbacks and usage count it like chat), and the answer is converted on the way out — a whole
//! answer at once, a stream event by event as it arrives.

use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use serde_json::Value;

use super::caller::Caller;
use super::decode::JsonObject;
use super::native::{Native, NativeBody, PassedThrough};
use crate::dialects::{self, ChatEvent, DialectError, DialectStream, messages, responses};
use crate::error::ApiError;
use crate::openai::ChatCompletionRequest;
use crate::state::GatewayState;

impl From<DialectError> for ApiError {
    fn from(err: DialectError) -> Self {
        let api = ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid_request_error",
            Some("invalid_value"),
            err.message,
        );
        if err.param.is_empty() {
            api
        } else {
            api.with_param(err.param)
        }
    }
}

/// The converted request as the chat route takes it, with its `models` fallbacks.
fn chat_request(chat: &Value) -> Result<(ChatCompletionRequest, Vec<String>), ApiError> {
    let bytes = serde_json::to_vec(chat).map_err(|_| ApiError::internal())?;
    let mut request = ChatCompletionRequest::from_json_bytes(&bytes)?;
    let fallbacks = super::take_fallbacks(&mut request)?;
    Ok((request, fallbacks))
}

/// The request as a client of one of the routes wrote it, and what it became as chat.
struct Converted<'b> {
    native: Native,
    body: &'b Value,
    chat: Value,
}

/// `POST /v1/responses`: passed through when the whole route is OpenAI's, else translated.
pub(super) async fn responses(
    State(state): State<GatewayState>,
    caller: Caller,
    headers: HeaderMap,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let (chat, echo, dropped) = match responses::to_chat_request(&body) {
        Ok((chat, echo)) => (chat, echo, Vec::new()),
        // Chat cannot express it, OpenAI can. Hosted tools offered, not forced, are left out of
        // the translation (OpenAI's attempts still get them); anything else is served only if
        // the whole route is OpenAI's.
        Err(refused) if refused.unsupported => {
            let translated =
                responses::without_hosted_tools(&body).and_then(|(reduced, dropped)| {
                    let (chat, echo) = responses::to_chat_request(&reduced).ok()?;
                    Some((chat, echo, dropped))
                });
            match translated {
                Some(translated) => translated,
                None => return openai_only(&state, &caller, &headers, &body, refused).await,
            }
        }
        Err(refused) => return Err(refused.into()),
    };
    let converted = Converted {
        native: Native::Responses,
        body: &body,
        chat,
    };
    let stream = responses::ResponsesStream::new(echo.clone());
    let mut answer = serve_dialect(&state, &caller, &headers, converted, stream, |completion| {
        responses::from_chat_completion(completion, &echo)
    })
    .await?;
    let translated = answer.extensions().get::<PassedThrough>().is_none();
    if translated
        && !dropped.is_empty()
        && let Ok(value) = HeaderValue::from_str(&dropped.join(", "))
    {
        answer.headers_mut().insert(DROPPED_TOOLS_HEADER, value);
    }
    Ok(answer)
}

/// The hosted tools a translated answer went without (offered, not forced, and served by a
/// provider other than OpenAI).
pub const DROPPED_TOOLS_HEADER: &str = "x-gateway-dropped-tools";

/// A Responses request only OpenAI can serve (a hosted tool, a file input): passed through when
/// the whole route is OpenAI's, else refused with why.
async fn openai_only(
    state: &GatewayState,
    caller: &Caller,
    headers: &HeaderMap,
    body: &Value,
    mut refused: DialectError,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let view = responses::routing_view(body).map_err(|_| refused.clone())?;
    let (request, fallbacks) = chat_request(&view)?;
    let decisions = route(state, caller, &request, &fallbacks)?;
    let native = NativeBody {
        api: Native::Responses,
        body,
    };
    // Every attempt must pass it through: a translation would lose what only OpenAI serves.
    let cache_wanted = super::cache::wanted(state, headers, caller).unwrap_or(true);
    if cache_wanted || !decisions.iter().all(|decision| native.serves(decision)) {
        refused.message.push_str(
            " They reach OpenAI when every model of the route is OpenAI's (with the response cache off).",
        );
        return Err(refused.into());
    }
    super::serve_routed(
        state,
        caller,
        headers,
        request,
        &decisions,
        Some(native),
        started,
    )
    .await
}

/// `POST /v1/messages/count_tokens` (what Anthropic's SDKs and the agents on them call before
/// they send).
pub(super) async fn count_tokens(
    State(state): State<GatewayState>,
    caller: Caller,
    headers: HeaderMap,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    // Counting takes no max_tokens; the conversion wants one.
    let mut countable = body.clone();
    countable["max_tokens"] = Value::from(1);
    let (chat, _) = messages::to_chat_request(&countable)?;
    let (request, _) = chat_request(&chat)?;
    super::native::count_tokens(&state, &caller, &headers, &request, &body).await
}

/// `POST /v1/messages`: passed through when the whole route is Anthropic's, else translated.
pub(super) async fn messages(
    State(state): State<GatewayState>,
    caller: Caller,
    headers: HeaderMap,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let (chat, echo) = messages::to_chat_request(&body)?;
    let converted = Converted {
        native: Native::Messages,
        body: &body,
        chat,
    };
    let stream = messages::MessagesStream::new(echo.clone());
    serve_dialect(&state, &caller, &headers, converted, stream, |completion| {
        messages::from_chat_completion(completion, &echo)
    })
    .await
}

/// The chat pipeline for the converted request, whose attempts of the provider whose API it is
/// in pass the client's body through; a translated answer is converted back: whole with `whole`,
/// streamed with `stream`.
async fn serve_dialect(
    state: &GatewayState,
    caller: &Caller,
    headers: &HeaderMap,
    converted: Converted<'_>,
    mut stream: impl DialectStream + Send + 'static,
    whole: impl FnOnce(&Value) -> Value,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let (request, fallbacks) = chat_request(&converted.chat)?;
    // Routed once: each decision is served natively or translated, per attempt.
    let decisions = route(state, caller, &request, &fallbacks)?;
    let native = NativeBody {
        api: converted.native,
        body: converted.body,
    };
    let answer = super::serve_routed(
        state,
        caller,
        headers,
        request,
        &decisions,
        Some(native),
        started,
    )
    .await?;
    if answer.extensions().get::<PassedThrough>().is_some() {
        return Ok(answer);
    }
    if is_event_stream(&answer) {
        return Ok(convert_stream(answer, move |event| stream.on_event(event)));
    }
    convert_whole(answer, whole).await
}

fn route<'a>(
    state: &GatewayState,
    caller: &'a Caller,
    request: &ChatCompletionRequest,
    fallbacks: &[String],
) -> Result<Vec<crate::routing::RouteDecision<'a>>, ApiError> {
    Ok(crate::routing::resolve_chat(
        &state.router,
        request,
        fallbacks,
        &caller.account.providers,
        &caller.policy,
    )?)
}

fn is_event_stream(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"text/event-stream"))
}

/// A whole chat completion (already in memory: the pipeline read it) → the dialect's JSON, with
/// the pipeline's headers (which model served and why, cache).
async fn convert_whole(
    answer: Response,
    convert: impl FnOnce(&Value) -> Value,
) -> Result<Response, ApiError> {
    let (mut parts, body) = answer.into_parts();
    let bytes = axum::body::to_bytes(body, crate::providers::MAX_ANSWER_BYTES)
        .await
        .map_err(|_| ApiError::internal())?;
    let completion: Value = serde_json::from_slice(&bytes).map_err(|_| ApiError::internal())?;
    let converted = serde_json::to_vec(&convert(&completion)).map_err(|_| ApiError::internal())?;
    parts.headers.remove(header::CONTENT_LENGTH);
    Ok(Response::from_parts(parts, Body::from(converted)))
}

/// The chat event stream → the dialect's named events, converted as each chunk arrives.
fn convert_stream<F>(answer: Response, mut convert: F) -> Response
where
    F: FnMut(ChatEvent) -> Vec<(&'static str, Value)> + Send + 'static,
{
    let (parts, body) = answer.into_parts();
    let frames = dialects::chat_events(body.into_data_stream()).flat_map(move |event| {
        let frames: Vec<Result<Bytes, axum::Error>> = match event {
            Ok(event) => convert(event)
                .iter()
                .map(|(name, data)| Ok(dialects::named_event(name, data)))
                .collect(),
            Err(err) => vec![Err(err)],
        };
        futures::stream::iter(frames)
    });
    Response::from_parts(parts, Body::from_stream(frames))
}

/// On `/v1/messages`, every error answer (the key check, a 400, a provider's failure) in
/// Anthropic's shape: `{"type":"error","error":{"type","message"}}`. Other routes pass through.
pub(super) async fn anthropic_errors(request: Request, next: Next) -> Response {
    let anthropic = request.uri().path().contains("/messages");
    let response = next.run(request).await;
    if !anthropic || response.status().is_success() {
        return response;
    }
    let status = response.status();
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 1024 * 1024)
        .await
        .unwrap_or_default();
    let message = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|error| error["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned());
    let body =
        serde_json::to_vec(&messages::error_body(status.as_u16(), &message)).unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(body)).into_response()
}
