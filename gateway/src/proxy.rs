//! The OpenAI-compatible API under `/v1`. Authentication is a layer; handlers resolve the model,
//! call the provider (with retries and fallbacks), and record usage.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use futures::StreamExt as _;
use serde_json::{Value, json};

use crate::catalog::{Catalog, CatalogModel, ModelKind};
use crate::clock::now_ms;
use crate::directory::{AccountConfig, AuthenticatedKey, DirectoryError};
use crate::error::{ApiError, AuthError, PlanError, RequestError, UpstreamError};
use crate::openai::{ChatCompletionChunk, ChatCompletionRequest, EmbeddingsRequest, Usage};
use crate::providers::{ChunkStream, Provider, StreamItem, UpstreamCall};
use crate::routing::{self, RouteDecision};
use crate::settings::RetrySettings;
use crate::state::GatewayState;
use crate::usage::{UsageEvent, UsageRecorder};

/// Request bodies may carry base64 images; OpenAI itself accepts up to about 20 MB.
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// The `/v1` router, to be nested under `/v1`.
pub fn router(state: GatewayState) -> Router {
    Router::new()
        .route("/chat/completions", post(chat_completions))
        .route("/embeddings", post(embeddings))
        .route("/models", get(list_models))
        .route("/routing/preview", post(routing_preview))
        .fallback(unknown_endpoint)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            require_gateway_key,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Checks `Authorization: Bearer gw_…` and hands the key's owner to the handler.
async fn require_gateway_key(
    State(state): State<GatewayState>,
    mut request: Request,
    next: Next,
) -> Response {
    let key = match bearer_token(request.headers()) {
        Ok(token) => state.directory.authenticate(token).await,
        Err(err) => Err(err),
    };
    match key {
        Ok(key) => {
            request.extensions_mut().insert(key);
            next.run(request).await
        }
        Err(err) => ApiError::from(err).into_response(),
    }
}

fn bearer_token(headers: &HeaderMap) -> Result<&str, AuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(AuthError::Missing);
    };
    let value = value.to_str().map_err(|_| AuthError::Malformed)?;
    let Some((scheme, token)) = value.trim().split_once(' ') else {
        return Err(AuthError::Malformed);
    };
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(AuthError::Malformed);
    }
    Ok(token.trim())
}

type BodyResult = Result<Bytes, axum::extract::rejection::BytesRejection>;

fn read_body(headers: &HeaderMap, body: BodyResult) -> Result<Bytes, ApiError> {
    let body = body.map_err(|rejection| {
        ApiError::new(
            rejection.status(),
            "invalid_request_error",
            Some("invalid_body"),
            rejection.body_text(),
        )
    })?;
    if !is_json(headers) {
        return Err(RequestError::ContentType.into());
    }
    Ok(body)
}

/// The key's account; refuses a key the plan no longer covers.
async fn load_account(
    state: &GatewayState,
    key: &AuthenticatedKey,
) -> Result<std::sync::Arc<AccountConfig>, ApiError> {
    let account = state.directory.account(key.account_id).await.map_err(|err| match err {
        DirectoryError::AccountGone => ApiError::from(AuthError::Unknown),
        other => {
            tracing::error!(error = %other, account_id = key.account_id, "could not load the account");
            ApiError::internal()
        }
    })?;
    if !account.key_within_plan(key.key_id) {
        let limit = state.settings.plans.limits(account.plan).gateway_keys;
        return Err(PlanError::KeyBeyondPlan {
            plan: account.plan,
            limit,
        }
        .into());
    }
    Ok(account)
}

/// The `models` fallback list (OpenRouter's convention), taken out of the forwarded body.
pub fn take_fallbacks(request: &mut ChatCompletionRequest) -> Result<Vec<String>, RequestError> {
    match request.extra.remove("models") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(models)) => models
            .into_iter()
            .map(|model| match model {
                Value::String(model) => Ok(model),
                _ => Err(RequestError::InvalidField {
                    param: "models".into(),
                    reason: "expected model names".into(),
                }),
            })
            .collect(),
        Some(_) => Err(RequestError::InvalidField {
            param: "models".into(),
            reason: "expected an array of model names".into(),
        }),
    }
}

async fn chat_completions(
    State(state): State<GatewayState>,
    Extension(key): Extension<AuthenticatedKey>,
    headers: HeaderMap,
    body: BodyResult,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let body = read_body(&headers, body)?;
    let mut request = ChatCompletionRequest::from_json_bytes(&body)?;
    let fallbacks = take_fallbacks(&mut request)?;
    let account = load_account(&state, &key).await?;
    let policy = account.routing.effective(key.key_id);
    let decisions = routing::resolve_chat(
        &state.router,
        &request,
        &fallbacks,
        &account.providers,
        &policy,
    )?;
    let limits = state.settings.plans.limits(account.plan);
    if request.wants_stream() && !limits.streaming {
        let needed = state.settings.plans.streaming_plan_above(account.plan);
        return Err(PlanError::StreamingNotIncluded {
            plan: account.plan,
            needed,
        }
        .into());
    }
    admit(&state, &account).await?;
    let usage = UsageContext::new(&state, key, started, &account);

    let cache_key = match cache_wanted(&headers, &policy, limits.response_cache)? {
        true => Some(crate::cache::cache_key(
            account.account_id,
            decisions[0].endpoint.kind.id(),
            &decisions[0].model,
            &serde_json::to_value(&request).unwrap_or_default(),
        )),
        false => None,
    };
    if let Some(cache_key) = &cache_key
        && let Some(hit) = state.cache.get(cache_key).await
    {
        return Ok(serve_cached(&usage, &decisions[0], hit, &request));
    }

    let mut last_error = None;
    for decision in &decisions {
        let provider = Provider::for_kind(decision.endpoint.kind);
        let call = UpstreamCall {
            http: &state.http,
            endpoint: decision.endpoint,
            timeout: state.settings.upstream_timeout,
        };
        let attempt = || async {
            if request.wants_stream() {
                open_stream(&provider, &call, &request, &decision.model)
                    .await
                    .map(Answer::Stream)
            } else {
                provider
                    .chat(&call, &request, &decision.model)
                    .await
                    .map(Answer::Complete)
            }
        };
        match with_retries(&state.settings.retry, started, attempt).await {
            Ok(Answer::Complete(outcome)) => {
                usage.record(
                    decision,
                    &outcome.served_model,
                    StatusCode::OK,
                    outcome.usage,
                    None,
                );
                // Only the primary model's answers are stored: the key names that model.
                if let Some(cache_key) = &cache_key
                    && std::ptr::eq(decision, &decisions[0])
                    && let Ok(text) = std::str::from_utf8(&outcome.body)
                {
                    let answer = crate::cache::CachedAnswer {
                        body: text.to_owned(),
                        provider: decision.endpoint.kind.id().to_owned(),
                        model: outcome.served_model.clone(),
                        usage: outcome.usage,
                    };
                    state.cache.put(cache_key.clone(), answer).await;
                }
                let mut response = (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "application/json")],
                    outcome.body,
                )
                    .into_response();
                add_route_headers(response.headers_mut(), decision);
                if cache_key.is_some() {
                    response
                        .headers_mut()
                        .insert(CACHE_HEADER, HeaderValue::from_static("MISS"));
                }
                return Ok(response);
            }
            Ok(Answer::Stream((first, rest))) => {
                let include_usage = request.wants_stream_usage();
                let guard = StreamGuard::new(&usage, decision, include_usage);
                let mut response = Response::new(Body::from_stream(sse_body(first, rest, guard)));
                let response_headers = response.headers_mut();
                response_headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/event-stream"),
                );
                response_headers
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
                add_route_headers(response_headers, decision);
                if cache_key.is_some() {
                    response_headers.insert(CACHE_HEADER, HeaderValue::from_static("MISS"));
                }
                return Ok(response);
            }
            Err(err) => {
                let api = ApiError::from(err.error);
                tracing::info!(status = %api.status, message = %api.body.error.message, model = %decision.model, "upstream call failed");
                usage.record(
                    decision,
                    &decision.model,
                    api.status,
                    Usage::default(),
                    api.body.error.code.clone(),
                );
                if !err.try_next_model {
                    return Err(with_route_headers(api, decision));
                }
                last_error = Some(with_route_headers(api, decision));
            }
        }
    }
    Err(last_error.unwrap_or_else(ApiError::internal))
}

/// Counts the request against the plan's monthly quota. It is the last check before a provider is
/// called, so every admitted request records a usage event (which the count is rebuilt from).
async fn admit(state: &GatewayState, account: &AccountConfig) -> Result<(), ApiError> {
    let limit = state.settings.plans.limits(account.plan).requests_per_month;
    match state
        .quota
        .admit(&state.db, account.account_id, limit)
        .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(exceeded)) => Err(PlanError::QuotaExceeded {
            plan: account.plan,
            limit: exceeded.limit,
            resets_at: exceeded.resets_at,
        }
        .into()),
        // The count could not be loaded: serve the request rather than fail it for a database
        // hiccup; the next request tries again.
        Err(err) => {
            tracing::warn!(error = %err, account_id = account.account_id, "could not load the monthly request count");
            Ok(())
        }
    }
}

const CACHE_HEADER: &str = "x-gateway-cache";

/// Whether this request uses the response cache: never on a plan without it; else the request's
/// `x-gateway-cache: on|off`, else the key's or account's setting (off by default).
fn cache_wanted(
    headers: &HeaderMap,
    policy: &routing::RoutingPolicy,
    plan_includes_cache: bool,
) -> Result<bool, ApiError> {
    let asked = match headers
        .get(CACHE_HEADER)
        .map(|value| value.to_str().map(|v| v.trim().to_ascii_lowercase()))
    {
        None => None,
        Some(Ok(value)) if value == "on" => Some(true),
        Some(Ok(value)) if value == "off" => Some(false),
        Some(_) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("invalid_header"),
                "The x-gateway-cache header must be `on` or `off`.",
            ));
        }
    };
    Ok(plan_includes_cache && asked.unwrap_or(policy.cache == Some(true)))
}

/// Answers from the cache, as JSON or, for `stream: true`, as the same answer in SSE chunks. The
/// usage event marks the hit: nothing was spent, and the saving is the baseline's cost.
fn serve_cached(
    usage: &UsageContext,
    decision: &RouteDecision<'_>,
    hit: crate::cache::CachedAnswer,
    request: &ChatCompletionRequest,
) -> Response {
    let mut event = usage.event(decision, &hit.model, StatusCode::OK, hit.usage, None);
    event.cache_hit = true;
    event.saving_usd += event.cost_usd;
    event.cost_usd = 0.0;
    usage.recorder.record(event);
    let decision_shown = RouteDecision {
        endpoint: decision.endpoint,
        model: decision.model.clone(),
        reason: format!("cache hit: {}", decision.reason),
        tier: decision.tier,
    };
    let mut response = if request.wants_stream() {
        let frames = crate::openai::completion_as_chunks(&hit.body, request.wants_stream_usage())
            .into_iter()
            .map(|chunk| Ok::<_, Infallible>(sse_frame(chunk.to_string().as_bytes())))
            .chain(std::iter::once(Ok(Bytes::from_static(b"data: [DONE]\n\n"))));
        let mut response = Response::new(Body::from_stream(futures::stream::iter(frames)));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        response
    } else {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            hit.body,
        )
            .into_response()
    };
    add_route_headers(response.headers_mut(), &decision_shown);
    response
        .headers_mut()
        .insert(CACHE_HEADER, HeaderValue::from_static("HIT"));
    response
}

enum Answer {
    Complete(crate::providers::ChatOutcome),
    Stream((StreamItem, ChunkStream)),
}

/// Opens a stream and waits for its first chunk, so that a failure at byte zero is a normal
/// error (and may be retried) rather than a broken 200.
async fn open_stream(
    provider: &Provider,
    call: &UpstreamCall<'_>,
    request: &ChatCompletionRequest,
    model: &str,
) -> Result<(StreamItem, ChunkStream), UpstreamError> {
    let mut stream = provider.chat_stream(call, request, model).await?;
    match stream.next().await {
        Some(Ok(first)) => Ok((first, stream)),
        Some(Err(err)) => Err(err),
        None => Err(UpstreamError::InvalidResponse {
            provider: call.endpoint.kind.id(),
            detail: "the stream was empty".into(),
        }),
    }
}

struct FailedCall {
    error: UpstreamError,
    /// Whether a fallback model may be tried: the failure was the provider's, not the request's.
    try_next_model: bool,
}

/// Runs `attempt` until it succeeds, fails for good, or the retry budget is spent.
async fn with_retries<T, F, Fut>(
    retry: &RetrySettings,
    started: Instant,
    mut attempt: F,
) -> Result<T, FailedCall>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, UpstreamError>>,
{
    let mut backoff = retry.base_backoff;
    for number in 1..=retry.attempts.max(1) {
        let error = match attempt().await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        if !error.is_retryable() {
            return Err(FailedCall {
                error,
                try_next_model: false,
            });
        }
        if number == retry.attempts.max(1) {
            return Err(FailedCall {
                error,
                try_next_model: true,
            });
        }
        // Full jitter: a random wait up to the backoff, or what the provider asked for.
        let jittered = backoff.mul_f64(rand::random::<f64>());
        let wait = retry_after(&error).map_or(jittered, |asked| asked.max(jittered));
        if wait > retry.max_retry_wait || started.elapsed() + wait > retry.deadline {
            return Err(FailedCall {
                error,
                try_next_model: true,
            });
        }
        tracing::debug!(attempt = number, wait_ms = wait.as_millis() as u64, error = %error, "retrying upstream call");
        tokio::time::sleep(wait).await;
        backoff *= 2;
    }
    unreachable!("the loop returns on its last attempt")
}

fn retry_after(error: &UpstreamError) -> Option<Duration> {
    let UpstreamError::Status {
        retry_after: Some(value),
        ..
    } = error
    else {
        return None;
    };
    value
        .to_str()
        .ok()?
        .trim()
        .parse::<f64>()
        .ok()
        .map(Duration::from_secs_f64)
}

/// What every usage event of one request shares.
struct UsageContext {
    recorder: UsageRecorder,
    key: AuthenticatedKey,
    started: Instant,
    /// The account's strongest model: the cost without routing.
    baseline: Option<&'static CatalogModel>,
    /// Set once the request's one event counted against the quota has been made.
    counted: std::sync::atomic::AtomicBool,
}

impl UsageContext {
    fn new(
        state: &GatewayState,
        key: AuthenticatedKey,
        started: Instant,
        account: &AccountConfig,
    ) -> Self {
        Self {
            recorder: state.usage.clone(),
            key,
            started,
            baseline: routing::baseline_model(&account.providers),
            counted: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn event(
        &self,
        decision: &RouteDecision<'_>,
        model: &str,
        status: StatusCode,
        usage: Usage,
        error_code: Option<String>,
    ) -> UsageEvent {
        let priced = Catalog::built_in().find(decision.endpoint.kind, &decision.model);
        let cost_usd = priced.map_or(0.0, |m| {
            m.cost(usage.prompt_tokens, usage.completion_tokens)
        });
        let baseline_cost = self.baseline.map_or(cost_usd, |m| {
            m.cost(usage.prompt_tokens, usage.completion_tokens)
        });
        UsageEvent {
            tier: decision
                .tier
                .map(|tier| routing::tier_name(tier).to_owned()),
            baseline_model: self.baseline.map(|m| format!("{}/{}", m.provider, m.model)),
            cost_usd,
            saving_usd: baseline_cost - cost_usd,
            counted: !self
                .counted
                .swap(true, std::sync::atomic::Ordering::Relaxed),
            cache_hit: false,
            route_reason: Some(decision.reason.clone()),
            account_id: self.key.account_id,
            key_id: self.key.key_id,
            provider: decision.endpoint.kind.id().to_owned(),
            model: model.to_owned(),
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            latency_ms: self.started.elapsed().as_millis().min(u32::MAX as u128) as u32,
            status: status.as_u16(),
            error_code,
            created_at_ms: now_ms(),
        }
    }

    fn record(
        &self,
        decision: &RouteDecision<'_>,
        model: &str,
        status: StatusCode,
        usage: Usage,
        error_code: Option<String>,
    ) {
        self.recorder
            .record(self.event(decision, model, status, usage, error_code));
    }
}

/// Records a stream's usage when the stream ends, however it ends: finished, broken upstream, or
/// dropped because the client went away (which also drops, and so cancels, the upstream call).
struct StreamGuard {
    recorder: UsageRecorder,
    event: UsageEvent,
    started: Instant,
    usage: Usage,
    outcome: StreamEnd,
    include_usage: bool,
}

enum StreamEnd {
    ClientGone,
    Finished,
    UpstreamFailed(Option<String>),
}

impl StreamGuard {
    fn new(context: &UsageContext, decision: &RouteDecision<'_>, include_usage: bool) -> Self {
        Self {
            recorder: context.recorder.clone(),
            event: context.event(
                decision,
                &decision.model,
                StatusCode::OK,
                Usage::default(),
                None,
            ),
            started: context.started,
            usage: Usage::default(),
            outcome: StreamEnd::ClientGone,
            include_usage,
        }
    }

    fn end(&mut self, outcome: StreamEnd) {
        self.outcome = outcome;
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let mut event = self.event.clone();
        event.prompt_tokens = self.usage.prompt_tokens;
        event.completion_tokens = self.usage.completion_tokens;
        event.latency_ms = self.started.elapsed().as_millis().min(u32::MAX as u128) as u32;
        match &self.outcome {
            StreamEnd::Finished => {}
            // 499: nginx's "client closed request", as LiteLLM and others log it.
            StreamEnd::ClientGone => {
                event.status = 499;
                event.error_code = Some("client_disconnected".into());
            }
            StreamEnd::UpstreamFailed(code) => {
                event.status = 502;
                event.error_code =
                    Some(code.clone().unwrap_or_else(|| "stream_interrupted".into()));
            }
        }
        self.recorder.record(event);
    }
}

fn sse_frame(json: &[u8]) -> Bytes {
    let mut frame = Vec::with_capacity(json.len() + 8);
    frame.extend_from_slice(b"data: ");
    frame.extend_from_slice(json);
    frame.extend_from_slice(b"\n\n");
    frame.into()
}

/// Server-sent events exactly as OpenAI frames them, ending with `data: [DONE]`. Chunks are
/// forwarded as they arrive; nothing is buffered beyond one chunk.
fn sse_body(
    first: StreamItem,
    mut rest: ChunkStream,
    mut guard: StreamGuard,
) -> impl futures::Stream<Item = Result<Bytes, Infallible>> + Send {
    // Identity of the stream, for a usage chunk the provider did not send itself.
    let identity: Value = serde_json::from_slice(&first.json).unwrap_or(Value::Null);
    async_stream::stream! {
        let mut next = Some(Ok(first));
        let mut usage_chunk_sent = false;
        loop {
            let item = match next.take() {
                Some(item) => Some(item),
                None => rest.next().await,
            };
            match item {
                None => {
                    // Groq, for one, reports usage only inside its last chunk (`x_groq`).
                    if guard.include_usage && !usage_chunk_sent {
                        let chunk = ChatCompletionChunk::usage_only(
                            identity["id"].as_str().unwrap_or_default(),
                            identity["created"].as_i64().unwrap_or_default(),
                            identity["model"].as_str().unwrap_or_default(),
                            guard.usage,
                        );
                        yield Ok(sse_frame(&serde_json::to_vec(&chunk).unwrap_or_default()));
                    }
                    guard.end(StreamEnd::Finished);
                    yield Ok(Bytes::from_static(b"data: [DONE]\n\n"));
                    break;
                }
                Some(Ok(item)) => {
                    if let Some(usage) = item.usage {
                        guard.usage = usage;
                    }
                    if item.usage_only {
                        if !guard.include_usage {
                            continue;
                        }
                        usage_chunk_sent = true;
                    }
                    yield Ok(sse_frame(&item.json));
                }
                Some(Err(err)) => {
                    // Headers are gone: the error travels in the stream, as OpenAI sends it.
                    let api = ApiError::from(err);
                    tracing::info!(message = %api.body.error.message, "upstream stream failed after it started");
                    guard.end(StreamEnd::UpstreamFailed(api.body.error.code.clone()));
                    let body = serde_json::to_vec(&api.body).unwrap_or_default();
                    yield Ok(sse_frame(&body));
                    break;
                }
            }
        }
    }
}

async fn embeddings(
    State(state): State<GatewayState>,
    Extension(key): Extension<AuthenticatedKey>,
    headers: HeaderMap,
    body: BodyResult,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let body = read_body(&headers, body)?;
    let value: Value =
        serde_json::from_slice(&body).map_err(|e| RequestError::InvalidJson(e.to_string()))?;
    for field in ["model", "input"] {
        if value.get(field).is_none() {
            return Err(RequestError::MissingField(field.into()).into());
        }
    }
    let request: EmbeddingsRequest =
        serde_json::from_value(value).map_err(|e| RequestError::InvalidField {
            param: "input".into(),
            reason: e.to_string(),
        })?;
    let account = load_account(&state, &key).await?;
    let policy = account.routing.effective(key.key_id);
    let decision = routing::resolve_embedding(&request.model, &account.providers, &policy)?;
    admit(&state, &account).await?;
    let provider = Provider::for_kind(decision.endpoint.kind);
    let call = UpstreamCall {
        http: &state.http,
        endpoint: decision.endpoint,
        timeout: state.settings.upstream_timeout,
    };
    let usage = UsageContext::new(&state, key, started, &account);
    let result = with_retries(&state.settings.retry, started, || {
        provider.embeddings(&call, &request, &decision.model)
    })
    .await;
    match result {
        Ok(outcome) => {
            let tokens = Usage {
                prompt_tokens: outcome.prompt_tokens,
                completion_tokens: 0,
                total_tokens: outcome.prompt_tokens,
            };
            usage.record(&decision, &decision.model, StatusCode::OK, tokens, None);
            let mut response = (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                outcome.body,
            )
                .into_response();
            add_route_headers(response.headers_mut(), &decision);
            Ok(response)
        }
        Err(failed) => {
            let api = ApiError::from(failed.error);
            usage.record(
                &decision,
                &decision.model,
                api.status,
                Usage::default(),
                api.body.error.code.clone(),
            );
            Err(with_route_headers(api, &decision))
        }
    }
}

/// Where a chat request would go under the calling key's routing policy, without sending it.
async fn routing_preview(
    State(state): State<GatewayState>,
    Extension(key): Extension<AuthenticatedKey>,
    headers: HeaderMap,
    body: BodyResult,
) -> Result<Json<routing::RoutePreview>, ApiError> {
    let body = read_body(&headers, body)?;
    let mut request = ChatCompletionRequest::from_json_bytes(&body)?;
    let fallbacks = take_fallbacks(&mut request)?;
    let account = load_account(&state, &key).await?;
    let policy = account.routing.effective(key.key_id);
    Ok(Json(routing::preview(
        &state.router,
        &request,
        &fallbacks,
        &account.providers,
        &policy,
    )?))
}

/// The models the calling key can reach: the catalog's models of the account's providers, and
/// `auto`.
async fn list_models(
    State(state): State<GatewayState>,
    Extension(key): Extension<AuthenticatedKey>,
) -> Result<Json<Value>, ApiError> {
    let account = load_account(&state, &key).await?;
    let catalog = Catalog::built_in();
    let mut data = vec![
        json!({"id": routing::AUTO, "object": "model", "created": 0, "owned_by": "llm-gateway"}),
    ];
    for endpoint in &account.providers {
        for entry in catalog.models_of(endpoint.kind) {
            data.push(json!({
                "id": format!("{}/{}", endpoint.kind.id(), entry.model),
                "object": "model",
                "created": 0,
                "owned_by": endpoint.kind.id(),
                "context_window": entry.context_window,
                "tier": entry.tier,
                "type": if entry.kind == ModelKind::Embedding { "embedding" } else { "chat" },
            }));
        }
    }
    Ok(Json(json!({"object": "list", "data": data})))
}

fn is_json(headers: &HeaderMap) -> bool {
    // A missing content type is accepted as JSON, as OpenAI does for curl users.
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|content_type| {
            content_type
                .split(';')
                .next()
                .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
        })
}

/// Says which model served the request and why.
fn add_route_headers(headers: &mut HeaderMap, decision: &RouteDecision<'_>) {
    let pairs = [
        ("x-gateway-provider", decision.endpoint.kind.id().to_owned()),
        (
            "x-gateway-model",
            format!("{}/{}", decision.endpoint.kind.id(), decision.model),
        ),
        ("x-gateway-route-reason", decision.reason.clone()),
        (
            "x-gateway-tier",
            decision
                .tier
                .map(routing::tier_name)
                .unwrap_or("unknown")
                .to_owned(),
        ),
    ];
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
}

fn with_route_headers(api: ApiError, decision: &RouteDecision<'_>) -> ApiError {
    let mut api = api;
    api.route = Some((
        decision.endpoint.kind.id().to_owned(),
        format!("{}/{}", decision.endpoint.kind.id(), decision.model),
        decision.reason.clone(),
    ));
    api
}

async fn unknown_endpoint(request: Request) -> ApiError {
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

async fn method_not_allowed(request: Request) -> ApiError {
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

    fn headers(authorization: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(authorization).unwrap(),
        );
        headers
    }

    #[test]
    fn bearer_tokens_are_read_strictly() {
        assert_eq!(bearer_token(&HeaderMap::new()), Err(AuthError::Missing));
        assert_eq!(bearer_token(&headers("gw_abc")), Err(AuthError::Malformed));
        assert_eq!(
            bearer_token(&headers("Basic gw_abc")),
            Err(AuthError::Malformed)
        );
        assert_eq!(
            bearer_token(&headers("Bearer  ")),
            Err(AuthError::Malformed)
        );
        assert_eq!(bearer_token(&headers("bearer gw_abc")), Ok("gw_abc"));
    }

    #[test]
    fn json_content_types() {
        let mut headers = HeaderMap::new();
        assert!(is_json(&headers));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert!(is_json(&headers));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert!(!is_json(&headers));
    }

    fn rate_limited(after: &'static str) -> UpstreamError {
        UpstreamError::Status {
            provider: "openai",
            status: StatusCode::TOO_MANY_REQUESTS,
            message: "slow down".into(),
            kind: None,
            code: None,
            retry_after: Some(HeaderValue::from_static(after)),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_retryable_errors_then_gives_up() {
        let retry = RetrySettings {
            attempts: 3,
            base_backoff: Duration::from_millis(10),
            deadline: Duration::from_secs(5),
            max_retry_wait: Duration::from_secs(2),
        };
        let mut calls = 0;
        let result: Result<(), _> = with_retries(&retry, Instant::now(), || {
            calls += 1;
            async { Err(rate_limited("0")) }
        })
        .await;
        assert_eq!(calls, 3);
        assert!(result.unwrap_err().try_next_model);

        let mut calls = 0;
        let result = with_retries(&retry, Instant::now(), || {
            calls += 1;
            let outcome = if calls < 2 {
                Err(rate_limited("0"))
            } else {
                Ok(calls)
            };
            async move { outcome }
        })
        .await;
        assert_eq!(result.ok(), Some(2));
    }

    #[tokio::test(start_paused = true)]
    async fn does_not_retry_client_errors_or_past_the_deadline() {
        let retry = RetrySettings {
            attempts: 5,
            base_backoff: Duration::from_millis(10),
            deadline: Duration::from_secs(60),
            max_retry_wait: Duration::from_secs(5),
        };
        let mut calls = 0;
        let result: Result<(), _> = with_retries(&retry, Instant::now(), || {
            calls += 1;
            async {
                Err(UpstreamError::Request(RequestError::Unsupported(
                    "no".into(),
                )))
            }
        })
        .await;
        assert_eq!(calls, 1);
        assert!(!result.unwrap_err().try_next_model);

        // Asked to wait 60 s, more than is worth waiting: move on at once.
        let mut calls = 0;
        let result: Result<(), _> = with_retries(&retry, Instant::now(), || {
            calls += 1;
            async { Err(rate_limited("60")) }
        })
        .await;
        assert_eq!(calls, 1);
        assert!(result.unwrap_err().try_next_model);
    }
}
