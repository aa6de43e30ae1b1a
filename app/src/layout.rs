//! The frame around every logged-in page.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::auth::LogOut;

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
                <A href="/members">"Members"</A>
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
