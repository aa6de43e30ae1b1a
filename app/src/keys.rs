//! Gateway keys: create (shown once), list, revoke; their budgets and rate limits.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::confirm::confirm_first;
use crate::email::UnverifiedBanner;
use crate::error::{PortalError, action_error, error_view};
use crate::i18n::{t, t_string, use_i18n};
use crate::layout::PortalPage;
use crate::limits::LimitsPanel;
use crate::list::ListTable;
use crate::snippets::Snippets;
use gateway_types::time::format_utc;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRow {
    pub id: i32,
    pub name: String,
    pub prefix: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked: bool,
}

/// The new key in full: the only time it is ever shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewKey {
    pub name: String,
    pub secret: String,
    /// This server's address, for the snippets (`https://gateway.example.com`).
    pub root: String,
}

#[cfg(feature = "ssr")]
mod ssr {
    use crate::error::PortalError;

    /// Session entry holding a key created by a form posted without the script: its name and
    /// its secret sealed under the master key (as provider keys are stored), until the Keys page
    /// the browser is sent back to reads it, once.
    pub const NEW_KEY_FLASH: &str = "new_key_flash";

    #[derive(serde::Serialize, serde::Deserialize)]
    pub struct SealedNewKey {
        pub name: String,
        pub sealed: Vec<u8>,
        /// When it was made: a flash not read within [`FLASH_LIFETIME_MS`] is dropped unread.
        pub at: i64,
    }

    /// How long a sealed new key waits for the page that shows it.
    pub const FLASH_LIFETIME_MS: i64 = 10 * 60 * 1000;

    pub fn session_failed(err: tower_sessions::session::Error) -> PortalError {
        tracing::error!(error = %err, "session store failed");
        PortalError::Internal
    }

    /// The account's address while it is unconfirmed; `None` once confirmed.
    pub async fn unconfirmed_address(
        db: &gateway::sea_orm::DatabaseConnection,
        account_id: i32,
    ) -> Result<Option<String>, PortalError> {
        let account = gateway::accounts::account_by_id(db, account_id).await?;
        Ok(account
            .filter(|account| account.email_verified_at.is_none())
            .map(|account| account.email))
    }
}

#[server(prefix = "/api", endpoint = "list_keys")]
pub async fn list_keys() -> Result<Vec<KeyRow>, PortalError> {
    use crate::server::state;
    use gateway::accounts::members::Action;
    let actor = crate::server::require(Action::OwnKeys).await?;
    let keys = gateway::accounts::list_gateway_keys(&state()?.db, actor.account_id).await?;
    Ok(keys
        .into_iter()
        .filter(|key| actor.manages_key(key.created_by_member))
        .map(|key| KeyRow {
            id: key.id,
            name: key.name,
            prefix: key.prefix,
            created_at: key.created_at,
            last_used_at: key.last_used_at,
            revoked: key.revoked_at.is_some(),
        })
        .collect())
}

/// The account's address while it is unconfirmed; `None` once confirmed.
#[server(prefix = "/api", endpoint = "unverified_email")]
pub async fn unverified_email() -> Result<Option<String>, PortalError> {
    use crate::server::{require_account, state};

    let account_id = require_account().await?;
    ssr::unconfirmed_address(&state()?.db, account_id).await
}

#[server(prefix = "/api", endpoint = "create_key")]
pub async fn create_key(name: String) -> Result<NewKey, PortalError> {
    use crate::server::state;

    let actor = crate::server::require(gateway::accounts::members::Action::OwnKeys).await?;
    let state = state()?;
    if let Some(email) = ssr::unconfirmed_address(&state.db, actor.account_id).await? {
        return Err(gateway::accounts::AccountError::EmailNotVerified(email).into());
    }
    let created = state
        .create_member_key(actor.account_id, actor.member_id, &name)
        .await?;
    // Without the script the answer is a redirect back to the Keys page, which would lose the
    // secret: it waits, sealed, in the session for that page to show it once.
    if crate::error::posted_without_script() {
        let sealed = ssr::SealedNewKey {
            name: created.key.name.clone(),
            sealed: state.master_key.encrypt(created.secret.as_bytes()),
            at: gateway::clock::now_ms(),
        };
        let session = crate::server::session().await?;
        session
            .insert(ssr::NEW_KEY_FLASH, sealed)
            .await
            .map_err(ssr::session_failed)?;
    }
    Ok(NewKey {
        name: created.key.name,
        secret: created.secret,
        root: state.settings.link_base.clone(),
    })
}

/// The key created by a form posted without the script, once: read and removed from the
/// session.
#[server(prefix = "/api", endpoint = "take_new_key")]
pub async fn take_new_key() -> Result<Option<NewKey>, PortalError> {
    use crate::server::state;
    crate::server::require_account().await?;
    let session = crate::server::session().await?;
    let Some(sealed) = session
        .remove::<ssr::SealedNewKey>(ssr::NEW_KEY_FLASH)
        .await
        .map_err(ssr::session_failed)?
    else {
        return Ok(None);
    };
    if gateway::clock::now_ms() - sealed.at > ssr::FLASH_LIFETIME_MS {
        return Ok(None);
    }
    let state = state()?;
    let secret = state
        .master_key
        .decrypt(&sealed.sealed)
        .ok()
        .and_then(|secret| String::from_utf8(secret).ok())
        .ok_or(PortalError::Internal)?;
    Ok(Some(NewKey {
        name: sealed.name,
        secret,
        root: state.settings.link_base.clone(),
    }))
}

#[server(prefix = "/api", endpoint = "revoke_key")]
pub async fn revoke_key(id: i32) -> Result<(), PortalError> {
    use crate::server::state;
    use gateway::accounts::members::Action;
    let actor = crate::server::require(Action::OwnKeys).await?;
    let state = state()?;
    if !actor.role.allows(Action::Administer) {
        let own = gateway::accounts::list_gateway_keys(&state.db, actor.account_id)
            .await?
            .into_iter()
            .any(|key| key.id == id && actor.manages_key(key.created_by_member));
        if !own {
            return Err(gateway::accounts::AccountError::KeyNotFound.into());
        }
    }
    state.revoke_gateway_key(actor.account_id, id).await?;
    Ok(())
}

#[component]
pub fn KeysPage() -> impl IntoView {
    let create = ServerAction::<CreateKey>::new();
    let revoke = ServerAction::<RevokeKey>::new();
    let keys = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| list_keys(),
    );
    let unverified = Resource::new(|| (), |_| unverified_email());
    // A key created without the script comes back through the session, shown once.
    let posted = Resource::new(|| (), |_| take_new_key());
    let i18n = use_i18n();
    view! {
        <PortalPage title=move || t_string!(i18n, keys_title)>
            <p class="muted">{t!(i18n, keys_intro)}</p>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    unverified.await.ok().flatten().map(|email| view! { <UnverifiedBanner email/> })
                })}
            </Transition>
            <ActionForm action=create attr:class="inline-form">
                <input name="name" placeholder=move || t_string!(i18n, key_name_placeholder) maxlength="100" aria-label=move || t_string!(i18n, key_name)/>
                <button type="submit">{t!(i18n, create_key)}</button>
            </ActionForm>
            {move || create.value().get().map(|result| match result {
                Ok(new_key) => new_key_view(new_key).into_any(),
                Err(err) => error_view(err),
            })}
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    posted.await.ok().flatten().map(new_key_view)
                })}
            </Transition>
            {action_error(revoke.value())}
            <ListTable
                rows=keys
                empty=move || view! { <p class="empty">{t!(i18n, no_keys)}</p> }
                head=move || view! { <th>{t!(i18n, col_name)}</th><th>{t!(i18n, col_key)}</th><th>{t!(i18n, col_created)}</th><th>{t!(i18n, col_last_used)}</th><th></th> }
                row=move |key: KeyRow| {
                    let name = key.name.clone();
                    let ask = move || format!("“{}” — {}", name, t_string!(i18n, misc.confirm_revoke_key));
                    view! {
                    <tr class:revoked=key.revoked data-testid="key-row">
                        <td>{key.name.clone()}</td>
                        <td><code>{format!("{}…", key.prefix)}</code></td>
                        <td>{format_utc(key.created_at)}</td>
                        <td>{match key.last_used_at {
                            Some(at) => format_utc(at).into_any(),
                            None => t!(i18n, never).into_any(),
                        }}</td>
                        <td>
                            {if key.revoked {
                                view! { <span class="badge">{t!(i18n, revoked)}</span> }.into_any()
                            } else {
                                view! {
                                    <ActionForm action=revoke>
                                        <input type="hidden" name="id" value=key.id/>
                                        <button type="submit" class="danger" on:click=confirm_first(ask.clone())>{t!(i18n, revoke)}</button>
                                    </ActionForm>
                                }
                                .into_any()
                            }}
                        </td>
                    </tr>
                    }
                }
            />
            <LimitsPanel keys_version=Signal::derive(move || create.version().get() + revoke.version().get())/>
        </PortalPage>
    }
}

/// The new key in full, with the snippets: the only time it is shown.
fn new_key_view(new_key: NewKey) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <div class="new-key" role="status">
            <p>{t!(i18n, new_key_shown_once, name = new_key.name.clone())}</p>
            <code data-testid="new-key">{new_key.secret.clone()}</code>
            <Snippets root=new_key.root.clone() key=new_key.secret/>
        </div>
    }
}
