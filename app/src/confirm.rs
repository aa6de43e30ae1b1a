//! Destructive buttons ask first: the browser's own confirmation, naming what stops working.

use leptos::prelude::*;

/// A click handler for a button that destroys something: the form is sent only if the person
/// confirms `message` (the page without JavaScript sends it at once, as a plain form).
pub fn confirm_first(
    message: impl Fn() -> String + 'static,
) -> impl FnMut(leptos::ev::MouseEvent) + 'static {
    confirm_if(move || Some(message()))
}

/// As [`confirm_first`], asking only when `question` has something to ask at the moment of the
/// click (saving a provider asks only when it would replace a key in use).
pub fn confirm_if(
    question: impl Fn() -> Option<String> + 'static,
) -> impl FnMut(leptos::ev::MouseEvent) + 'static {
    move |event| {
        let Some(message) = question() else {
            return;
        };
        let confirmed = window().confirm_with_message(&message).unwrap_or(false);
        if !confirmed {
            event.prevent_default();
        }
    }
}
