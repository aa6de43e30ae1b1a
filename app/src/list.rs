//! The skeleton every list in the portal shares: "Loading…" while the rows come, a sentence (or
//! nothing) when there are none, the table when there are, and the error when they could not be
//! read, so a page writes only its columns and its row.

use leptos::prelude::*;

use crate::error::{PortalError, error_view};
use crate::i18n::{t, use_i18n};

/// `rows` as a `<table class="list">`: `head` gives the header row's cells, `row` draws one
/// `<tr>`; with no rows, `empty` (nothing when not given).
#[component]
pub fn ListTable<T, R, V>(
    rows: Resource<Result<Vec<T>, PortalError>>,
    /// The header row's cells (`<th>`s).
    #[prop(into)]
    head: ViewFn,
    /// One row.
    row: R,
    /// What shows when there are no rows.
    #[prop(into, optional)]
    empty: ViewFn,
) -> impl IntoView
where
    T: Clone + Send + Sync + serde::Serialize + serde::de::DeserializeOwned + 'static,
    R: Fn(T) -> V + Clone + Send + Sync + 'static,
    V: IntoView + 'static,
{
    let i18n = use_i18n();
    view! {
        <Transition fallback=move || view! { <p>{t!(i18n, loading)}</p> }>
            {move || {
                let (head, row, empty) = (head.clone(), row.clone(), empty.clone());
                Suspend::new(async move {
                    match rows.await {
                        Ok(rows) if rows.is_empty() => empty.run(),
                        Ok(rows) => view! {
                            <table class="list">
                                <thead><tr>{head.run()}</tr></thead>
                                <tbody>{rows.into_iter().map(row).collect_view()}</tbody>
                            </table>
                        }
                        .into_any(),
                        Err(err) => error_view(err),
                    }
                })
            }}
        </Transition>
    }
}
