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

impl PortalError {
    /// The HTTP status a server function answers with this error: the caller's mistakes are 4xx
    /// (a refused form is not a fault, and no alert on 5xx should page on a typo); 500 only for
    /// faults.
    pub fn status(&self) -> u16 {
        match self {
            PortalError::Refused(problem) => problem.status(),
            PortalError::NotLoggedIn => 401,
            PortalError::Internal => 500,
            PortalError::ServerFn(
                ServerFnErrorErr::Args(_)
                | ServerFnErrorErr::MissingArg(_)
                | ServerFnErrorErr::Deserialization(_)
                | ServerFnErrorErr::UnsupportedRequestMethod(_),
            ) => 400,
            PortalError::ServerFn(_) => 500,
        }
    }
}

impl FromServerFnError for PortalError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        PortalError::ServerFn(value)
    }

    /// The error's body, as the default writes it; on the server the answer's status is set to
    /// [`PortalError::status`] too (server_fn would send 500 for every error). A form posted
    /// without JavaScript keeps leptos_axum's redirect back to its page.
    fn ser(&self) -> leptos::server_fn::Bytes {
        #[cfg(feature = "ssr")]
        ssr::set_status(self.status());
        <JsonEncoding as leptos::server_fn::Encodes<Self>>::encode(self)
            .unwrap_or_else(|_| leptos::server_fn::Bytes::from_static(br#""Internal""#))
    }
}

#[cfg(feature = "ssr")]
pub use ssr::posted_without_script;

#[cfg(feature = "ssr")]
mod ssr {
    use leptos::prelude::use_context;

    /// Whether the server function being answered was called by a form posted without the
    /// page's script (JavaScript off, or the WASM not loaded): the browser asked for a page, not
    /// JSON, and leptos_axum answers with a redirect back to it instead of the function's value.
    pub fn posted_without_script() -> bool {
        use_context::<axum::http::request::Parts>().is_some_and(|parts| {
            parts
                .headers
                .get(axum::http::header::ACCEPT)
                .and_then(|accept| accept.to_str().ok())
                .is_some_and(|accept| accept.contains("text/html"))
        })
    }

    /// Sets the status of the server function's answer being written, unless the request is a
    /// plain HTML form post (answered with a redirect to its page).
    pub(super) fn set_status(status: u16) {
        if posted_without_script() {
            return;
        }
        if let (Some(options), Ok(status)) = (
            use_context::<leptos_axum::ResponseOptions>(),
            axum::http::StatusCode::from_u16(status),
        ) {
            options.set_status(status);
        }
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
