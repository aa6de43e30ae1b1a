//! The frame around every logged-in page.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::auth::LogOut;
use crate::i18n::{t, use_i18n};
use crate::language::LanguageSwitch;

/// `title`: the page's name in the reader's language (`move || t_string!(i18n, key)`), shown as
/// its heading and in the browser's tab.
#[component]
pub fn PortalPage<F, S>(title: F, children: Children) -> impl IntoView
where
    F: Fn() -> S + Clone + Send + Sync + 'static,
    S: std::fmt::Display + 'static,
{
    let log_out = ServerAction::<LogOut>::new();
    let i18n = use_i18n();
    let heading = title.clone();
    view! {
        <Title text=move || format!("{} · LLM Gateway", title())/>
        <header class="topbar">
            <span class="brand">"LLM Gateway"</span>
            <nav>
                <A href="/">{t!(i18n, nav_dashboard)}</A>
                <A href="/analytics">{t!(i18n, nav_analytics)}</A>
                <A href="/requests">{t!(i18n, nav_requests)}</A>
                <A href="/keys">{t!(i18n, nav_keys)}</A>
                <A href="/providers">{t!(i18n, nav_providers)}</A>
                <A href="/routing">{t!(i18n, nav_routing)}</A>
                <A href="/members">{t!(i18n, nav_members)}</A>
                <A href="/billing">{t!(i18n, nav_plan)}</A>
            </nav>
            <LanguageSwitch/>
            <ActionForm action=log_out attr:class="logout">
                <button type="submit" class="link">{t!(i18n, log_out)}</button>
            </ActionForm>
        </header>
        <main class="page">
            <h1>{move || heading().to_string()}</h1>
            {children()}
        </main>
    }
}
