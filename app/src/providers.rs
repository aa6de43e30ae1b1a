//! Provider keys (bring your own): add with an optional base URL, shown masked, delete.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::confirm::{confirm_first, confirm_if};
use crate::error::{PortalError, action_error};
use crate::i18n::{t, t_string, use_i18n};
use crate::layout::PortalPage;
use crate::list::ListTable;
use gateway_types::PROVIDERS;
use gateway_types::time::format_utc;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderRow {
    pub id: i32,
    pub provider: String,
    pub base_url: Option<String>,
    pub key_hint: String,
    pub created_at: i64,
}

#[server(prefix = "/api", endpoint = "list_providers")]
pub async fn list_providers() -> Result<Vec<ProviderRow>, PortalError> {
    use crate::server::state;

    let account_id = crate::server::require(gateway::accounts::members::Action::Administer)
        .await?
        .account_id;
    let providers = gateway::accounts::list_providers(&state()?.db, account_id).await?;
    Ok(providers
        .into_iter()
        .map(|p| ProviderRow {
            id: p.id,
            provider: p.provider,
            base_url: p.base_url,
            key_hint: p.key_hint,
            created_at: p.created_at,
        })
        .collect())
}

#[server(prefix = "/api", endpoint = "add_provider")]
pub async fn add_provider(
    provider: String,
    api_key: String,
    base_url: String,
) -> Result<(), PortalError> {
    use crate::server::state;

    let account_id = crate::server::require(gateway::accounts::members::Action::Administer)
        .await?
        .account_id;
    let state = state()?;
    state
        .add_provider(account_id, &provider, &api_key, Some(&base_url))
        .await?;
    Ok(())
}

#[server(prefix = "/api", endpoint = "delete_provider")]
pub async fn delete_provider(id: i32) -> Result<(), PortalError> {
    use crate::server::state;

    let account_id = crate::server::require(gateway::accounts::members::Action::Administer)
        .await?
        .account_id;
    let state = state()?;
    state.delete_provider(account_id, id).await?;
    Ok(())
}

/// What a provider said when asked for its models list with the saved key and base URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProviderCheck {
    /// The key works: the provider listed this many models for it.
    Works { provider: String, models: usize },
    /// The provider refused the key (401 or 403; Gemini's invalid-key 400 counts as 401).
    KeyRefused { provider: String, status: u16 },
    /// No answer at the base URL, or the gateway does not connect there.
    Unreachable { provider: String },
    /// Any other answer.
    Failed { provider: String, status: u16 },
}

/// The *Test* button: asks the provider for its models list with the account's saved key, the
/// same call path (base URL, egress rules) as a request.
#[server(prefix = "/api", endpoint = "test_provider")]
pub async fn test_provider(id: i32) -> Result<ProviderCheck, PortalError> {
    use crate::server::state;
    use gateway::error::UpstreamError;

    let account_id = crate::server::require(gateway::accounts::members::Action::Administer)
        .await?
        .account_id;
    let state = state()?;
    let row = gateway::accounts::list_providers(&state.db, account_id)
        .await?
        .into_iter()
        .find(|row| row.id == id)
        .ok_or(gateway::accounts::AccountError::ProviderNotFound)?;
    let kind = gateway_types::ProviderKind::parse(&row.provider)
        .ok_or(gateway::accounts::AccountError::ProviderNotFound)?;
    let checked = state
        .check_provider(account_id, kind)
        .await
        .map_err(|err| {
            tracing::error!(error = %err, "could not load the account's providers");
            PortalError::Internal
        })?;
    let provider = kind.display_name().to_owned();
    Ok(match checked {
        None => return Err(gateway::accounts::AccountError::ProviderNotFound.into()),
        Some(Ok(models)) => ProviderCheck::Works { provider, models },
        Some(Err(UpstreamError::Status { status, .. })) if status == 401 || status == 403 => {
            ProviderCheck::KeyRefused {
                provider,
                status: status.as_u16(),
            }
        }
        Some(Err(UpstreamError::Status { status, .. })) => ProviderCheck::Failed {
            provider,
            status: status.as_u16(),
        },
        Some(Err(
            UpstreamError::Timeout { .. }
            | UpstreamError::Connect { .. }
            | UpstreamError::Egress { .. },
        )) => ProviderCheck::Unreachable { provider },
        // An answer that is not a models list: the base URL leads somewhere else.
        Some(Err(UpstreamError::InvalidResponse { .. } | UpstreamError::Request(_))) => {
            ProviderCheck::Failed {
                provider,
                status: 200,
            }
        }
    })
}

/// A check's outcome, worded for the reader.
fn check_view(check: Result<ProviderCheck, PortalError>) -> AnyView {
    let i18n = use_i18n();
    let check = match check {
        Ok(check) => check,
        Err(err) => return crate::error::error_view(err),
    };
    let works = matches!(check, ProviderCheck::Works { .. });
    let message = match check {
        ProviderCheck::Works { provider, models } => t!(
            i18n,
            misc.provider_check_works,
            provider = provider,
            count = models
        )
        .into_any(),
        ProviderCheck::KeyRefused { provider, status } => t!(
            i18n,
            misc.provider_check_key_refused,
            provider = provider,
            status = status
        )
        .into_any(),
        ProviderCheck::Unreachable { provider } => {
            t!(i18n, misc.provider_check_unreachable, provider = provider).into_any()
        }
        ProviderCheck::Failed { provider, status } => t!(
            i18n,
            misc.provider_check_failed,
            provider = provider,
            status = status
        )
        .into_any(),
    };
    view! {
        <p class=if works { "notice" } else { "form-error" } role=if works { "status" } else { "alert" } data-testid="provider-check">
            {message}
        </p>
    }
    .into_any()
}

#[component]
pub fn ProvidersPage() -> impl IntoView {
    let add = ServerAction::<AddProvider>::new();
    let delete = ServerAction::<DeleteProvider>::new();
    let test = ServerAction::<TestProvider>::new();
    let providers = Resource::new(
        move || (add.version().get(), delete.version().get()),
        |_| list_providers(),
    );
    let (form_open, set_form_open) = signal(false);
    // Close the form once a provider has been added.
    Effect::new(move |_| {
        if matches!(add.value().get(), Some(Ok(()))) {
            set_form_open.set(false);
        }
    });
    let i18n = use_i18n();
    // Saving a provider the account has replaces its key: asked first.
    let kind = NodeRef::<leptos::html::Select>::new();
    let replaces = move || {
        let chosen = kind.get_untracked()?.value();
        let rows = providers.get_untracked()?.ok()?;
        rows.iter().any(|row| row.provider == chosen).then(|| {
            format!(
                "“{chosen}” — {}",
                t_string!(i18n, misc.confirm_replace_provider)
            )
        })
    };
    view! {
        <PortalPage title=move || t_string!(i18n, providers_title)>
            <p class="muted">{t!(i18n, providers_intro)}</p>
            <button type="button" data-testid="toggle-add-provider" on:click=move |_| set_form_open.update(|open| *open = !*open)>
                {move || if form_open.get() { t!(i18n, cancel).into_any() } else { t!(i18n, add_provider).into_any() }}
            </button>
            <Show when=move || form_open.get()>
                <ActionForm action=add attr:class="stacked-form" attr:data-testid="add-provider-form">
                    <label>
                        {t!(i18n, provider)}
                        <select name="provider" node_ref=kind>
                            {PROVIDERS.iter().map(|spec| view! { <option value=spec.id>{spec.display_name}</option> }).collect_view()}
                        </select>
                    </label>
                    <label>
                        {t!(i18n, api_key)} <input type="password" name="api_key" autocomplete="off"/>
                        <small>{t!(i18n, optional_for_ollama)}</small>
                    </label>
                    <label>
                        {t!(i18n, base_url_optional)}
                        <input type="url" name="base_url" placeholder=move || t_string!(i18n, misc.provider_default)/>
                    </label>
                    <button type="submit" on:click=confirm_if(replaces)>{t!(i18n, save_provider)}</button>
                </ActionForm>
            </Show>
            {action_error(add.value())}
            {action_error(delete.value())}
            {move || test.value().get().map(check_view)}
            <ListTable
                rows=providers
                empty=move || view! { <p class="empty">{t!(i18n, no_providers)}</p> }
                head=move || view! { <th>{t!(i18n, provider)}</th><th>{t!(i18n, col_key)}</th><th>{t!(i18n, col_base_url)}</th><th>{t!(i18n, col_added)}</th><th></th> }
                row=move |row: ProviderRow| {
                    let provider = row.provider.clone();
                    let ask = move || format!("“{}” — {}", provider, t_string!(i18n, misc.confirm_delete_provider));
                    view! {
                    <tr data-testid="provider-row">
                        <td>{row.provider.clone()}</td>
                        <td><code>{row.key_hint.clone()}</code></td>
                        <td data-testid="provider-base-url">{match row.base_url.clone() {
                            Some(url) => url.into_any(),
                            None => t!(i18n, misc.default_base_url).into_any(),
                        }}</td>
                        <td>{format_utc(row.created_at)}</td>
                        <td class="actions">
                            <ActionForm action=test>
                                <input type="hidden" name="id" value=row.id/>
                                <button type="submit" data-testid="test-provider">{t!(i18n, misc.test_provider)}</button>
                            </ActionForm>
                            <ActionForm action=delete>
                                <input type="hidden" name="id" value=row.id/>
                                <button type="submit" class="danger" on:click=confirm_first(ask)>{t!(i18n, delete)}</button>
                            </ActionForm>
                        </td>
                    </tr>
                    }
                }
            />
        </PortalPage>
    }
}
