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
use serde_json::Value;

use super::caller::Caller;
use super::decode::JsonObject;
use super::native::{Native, NativeBody, PassedThrough};
use super::pipeline::{Routed, serve_routed};
use super::respond::{AnswerShape, ChatFrame};
use crate::dialects::{self, DialectError, DialectStream, messages, responses};
use crate::error::{ApiError, ErrorShape, ShapedError};
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
    let fallbacks = super::decode::take_fallbacks(&mut request)?;
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
    let mut answer =
        serve_dialect(&state, &caller, &headers, converted, responses_shape(echo)).await?;
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

/// A Responses request only OpenAI can serve (a forced hosted tool, a file input): routed among
/// the account's OpenAI models only (`auto` considers only models that can serve it) and passed
/// through; refused with why when none may serve it.
async fn openai_only(
    state: &GatewayState,
    caller: &Caller,
    headers: &HeaderMap,
    body: &Value,
    mut refused: DialectError,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let (view, echo) = responses::routing_view(body).map_err(|_| refused.clone())?;
    let (request, fallbacks) = chat_request(&view)?;
    let native = NativeBody {
        api: Native::Responses,
        body,
    };
    let openai: Vec<_> = caller
        .account
        .providers
        .iter()
        .filter(|endpoint| endpoint.kind == native.api.provider())
        .cloned()
        .collect();
    let routed =
        crate::routing::resolve_chat(&state.router, &request, &fallbacks, &openai, &caller.policy);
    // Every attempt must pass it through: a translation would lose what only OpenAI serves.
    let cache_wanted = super::cache::wanted(state, headers, caller).unwrap_or(true);
    let decisions = match routed {
        Ok(decisions) if !cache_wanted => decisions,
        _ => {
            refused.message.push_str(
                " They reach OpenAI when every model of the route is OpenAI's (with the response cache off).",
            );
            return Err(refused.into());
        }
    };
    let routed = Routed {
        request,
        decisions: &decisions,
        native: Some(native),
        shape: responses_shape(echo),
        started,
    };
    serve_routed(state, caller, headers, routed).await
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
    super::count_tokens::count_tokens(&state, &caller, &headers, &request, &body).await
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
    let shape = DialectShape {
        stream: messages::MessagesStream::new(echo.clone()),
        whole: move |completion: &Value| messages::from_chat_completion(completion, &echo),
    };
    serve_dialect(&state, &caller, &headers, converted, Box::new(shape)).await
}

fn responses_shape(echo: responses::ResponsesEcho) -> Box<dyn AnswerShape> {
    Box::new(DialectShape {
        stream: responses::ResponsesStream::new(echo.clone()),
        whole: move |completion: &Value| responses::from_chat_completion(completion, &echo),
    })
}

/// A dialect's answer, converted from the typed chat answer: a whole completion at once, a
/// stream chunk by chunk as it arrives (each chunk's JSON read once).
struct DialectShape<S, W> {
    stream: S,
    whole: W,
}

impl<S, W> AnswerShape for DialectShape<S, W>
where
    S: DialectStream + Send + 'static,
    W: Fn(&Value) -> Value + Send + 'static,
{
    fn whole(&mut self, completion: Bytes) -> Result<Bytes, ApiError> {
        let completion: Value =
            serde_json::from_slice(&completion).map_err(|_| ApiError::internal())?;
        let converted =
            serde_json::to_vec(&(self.whole)(&completion)).map_err(|_| ApiError::internal())?;
        Ok(Bytes::from(converted))
    }

    fn frame(&mut self, frame: ChatFrame<'_>, out: &mut Vec<Bytes>) {
        let events = match frame {
            ChatFrame::Chunk(json) => {
                let chunk: Value = serde_json::from_slice(json).unwrap_or(Value::Null);
                self.stream.on_chunk(&chunk)
            }
            ChatFrame::Done => self.stream.finish(),
            ChatFrame::Failed(error) => {
                let error = serde_json::to_value(&error.error).unwrap_or(Value::Null);
                self.stream.fail(&error)
            }
        };
        out.extend(
            events
                .iter()
                .map(|(name, data)| dialects::named_event(name, data)),
        );
    }
}

/// The chat pipeline for the converted request, whose attempts of the provider whose API it is
/// in pass the client's body through; a translated answer is written in the dialect's `shape`.
async fn serve_dialect(
    state: &GatewayState,
    caller: &Caller,
    headers: &HeaderMap,
    converted: Converted<'_>,
    shape: Box<dyn AnswerShape>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let api = converted.native;
    let served = async {
        let (request, fallbacks) = chat_request(&converted.chat)?;
        // Routed once: each decision is served natively or translated, per attempt.
        let decisions = route(state, caller, &request, &fallbacks)?;
        let routed = Routed {
            request,
            decisions: &decisions,
            native: Some(NativeBody {
                api,
                body: converted.body,
            }),
            shape,
            started,
        };
        serve_routed(state, caller, headers, routed).await
    };
    served.await.map_err(|error| in_client_terms(api, error))
}

/// A refusal of the translated request names the field as the client wrote it
/// (`text.format`, not chat's `response_format`).
fn in_client_terms(api: Native, mut error: ApiError) -> ApiError {
    let names: &[(&str, &str)] = match api {
        Native::Responses => &[
            ("response_format", "text.format"),
            ("max_completion_tokens", "max_output_tokens"),
        ],
        Native::Messages => &[
            ("stop", "stop_sequences"),
            ("user", "metadata.user_id"),
            ("max_completion_tokens", "max_tokens"),
        ],
    };
    let detail = &mut error.body.error;
    for (chat, client) in names {
        if detail.param.as_deref() == Some(*chat) {
            detail.param = Some((*client).to_owned());
            detail.message = detail
                .message
                .replace(&format!("'{chat}'"), &format!("'{client}'"));
        }
    }
    error
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

/// On `/v1/messages`, every error answer (the key check, a 400, a provider's failure) in
/// Anthropic's shape: `{"type":"error","error":{"type","message"}}`. The gateway's own errors are
/// rendered so where they are made ([`ErrorShape::scope`]); only an answer from outside them (a
/// body limit, say) is rewritten here. Other routes pass through.
pub(super) async fn anthropic_errors(request: Request, next: Next) -> Response {
    if !request.uri().path().contains("/messages") {
        return next.run(request).await;
    }
    let response = ErrorShape::Anthropic.scope(next.run(request)).await;
    if response.status().is_success() || response.extensions().get::<ShapedError>().is_some() {
        return response;
    }
    let status = response.status();
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 1024 * 1024)
        .await
        .unwrap_or_default();
    let message = String::from_utf8_lossy(&bytes).trim().to_owned();
    let message = if message.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        message
    };
    let body =
        serde_json::to_vec(&messages::error_body(status.as_u16(), &message)).unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(body)).into_response()
}
