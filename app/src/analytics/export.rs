//! `/analytics/export.csv`: the account's events in the analytics page's range, as CSV
//! (metadata only), streamed a page at a time. A plain route beside the page's server
//! functions, since a download is not a server function's JSON.

use std::collections::HashMap;

use axum::extract::Query;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use gateway::state::GatewayState;
use tower_sessions::Session;

/// The route's handler; the server mounts it with the gateway's state.
pub async fn export_csv(
    state: GatewayState,
    session: Session,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    use gateway::analytics;
    // Every role reads analytics; a member removed since logging in no longer does, nor does a
    // session opened before the password was reset (the server functions' own check).
    let Ok(actor) = crate::server::actor_of_session(&session, &state.db).await else {
        return Redirect::to("/login").into_response();
    };
    let account_id = actor.account_id;
    // The page's rule: the range asked for within the plan's retention, else the longest allowed.
    let asked = query.get("range").map_or("7d", String::as_str);
    let now = gateway::clock::now_ms();
    let window = match analytics::reach(
        &state.db,
        &state.settings.plans,
        account_id,
        Some(asked),
        now,
    )
    .await
    {
        Ok(Some(reach)) => reach.window,
        Ok(None) => return Redirect::to("/login").into_response(),
        Err(err) => {
            tracing::error!(error = %err, "export: could not load the account");
            return failed();
        }
    };
    match analytics::csv_stream(state.db.clone(), account_id, window.since).await {
        Ok(chunks) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!(
                        "attachment; filename=\"llm-gateway-usage-{}.csv\"",
                        window
                            .range
                            .replace(|c: char| !c.is_ascii_alphanumeric(), "")
                    ),
                ),
            ],
            // Streamed a page at a time: a large export holds neither memory nor one long query.
            axum::body::Body::from_stream(futures::TryStreamExt::inspect_err(chunks, |err| {
                tracing::error!(error = %err, "export: reading events failed mid-way");
            })),
        )
            .into_response(),
        Err(err) => {
            tracing::error!(error = %err, "export: could not read events");
            failed()
        }
    }
}

fn failed() -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "Could not export; try again.",
    )
        .into_response()
}
