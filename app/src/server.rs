//! Server-only helpers shared by the portal's server functions.

use gateway::state::GatewayState;
use leptos::prelude::use_context;
use tower_sessions::Session;

use crate::error::PortalError;

/// Session entry holding the logged-in account's id.
pub const ACCOUNT_ID: &str = "account_id";

pub fn state() -> Result<GatewayState, PortalError> {
    use_context::<GatewayState>().ok_or_else(|| {
        tracing::error!("GatewayState missing from the Leptos context");
        PortalError::Internal
    })
}

pub async fn session() -> Result<Session, PortalError> {
    leptos_axum::extract::<Session>().await.map_err(|err| {
        tracing::error!(error = %err, "no session layer in front of the portal");
        PortalError::Internal
    })
}

/// The logged-in account, or `NotLoggedIn`.
pub async fn require_account() -> Result<i32, PortalError> {
    let session = session().await?;
    match session.get::<i32>(ACCOUNT_ID).await {
        Ok(Some(account_id)) => Ok(account_id),
        Ok(None) => Err(PortalError::NotLoggedIn),
        Err(err) => {
            tracing::error!(error = %err, "session store failed");
            Err(PortalError::Internal)
        }
    }
}

/// Starts a logged-in session under a fresh id (no session fixation).
pub async fn log_in(account_id: i32) -> Result<(), PortalError> {
    let session = session().await?;
    let stored = async {
        session.cycle_id().await?;
        session.insert(ACCOUNT_ID, account_id).await
    };
    stored.await.map_err(|err| {
        tracing::error!(error = %err, "could not store the session");
        PortalError::Internal
    })
}
