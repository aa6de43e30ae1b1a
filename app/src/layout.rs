//! The frame around every logged-in page.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::auth::LogOut;
use crate::error::PortalError;

#[component]
pub fn PortalPage(title: &'static str, children: Children) -> impl IntoView {
    let log_out = ServerAction::<LogOut>::new();
    view! {
        <header class="topbar">
            <span class="brand">"LLM Gateway"</span>
            <nav>
                <A href="/">"Dashboard"</A>
                <A href="/analytics">"Analytics"</A>
                <A href="/keys">"Keys"</A>
                <A href="/providers">"Providers"</A>
                <A href="/routing">"Routing"</A>
                <A href="/billing">"Plan"</A>
            </nav>
            <ActionForm action=log_out attr:class="logout">
                <button type="submit" class="link">"Log out"</button>
            </ActionForm>
        </header>
        <main class="page">
            <h1>{title}</h1>
            {children()}
        </main>
    }
}

/// How a failed load shows on a page; a lapsed session gets a way back in.
pub fn error_view(err: PortalError) -> AnyView {
    match err {
        PortalError::NotLoggedIn => view! {
            <p class="form-error" role="alert">
                "Your session has ended. " <a href="/login">"Log in again"</a>
            </p>
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
