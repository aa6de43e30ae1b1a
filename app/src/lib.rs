//! The LLM Gateway portal: sign-up, log-in, gateway keys, provider keys, routing overrides and
//! the dashboard.
//! Server functions sit beside the pages that use them; their server-only half is behind
//! `#[cfg(feature = "ssr")]`.

pub mod analytics;
pub mod auth;
pub mod billing;
pub mod confirm;
pub mod dashboard;
pub mod email;
pub mod error;
pub mod format;
pub mod i18n;
pub mod keys;
pub mod language;
pub mod layout;
pub mod limits;
pub mod list;
pub mod live;
pub mod members;
pub mod problem;
pub mod providers;
pub mod requests;
pub mod routing;
pub mod savings;
#[cfg(feature = "ssr")]
pub mod server;
pub mod snippets;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Title, provide_meta_context};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{SsrMode, path};

/// The pages a visitor sees without a session. Every other page of [`App`] needs one: the server
/// sends anonymous visits to `/login`, so a page added to the router is protected unless it is
/// listed here.
pub const PUBLIC_PATHS: &[&str] = &[
    "/login", "/signup", "/verify", "/forgot", "/reset", "/invite",
];

/// This build of the portal (see build.rs): in the page the server renders, and compiled into
/// the WASM, which hydrates only a page of its own build.
pub const BUILD_ID: &str = include!(concat!(env!("OUT_DIR"), "/build_id.rs"));

/// The name of the page's `<meta>` that carries the server's [`BUILD_ID`].
pub const BUILD_META: &str = "llm-gateway-build";

/// Whether a page whose build meta says `found` came from another build than this code.
pub fn other_build(found: Option<&str>) -> bool {
    found != Some(BUILD_ID)
}

pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name=BUILD_META content=BUILD_ID/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                // Here, not in <App/>: its path names the build (the server's options), which
                // the browser's copy of the app does not know.
                <link rel="stylesheet" id="leptos" href=format!("/{}/llm-gateway.css", options.site_pkg_dir)/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Effects run only in the browser, once the page is hydrated: browser tests wait for this
    // mark before clicking, so they exercise the hydrated page and not a half-loaded one.
    Effect::new(|_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
    view! {
        <Title text="LLM Gateway"/>
        // The locale: the switch's cookie, else the browser's Accept-Language, else English.
        <i18n::I18nContextProvider>
        <Router>
            // Pages that read data render it in the HTML they send (`SsrMode::Async`): they read
            // without JavaScript, and a slow script does not show "Loading…".
            <Routes fallback=|| view! {
                <main class="auth not-found">
                    <h1>"404"</h1>
                    <p>{i18n::t!(i18n::use_i18n(), misc.not_found)}</p>
                    <a href="/">{i18n::t!(i18n::use_i18n(), nav_dashboard)}</a>
                </main>
            }>
                <Route path=path!("/") view=dashboard::DashboardPage ssr=SsrMode::Async/>
                <Route path=path!("/keys") view=keys::KeysPage ssr=SsrMode::Async/>
                <Route path=path!("/providers") view=providers::ProvidersPage ssr=SsrMode::Async/>
                <Route path=path!("/routing") view=routing::RoutingPage ssr=SsrMode::Async/>
                <Route path=path!("/analytics") view=analytics::AnalyticsPage ssr=SsrMode::Async/>
                <Route path=path!("/requests") view=requests::RequestsPage ssr=SsrMode::Async/>
                <Route path=path!("/billing") view=billing::BillingPage ssr=SsrMode::Async/>
                <Route path=path!("/billing/success") view=billing::BillingSuccessPage/>
                <Route path=path!("/billing/cancel") view=billing::BillingCancelPage/>
                <Route path=path!("/login") view=auth::LoginPage/>
                <Route path=path!("/signup") view=auth::SignupPage/>
                <Route path=path!("/verify") view=email::VerifyPage ssr=SsrMode::Async/>
                <Route path=path!("/forgot") view=email::ForgotPage/>
                <Route path=path!("/reset") view=email::ResetPage ssr=SsrMode::Async/>
                <Route path=path!("/members") view=members::MembersPage ssr=SsrMode::Async/>
                <Route path=path!("/invite") view=members::InvitePage ssr=SsrMode::Async/>
            </Routes>
        </Router>
        </i18n::I18nContextProvider>
    }
}

#[cfg(test)]
mod build_tests {
    use super::*;

    #[test]
    fn only_a_page_of_this_build_is_hydrated() {
        assert_eq!(BUILD_ID.len(), 16, "{BUILD_ID}");
        assert!(BUILD_ID.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(!other_build(Some(BUILD_ID)));
        assert!(other_build(Some("0000000000000000")));
        assert!(other_build(None), "a page without the mark is not ours");
    }
}
