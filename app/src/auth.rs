//! Sign-up, log-in and log-out.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::error::{PortalError, action_error};

#[server(prefix = "/api", endpoint = "sign_up")]
pub async fn sign_up(email: String, password: String) -> Result<(), PortalError> {
    use crate::server::{admit_sign_up, log_in, state};
    use gateway::accounts;

    let state = state()?;
    admit_sign_up(&state).await?;
    let lang = crate::email::ssr::visitor_lang().await;
    let (account, token) =
        accounts::verification::sign_up(&state.db, &email, &password, lang).await?;
    crate::email::ssr::send_verification(&state, &account.email, lang, &token);
    log_in(account.id).await?;
    leptos_axum::redirect("/");
    Ok(())
}

#[server(prefix = "/api", endpoint = "log_in")]
pub async fn log_in(email: String, password: String) -> Result<(), PortalError> {
    use crate::server::{admit_log_in, state};
    use gateway::accounts;

    let state = state()?;
    admit_log_in(&state, &email).await?;
    let login = accounts::members::authenticate(&state.db, &email, &password).await?;
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
    view! {
        <main class="auth">
            <h1>"Create your LLM Gateway account"</h1>
            <ActionForm action=action>
                <label>
                    "Email" <input type="email" name="email" required autocomplete="email"/>
                </label>
                <label>
                    "Password"
                    <input type="password" name="password" required autocomplete="new-password"/>
                    <small>"At least 10 characters; avoid common words."</small>
                </label>
                <button type="submit">"Sign up"</button>
            </ActionForm>
            {action_error(action.value())}
            <p>"Already have an account? " <A href="/login">"Log in"</A></p>
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
    view! {
        <main class="auth">
            <h1>"Log in to LLM Gateway"</h1>
            {move || reset_done().then(|| view! {
                <p role="status" data-testid="password-changed">"Your password is changed. Log in with the new one."</p>
            })}
            <ActionForm action=action>
                <label>
                    "Email" <input type="email" name="email" required autocomplete="email"/>
                </label>
                <label>
                    "Password"
                    <input type="password" name="password" required autocomplete="current-password"/>
                </label>
                <button type="submit">"Log in"</button>
            </ActionForm>
            {action_error(action.value())}
            <p><A href="/forgot">"Forgot your password?"</A></p>
            <p>"New here? " <A href="/signup">"Create an account"</A></p>
        </main>
    }
}
