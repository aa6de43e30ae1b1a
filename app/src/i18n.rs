//! `Locale`, `I18nContextProvider`, `use_i18n` and `t!`, generated from `app/locales`. Its own
//! module (not the crate root), so every page imports it from beside itself.
//!
//! The macro is deprecated in favour of a build script, whose generator (leptos_i18n_build) would
//! add ICU's data exporters to every fresh build; plain strings need none of it.

#[allow(deprecated)]
mod generated {
    leptos_i18n::load_locales!();
}
pub use generated::i18n::*;
