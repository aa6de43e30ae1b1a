//! The language switch in the header: English or Spanish, remembered in a cookie (leptos_i18n's)
//! so the next visit, and the server's rendering of it, speak the same language.

use leptos::prelude::*;

use crate::i18n::{Locale, t_string, use_i18n};

#[component]
pub fn LanguageSwitch() -> impl IntoView {
    let i18n = use_i18n();
    let choose = move |locale: Locale| move |_| i18n.set_locale(locale);
    view! {
        <div class="language" role="group" aria-label=move || t_string!(i18n, language).to_string() data-testid="language">
            <button type="button" class="link" on:click=choose(Locale::en)
                aria-pressed=move || (i18n.get_locale() == Locale::en).to_string()>"English"</button>
            " · "
            <button type="button" class="link" on:click=choose(Locale::es)
                aria-pressed=move || (i18n.get_locale() == Locale::es).to_string()>"Español"</button>
        </div>
    }
}
