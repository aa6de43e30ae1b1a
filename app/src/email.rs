//! What the portal does by e-mail: confirming the address (`/verify`), sending the link again,
//! and resetting a forgotten password (`/forgot`, `/reset`).

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

use crate::error::{PortalError, action_error, error_view};
use crate::i18n::{t, use_i18n};
use crate::language::LanguageSwitch;

#[cfg(feature = "ssr")]
pub(crate) mod ssr {
    use gateway::mail::{Lang, messages};
    use gateway::state::GatewayState;

    /// The language the visitor reads the portal in: the language switch's cookie, else their
    /// browser's first choice we speak. Their e-mails are written in it.
    pub async fn visitor_lang() -> Lang {
        let headers: axum::http::HeaderMap = leptos_axum::extract().await.unwrap_or_default();
        let chosen = headers
            .get_all("cookie")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .find_map(|pair| pair.trim().strip_prefix("i18n_pref_locale="))
            .and_then(Lang::parse);
        let accepted = || {
            headers
                .get("accept-language")
                .and_then(|value| value.to_str().ok())
                .and_then(|value| {
                    value
                        .split(',')
                        .find_map(|tag| Lang::parse(tag.split(';').next()?))
                })
        };
        chosen.or_else(accepted).unwrap_or_default()
    }

    pub fn link(state: &GatewayState, path: &str, token: &str) -> String {
        gateway::accounts::tokens::link(&state.settings.link_base, path, token)
    }

    pub fn send_verification(state: &GatewayState, email: &str, lang: Lang, token: &str) {
        let mail = messages::verify_email(lang, &link(state, "/verify", token));
        state.mailer.send_later(email.to_owned(), mail);
    }

    pub fn send_already_registered(state: &GatewayState, email: &str, lang: Lang) {
        let base = &state.settings.link_base;
        let mail =
            messages::already_registered(lang, &format!("{base}/login"), &format!("{base}/forgot"));
        state.mailer.send_later(email.to_owned(), mail);
    }

    /// A fresh confirmation link (older ones stop working) to an account still unconfirmed; the
    /// address it went to, or `None` when the account is confirmed already.
    pub async fn resend_verification(
        state: &GatewayState,
        account_id: i32,
    ) -> Result<Option<String>, crate::error::PortalError> {
        use gateway::accounts::verification;
        match verification::renew_verification(&state.db, account_id).await? {
            Some((account, token)) => {
                let lang = verification::lang_of(&account);
                send_verification(state, &account.email, lang, &token);
                Ok(Some(account.email))
            }
            None => Ok(None),
        }
    }
}

/// Confirms the address and logs its owner in: following the link proves the address, as a
/// password-reset link does.
#[server(prefix = "/api", endpoint = "confirm_email")]
pub async fn confirm_email(token: String) -> Result<(), PortalError> {
    use crate::server::state;

    let state = state()?;
    let account_id = gateway::accounts::verification::confirm_email(&state.db, &token).await?;
    crate::server::log_in(account_id).await
}

/// The address a new link went to, or `None` when it is already confirmed.
#[server(prefix = "/api", endpoint = "resend_verification")]
pub async fn resend_verification() -> Result<Option<String>, PortalError> {
    let account_id = crate::server::require(gateway::accounts::members::Action::Billing)
        .await?
        .account_id;
    ssr::resend_verification(&crate::server::state()?, account_id).await
}

#[server(prefix = "/api", endpoint = "request_password_reset")]
pub async fn request_password_reset(email: String) -> Result<(), PortalError> {
    use crate::server::{admit_log_in, state};
    use gateway::accounts::verification;
    use gateway::mail::messages;

    let state = state()?;
    // Counted as a log-in attempt: the same limits per address and per account.
    admit_log_in(&state, &email).await?;
    if let Some(reset) = verification::start_password_reset(&state.db, &email).await? {
        let mail = messages::reset_password(reset.lang, &ssr::link(&state, "/reset", &reset.token));
        state.mailer.send_later(reset.email, mail);
    }
    // The same answer whether or not the address has an account.
    Ok(())
}

#[server(prefix = "/api", endpoint = "reset_password")]
pub async fn reset_password(token: String, password: String) -> Result<(), PortalError> {
    use crate::server::state;

    let state = state()?;
    gateway::accounts::verification::reset_password(&state.db, &token, &password).await?;
    leptos_axum::redirect("/login?reset=done");
    Ok(())
}

/// Whether the link's token still works for `purpose` (`verify` or `reset`), read without
/// spending it: a page opened from a wrong, used or expired link says so at once, not after a
/// form was filled in.
#[server(prefix = "/api", endpoint = "check_link")]
pub async fn check_link(token: String, purpose: String) -> Result<(), PortalError> {
    use gateway::accounts::tokens::{self, Purpose};
    let purpose = match purpose.as_str() {
        "verify" => Purpose::VerifyEmail,
        _ => Purpose::ResetPassword,
    };
    tokens::peek(&crate::server::state()?.db, &token, purpose)
        .await
        .map(drop)
        .map_err(|err| gateway::accounts::AccountError::Link(err).into())
}

/// The page's link, checked: `Some(error)` when it no longer works.
fn link_problem(purpose: &'static str) -> Resource<Option<PortalError>> {
    let token = token_from_query();
    Resource::new(
        move || token.clone(),
        move |token| async move { check_link(token, purpose.to_owned()).await.err() },
    )
}

fn token_from_query() -> String {
    use_query_map().with_untracked(|query| query.get("token").unwrap_or_default())
}

#[component]
pub fn VerifyPage() -> impl IntoView {
    let confirm = ServerAction::<ConfirmEmail>::new();
    let token = StoredValue::new(token_from_query());
    let problem = link_problem("verify");
    let i18n = use_i18n();
    view! {
        <main class="auth">
            <LanguageSwitch/>
            <h1>{t!(i18n, verify_title)}</h1>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move { problem.await.map(error_view) })}
            </Suspense>
            {move || match confirm.value().get() {
                Some(Ok(())) => view! {
                    <p role="status" data-testid="confirmed">{t!(i18n, verified)}</p>
                    <p><A href="/keys">{t!(i18n, go_to_keys)}</A></p>
                }
                .into_any(),
                _ => view! {
                    <ActionForm action=confirm>
                        <input type="hidden" name="token" value=token.get_value()/>
                        <button type="submit">{t!(i18n, verify_button)}</button>
                    </ActionForm>
                }
                .into_any(),
            }}
            {action_error(confirm.value())}
        </main>
    }
}

#[component]
pub fn ForgotPage() -> impl IntoView {
    let request = ServerAction::<RequestPasswordReset>::new();
    let i18n = use_i18n();
    view! {
        <main class="auth">
            <LanguageSwitch/>
            <h1>{t!(i18n, forgot_title)}</h1>
            <ActionForm action=request>
                <label>
                    {t!(i18n, email)} <input type="email" name="email" required autocomplete="email"/>
                </label>
                <button type="submit">{t!(i18n, forgot_button)}</button>
            </ActionForm>
            {move || request.value().get().and_then(Result::ok).map(|()| view! {
                <p role="status" data-testid="reset-sent">{t!(i18n, misc.reset_requested)}</p>
            })}
            {action_error(request.value())}
            <p><A href="/login">{t!(i18n, back_to_login)}</A></p>
        </main>
    }
}

#[component]
pub fn ResetPage() -> impl IntoView {
    let reset = ServerAction::<ResetPassword>::new();
    let token = token_from_query();
    let problem = link_problem("reset");
    let i18n = use_i18n();
    view! {
        <main class="auth">
            <LanguageSwitch/>
            <h1>{t!(i18n, reset_title)}</h1>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move { problem.await.map(error_view) })}
            </Suspense>
            <ActionForm action=reset>
                <input type="hidden" name="token" value=token/>
                <label>
                    {t!(i18n, new_password)}
                    <input type="password" name="password" required autocomplete="new-password"/>
                    <small>{t!(i18n, password_hint)}</small>
                </label>
                <button type="submit">{t!(i18n, reset_button)}</button>
            </ActionForm>
            {action_error(reset.value())}
        </main>
    }
}

/// Shown on the keys page while the address is unconfirmed.
#[component]
pub fn UnverifiedBanner(email: String) -> impl IntoView {
    let resend = ServerAction::<ResendVerification>::new();
    let i18n = use_i18n();
    view! {
        <div class="notice" role="status" data-testid="unverified">
            <p>{t!(i18n, unverified, email)}</p>
            <ActionForm action=resend attr:class="inline-form">
                <button type="submit">{t!(i18n, resend)}</button>
            </ActionForm>
            {move || resend.value().get().and_then(Result::ok).map(|sent| match sent {
                Some(email) => view! { <p>{t!(i18n, misc.link_resent, email = email.clone())}</p> }.into_any(),
                None => view! { <p>{t!(i18n, misc.already_confirmed)}</p> }.into_any(),
            })}
            {action_error(resend.value())}
        </div>
    }
}
