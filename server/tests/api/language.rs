//! Every portal page in Spanish and in English: no text of the other language leaks onto a page,
//! judged against the locale files themselves, so a text added in one language only fails here.

use crate::helpers::{Backend, PASSWORD, spawn_app};
use crate::portal::Browser;

const ENGLISH: &str = include_str!("../../../app/locales/en.json");
const SPANISH: &str = include_str!("../../../app/locales/es.json");

/// Every text of a locale file by its dotted key (`errors.link_used`).
fn texts(json: &str) -> std::collections::BTreeMap<String, String> {
    fn walk(
        prefix: &str,
        value: &serde_json::Value,
        out: &mut std::collections::BTreeMap<String, String>,
    ) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, value) in map {
                    let key = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    walk(&key, value, out);
                }
            }
            serde_json::Value::String(text) => {
                out.insert(prefix.to_owned(), text.clone());
            }
            other => panic!("{prefix}: unexpected {other}"),
        }
    }
    let mut out = Default::default();
    walk("", &serde_json::from_str(json).unwrap(), &mut out);
    out
}

/// The pieces of a text between its `{{ placeholders }}` that are long enough to be telling.
fn telling_pieces(text: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut rest = text;
    loop {
        let (piece, after) = match rest.split_once("{{") {
            Some((piece, after)) => (piece, after.split_once("}}").map_or("", |(_, a)| a)),
            None => (rest, ""),
        };
        let piece = piece.trim();
        // Text is HTML-escaped on the page; pieces with escaped characters are left out.
        if piece.chars().count() >= 12 && !piece.contains(['&', '<', '>', '"']) {
            pieces.push(piece.to_owned());
        }
        if after.is_empty() {
            return pieces;
        }
        rest = after;
    }
}

#[test]
fn the_locale_files_have_the_same_keys_and_translate_them() {
    let english = texts(ENGLISH);
    let spanish = texts(SPANISH);
    assert_eq!(
        english.keys().collect::<Vec<_>>(),
        spanish.keys().collect::<Vec<_>>(),
        "en.json and es.json must have the same keys"
    );
    // Words the two languages share.
    let same_in_both = [
        "analytics.series_tokens",
        "nav_plan",
        "analytics.tokens",
        "billing.col_streaming",
        "billing.no",
        "log.no",
        "billing.plan",
        "limits.col_tpm",
    ];
    for (key, text) in &english {
        if !same_in_both.contains(&key.as_str()) {
            assert_ne!(text, &spanish[key], "{key} is not translated");
        }
    }
}

/// Signs up, then reads every page in `language`; returns (path, HTML) pairs.
async fn every_page(language: &'static str) -> Vec<(&'static str, String)> {
    let app = spawn_app(Backend::Sqlite).await;
    let email = "ana@example.com";
    // A key and a provider (at its default URL), so the tables have rows to show.
    app.tenant(email).await;
    let mut browser = Browser::new(&app);
    browser.language = Some(language);
    let mut pages = Vec::new();
    // Before logging in: the pages a visitor sees.
    for path in [
        "/login",
        "/signup",
        "/forgot",
        "/reset?token=x",
        "/verify?token=x",
        "/no-such-page",
    ] {
        pages.push((path, browser.get(path).await.text().await.unwrap()));
    }
    let logged_in = browser
        .post_form("log_in", &[("email", email), ("password", PASSWORD)])
        .await;
    assert!(
        logged_in.status().is_success() || logged_in.status().is_redirection(),
        "{}",
        logged_in.status()
    );
    for path in [
        "/",
        "/analytics",
        "/requests",
        "/keys",
        "/providers",
        "/routing",
        "/members",
        "/billing",
        "/billing/success",
        "/billing/cancel",
    ] {
        let response = browser.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        pages.push((path, response.text().await.unwrap()));
    }
    pages
}

/// No page in one language shows a text of the other, and each shows its own; returns the pages.
async fn pages_speak_only(
    language: &'static str,
    own: &str,
    other: &str,
) -> Vec<(&'static str, String)> {
    let own = texts(own);
    let other = texts(other);
    let pages = every_page(language).await;
    for (path, html) in &pages {
        for (key, text) in &other {
            if own[key] == *text {
                continue;
            }
            for piece in telling_pieces(text) {
                assert!(
                    !html.contains(&piece),
                    "{path} in {language} shows “{piece}” ({key})"
                );
            }
        }
        let shown = own
            .values()
            .flat_map(|text| telling_pieces(text))
            .filter(|piece| html.contains(piece))
            .count();
        assert!(
            shown >= 1,
            "{path} in {language} shows {shown} of its texts"
        );
    }
    pages
}

/// The providers page's cell for a provider at its default URL, a word too short for the check
/// above.
fn default_url_cell(pages: &[(&str, String)]) -> String {
    let (_, html) = pages
        .iter()
        .find(|(path, _)| *path == "/providers")
        .unwrap();
    let cell = &html[html
        .find(r#"data-testid="provider-base-url""#)
        .expect("a provider row")..];
    // Without the hydration markers (`<!>`) Leptos puts after dynamic text.
    cell[cell.find('>').unwrap() + 1..cell.find("</td>").unwrap()].replace("<!>", "")
}

#[tokio::test]
async fn every_page_is_in_spanish_for_a_spanish_browser() {
    let pages = pages_speak_only("es-ES,es;q=0.9", SPANISH, ENGLISH).await;
    assert_eq!(default_url_cell(&pages), "predeterminada");
}

#[tokio::test]
async fn every_page_is_in_english_for_an_english_browser() {
    let pages = pages_speak_only("en-GB,en;q=0.9", ENGLISH, SPANISH).await;
    assert_eq!(default_url_cell(&pages), "default");
}
