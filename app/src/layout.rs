//! The frame around every logged-in page.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::auth::LogOut;
use crate::i18n::{t, use_i18n};
use crate::language::LanguageSwitch;

/// `title`: a text, or a translation (`t!(i18n, key)`).
#[component]
pub fn PortalPage<T: IntoView + 'static>(title: T, children: Children) -> impl IntoView {
    let log_out = ServerAction::<LogOut>::new();
    let i18n = use_i18n();
    view! {
        <header class="topbar">
            <span class="brand">"LLM Gateway"</span>
            <nav>
                <A href="/">{t!(i18n, nav_dashboard)}</A>
                <A href="/analytics">{t!(i18n, nav_analytics)}</A>
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
            <h1>{title}</h1>
            {children()}
        </main>
    }
}
