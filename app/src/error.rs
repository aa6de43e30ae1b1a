//! The error every portal server function returns, so forms can show a precise message.

use leptos::prelude::*;
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

/// How a failed load shows on a page; a lapsed session gets a way back in.
pub fn error_view(err: PortalError) -> AnyView {
    match err {
        PortalError::NotLoggedIn => {
            let i18n = crate::i18n::use_i18n();
            view! {
                <p class="form-error" role="alert">
                    {crate::i18n::t!(i18n, session_ended)} " "
                    <a href="/login">{crate::i18n::t!(i18n, log_in_again)}</a>
                </p>
            }
        }
        .into_any(),
        other => view! { <p class="form-error" role="alert">{other.to_string()}</p> }.into_any(),
    }
}

/// The error of an action's last run, if it failed.
pub fn action_error<T, S>(value: S) -> impl IntoView
where
    S: Get<Value = Option<Result<T, PortalError>>> + Send + Sync + 'static,
    T: Send + Sync + 'static,
{
    move || value.get().and_then(Result::err).map(error_view)
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
