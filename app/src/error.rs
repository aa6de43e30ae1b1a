//! The error every portal server function returns, so forms can show a precise message.

use leptos::prelude::*;
use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

use crate::i18n::{t, use_i18n};
pub use crate::problem::Problem;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum PortalError {
    /// Something the person can fix; the browser words it in their language.
    #[error("{0:?}")]
    Refused(Problem),
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

/// How a failed load or action shows on a page; a lapsed session gets a way back in.
pub fn error_view(err: PortalError) -> AnyView {
    let i18n = use_i18n();
    let message = match err {
        PortalError::NotLoggedIn => {
            return view! {
                <p class="form-error" role="alert">
                    {t!(i18n, session_ended)} " "
                    <a href="/login">{t!(i18n, log_in_again)}</a>
                </p>
            }
            .into_any();
        }
        PortalError::Refused(problem) => crate::problem::problem_view(problem),
        PortalError::Internal => t!(i18n, errors.internal).into_any(),
        PortalError::ServerFn(err) => {
            t!(i18n, errors.request_failed, detail = err.to_string()).into_any()
        }
    };
    view! { <p class="form-error" role="alert">{message}</p> }.into_any()
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
        match crate::problem::ssr::of_account_error(err) {
            Ok(problem) => PortalError::Refused(problem),
            Err(failure) => {
                tracing::error!(error = %failure, "portal operation failed");
                PortalError::Internal
            }
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
