//! Health checks: `/healthz` (liveness: the process serves and its database answers) and
//! `/readyz` (readiness: also every migration applied and Redis answering when configured).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gateway::state::GatewayState;
use migrations::{Migrator, MigratorTrait};

pub async fn healthz(State(state): State<GatewayState>) -> Response {
    match state.db.ping().await {
        Ok(()) => (StatusCode::OK, "ok").into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "health check: database unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
        }
    }
}

/// Readiness, for a load balancer or Kubernetes: the database answers with every migration
/// applied, and Redis answers when one is configured (each within a second). `/healthz` stays
/// liveness: a replica waiting for Redis is not restarted, only sent no traffic.
pub async fn readyz(State(state): State<GatewayState>) -> Response {
    const WAIT: std::time::Duration = std::time::Duration::from_secs(1);
    let database = match tokio::time::timeout(WAIT, state.db.ping()).await {
        Ok(Ok(())) => "ok".to_owned(),
        _ => "unreachable".to_owned(),
    };
    let migrations =
        match tokio::time::timeout(WAIT, Migrator::get_pending_migrations(&state.db)).await {
            Ok(Ok(pending)) if pending.is_empty() => "ok".to_owned(),
            Ok(Ok(pending)) => format!("{} pending", pending.len()),
            _ => "unknown".to_owned(),
        };
    let redis = match &state.redis {
        None => "not configured".to_owned(),
        Some(manager) => {
            let mut connection = manager.clone();
            let command = redis::cmd("PING");
            let ping = command.query_async::<String>(&mut connection);
            match tokio::time::timeout(WAIT, ping).await {
                Ok(Ok(_)) => "ok".to_owned(),
                _ => "unreachable".to_owned(),
            }
        }
    };
    let ready = database == "ok" && migrations == "ok" && redis != "unreachable";
    if !ready {
        tracing::warn!(%database, %migrations, %redis, "not ready");
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({
        "ready": ready,
        "database": database,
        "migrations": migrations,
        "redis": redis,
    });
    (status, axum::Json(body)).into_response()
}
