//! Sign-up, log-in and log-out.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::error::{PortalError, action_error};
use crate::i18n::{t, use_i18n};
use crate::language::LanguageSwitch;

/// Where the sign-up link went: answered alike for every address (see
/// `gateway::accounts::verification::sign_up`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LinkSent {
    /// The address, normalised, as the visitor typed it.
    pub email: String,
    /// No SMTP on this server: the e-mail is written to its log (a fact about the server).
    pub to_log: bool,
    /// The server's first account, without SMTP: confirmed and logged in, no link needed.
    pub ready: bool,
}

/// Starts a sign-up: no session yet, the link e-mailed to the address logs its owner in.
#[server(prefix = "/api", endpoint = "sign_up")]
pub async fn sign_up(email: String, password: String) -> Result<LinkSent, PortalError> {
    use crate::server::{admit_sign_up, state};
    use gateway::accounts::verification::{self, SignUp};

    let state = state()?;
    admit_sign_up(&state).await?;
    let lang = crate::email::ssr::visitor_lang().await;
    let to_log = !state.mailer.sends_mail();
    let email = match verification::sign_up(&state.db, &email, &password, lang, to_log).await? {
        SignUp::FirstAccount { account_id, email } => {
            crate::server::log_in(account_id).await?;
            leptos_axum::redirect("/");
            return Ok(LinkSent {
                email,
                to_log,
                ready: true,
            });
        }
        SignUp::Confirm { email, lang, token } => {
            crate::email::ssr::send_verification(&state, &email, lang, &token);
            email
        }
        SignUp::AlreadyRegistered { email, lang } => {
            crate::email::ssr::send_already_registered(&state, &email, lang);
            email
        }
    };
    Ok(LinkSent {
        email,
        to_log,
        ready: false,
    })
}

#[server(prefix = "/api", endpoint = "log_in")]
pub async fn log_in(email: String, password: String) -> Result<(), PortalError> {
    use crate::server::{admit_log_in, state};
    use gateway::accounts::{self, AccountError};

    let state = state()?;
    admit_log_in(&state, &email).await?;
    let login = match accounts::members::authenticate(&state.db, &email, &password).await {
        Ok(login) => login,
        Err(AccountError::Unconfirmed(account_id)) => {
            // The owner typed the right password before following the link: send a fresh one
            // (the log-in limits bound how often) and answer as for a wrong password.
            crate::email::ssr::resend_verification(&state, account_id).await?;
            return Err(AccountError::Unconfirmed(account_id).into());
        }
        Err(err) => return Err(err.into()),
    };
    crate::server::log_in_as(login.account_id, login.member_id).await?;
    leptos_axum::redirect("/");
    Ok(())
}

#[server(prefix = "/api", endpoint = "log_out")]
pub async fn log_out() -> Result<(), PortalError> {
    let session = crate::server::session().await?;
    session.flush().await.map_err(|err| {
        tracing::error!(error = %err, "could not end the session");
        PortalError::Internal
    })?;
    leptos_axum::redirect("/login");
    Ok(())
}

#[component]
pub fn SignupPage() -> impl IntoView {
    let action = ServerAction::<SignUp>::new();
    let i18n = use_i18n();
    view! {
        <main class="auth">
            <LanguageSwitch/>
            <h1>{t!(i18n, signup_title)}</h1>
            <ActionForm action=action>
                <label>
                    {t!(i18n, email)} <input type="email" name="email" required autocomplete="email"/>
                </label>
                <label>
                    {t!(i18n, password)}
                    <input type="password" name="password" required autocomplete="new-password"/>
                    <small>{t!(i18n, password_hint)}</small>
                </label>
                <button type="submit">{t!(i18n, signup_button)}</button>
            </ActionForm>
            {move || action.value().get().and_then(Result::ok).map(|sent| if sent.ready {
                view! {
                    <p role="status" data-testid="signup-ready">
                        {t!(i18n, misc.signup_ready)} " " <A href="/">{t!(i18n, nav_dashboard)}</A>
                    </p>
                }
                .into_any()
            } else {
                view! {
                    <p role="status" data-testid="signup-sent">
                        {t!(i18n, signup_sent, email = sent.email.clone())}
                    </p>
                    {sent.to_log.then(|| view! {
                        <p data-testid="signup-sent-to-log">{t!(i18n, signup_sent_to_log)}</p>
                    })}
                }
                .into_any()
            })}
            {action_error(action.value())}
            <p>{t!(i18n, have_account)} " " <A href="/login">{t!(i18n, log_in_link)}</A></p>
        </main>
    }
}

fn reset_done() -> bool {
    leptos_router::hooks::use_query_map()
        .with_untracked(|query| query.get("reset").is_some_and(|value| value == "done"))
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let action = ServerAction::<LogIn>::new();
    let i18n = use_i18n();
    view! {
        <main class="auth">
            <LanguageSwitch/>
            <h1>{t!(i18n, login_title)}</h1>
            {move || reset_done().then(|| view! {
                <p role="status" data-testid="password-changed">{t!(i18n, password_changed)}</p>
            })}
            <ActionForm action=action>
                <label>
                    {t!(i18n, email)} <input type="email" name="email" required autocomplete="email"/>
                </label>
                <label>
                    {t!(i18n, password)}
                    <input type="password" name="password" required autocomplete="current-password"/>
                </label>
                <button type="submit">{t!(i18n, login_button)}</button>
            </ActionForm>
            {action_error(action.value())}
            <p><A href="/forgot">{t!(i18n, forgot_link)}</A></p>
            <p>{t!(i18n, new_here)} " " <A href="/signup">{t!(i18n, create_account)}</A></p>
        </main>
    }
}
