//! `POST /v1/messages/count_tokens`: Anthropic's own count, or an estimate.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use super::attempts::upstream_call;
use super::caller::Caller;
use super::native::header_text;
use super::pipeline::{RequestToAdmit, admit_request};
use super::respond;
use crate::error::ApiError;
use crate::limits::estimate::RequestSize;
use crate::openai::{ChatCompletionRequest, Usage};
use crate::providers::{ProviderKind, anthropic, read_body};
use crate::routing;
use crate::state::GatewayState;

/// `POST /v1/messages/count_tokens`: Anthropic's own count when the route's model is Anthropic's,
/// else an estimate (four characters a token, as routing counts), said so in
/// `x-gateway-token-count: estimated`. Anthropic's count is a call to Anthropic on the tenant's
/// behalf: admitted (the key's rate limits, the monthly quota) and recorded like any other, at no
/// cost and no tokens, so that nothing reaches a provider uncounted (a loop through a gateway
/// would otherwise cost its tenant nothing). An estimate reaches no one and counts nothing.
pub(super) async fn count_tokens(
    state: &GatewayState,
    caller: &Caller,
    headers: &HeaderMap,
    chat: &ChatCompletionRequest,
    body: &Value,
) -> Result<Response, ApiError> {
    let started = std::time::Instant::now();
    let decisions = routing::resolve_chat(
        &state.router,
        chat,
        &[],
        &caller.account.providers,
        &caller.policy,
    )?;
    let decision = &decisions[0];
    if decision.endpoint.kind != ProviderKind::Anthropic {
        let estimate = routing::estimated_prompt_tokens(chat)
            + body
                .get("tools")
                .map_or(0, |tools| tools.to_string().len() as u64 / 4);
        let mut response = respond::json(
            serde_json::to_vec(&serde_json::json!({"input_tokens": estimate})).unwrap_or_default(),
            decision,
        );
        response.headers_mut().insert(
            "x-gateway-token-count",
            axum::http::HeaderValue::from_static("estimated"),
        );
        return Ok(response);
    }
    let mut size = RequestSize::of_native_body(body, "max_tokens");
    size.max_output_tokens = Some(0); // nothing is generated
    let admission = RequestToAdmit {
        size,
        decisions: std::slice::from_ref(decision),
        stream: false,
        started,
    };
    admit_request(state, caller, admission, |admitted| async move {
        let usage = admitted.usage;
        let answer = anthropic_count(state, headers, decision, body).await;
        match &answer {
            Ok(_) => usage.record(
                decision,
                &decision.model,
                StatusCode::OK,
                Usage::default(),
                None,
            ),
            Err(failure) => usage.record_failure(decision, failure),
        }
        answer
    })
    .await
}

/// Anthropic's own count of `body` for the decision's model.
async fn anthropic_count(
    state: &GatewayState,
    headers: &HeaderMap,
    decision: &routing::RouteDecision<'_>,
    body: &Value,
) -> Result<Response, ApiError> {
    let call = upstream_call(state, headers, decision);
    call.endpoint.refused().map_err(ApiError::from)?;
    let mut sent = body.clone();
    sent["model"] = Value::from(decision.model.as_str());
    let (sent, _) = crate::adapt::messages(&sent, &decision.model);
    let response = anthropic::send_native(
        &call,
        "messages/count_tokens",
        &sent,
        header_text(headers, "anthropic-version").as_deref(),
        header_text(headers, "anthropic-beta").as_deref(),
    )
    .await
    .map_err(ApiError::from)?;
    let bytes = read_body("anthropic", call.timeout, response)
        .await
        .map_err(ApiError::from)?;
    Ok(respond::json(bytes, decision))
}
