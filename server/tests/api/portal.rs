//! The portal over HTTP: sessions, redirects, server functions, CSRF refusal.

use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::helpers::{Backend, OPENAI_KEY, PASSWORD, TestApp, spawn_app, spawn_app_with};

/// The portal speaks Spanish or English: the language switch's cookie first, then the browser's
/// Accept-Language; `/v1` errors stay in English, for programs.
#[tokio::test]
async fn the_portal_speaks_the_visitors_language() {
    let app = spawn_app(Backend::Sqlite).await;
    let page = |language: &'static str, cookie: Option<&'static str>| {
        let mut request = app
            .http
            .get(app.url("/login"))
            .header("accept-language", language);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        async move { request.send().await.unwrap().text().await.unwrap() }
    };
    let spanish = page("es-ES,es;q=0.9", None).await;
    assert!(
        spanish.contains("Inicia sesión en LLM Gateway"),
        "{spanish}"
    );
    assert!(spanish.contains("¿Olvidaste tu contraseña?"));
    let english = page("en-US,en;q=0.9", None).await;
    assert!(english.contains("Log in to LLM Gateway"));
    // The switch is remembered in a cookie, which wins over the browser's language.
    assert!(
        page("es", Some("i18n_pref_locale=en"))
            .await
            .contains("Log in to LLM Gateway")
    );
    assert!(
        page("en", Some("i18n_pref_locale=es"))
            .await
            .contains("Inicia sesión en LLM Gateway")
    );
    let api = app
        .http
        .get(app.url("/v1/models"))
        .header("accept-language", "es")
        .send()
        .await
        .unwrap();
    let error = crate::helpers::expect_openai_error(api, 401).await;
    assert!(
        error["message"].as_str().unwrap().contains("API key"),
        "{error}"
    );
}

crate::on_both_backends!(
    sign_up_log_out_log_in,
    form_errors_are_precise,
    cross_site_posts_are_refused,
    routing_overrides_from_the_portal,
    budgets_and_rate_limits_from_the_key_page,
    the_dashboard_shows_the_savings_by_day_and_by_key,
    the_session_store_keeps_ids_unique_and_forgets_expired_sessions,
    data_pages_carry_their_data_in_the_html,
);

/// A client that keeps the session cookie, as a browser would.
pub(crate) struct Browser<'a> {
    app: &'a TestApp,
    session: Mutex<Option<String>>,
    /// Sent as `Accept-Language` when set.
    pub language: Option<&'static str>,
}

impl<'a> Browser<'a> {
    pub(crate) fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            session: Mutex::new(None),
            language: None,
        }
    }

    fn with_cookie(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let request = match self.language {
            Some(language) => request.header("accept-language", language),
            None => request,
        };
        match self.session.lock().clone() {
            Some(cookie) => request.header("cookie", cookie),
            None => request,
        }
    }

    fn remember(&self, response: &reqwest::Response) {
        for set_cookie in response.headers().get_all("set-cookie") {
            let set_cookie = set_cookie.to_str().unwrap();
            let Some(pair) = set_cookie
                .split(';')
                .next()
                .filter(|pair| pair.starts_with("gw_session="))
            else {
                continue;
            };
            let removed = set_cookie.contains("Max-Age=0") || pair == "gw_session=";
            *self.session.lock() = (!removed).then(|| pair.to_owned());
        }
    }

    pub(crate) async fn get(&self, path: &str) -> reqwest::Response {
        let response = self
            .with_cookie(self.app.http.get(self.app.url(path)))
            .send()
            .await
            .unwrap();
        self.remember(&response);
        response
    }

    pub(crate) async fn post_form(
        &self,
        function: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        self.post(function, form, |request| request).await
    }

    /// A form posted as a browser without JavaScript posts it (from the Keys page): asking for a
    /// page back.
    pub(crate) async fn post_form_without_script(
        &self,
        function: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let referer = self.app.url("/keys");
        self.post(function, form, |request| {
            request
                .header("referer", referer)
                .header("accept", "text/html,application/xhtml+xml")
        })
        .await
    }

    async fn post(
        &self,
        function: &str,
        form: &[(&str, &str)],
        dress: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> reqwest::Response {
        let request = self
            .app
            .http
            .post(self.app.url(&format!("/api/{function}")))
            .header("origin", format!("http://{}", self.app.addr))
            .form(form);
        let response = self.with_cookie(dress(request)).send().await.unwrap();
        self.remember(&response);
        response
    }

    /// Signs up through the portal and follows the confirmation link, which logs in. This app
    /// has no SMTP (the link would be in the log), so a fresh link is made for the account here;
    /// the server's first account needs none (it is confirmed and logged in at once).
    pub(crate) async fn sign_up(&self, email: &str) -> gateway::entities::account::Model {
        let sent = self
            .post_form("sign_up", &[("email", email), ("password", PASSWORD)])
            .await;
        assert!(sent.status().is_success(), "{}", sent.status());
        let sent: serde_json::Value = sent.json().await.unwrap();
        let db = &self.app.state.db;
        let account = gateway::accounts::account_by_email(db, email)
            .await
            .unwrap();
        if sent["ready"] == true {
            return account;
        }
        let (_, token) = gateway::accounts::verification::renew_verification(db, account.id)
            .await
            .unwrap()
            .expect("a portal sign-up starts unconfirmed");
        let confirmed = self.post_form("confirm_email", &[("token", &token)]).await;
        assert!(confirmed.status().is_success(), "{}", confirmed.status());
        account
    }
}

/// Without JavaScript, Create key redirects back to the Keys page, which shows the secret once:
/// it waits in the session sealed under the master key (never in plain text at rest), is read
/// once, and works on /v1.
#[tokio::test]
async fn a_key_created_without_script_is_shown_once_by_the_page_it_returns_to() {
    let app = spawn_app(Backend::Sqlite).await;
    let browser = Browser::new(&app);
    let account = browser.sign_up("ada@example.com").await;
    app.add_openai(account.id, OPENAI_KEY).await;
    let posted = browser
        .post_form_without_script("create_key", &[("name", "plain form")])
        .await;
    assert!(posted.status().is_redirection(), "{}", posted.status());
    let back = posted.headers()["location"].to_str().unwrap().to_owned();
    assert!(back.starts_with(&app.url("/keys")), "{back}");
    let shown = take_new_key(&browser).await;
    let secret = shown["secret"].as_str().unwrap().to_owned();
    assert!(gateway::crypto::looks_like_gateway_key(&secret), "{shown}");
    assert_eq!(shown["name"], "plain form");
    assert_eq!(take_new_key(&browser).await, Value::Null, "once");
    let answered = app.chat(Some(&secret), &crate::helpers::hello()).await;
    assert_eq!(answered.status(), 200);
    // With the script the value comes back as the function's answer, and nothing waits.
    let with_script = browser
        .post_form("create_key", &[("name", "scripted")])
        .await;
    assert_eq!(with_script.status(), 200);
    assert_eq!(take_new_key(&browser).await, Value::Null);
}

/// What the Keys page is given back: the key created without the script, once.
async fn take_new_key(browser: &Browser<'_>) -> Value {
    let response = browser.post_form("take_new_key", &[]).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_sealed_key_never_rests_in_plain_text() {
    let app = spawn_app(Backend::Sqlite).await;
    let browser = Browser::new(&app);
    browser.sign_up("ada@example.com").await;
    browser
        .post_form_without_script("create_key", &[("name", "plain form")])
        .await;
    // The session records as stored, before the page has read the key.
    use gateway::sea_orm::EntityTrait as _;
    let records: Vec<String> = gateway::entities::portal_session::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .map(|session| session.record)
        .collect();
    assert!(
        records
            .iter()
            .any(|record| record.contains("new_key_flash")),
        "{records:?}"
    );
    let shown: Value = browser
        .post_form("take_new_key", &[])
        .await
        .json()
        .await
        .unwrap();
    let secret = shown["secret"].as_str().unwrap();
    for record in records {
        assert!(!record.contains(&secret[3..]), "plain text at rest");
    }
}

/// A self-hosted server without SMTP: the first account signed up through the portal is the
/// operator's, confirmed and logged in at once (its link could only reach them through the
/// log); every later one still follows its link.
#[tokio::test]
async fn without_smtp_the_first_account_needs_no_link_and_the_second_does() {
    let app = spawn_app(Backend::Sqlite).await;
    let first = Browser::new(&app);
    let signed_up = first
        .post_form(
            "sign_up",
            &[("email", "op@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(signed_up.status(), 200);
    assert!(signed_up.headers().get("set-cookie").is_some(), "a session");
    let sent: Value = signed_up.json().await.unwrap();
    assert_eq!(
        (sent["ready"].clone(), sent["to_log"].clone()),
        (json!(true), json!(true))
    );
    let account = gateway::accounts::account_by_email(&app.state.db, "op@example.com")
        .await
        .unwrap();
    assert!(account.email_verified_at.is_some());
    assert_eq!(first.get("/keys").await.status(), 200);
    let created = first.post_form("create_key", &[("name", "first")]).await;
    assert_eq!(created.status(), 200, "keys can be created at once");

    let second = Browser::new(&app);
    let signed_up = second
        .post_form(
            "sign_up",
            &[("email", "ada@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert!(signed_up.headers().get("set-cookie").is_none());
    let sent: Value = signed_up.json().await.unwrap();
    assert_eq!(sent["ready"], false);
    let account = gateway::accounts::account_by_email(&app.state.db, "ada@example.com")
        .await
        .unwrap();
    assert!(account.email_verified_at.is_none());
    assert_eq!(second.get("/keys").await.status(), 303);
}

/// Every page of the portal's router needs a session except the public ones listed in
/// `app::PUBLIC_PATHS`: the list of protected pages is the router's, so a new page cannot be left
/// public by forgetting a list. A path that is no page is a 404, not a redirect.
#[tokio::test]
async fn every_page_but_the_public_ones_needs_a_session() {
    let app = spawn_app(Backend::Sqlite).await;
    let browser = Browser::new(&app);
    let pages: Vec<String> = leptos_axum::generate_route_list(::app::App)
        .iter()
        .map(|route| route.path().to_owned())
        .collect();
    assert!(
        pages.len() >= 15 && pages.contains(&"/billing/success".to_owned()),
        "{pages:?}"
    );
    for page in &pages {
        let response = browser.get(page).await;
        if ::app::PUBLIC_PATHS.contains(&page.as_str()) {
            assert_eq!(response.status(), 200, "{page} is public");
        } else {
            assert_eq!(response.status(), 303, "{page} needs a session");
            assert_eq!(response.headers()["location"], "/login", "{page}");
        }
    }
    assert_eq!(browser.get("/no-such-page").await.status(), 404);
}

#[tokio::test]
async fn health_and_anonymous_redirects() {
    let app = spawn_app(Backend::Sqlite).await;
    let browser = Browser::new(&app);
    assert_eq!(browser.get("/healthz").await.status(), 200);
    let ready = browser.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    assert_eq!(
        ready.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"ready": true, "database": "ok", "migrations": "ok", "redis": "not configured"})
    );
    for page in ["/", "/keys", "/providers"] {
        let response = browser.get(page).await;
        assert_eq!(response.status(), 303, "{page}");
        assert_eq!(response.headers()["location"], "/login", "{page}");
    }
    let login = browser.get("/login").await;
    assert_eq!(login.status(), 200);
    let html = login.text().await.unwrap();
    assert!(html.contains("Log in to LLM Gateway"));
    assert!(
        html.contains("/llm-gateway.js") && html.contains("\"llm-gateway\", false"),
        "the page loads the WASM build"
    );
    // The build the page is of: the WASM hydrates only a page of its own build.
    assert!(
        html.contains(&format!(
            "<meta name=\"llm-gateway-build\" content=\"{}\"",
            ::app::BUILD_ID
        )),
        "{html}"
    );
}

/// Pages and the site's files go out compressed when the browser asks (the release WASM is
/// megabytes, compressed once by the build); pages hold the account's data and are never
/// stored; the site's files are linked under their digest and kept for good, and revalidated
/// under their plain names; the favicon is served; an unknown page is a 404 page.
#[tokio::test]
async fn the_portal_is_compressed_and_says_how_long_to_keep_things() {
    let site = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(site.path().join("pkg")).unwrap();
    let css = "body { color: black; }\n".repeat(200);
    std::fs::write(site.path().join("pkg/llm-gateway.css"), &css).unwrap();
    let wasm_bytes = b"\0asm\x01\0\0\0".repeat(500);
    std::fs::write(site.path().join("pkg/llm-gateway.wasm"), &wasm_bytes).unwrap();
    std::fs::write(
        site.path().join("pkg/llm-gateway.wasm.br"),
        "precompressed brotli",
    )
    .unwrap();
    std::fs::write(
        site.path().join("pkg/llm-gateway.wasm.gz"),
        "precompressed gzip",
    )
    .unwrap();
    const DIGEST: &str = "0123456789abcdef";
    std::fs::write(site.path().join("pkg/hash.txt"), format!("{DIGEST}\n")).unwrap();
    std::fs::write(
        site.path().join("favicon.svg"),
        "<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
    )
    .unwrap();
    let root = site.path().to_str().unwrap().to_owned();
    let app = spawn_app_with(Backend::Sqlite, |config| config.leptos_site_root = root).await;
    let get = |path: &'static str, encoding: &'static str| {
        let request = app
            .http
            .get(app.url(path))
            .header("accept-encoding", encoding);
        async move { request.send().await.unwrap() }
    };

    let page = get("/login", "br").await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-encoding"], "br");
    assert_eq!(page.headers()["cache-control"], "no-store");
    let plain = get("/login", "identity").await;
    assert!(plain.headers().get("content-encoding").is_none());
    let html = plain.text().await.unwrap();
    assert!(html.contains("/favicon.svg"));
    // The page links this build's files under their digest, the stylesheet too.
    for file in ["llm-gateway.css", "llm-gateway.js", "llm-gateway.wasm"] {
        assert!(
            html.contains(&format!("/pkg/{DIGEST}/{file}")),
            "{file}: {html}"
        );
    }
    assert!(!html.contains("\"/pkg/llm-gateway"), "{html}");

    // Under the digest: the same files, compressed alike, kept for good.
    let kept = get("/pkg/0123456789abcdef/llm-gateway.wasm", "br").await;
    assert_eq!(kept.status(), 200);
    assert_eq!(kept.headers()["content-encoding"], "br");
    assert_eq!(kept.headers()["content-type"], "application/wasm");
    assert_eq!(
        kept.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(kept.headers()["vary"], "accept-encoding");
    assert_eq!(kept.bytes().await.unwrap(), &b"precompressed brotli"[..]);
    // What is not there is not kept: neither a missing file nor another build's digest.
    for missing in [
        "/pkg/0123456789abcdef/nothing.js",
        "/pkg/fedcba9876543210/llm-gateway.wasm",
    ] {
        let response = get(missing, "identity").await;
        assert_eq!(response.status(), 404, "{missing}");
        assert_ne!(
            response.headers()["cache-control"],
            "public, max-age=31536000, immutable",
            "{missing}"
        );
    }

    let style = get("/pkg/llm-gateway.css", "gzip").await;
    assert_eq!(style.status(), 200);
    assert_eq!(style.headers()["content-encoding"], "gzip");
    assert_eq!(style.headers()["cache-control"], "no-cache");
    assert!(style.headers().contains_key("last-modified"));
    let compressed = style.bytes().await.unwrap().len();
    assert!(compressed * 10 < css.len(), "{compressed} of {}", css.len());

    // The WASM goes out as scripts/build.sh compressed it once (these bytes stand for its
    // brotli file: the server must send them as they are, not compress the WASM per request).
    let wasm = get("/pkg/llm-gateway.wasm", "gzip, deflate, br").await;
    assert_eq!(wasm.status(), 200);
    assert_eq!(wasm.headers()["content-encoding"], "br");
    assert_eq!(wasm.headers()["content-type"], "application/wasm");
    assert_eq!(wasm.headers()["cache-control"], "no-cache");
    assert_eq!(wasm.headers()["vary"], "accept-encoding");
    let last_modified = wasm.headers()["last-modified"].clone();
    assert_eq!(wasm.bytes().await.unwrap(), &b"precompressed brotli"[..]);
    let gzipped = get("/pkg/llm-gateway.wasm", "gzip").await;
    assert_eq!(gzipped.headers()["content-encoding"], "gzip");
    assert_eq!(gzipped.bytes().await.unwrap(), &b"precompressed gzip"[..]);
    let raw = get("/pkg/llm-gateway.wasm", "identity").await;
    assert!(raw.headers().get("content-encoding").is_none());
    assert_eq!(raw.bytes().await.unwrap(), &wasm_bytes[..]);
    // A browser that has it asks again with the date it was sent: one round trip, no body.
    let again = app
        .http
        .get(app.url("/pkg/llm-gateway.wasm"))
        .header("accept-encoding", "br")
        .header("if-modified-since", last_modified)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);

    let icon = get("/favicon.svg", "identity").await;
    assert_eq!(icon.status(), 200);
    assert_eq!(icon.headers()["cache-control"], "no-cache");

    let missing = get("/no-such-page", "identity").await;
    assert_eq!(missing.status(), 404);
    assert!(missing.text().await.unwrap().contains("href=\"/\""));
}

async fn sign_up_log_out_log_in(backend: Backend) {
    let app = spawn_app(backend).await;
    // Not the server's first account (that one needs no link without SMTP: see below).
    app.create_account("operator@example.com").await;
    let browser = Browser::new(&app);
    // Signing up opens no session: the link e-mailed to the address does.
    let signed_up = browser
        .post_form(
            "sign_up",
            &[("email", "Ada@Example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(signed_up.status(), 200);
    assert!(signed_up.headers().get("set-cookie").is_none());
    let sent = signed_up.text().await.unwrap();
    assert!(
        sent.contains("ada@example.com") && sent.contains("\"to_log\":true"),
        "{sent}"
    );
    assert_eq!(browser.get("/keys").await.status(), 303);
    // The right password before the link is followed is answered like a wrong one.
    let early = browser
        .post_form(
            "log_in",
            &[("email", "ada@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert!(early.text().await.unwrap().contains("WrongCredentials"));
    assert_eq!(browser.get("/keys").await.status(), 303);

    let account = gateway::accounts::account_by_email(&app.state.db, "ada@example.com")
        .await
        .unwrap();
    let (_, token) = gateway::accounts::verification::renew_verification(&app.state.db, account.id)
        .await
        .unwrap()
        .expect("a portal sign-up starts unconfirmed");
    let confirmed = browser
        .post_form("confirm_email", &[("token", &token)])
        .await;
    assert_eq!(confirmed.status(), 200);
    let cookie = confirmed
        .headers()
        .get("set-cookie")
        .expect("following the link logs in")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("gw_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "plain HTTP: no Secure flag ({cookie})"
    );

    let dashboard = browser.get("/").await;
    assert_eq!(dashboard.status(), 200);
    assert!(dashboard.text().await.unwrap().contains("Dashboard"));

    browser.post_form("log_out", &[]).await;
    assert_eq!(browser.get("/keys").await.status(), 303);

    let wrong = browser
        .post_form(
            "log_in",
            &[
                ("email", "ada@example.com"),
                ("password", "not the password"),
            ],
        )
        .await;
    assert!(wrong.text().await.unwrap().contains("WrongCredentials"));
    assert_eq!(browser.get("/keys").await.status(), 303);

    browser
        .post_form(
            "log_in",
            &[("email", "ada@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(browser.get("/keys").await.status(), 200);

    // Server functions act for the logged-in account only.
    let created = browser.post_form("create_key", &[("name", "ci")]).await;
    assert!(created.status().is_success() || created.status().is_redirection());
    let keys = gateway::accounts::list_gateway_keys(&app.state.db, account.id)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].name, "ci");
}

async fn form_errors_are_precise(backend: Backend) {
    let app = spawn_app(backend).await;
    let browser = Browser::new(&app);
    let weak = browser
        .post_form(
            "sign_up",
            &[("email", "ada@example.com"), ("password", "short")],
        )
        .await;
    // A refusal is the caller's to fix: a 4xx (an alert on 5xx must not page on a typo).
    assert_eq!(weak.status(), 400);
    assert!(weak.text().await.unwrap().contains("PasswordTooShort"));
    let bad_email = browser
        .post_form(
            "sign_up",
            &[("email", "not-an-email"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(bad_email.status(), 400);
    assert!(bad_email.text().await.unwrap().contains("InvalidEmail"));
    browser
        .post_form(
            "sign_up",
            &[("email", "ada@example.com"), ("password", PASSWORD)],
        )
        .await;

    // A second sign-up for the address is answered as the first (see the e-mail tests).
    let other = Browser::new(&app);
    let duplicate = other
        .post_form(
            "sign_up",
            &[("email", "ADA@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(duplicate.status(), 200);
    // Not logged in: server functions refuse.
    let anonymous = other.post_form("list_keys", &[]).await;
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.text().await.unwrap().contains("NotLoggedIn"));

    // Logged in: a wrong password, a limit out of range, a form missing its fields.
    let owner = Browser::new(&app);
    owner.sign_up("grace@example.com").await;
    let wrong = other
        .post_form(
            "log_in",
            &[
                ("email", "grace@example.com"),
                ("password", "not the password"),
            ],
        )
        .await;
    assert_eq!(wrong.status(), 401);
    assert!(wrong.text().await.unwrap().contains("WrongCredentials"));
    let limits = |budget: &'static str| {
        [
            ("scope", "account"),
            ("budget_usd", budget),
            ("alert_at_percent", ""),
            ("requests_per_minute", ""),
            ("tokens_per_minute", ""),
        ]
    };
    let negative = owner.post_form("set_limits", &limits("-1")).await;
    assert_eq!(negative.status(), 400);
    assert!(negative.text().await.unwrap().contains("BudgetRange"));
    let not_a_number = owner.post_form("set_limits", &limits("ten")).await;
    assert_eq!(not_a_number.status(), 400);
    let missing = owner.post_form("set_limits", &[("scope", "account")]).await;
    assert_eq!(missing.status(), 400, "{}", missing.text().await.unwrap());
    assert_eq!(
        owner.post_form("set_limits", &limits("25")).await.status(),
        200
    );

    // A form posted without JavaScript is still sent back to its page.
    let plain = app
        .http
        .post(app.url("/api/log_in"))
        .header("origin", format!("http://{}", app.addr))
        .header("accept", "text/html")
        .header("referer", app.url("/login"))
        .form(&[
            ("email", "grace@example.com"),
            ("password", "not the password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 302);
}

async fn cross_site_posts_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let forged = app
        .http
        .post(app.url("/api/sign_up"))
        .header("origin", "http://evil.example")
        .form(&[("email", "ada@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let fetch_metadata = app
        .http
        .post(app.url("/api/sign_up"))
        .header("sec-fetch-site", "cross-site")
        .form(&[("email", "ada@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(fetch_metadata.status(), 403);
    assert!(
        gateway::accounts::find_account(&app.state.db, "ada@example.com")
            .await
            .unwrap()
            .is_none()
    );
}

/// A portal user signed up in `browser` with a key and the fake OpenAI, and another tenant.
struct Scene {
    account: gateway::entities::account::Model,
    key: String,
    key_id: i32,
    stranger: crate::helpers::Tenant,
    stranger_key_id: i32,
}

async fn scene(app: &TestApp, browser: &Browser<'_>, email: &str, stranger: &str) -> Scene {
    let account = browser.sign_up(email).await;
    let db = &app.state.db;
    app.add_openai(account.id, OPENAI_KEY).await;
    let key = app.create_key(account.id).await;
    let key_id = gateway::accounts::find_key_by_prefix(db, account.id, &key)
        .await
        .unwrap()
        .id;
    let stranger = app.tenant(stranger).await;
    let stranger_key_id =
        gateway::accounts::find_key_by_prefix(db, stranger.account_id, &stranger.key)
            .await
            .unwrap()
            .id;
    Scene {
        account,
        key,
        key_id,
        stranger,
        stranger_key_id,
    }
}

/// The key page's limits form: saved for a key, applied by `/v1` at once; bad input and other
/// tenants' keys refused.
async fn budgets_and_rate_limits_from_the_key_page(backend: Backend) {
    let app = spawn_app(backend).await;
    let browser = Browser::new(&app);
    let Scene {
        account,
        key,
        key_id,
        stranger,
        stranger_key_id,
    } = scene(&app, &browser, "lin@example.com", "mallory@example.com").await;
    let set = |scope: String, budget: &'static str, rpm: &'static str| {
        let browser = &browser;
        async move {
            let form = [
                ("scope", scope.as_str()),
                ("budget_usd", budget),
                ("alert_at_percent", ""),
                ("requests_per_minute", rpm),
                ("tokens_per_minute", ""),
            ];
            browser.post_form("set_limits", &form).await
        }
    };

    let saved = set(format!("key:{key_id}"), "12.50", "1").await;
    assert!(
        saved.status().is_success(),
        "{}",
        saved.text().await.unwrap()
    );
    let stored = gateway::accounts::account_limits(&app.state.db, account.id)
        .await
        .unwrap();
    let limits = &stored.keys[&key_id];
    assert_eq!(limits.monthly_budget_usd, Some(12.5));
    assert_eq!(limits.requests_per_minute, Some(1));
    // The proxy applies it at once.
    let first = app.chat(Some(&key), &crate::helpers::hello()).await;
    assert_eq!(first.headers()["x-ratelimit-limit-requests"], "1");
    let page = browser.get("/keys").await.text().await.unwrap();
    assert!(
        page.contains("Budgets and rate limits") && page.contains("12.5"),
        "{page}"
    );

    let invalid = set("account".into(), "twelve", "").await;
    assert!(
        invalid
            .text()
            .await
            .unwrap()
            .contains(r#""NotANumber":{"field":"budget"}"#)
    );
    let negative = set("account".into(), "-3", "").await;
    assert!(negative.text().await.unwrap().contains("BudgetRange"));
    // Another tenant's key is not found, and stays as it was.
    let foreign = set(format!("key:{stranger_key_id}"), "1", "1").await;
    assert!(foreign.text().await.unwrap().contains("KeyNotFound"));
    let theirs = gateway::accounts::account_limits(&app.state.db, stranger.account_id)
        .await
        .unwrap();
    assert!(theirs.keys.is_empty());
}

/// The overrides page's server functions: save for the account and for a key, refuse bad input
/// and other tenants' keys, preview; `/v1` follows at once.
async fn routing_overrides_from_the_portal(backend: Backend) {
    let app = spawn_app(backend).await;
    let browser = Browser::new(&app);
    let Scene {
        account,
        key,
        key_id,
        stranger,
        stranger_key_id,
    } = scene(&app, &browser, "ada@example.com", "eve@example.com").await;

    let form = |scope: &str, min_tier: &str, threshold: &str| {
        let fields = [
            "auto_routing",
            "cache",
            "forced_model",
            "max_tier",
            "providers",
            "rule_tools",
            "rule_images",
            "rule_json",
            "long_prompt_tokens",
            "rule_long_prompt",
        ];
        let mut pairs: Vec<(String, String)> = fields
            .iter()
            .map(|f| (f.to_string(), String::new()))
            .collect();
        pairs.push(("scope".into(), scope.into()));
        pairs.push(("min_tier".into(), min_tier.into()));
        pairs.push(("threshold".into(), threshold.into()));
        pairs
    };
    let post = |pairs: Vec<(String, String)>| {
        let browser = &browser;
        async move {
            let borrowed: Vec<(&str, &str)> = pairs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            browser
                .post_form("save_routing", &borrowed)
                .await
                .text()
                .await
                .unwrap()
        }
    };

    let page = browser.get("/routing").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Save routing")
            && html.contains("Preview route")
            && html.contains(&format!("key:{key_id}")),
        "{html}"
    );

    post(form("account", "strong", "")).await;
    let stored = gateway::accounts::routing_policies(&app.state.db, account.id)
        .await
        .unwrap();
    assert_eq!(
        stored.account.min_tier,
        Some(gateway::catalog::Tier::Strong)
    );
    let routed = app
        .chat(
            Some(&key),
            &serde_json::json!({"model": "auto", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(routed.headers()["x-gateway-tier"], "strong");

    // The key's own setting wins over the account's.
    post(form(&format!("key:{key_id}"), "cheap", "")).await;
    let routed = app
        .chat(
            Some(&key),
            &serde_json::json!({"model": "auto", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(routed.headers()["x-gateway-tier"], "cheap");
    let preview = browser
        .post_form(
            "preview_route",
            &[("scope", &format!("key:{key_id}")), ("sample", "hi")],
        )
        .await;
    let preview = preview.text().await.unwrap();
    assert!(
        preview.contains("openai/gpt-4.1-nano") && preview.contains("cheap"),
        "{preview}"
    );
    let preview = browser
        .post_form("preview_route", &[("scope", "account"), ("sample", "hi")])
        .await
        .text()
        .await
        .unwrap();
    assert!(preview.contains("strong"), "{preview}");

    // Bad input is explained and nothing is stored; another tenant's key is unknown here.
    let refused = post(form("account", "", "high")).await;
    assert!(refused.contains("ThresholdNotNumber"), "{refused}");
    let refused = post(form(&format!("key:{stranger_key_id}"), "strong", "")).await;
    assert!(refused.contains("UnknownKey"), "{refused}");
    // A policy /v1 could not serve is refused before it is saved: a forced model nobody knows
    // (a typo), or providers this account has none of.
    let with = |field: &str, value: &str| {
        let mut pairs = form("account", "", "");
        pairs.retain(|(name, _)| name != field);
        pairs.push((field.to_owned(), value.to_owned()));
        pairs
    };
    let refused = post(with("forced_model", "gpt-9-ultra")).await;
    assert!(refused.contains("PolicyUnknownForcedModel"), "{refused}");
    let refused = post(with("providers", "anthropic")).await;
    assert!(refused.contains("PolicyLeavesNoModel"), "{refused}");
    let refused = post(with("forced_model", "anthropic/claude-3-5-haiku-latest")).await;
    assert!(refused.contains("PolicyLeavesNoModel"), "{refused}");
    assert!(
        gateway::accounts::routing_policies(&app.state.db, stranger.account_id)
            .await
            .unwrap()
            .keys
            .is_empty()
    );
    assert_eq!(
        gateway::accounts::routing_policies(&app.state.db, account.id)
            .await
            .unwrap(),
        stored_with_key(&stored, key_id)
    );
}

fn stored_with_key(
    account: &gateway::accounts::RoutingPolicies,
    key_id: i32,
) -> gateway::accounts::RoutingPolicies {
    let mut expected = account.clone();
    expected.keys.insert(
        key_id,
        gateway::routing::RoutingPolicy {
            min_tier: Some(gateway::catalog::Tier::Cheap),
            ..Default::default()
        },
    );
    expected
}

/// The page without Leptos's hydration markers (`<!>`, `<!--…-->`), so that cells read plainly.
pub(crate) fn without_markers(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find("<!") {
        out.push_str(&rest[..start]);
        let marker = &rest[start..];
        let end = if marker.starts_with("<!--") {
            marker.find("-->").map(|at| at + 3)
        } else {
            marker.find('>').map(|at| at + 1)
        };
        rest = &marker[end.unwrap_or(marker.len())..];
    }
    out.push_str(rest);
    out
}

/// Each part of `html` from an element with `data-testid="{testid}"` to the end of its row.
fn rows_with<'h>(html: &'h str, testid: &str) -> Vec<&'h str> {
    html.match_indices(&format!("data-testid=\"{testid}\""))
        .map(|(at, _)| {
            let row = &html[at..];
            &row[..row.find("</tr>").unwrap_or(row.len())]
        })
        .collect()
}

/// The opening tag and the text of the first element with `data-testid="{testid}"` in `html`.
fn cell<'h>(html: &'h str, testid: &str) -> (&'h str, &'h str) {
    let at = html
        .find(&format!("data-testid=\"{testid}\""))
        .unwrap_or_else(|| panic!("no {testid} in {html}"));
    let rest = &html[at..];
    let open = rest.find('>').unwrap();
    let text = &rest[open + 1..];
    (&rest[..open], &text[..text.find('<').unwrap()])
}

/// A money cell: its exact value (`data-usd`), checked against `expected`, and that its text is
/// that value as the portal shows money.
fn money_cell(html: &str, testid: &str, expected: f64) -> f64 {
    let (tag, text) = cell(html, testid);
    let value: f64 = tag
        .split("data-usd=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no data-usd in {tag}"))
        .parse()
        .unwrap();
    assert!(
        (value - expected).abs() < 1e-12,
        "{testid}: {value} shown, {expected} expected"
    );
    assert_eq!(
        text,
        app::format::money(value, app::i18n::Locale::en),
        "{testid}"
    );
    value
}

/// After a few auto-routed requests on two keys (and one pinned to the baseline model), the
/// dashboard shows what routing saved per day and per key, the analytics page per day with the
/// share saved, and the CSV export what each request would have cost on the baseline model.
async fn the_dashboard_shows_the_savings_by_day_and_by_key(backend: Backend) {
    use gateway::analytics;
    use std::collections::BTreeMap;

    let app = spawn_app(backend).await;
    let mut browser = Browser::new(&app);
    let account = browser.sign_up("ada@example.com").await;
    app.add_openai(account.id, OPENAI_KEY).await;
    let dashboard = without_markers(&browser.get("/").await.text().await.unwrap());
    assert!(
        dashboard.contains("No requests in the last 7 days.")
            && dashboard.contains("No requests this month."),
        "{dashboard}"
    );

    let mut secrets = Vec::new();
    for name in ["alpha", "beta"] {
        secrets.push(
            gateway::accounts::create_gateway_key(
                &app.state.db,
                &app.state.settings.plans,
                account.id,
                name,
            )
            .await
            .unwrap()
            .secret,
        );
    }
    let auto =
        serde_json::json!({"model": "auto", "messages": [{"role": "user", "content": "Thanks!"}]});
    let baseline = serde_json::json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "Thanks!"}]});
    for (secret, body) in [
        (&secrets[0], &auto),
        (&secrets[0], &auto),
        (&secrets[0], &auto),
        (&secrets[1], &auto),
        (&secrets[1], &baseline),
    ] {
        assert_eq!(app.chat(Some(secret), body).await.status(), 200);
    }
    app.flush_usage().await;

    let events = analytics::events_since(&app.state.db, account.id, 0)
        .await
        .unwrap();
    assert_eq!(events.len(), 5);
    let routed: Vec<_> = events
        .iter()
        .filter(|e| e.saving_usd > 0.0 && e.routed)
        .collect();
    assert_eq!(
        routed.len(),
        4,
        "the auto-routed requests saved: {events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e.model == "gpt-4o" && e.saving_usd == 0.0),
        "the baseline model saves nothing: {events:?}"
    );

    // Expected figures, from the raw events: (requests, cost, saving).
    let add = |sums: &mut (i64, f64, f64), event: &gateway::entities::usage_event::Model| {
        sums.0 += 1;
        sums.1 += event.cost_usd;
        sums.2 += event.saving_usd;
    };
    let mut by_day: BTreeMap<String, (i64, f64, f64)> = BTreeMap::new();
    let mut by_key: BTreeMap<i32, (i64, f64, f64)> = BTreeMap::new();
    for event in &events {
        let day = gateway::plans::format_iso(event.created_at)[..10].to_owned();
        add(by_day.entry(day).or_default(), event);
        add(by_key.entry(event.key_id.unwrap()).or_default(), event);
    }
    let total_saving: f64 = events.iter().map(|e| e.saving_usd).sum();

    let dashboard = without_markers(&browser.get("/").await.text().await.unwrap());
    let (_, saved_card) = cell(&dashboard, "saving");
    assert_eq!(
        saved_card,
        app::format::money(total_saving, app::i18n::Locale::en)
    );
    // In Spanish the same figure is written the Spanish way (decimal comma, symbol after).
    browser.language = Some("es");
    let spanish = without_markers(&browser.get("/").await.text().await.unwrap());
    let (_, saved_in_spanish) = cell(&spanish, "saving");
    assert_eq!(
        saved_in_spanish,
        app::format::money(total_saving, app::i18n::Locale::es)
    );
    assert!(saved_in_spanish.ends_with("US$"), "{saved_in_spanish}");
    browser.language = None;
    // The figure names its baseline and the share of traffic it applies to.
    let claim = &dashboard[dashboard.find("data-testid=\"savings-claim\"").unwrap()..];
    let claim = &claim[..claim.find("</span>").unwrap()];
    assert!(
        claim.contains("vs. openai/gpt-4o") && claim.contains("on the 4 of 5 requests"),
        "{claim}"
    );

    // Per day: seven rows, the days with requests showing their figures, the others nothing.
    let section = &dashboard[dashboard.find("data-testid=\"savings-by-day\"").unwrap()..];
    // The week as a chart too, one bar a day, today's bar the day's requests.
    let chart = &section[section
        .find("data-testid=\"chart-week\"")
        .expect("a chart of the week")..];
    assert_eq!(
        chart[..chart.find("</figure>").unwrap()]
            .matches("<rect")
            .count(),
        7,
        "{chart}"
    );
    let day_rows = rows_with(section, "savings-day");
    assert_eq!(day_rows.len(), 7, "{section}");
    for row in &day_rows {
        let (_, day) = cell(row, "day");
        let (requests, cost, saving) = by_day.get(day).copied().unwrap_or_default();
        assert_eq!(cell(row, "day-requests").1, requests.to_string(), "{day}");
        money_cell(row, "day-cost", cost);
        let baseline_cost = money_cell(row, "day-baseline-cost", cost + saving);
        let saved = money_cell(row, "day-saved", saving);
        if requests > 0 {
            assert!(saved > 0.0 && baseline_cost > saved, "{row}");
        }
    }
    let shown_days: Vec<&str> = day_rows.iter().map(|row| cell(row, "day").1).collect();
    for day in by_day.keys() {
        assert!(
            shown_days.contains(&day.as_str()),
            "{day} in {shown_days:?}"
        );
    }
    assert_eq!(
        shown_days[0],
        gateway::plans::format_iso(gateway::clock::now_ms())[..10].to_owned(),
        "newest first"
    );

    // Per key, this month: alpha (three routed requests) before beta (one routed, one pinned).
    let keys = gateway::accounts::list_gateway_keys(&app.state.db, account.id)
        .await
        .unwrap();
    let section = &dashboard[dashboard.find("data-testid=\"savings-by-key\"").unwrap()..];
    let key_rows = rows_with(section, "savings-key");
    assert_eq!(key_rows.len(), 2, "{section}");
    for (row, name) in key_rows.iter().zip(["alpha", "beta"]) {
        let key = keys.iter().find(|k| k.name == name).unwrap();
        let (requests, cost, saving) = by_key[&key.id];
        assert_eq!(
            cell(row, "key-name").1,
            format!("{} ({}…)", key.name, key.prefix)
        );
        assert_eq!(cell(row, "key-requests").1, requests.to_string());
        money_cell(row, "key-cost", cost);
        money_cell(row, "key-saved", saving);
    }
    let (alpha, beta) = (
        by_key[&keys.iter().find(|k| k.name == "alpha").unwrap().id],
        by_key[&keys.iter().find(|k| k.name == "beta").unwrap().id],
    );
    assert_eq!((alpha.0, beta.0), (3, 2));
    assert!(alpha.2 > beta.2, "three routed requests save more than one");

    // The analytics page: a per-day savings table under the chart, and the share saved.
    let page = without_markers(
        &browser
            .get("/analytics?range=7d")
            .await
            .text()
            .await
            .unwrap(),
    );
    let table = &page[page.find("data-testid=\"savings-by-day\"").unwrap()..];
    let table = &table[..table.find("</table>").unwrap()];
    let (day, (_, cost, saving)) = by_day.iter().next_back().unwrap();
    // "Saved %" is of what the requests a saving is claimed for would have cost without the
    // gateway: the routed ones' baseline cost (the pinned gpt-4o request is not in it).
    let base_of = |day: Option<&str>| -> f64 {
        events
            .iter()
            .filter(|e| e.routed)
            .filter(|e| day.is_none_or(|d| gateway::plans::format_iso(e.created_at).starts_with(d)))
            .map(|e| e.baseline_cost_usd.unwrap())
            .sum()
    };
    let percent = |saving: f64, base: f64| format!("{:.1}%", saving / base * 100.0);
    let day_base = base_of(Some(day));
    for expected in [
        day.clone(),
        app::format::money(*cost, app::i18n::Locale::en),
        app::format::money(day_base, app::i18n::Locale::en),
        app::format::money(*saving, app::i18n::Locale::en),
        percent(*saving, day_base),
    ] {
        assert!(table.contains(&expected), "{expected} in {table}");
    }
    let by_provider = &page[page.find("By provider").unwrap()..];
    let by_provider = &by_provider[..by_provider.find("</table>").unwrap()];
    assert!(
        by_provider.contains("Saved %")
            && by_provider.contains(&format!(">{}<", percent(total_saving, base_of(None)))),
        "the breakdowns show the share saved: {by_provider}"
    );
    assert!(
        page.contains("vs. openai/gpt-4o"),
        "the analytics page names the baseline"
    );

    // The export: what each request would have cost on the baseline model, after its cost.
    let csv = browser.get("/analytics/export.csv?range=7d").await;
    assert_eq!(csv.status(), 200);
    let csv = csv.text().await.unwrap();
    let lines: Vec<&str> = csv.trim_end().split("\r\n").collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    let column = |name: &str| header.iter().position(|c| *c == name).unwrap();
    assert_eq!(column("baseline_cost_usd"), column("cost_usd") + 1);
    assert_eq!(lines.len(), events.len() + 1);
    for (line, event) in lines[1..].iter().zip(&events) {
        let cells: Vec<&str> = line.split(',').collect();
        let number = |name: &str| cells[column(name)].parse::<f64>().unwrap();
        assert_eq!(number("cost_usd"), event.cost_usd);
        assert_eq!(
            number("baseline_cost_usd"),
            event.baseline_cost_usd.unwrap()
        );
        if event.routed {
            assert!(number("baseline_cost_usd") > number("cost_usd"), "{line}");
        }
    }
}

/// The portal's own session store, against the real back-end: a taken id is never overwritten,
/// an expired session is not loaded, and the hourly sweep deletes it.
async fn the_session_store_keeps_ids_unique_and_forgets_expired_sessions(backend: Backend) {
    use server::sessions::DbSessionStore;
    use tower_sessions::session::{Id, Record};
    use tower_sessions::session_store::{ExpiredDeletion, SessionStore};

    let app = spawn_app(backend).await;
    let store = DbSessionStore::new(app.state.db.clone());
    let record = |minutes: i64| Record {
        id: Id::default(),
        data: [("account_id".to_owned(), serde_json::json!(7))].into(),
        expiry_date: time::OffsetDateTime::now_utc() + time::Duration::minutes(minutes),
    };

    let mut first = record(10);
    store.create(&mut first).await.unwrap();
    let loaded = store.load(&first.id).await.unwrap().expect("stored");
    assert_eq!(loaded.data["account_id"], 7);

    // A second session drawn with the same id gets another one; the first is untouched.
    let mut clash = record(10);
    clash.id = first.id;
    clash.data.insert("account_id".into(), serde_json::json!(8));
    store.create(&mut clash).await.unwrap();
    assert_ne!(clash.id, first.id);
    assert_eq!(
        store.load(&first.id).await.unwrap().unwrap().data["account_id"],
        7
    );
    assert_eq!(
        store.load(&clash.id).await.unwrap().unwrap().data["account_id"],
        8
    );

    let mut expired = record(-1);
    store.create(&mut expired).await.unwrap();
    assert!(store.load(&expired.id).await.unwrap().is_none());
    store.delete_expired().await.unwrap();
    use gateway::sea_orm::EntityTrait as _;
    let left = gateway::entities::portal_session::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(left.len(), 2, "only the expired session is swept");

    store.delete(&first.id).await.unwrap();
    assert!(store.load(&first.id).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_in_and_sign_up_attempts_are_limited() {
    let app = crate::helpers::spawn_app_with(Backend::Sqlite, |config| {
        config.logins_per_account_per_minute = 3;
        config.logins_per_address_per_minute = 6;
        config.signups_per_address_per_hour = 2;
    })
    .await;
    app.create_account("ada@example.com").await;
    let browser = Browser::new(&app);
    let log_in = |email: &'static str, password: &'static str| {
        let browser = &browser;
        async move {
            let response = browser
                .post_form("log_in", &[("email", email), ("password", password)])
                .await;
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    for _ in 0..3 {
        let (_, text) = log_in("ada@example.com", "not the password").await;
        assert!(text.contains("WrongCredentials"), "{text}");
    }
    // The account's allowance is used up: even the right password waits now.
    for password in ["not the password", PASSWORD] {
        let (status, text) = log_in("ada@example.com", password).await;
        assert_eq!(status, 429, "{text}");
        assert!(text.contains("TooManyLogInsForAccount"), "{text}");
    }
    assert_eq!(browser.get("/keys").await.status(), 303, "not logged in");
    // An unknown e-mail is answered like a wrong password (and counted like one).
    let (_, text) = log_in("nobody@example.com", "whatever it is").await;
    assert!(text.contains("WrongCredentials"), "{text}");
    // Six attempts from this address: the seventh is refused whatever the account.
    let (status, text) = log_in("someone@example.com", "whatever it is").await;
    assert_eq!(status, 429, "{text}");
    assert!(text.contains("TooManyLogInsFromNetwork"), "{text}");

    let sign_up = |email: &'static str| {
        let browser = Browser::new(&app);
        async move {
            let response = browser
                .post_form("sign_up", &[("email", email), ("password", PASSWORD)])
                .await;
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    for email in ["new1@example.com", "new2@example.com"] {
        let (status, text) = sign_up(email).await;
        assert_ne!(status, 429, "{text}");
    }
    let (status, text) = sign_up("new3@example.com").await;
    assert_eq!(status, 429, "{text}");
    assert!(text.contains("TooManySignUps"), "{text}");
    assert!(
        gateway::accounts::account_by_email(&app.state.db, "new3@example.com")
            .await
            .is_err()
    );
}

/// Without JavaScript a page is what the server sent: the data pages render their rows inside
/// the document (not streamed after `</html>` for a script to move in), and each tab is named
/// after its page.
async fn data_pages_carry_their_data_in_the_html(backend: Backend) {
    let app = spawn_app(backend).await;
    let browser = Browser::new(&app);
    let Scene { .. } = scene(&app, &browser, "ada@example.com", "eve@example.com").await;
    for (path, row, title) in [
        (
            "/keys",
            "data-testid=\"key-row\"",
            "<title>Gateway keys · LLM Gateway</title>",
        ),
        (
            "/providers",
            "data-testid=\"provider-row\"",
            "<title>Providers · LLM Gateway</title>",
        ),
        (
            "/members",
            "data-testid=\"member-row\"",
            "<title>Members · LLM Gateway</title>",
        ),
        (
            "/",
            "data-testid=\"request-count\"",
            "<title>Dashboard · LLM Gateway</title>",
        ),
    ] {
        let html = browser.get(path).await.text().await.unwrap();
        let end = html.find("</html>").expect("a whole document");
        let at = html
            .find(row)
            .unwrap_or_else(|| panic!("{path}: no {row} in {html}"));
        assert!(at < end, "{path}: {row} comes after </html>");
        assert!(
            !html[..end].contains("Loading…"),
            "{path} still loading: {html}"
        );
        assert!(html.contains(title), "{path}: {html}");
    }
}

/// A replica whose database lacks a migration (an older schema, a migration that failed) is
/// alive but not ready: a load balancer sends it nothing until it is.
#[tokio::test]
async fn a_database_missing_a_migration_is_not_ready() {
    use migrations::MigratorTrait;
    let app = spawn_app(Backend::Sqlite).await;
    migrations::Migrator::down(&app.state.db, Some(1))
        .await
        .unwrap();
    let browser = Browser::new(&app);
    let ready = browser.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    let readiness = ready.json::<serde_json::Value>().await.unwrap();
    assert_eq!(readiness["migrations"], "1 pending", "{readiness}");
    assert_eq!(readiness["ready"], false);
    assert_eq!(browser.get("/healthz").await.status(), 200);
    migrations::Migrator::up(&app.state.db, None).await.unwrap();
    assert_eq!(browser.get("/readyz").await.status(), 200);
}
