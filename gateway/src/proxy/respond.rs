//! Stage 7: the answer on the wire. JSON as the provider's completion was converted; streams as
//! server-sent events framed exactly as OpenAI frames them; every answer and every error after
//! routing says which model served it and why.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::usage::{StreamEnd, StreamGuard};
use crate::error::{ApiError, ErrorBody};
use crate::openai::ChatCompletionChunk;
use crate::providers::{ChunkStream, StreamItem};
use crate::routing::RouteDecision;

pub(super) const SSE_DONE: &[u8] = b"data: [DONE]\n\n";

/// A 200 with a JSON body.
pub(super) fn json(body: impl Into<Body>, decision: &RouteDecision<'_>) -> Response {
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.into(),
    )
        .into_response();
    add_route_headers(response.headers_mut(), decision);
    response
}

/// A 200 with an event stream.
/// A whole chat completion sent as the stream the client asked for, in one go: a cache hit, or an
/// answer the cascade held until its checks were done.
pub(super) fn whole_as_stream(
    completion: &str,
    include_usage: bool,
    shape: &mut dyn AnswerShape,
    decision: &RouteDecision<'_>,
) -> Response {
    let mut frames: Vec<Bytes> = Vec::new();
    for chunk in crate::openai::completion_as_chunks(completion, include_usage) {
        shape.frame(ChatFrame::Chunk(chunk.to_string().as_bytes()), &mut frames);
    }
    shape.frame(ChatFrame::Done, &mut frames);
    let frames = frames.into_iter().map(Ok::<_, Infallible>);
    sse(Body::from_stream(futures::stream::iter(frames)), decision)
}

pub(super) fn sse(body: impl Into<Body>, decision: &RouteDecision<'_>) -> Response {
    let mut response = Response::new(body.into());
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    add_route_headers(headers, decision);
    response
}

/// Says which model served the request and why.
fn add_route_headers(headers: &mut HeaderMap, decision: &RouteDecision<'_>) {
    // Names and the fixed values as constants: a name given as `&str` is parsed per request.
    let provider = decision.endpoint.kind.id();
    headers.insert(
        HeaderName::from_static("x-gateway-provider"),
        HeaderValue::from_static(provider),
    );
    let tier = decision.tier.map(|tier| tier.id()).unwrap_or("unknown");
    headers.insert(
        HeaderName::from_static("x-gateway-tier"),
        HeaderValue::from_static(tier),
    );
    let model = format!("{provider}/{}", decision.model);
    for (name, value) in [
        ("x-gateway-model", model.as_str()),
        ("x-gateway-route-reason", decision.reason.as_str()),
    ] {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
}

/// The same headers on an error: the error renders them.
/// Says what was changed in the request for the model that served it (`crate::adapt`).
pub(super) fn adapted(mut response: Response, notes: &crate::adapt::Notes) -> Response {
    if !notes.is_empty()
        && let Ok(value) = HeaderValue::from_str(&notes.header())
    {
        response.headers_mut().insert(ADAPTED_HEADER, value);
    }
    response
}

/// What the gateway changed in the request for the model that served it.
pub const ADAPTED_HEADER: &str = "x-gateway-adapted";

pub(super) fn with_route_headers(mut api: ApiError, decision: &RouteDecision<'_>) -> ApiError {
    api.route = Some((
        decision.endpoint.kind.id().to_owned(),
        format!("{}/{}", decision.endpoint.kind.id(), decision.model),
        decision.reason.clone(),
    ));
    api
}

pub(super) fn sse_frame(json: &[u8]) -> Bytes {
    let mut frame = Vec::with_capacity(json.len() + 8);
    frame.extend_from_slice(b"data: ");
    frame.extend_from_slice(json);
    frame.extend_from_slice(b"\n\n");
    frame.into()
}

/// One piece of a streamed chat answer on its way to the client.
pub(super) enum ChatFrame<'a> {
    /// A `chat.completion.chunk`, as JSON.
    Chunk(&'a [u8]),
    /// The stream ended well.
    Done,
    /// The stream broke off after it had started.
    Failed(&'a ErrorBody),
}

/// How a chat answer is written for its route: chat's own JSON and events ([`ChatShape`]), or a
/// dialect's (Responses, Messages), converted from the typed answer as it comes, so no route
/// reads back what another rendered.
pub(super) trait AnswerShape: Send + 'static {
    /// A whole `chat.completion` (JSON) → the route's body.
    fn whole(&mut self, completion: Bytes) -> Result<Bytes, ApiError>;
    /// One piece of a streamed answer → the bytes the route sends for it, added to `out` (one
    /// buffer for a whole stream: nothing is allocated per chunk for the list).
    fn frame(&mut self, frame: ChatFrame<'_>, out: &mut Vec<Bytes>);
}

/// OpenAI's chat completions: the body as it is; server-sent events exactly as OpenAI frames
/// them, ending with `data: [DONE]`, an error mid-stream as `data: {"error": …}`.
pub(super) struct ChatShape;

impl AnswerShape for ChatShape {
    fn whole(&mut self, completion: Bytes) -> Result<Bytes, ApiError> {
        Ok(completion)
    }

    fn frame(&mut self, frame: ChatFrame<'_>, out: &mut Vec<Bytes>) {
        out.push(match frame {
            ChatFrame::Chunk(json) => sse_frame(json),
            ChatFrame::Done => Bytes::from_static(SSE_DONE),
            ChatFrame::Failed(error) => sse_frame(&serde_json::to_vec(error).unwrap_or_default()),
        });
    }
}

/// A streamed chat answer in the route's shape. Chunks are forwarded as they arrive; nothing is
/// buffered beyond one chunk.
pub(super) fn sse_body(
    first: StreamItem,
    rest: ChunkStream,
    guard: StreamGuard,
    shape: Box<dyn AnswerShape>,
) -> Body {
    Body::new(ChatStreamBody {
        // Identity of the stream, for a usage chunk the provider did not send itself.
        first_json: first.json.clone(),
        next: Some(first),
        rest: Some(rest),
        usage_chunk_sent: false,
        guard,
        shape,
        out: Vec::with_capacity(4),
        sent: 0,
    })
}

/// [`sse_body`]'s body: hyper polls it for each frame and it polls the provider's chunks in
/// turn (no generator or stream-to-body adapters between them, each a poll per chunk).
struct ChatStreamBody {
    first_json: Bytes,
    /// The first chunk, taken before the answer started.
    next: Option<StreamItem>,
    /// `None` once the answer has ended, well or not.
    rest: Option<ChunkStream>,
    usage_chunk_sent: bool,
    /// Records the request's usage when the body is dropped: sent whole, failed, or the client
    /// gone.
    guard: StreamGuard,
    shape: Box<dyn AnswerShape>,
    /// The route's bytes for the last chunk (one buffer for the whole stream), sent up to `sent`.
    out: Vec<Bytes>,
    sent: usize,
}

impl ChatStreamBody {
    /// Turns what the provider's stream gave into the route's bytes, in `out`.
    fn take(&mut self, item: Option<Result<StreamItem, crate::error::UpstreamError>>) {
        match item {
            None => {
                // Groq, for one, reports usage only inside its last chunk (`x_groq`).
                if self.guard.include_usage && !self.usage_chunk_sent {
                    let identity: Value =
                        serde_json::from_slice(&self.first_json).unwrap_or(Value::Null);
                    let chunk = ChatCompletionChunk::usage_only(
                        identity["id"].as_str().unwrap_or_default(),
                        identity["created"].as_i64().unwrap_or_default(),
                        identity["model"].as_str().unwrap_or_default(),
                        self.guard.usage,
                    );
                    let json = serde_json::to_vec(&chunk).unwrap_or_default();
                    self.shape.frame(ChatFrame::Chunk(&json), &mut self.out);
                }
                self.guard.end(StreamEnd::Finished);
                self.shape.frame(ChatFrame::Done, &mut self.out);
                self.rest = None;
            }
            Some(Ok(item)) => {
                if let Some(usage) = item.usage {
                    self.guard.usage = usage;
                }
                self.guard.observe(&item.json);
                if item.usage_only {
                    if !self.guard.include_usage {
                        return;
                    }
                    self.usage_chunk_sent = true;
                }
                self.shape
                    .frame(ChatFrame::Chunk(&item.json), &mut self.out);
            }
            Some(Err(err)) => {
                // Headers are gone: the error travels in the stream, in the route's shape.
                let api = ApiError::from(err);
                tracing::info!(message = %api.body.error.message, "upstream stream failed after it started");
                self.guard
                    .end(StreamEnd::UpstreamFailed(api.body.error.code.clone()));
                self.shape
                    .frame(ChatFrame::Failed(&api.body), &mut self.out);
                self.rest = None;
            }
        }
    }
}

impl http_body::Body for ChatStreamBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        loop {
            if let Some(bytes) = this.out.get_mut(this.sent) {
                this.sent += 1;
                return Poll::Ready(Some(Ok(http_body::Frame::data(std::mem::take(bytes)))));
            }
            this.out.clear();
            this.sent = 0;
            let Some(rest) = this.rest.as_mut() else {
                return Poll::Ready(None);
            };
            let item = match this.next.take() {
                Some(first) => Some(Ok(first)),
                None => std::task::ready!(rest.as_mut().poll_next(cx)),
            };
            this.take(item);
        }
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_none() && self.sent >= self.out.len()
    }
}

pub(super) async fn unknown_endpoint(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        Some("unknown_url"),
        format!(
            "Unknown request URL: {} {}.",
            request.method(),
            request.uri().path()
        ),
    )
}

pub(super) async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request_error",
        Some("method_not_allowed"),
        format!(
            "{} is not allowed on {}.",
            request.method(),
            request.uri().path()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_data_lines_ended_by_a_blank_line() {
        assert_eq!(&sse_frame(br#"{"a":1}"#)[..], b"data: {\"a\":1}\n\n");
    }
}
