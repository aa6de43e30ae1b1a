//! The OpenAI-compatible API under `/v1`, as a pipeline of named stages. Each route below is a
//! short list of them, always in this order:
//!
//! 1. [`caller`]: `Authorization: Bearer gw_…` → the key (a layer, so that even an unknown URL
//!    needs a key), then the key → its account and routing policy (the [`Caller`] extractor).
//! 2. [`decode`]: the JSON body → a typed request; a clear 400 for anything malformed.
//! 3. routing ([`crate::routing`]): request + policy → the models to try in order, each with the
//!    reason it was chosen.
//! 4. [`admission`]: what the plan allows (streaming), then the monthly quota: the last check
//!    before money is spent, so every admitted request records a usage event. Every route
//!    passes through it by one call, [`pipeline::admit_request`].
//! 5. [`cache`]: a repeated request is answered from the cache; a new one may be stored.
//! 6. [`attempts`]: the provider calls, with retries and then the fallback models.
//! 7. [`respond`]: JSON or server-sent events, with the headers saying which model served and why.
//! 8. [`usage`]: one usage event per call (streams: when the stream ends, however it ends),
//!    recorded off the request path in batches.
//!
//! `/v1/responses` and `/v1/messages` ([`dialect`]) run the same stages on a request converted
//! to chat; the attempts of the provider whose API the request is in pass it through instead
//! ([`native`]), each attempt adapted to its model ([`crate::adapt`]).
//!
//! Around them all, [`overhead`] times what the gateway adds (everything but the wait for the
//! provider) into `/metrics`.
//!
//! No stage makes a database round trip on the way: keys, accounts and policies are served from
//! the directory's memory, the quota from its counter, usage is written in batches.

mod admission;
mod attempts;
mod cache;
mod caller;
mod cascade;
mod count_tokens;
mod decode;
mod dialect;
pub mod hops;
mod native;
mod overhead;
mod pipeline;
mod respond;
mod usage;

use std::time::Instant;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tower::ServiceBuilder;

use crate::catalog::{Catalog, ModelKind};
use crate::error::ApiError;
use crate::limits::estimate::RequestSize;
use crate::openai::Usage;
use crate::providers::Provider;
use crate::routing;
use crate::state::GatewayState;

pub use caller::Caller;
pub use decode::{ChatInput, EmbeddingsInput, take_fallbacks};

use pipeline::{RequestToAdmit, Routed};

pub(crate) use decode::MAX_BODY_BYTES;

/// The `/v1` router, to be nested under `/v1`.
pub fn router(state: GatewayState) -> Router {
    Router::new()
        .route("/chat/completions", post(chat_completions))
        .route("/responses", post(dialect::responses))
        .route("/messages", post(dialect::messages))
        .route("/messages/count_tokens", post(dialect::count_tokens))
        // Anthropic's SDKs add `/v1` themselves: a base URL that already ends in `/v1` lands here.
        .route("/v1/messages", post(dialect::messages))
        .route("/v1/messages/count_tokens", post(dialect::count_tokens))
        .route("/embeddings", post(embeddings))
        .route("/models", get(list_models))
        .route("/models/{*id}", get(model_by_id))
        .route("/routing/preview", post(routing_preview))
        .fallback(respond::unknown_endpoint)
        .method_not_allowed_fallback(respond::method_not_allowed)
        // The stack, outermost first, as one layer: the router boxes each route once per layer,
        // and every `from_fn` clones what it wraps per request. As five layers a request cost 46
        // boxed clones and 59 allocations before its handler; as one, 11 and 21 (callgrind).
        .layer(
            ServiceBuilder::new()
                // On the Messages route every error, the key check's included, takes Anthropic's
                // shape.
                .layer(middleware::from_fn(dialect::anthropic_errors))
                .layer(middleware::from_fn_with_state(
                    state.clone(),
                    overhead::measure,
                ))
                .layer(middleware::from_fn(hops::refuse_loops))
                .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
                .layer(middleware::from_fn_with_state(
                    state.clone(),
                    caller::require_gateway_key,
                )),
        )
        .with_state(state)
}

async fn chat_completions(
    State(state): State<GatewayState>,
    caller: Caller,
    headers: HeaderMap,
    ChatInput { request, fallbacks }: ChatInput,
) -> Result<Response, ApiError> {
    serve_chat(&state, &caller, &headers, request, &fallbacks).await
}

/// The chat pipeline (stages 3 to 8) behind every route that produces a completion: chat itself,
/// and the Responses and Messages APIs around it (`dialect`).
async fn serve_chat(
    state: &GatewayState,
    caller: &Caller,
    headers: &HeaderMap,
    request: crate::openai::ChatCompletionRequest,
    fallbacks: &[String],
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let decisions = routing::resolve_chat(
        &state.router,
        &request,
        fallbacks,
        &caller.account.providers,
        &caller.policy,
    )?;
    let routed = Routed {
        request,
        decisions: &decisions,
        native: None,
        shape: Box::new(respond::ChatShape),
        started,
    };
    pipeline::serve_routed(state, caller, headers, routed).await
}

async fn embeddings(
    State(state): State<GatewayState>,
    caller: Caller,
    headers: HeaderMap,
    EmbeddingsInput(request): EmbeddingsInput,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let decision =
        routing::resolve_embedding(&request.model, &caller.account.providers, &caller.policy)?;
    let admission = RequestToAdmit {
        size: RequestSize::of_native_body(&json!({"input": request.input}), ""),
        decisions: std::slice::from_ref(&decision),
        stream: false,
        started,
    };
    pipeline::admit_request(&state, &caller, admission, |admitted| {
        embed(
            &state,
            &headers,
            &request,
            &decision,
            started,
            admitted.usage,
        )
    })
    .await
}

async fn embed(
    state: &GatewayState,
    headers: &HeaderMap,
    request: &crate::openai::EmbeddingsRequest,
    decision: &routing::RouteDecision<'_>,
    started: Instant,
    usage: usage::UsageContext,
) -> Result<Response, ApiError> {
    let provider = Provider::for_kind(decision.endpoint.kind);
    let call = attempts::upstream_call(state, headers, decision);
    let (decision, outcome) = attempts::first_success(
        std::slice::from_ref(decision),
        &state.settings.retry,
        started,
        |decision| provider.embeddings(&call, request, &decision.model),
        |decision, failure| usage.record_failure(decision, failure),
    )
    .await?;

    let tokens = Usage {
        prompt_tokens: outcome.prompt_tokens,
        completion_tokens: 0,
        total_tokens: outcome.prompt_tokens,
    };
    usage.record(decision, &decision.model, StatusCode::OK, tokens, None);
    Ok(respond::json(outcome.body, decision))
}

/// Where a chat request would go under the calling key's routing policy, without sending it.
async fn routing_preview(
    State(state): State<GatewayState>,
    caller: Caller,
    ChatInput { request, fallbacks }: ChatInput,
) -> Result<Json<routing::RoutePreview>, ApiError> {
    Ok(Json(routing::preview(
        &state.router,
        &request,
        &fallbacks,
        &caller.account.providers,
        &caller.policy,
    )?))
}

/// One model of [`list_models`], by id (`openai/gpt-4o-mini`, `auto`).
async fn model_by_id(
    caller: Caller,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<Value>, ApiError> {
    let found = reachable_models(&caller)
        .into_iter()
        .find(|model| model.id == id);
    match found {
        Some(model) if is_anthropic_client(&headers) => Ok(Json(model.anthropic())),
        Some(model) => Ok(Json(model.openai())),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            Some("model_not_found"),
            format!("The model '{id}' does not exist or this key's providers do not serve it."),
        )
        .with_param("model")),
    }
}

/// Anthropic's SDKs (and Claude Code) send `anthropic-version` and their key in `x-api-key`;
/// they read lists in Anthropic's shape.
fn is_anthropic_client(headers: &HeaderMap) -> bool {
    headers.contains_key("anthropic-version") || headers.contains_key("x-api-key")
}

/// One model the calling key can reach.
struct ReachableModel {
    id: String,
    owner: &'static str,
    entry: Option<&'static crate::catalog::CatalogModel>,
}

impl ReachableModel {
    fn openai(&self) -> Value {
        let mut model =
            json!({"id": self.id, "object": "model", "created": 0, "owned_by": self.owner});
        if let Some(entry) = self.entry {
            model["context_window"] = json!(entry.context_window);
            model["tier"] = json!(entry.tier);
            model["type"] = json!(if entry.kind == ModelKind::Embedding {
                "embedding"
            } else {
                "chat"
            });
        }
        model
    }

    /// Anthropic's model object (`GET /v1/models` of its API).
    fn anthropic(&self) -> Value {
        let display_name = match self.entry {
            Some(entry) => format!("{} ({})", entry.model, self.owner),
            None => "auto (routed by LLM Gateway)".to_owned(),
        };
        json!({"type": "model", "id": self.id, "display_name": display_name,
            "created_at": "1970-01-01T00:00:00Z"})
    }
}

/// `auto`, then the catalog's models of the account's providers.
fn reachable_models(caller: &Caller) -> Vec<ReachableModel> {
    let catalog = Catalog::built_in();
    let mut models = vec![ReachableModel {
        id: routing::AUTO.to_owned(),
        owner: "llm-gateway",
        entry: None,
    }];
    for endpoint in &caller.account.providers {
        for entry in catalog.models_of(endpoint.kind) {
            models.push(ReachableModel {
                id: format!("{}/{}", endpoint.kind.id(), entry.model),
                owner: endpoint.kind.id(),
                entry: Some(entry),
            });
        }
    }
    models
}

/// The models the calling key can reach: the catalog's models of the account's providers, and
/// `auto` — in OpenAI's list shape, or Anthropic's for Anthropic's clients.
async fn list_models(caller: Caller, headers: HeaderMap) -> Json<Value> {
    let models = reachable_models(&caller);
    if is_anthropic_client(&headers) {
        let data: Vec<Value> = models.iter().map(ReachableModel::anthropic).collect();
        return Json(json!({
            "data": data,
            "has_more": false,
            "first_id": models.first().map(|model| model.id.as_str()),
            "last_id": models.last().map(|model| model.id.as_str()),
        }));
    }
    let data: Vec<Value> = models.iter().map(ReachableModel::openai).collect();
    Json(json!({"object": "list", "data": data}))
}
