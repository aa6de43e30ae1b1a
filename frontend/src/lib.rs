//! Hydrates the server-rendered portal in the browser, when the page is of this build.

use leptos::prelude::document;

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    let found = document()
        .query_selector(&format!("meta[name=\"{}\"]", app::BUILD_META))
        .ok()
        .flatten()
        .and_then(|meta| meta.get_attribute("content"));
    if app::other_build(found.as_deref()) {
        // Hydrating a page rendered by other code fails in ways nobody can read: say it once,
        // plainly, and leave the server-rendered page as it is (links and forms still work).
        say_other_build(found.as_deref());
        return;
    }
    leptos::mount::hydrate_body(app::App);
}

fn say_other_build(found: Option<&str>) {
    leptos::logging::error!(
        "LLM Gateway: the page is of build {:?}, this script of build {}; not hydrating",
        found,
        app::BUILD_ID
    );
    let document = document();
    let (Some(body), Ok(notice)) = (document.body(), document.create_element("p")) else {
        return;
    };
    notice.set_class_name("form-error build-mismatch");
    let _ = notice.set_attribute("role", "alert");
    let _ = notice.set_attribute("data-testid", "build-mismatch");
    notice.set_text_content(Some(
        "This page's script is from another build of LLM Gateway than the server: reload the page. \
         If this stays, the server's site files (LEPTOS_SITE_ROOT) are not the ones built with its \
         binary. — El script de esta página es de otra versión de LLM Gateway que el servidor: \
         recargue la página.",
    ));
    let _ = body.prepend_with_node_1(&notice);
}
