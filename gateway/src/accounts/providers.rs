//! Provider credentials (bring your own key): stored encrypted under the master key, shown only
//! as a hint.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, Set, TransactionTrait,
};

use super::account::{lock_account_for_change, touch_account};
use super::error::{AccountError, PlanLimitHit};
use crate::clock::now_ms;
use crate::crypto::{self, MasterKey};
use crate::egress::EgressPolicy;
use crate::entities::provider_credential;
use crate::plans::PlanTable;
use crate::providers::ProviderKind;

/// A provider credential as the portal shows it: never the key itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderView {
    pub id: i32,
    pub provider: String,
    pub base_url: Option<String>,
    pub key_hint: String,
    pub created_at: i64,
}

/// A usable base URL, or `None` for the provider's default. One the egress policy refuses (a
/// private address, plain http to a host the operator has not allowed) is refused here, where the
/// tenant can mend it, rather than at every call.
async fn validate_base_url(
    egress: &EgressPolicy,
    kind: ProviderKind,
    base_url: Option<&str>,
) -> Result<Option<String>, AccountError> {
    let Some(raw) = base_url.map(str::trim).filter(|url| !url.is_empty()) else {
        return Ok(None);
    };
    let parsed =
        reqwest::Url::parse(raw).map_err(|_| AccountError::InvalidBaseUrl(raw.to_owned()))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(AccountError::InvalidBaseUrl(raw.to_owned()));
    }
    egress
        .check_url(kind, &parsed)
        .await
        .map_err(|refusal| AccountError::BaseUrlRefused {
            url: raw.to_owned(),
            refusal,
        })?;
    Ok(Some(raw.trim_end_matches('/').to_owned()))
}

/// Stores (or replaces) the account's key for a provider, encrypted under the master key.
pub async fn add_provider(
    db: &DatabaseConnection,
    plans: &PlanTable,
    master_key: &MasterKey,
    egress: &EgressPolicy,
    account_id: i32,
    provider: &str,
    api_key: &str,
    base_url: Option<&str>,
) -> Result<ProviderView, AccountError> {
    let kind = ProviderKind::parse(provider.trim())
        .ok_or_else(|| AccountError::UnknownProvider(provider.trim().to_owned()))?;
    let api_key = api_key.trim();
    if api_key.is_empty() && kind.requires_api_key() {
        return Err(AccountError::MissingApiKey);
    }
    // A gateway key as a provider key makes every call come back to a gateway: a loop.
    if api_key.starts_with(crypto::GATEWAY_KEY_PREFIX) {
        return Err(AccountError::ProviderKeyIsGatewayKey);
    }
    let base_url = validate_base_url(egress, kind, base_url).await?;
    let txn = db.begin().await?;
    let plan = lock_account_for_change(&txn, account_id).await?;
    let replaced = provider_credential::Entity::delete_many()
        .filter(provider_credential::Column::AccountId.eq(account_id))
        .filter(provider_credential::Column::Provider.eq(kind.id()))
        .exec(&txn)
        .await?;
    let limit = plans.limits(plan).providers;
    if replaced.rows_affected == 0 {
        let configured = provider_credential::Entity::find()
            .filter(provider_credential::Column::AccountId.eq(account_id))
            .count(&txn)
            .await?;
        if !limit.allows_one_more(configured) {
            return Err(AccountError::PlanLimit(PlanLimitHit::Providers {
                plan: plan.display_name(),
                included: limit.describe(),
                in_use: configured,
            }));
        }
    }
    let stored = provider_credential::ActiveModel {
        account_id: Set(account_id),
        provider: Set(kind.id().to_owned()),
        base_url: Set(base_url),
        key_ciphertext: Set(master_key.encrypt(api_key.as_bytes())),
        key_hint: Set(if api_key.is_empty() {
            "no key".to_owned()
        } else {
            crypto::mask_secret(api_key)
        }),
        created_at: Set(now_ms()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(provider_view(stored))
}

fn provider_view(stored: provider_credential::Model) -> ProviderView {
    ProviderView {
        id: stored.id,
        provider: stored.provider,
        base_url: stored.base_url,
        key_hint: stored.key_hint,
        created_at: stored.created_at,
    }
}

pub async fn list_providers(
    db: &impl ConnectionTrait,
    account_id: i32,
) -> Result<Vec<ProviderView>, DbErr> {
    Ok(provider_credentials(db, account_id)
        .await?
        .into_iter()
        .map(provider_view)
        .collect())
}

pub(crate) async fn provider_credentials(
    db: &impl ConnectionTrait,
    account_id: i32,
) -> Result<Vec<provider_credential::Model>, DbErr> {
    provider_credential::Entity::find()
        .filter(provider_credential::Column::AccountId.eq(account_id))
        .order_by_asc(provider_credential::Column::Id)
        .all(db)
        .await
}

pub async fn delete_provider(
    db: &DatabaseConnection,
    account_id: i32,
    provider_id: i32,
) -> Result<(), AccountError> {
    let txn = db.begin().await?;
    let deleted = provider_credential::Entity::delete_many()
        .filter(provider_credential::Column::Id.eq(provider_id))
        .filter(provider_credential::Column::AccountId.eq(account_id))
        .exec(&txn)
        .await?;
    if deleted.rows_affected == 0 {
        return Err(AccountError::ProviderNotFound);
    }
    touch_account(&txn, account_id).await?;
    txn.commit().await?;
    Ok(())
}

/// Re-seals every stored provider key under `new` (master-key rotation), in one transaction: a
/// key that `old` does not open aborts the whole rotation and changes nothing. Returns how many
/// keys were re-sealed. Every account is marked changed, so running servers reload them.
pub async fn reseal_provider_keys(
    db: &DatabaseConnection,
    old: &MasterKey,
    new: &MasterKey,
) -> Result<usize, AccountError> {
    let txn = db.begin().await?;
    let stored = provider_credential::Entity::find()
        .order_by_asc(provider_credential::Column::Id)
        .all(&txn)
        .await?;
    let mut accounts = std::collections::BTreeSet::new();
    for credential in &stored {
        let secret = old.decrypt(&credential.key_ciphertext)?;
        provider_credential::ActiveModel {
            id: Set(credential.id),
            key_ciphertext: Set(new.encrypt(&secret)),
            ..Default::default()
        }
        .update(&txn)
        .await?;
        accounts.insert(credential.account_id);
    }
    for account_id in accounts {
        touch_account(&txn, account_id).await?;
    }
    txn.commit().await?;
    Ok(stored.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn base_urls_must_be_http_and_allowed() {
        let local = EgressPolicy::allowing(&["127.0.0.1"]).unwrap();
        assert_eq!(
            validate_base_url(
                &local,
                ProviderKind::OpenAi,
                Some(" http://127.0.0.1:9/v1/ ")
            )
            .await
            .unwrap()
            .as_deref(),
            Some("http://127.0.0.1:9/v1")
        );
        assert_eq!(
            validate_base_url(&local, ProviderKind::OpenAi, Some(""))
                .await
                .unwrap(),
            None
        );
        assert!(
            validate_base_url(&local, ProviderKind::OpenAi, Some("ftp://x"))
                .await
                .is_err()
        );
        assert!(
            validate_base_url(&local, ProviderKind::OpenAi, Some("not a url"))
                .await
                .is_err()
        );
        let strict = EgressPolicy::default();
        let refused =
            validate_base_url(&strict, ProviderKind::OpenAi, Some("http://127.0.0.1:9/v1"))
                .await
                .unwrap_err();
        assert!(
            matches!(refused, AccountError::BaseUrlRefused { .. }),
            "{refused}"
        );
        let refused = validate_base_url(
            &strict,
            ProviderKind::OpenAi,
            Some("https://169.254.169.254/latest"),
        )
        .await
        .unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("169.254.169.254 is a link-local (cloud metadata) address"),
            "{refused}"
        );
    }
}
