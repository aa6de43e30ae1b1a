//! `POST /webhooks/stripe`: the HTTP side of [`crate::billing`]'s webhook, which needs the
//! running gateway's state (to evict the changed account from its memory).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse as _, Response};

use crate::billing::{WebhookError, WebhookOutcome, verify_signature};
use crate::clock::now_ms;
use crate::state::GatewayState;

/// `POST /webhooks/stripe`.
pub fn router(state: GatewayState) -> axum::Router {
    axum::Router::new()
        .route("/webhooks/stripe", axum::routing::post(stripe_webhook))
        .with_state(state)
}

async fn stripe_webhook(
    State(state): State<GatewayState>,
    headers: HeaderMap,
    payload: axum::body::Bytes,
) -> Response {
    let reply = |status: StatusCode, message: &str| {
        (status, axum::Json(serde_json::json!({"message": message}))).into_response()
    };
    let Some(billing) = &state.billing else {
        return reply(
            StatusCode::NOT_FOUND,
            "billing is not configured on this server",
        );
    };
    let signature = headers
        .get("stripe-signature")
        .and_then(|value| value.to_str().ok());
    let now_secs = now_ms() / 1000;
    if let Err(err) = verify_signature(
        &payload,
        signature,
        &billing.settings().webhook_secret,
        now_secs,
    ) {
        tracing::warn!(error = %err, "refused a Stripe webhook");
        return reply(
            StatusCode::BAD_REQUEST,
            &format!("invalid signature: {err}"),
        );
    }
    match state.apply_stripe_event(billing, &payload).await {
        Ok(outcome) => {
            let message = match outcome {
                WebhookOutcome::Applied { plan, .. } => format!("applied: plan {}", plan.id()),
                WebhookOutcome::Duplicate => "already handled".into(),
                WebhookOutcome::Ignored(why) => format!("ignored: {why}"),
            };
            reply(StatusCode::OK, &message)
        }
        Err(WebhookError::Malformed(why)) => reply(StatusCode::BAD_REQUEST, &why),
        // Stripe retries deliveries that fail: a database hiccup is not lost.
        Err(WebhookError::Database(err)) => {
            tracing::error!(error = %err, "could not apply a Stripe webhook");
            reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                "could not apply the event; retry later",
            )
        }
    }
}
