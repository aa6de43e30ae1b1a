//! Pages that update while open: a counter that moves every `period` in the browser (the server
//! renders the first answer), for a page's resources to depend on.

use std::time::Duration;

use leptos::prelude::*;

/// A signal that changes every `period` while the page is open; the timer stops with the page.
pub fn ticks(period: Duration) -> Signal<u32> {
    let tick = RwSignal::new(0_u32);
    let interval = StoredValue::new(None::<IntervalHandle>);
    Effect::new(move |_| {
        let handle = set_interval_with_handle(
            move || {
                tick.try_update(|tick| *tick += 1);
            },
            period,
        );
        interval.set_value(handle.ok());
    });
    on_cleanup(move || {
        if let Some(handle) = interval.try_get_value().flatten() {
            handle.clear();
        }
    });
    tick.into()
}
