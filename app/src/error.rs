//! The error every portal server function returns, so forms can show a precise message.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum PortalError {
    /// Something the person can fix, worded for them.
    #[error("{0}")]
    Invalid(String),
    #[error("Please log in.")]
    NotLoggedIn,
    #[error("Something went wrong on our side. Please try again.")]
    Internal,
    #[error("The request could not be completed: {0}")]
    ServerFn(ServerFnErrorErr),
}

impl FromServerFnError for PortalError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        PortalError::ServerFn(value)
    }
}

#[cfg(feature = "ssr")]
impl From<gateway::accounts::AccountError> for PortalError {
    fn from(err: gateway::accounts::AccountError) -> Self {
        use gateway::accounts::AccountError::*;
        match err {
            Crypto(_) | Database(_) => {
                tracing::error!(error = %err, "portal operation failed");
                PortalError::Internal
            }
            other => PortalError::Invalid(other.to_string()),
        }
    }
}

#[cfg(feature = "ssr")]
impl From<gateway::sea_orm::DbErr> for PortalError {
    fn from(err: gateway::sea_orm::DbErr) -> Self {
        tracing::error!(error = %err, "portal database query failed");
        PortalError::Internal
    }
}
