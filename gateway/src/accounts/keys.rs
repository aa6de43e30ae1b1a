//! Gateway keys: created with a secret shown once (only its SHA-256 digest is stored), listed,
//! revoked, found by the prefix the portal shows.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, Set, TransactionTrait,
};

use super::account::{lock_account_for_change, touch_account};
use super::error::{AccountError, MAX_KEY_NAME_LEN, PlanLimitHit};
use crate::clock::now_ms;
use crate::crypto::{self, GATEWAY_KEY_SHOWN_LEN};
use crate::entities::gateway_key;
use crate::plans::PlanTable;

/// Sets one column of one of the account's active keys, and marks the account changed.
pub(super) async fn update_active_key(
    db: &DatabaseConnection,
    account_id: i32,
    key_id: i32,
    column: gateway_key::Column,
    value: sea_orm::sea_query::SimpleExpr,
) -> Result<(), AccountError> {
    let txn = db.begin().await?;
    let updated = gateway_key::Entity::update_many()
        .col_expr(column, value)
        .filter(gateway_key::Column::Id.eq(key_id))
        .filter(gateway_key::Column::AccountId.eq(account_id))
        .filter(gateway_key::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    if updated.rows_affected == 0 {
        return Err(AccountError::KeyNotFound);
    }
    touch_account(&txn, account_id).await?;
    txn.commit().await?;
    Ok(())
}

/// A new gateway key: `secret` is shown once and never stored.
pub struct CreatedKey {
    pub secret: String,
    pub key: gateway_key::Model,
}

pub async fn create_gateway_key(
    db: &DatabaseConnection,
    plans: &crate::plans::PlanTable,
    account_id: i32,
    name: &str,
) -> Result<CreatedKey, AccountError> {
    create_member_key(db, plans, account_id, None, name).await
}

/// A key created by a member of the organisation (`None`: the owner), revoked with that member.
pub async fn create_member_key(
    db: &DatabaseConnection,
    plans: &PlanTable,
    account_id: i32,
    member_id: Option<i32>,
    name: &str,
) -> Result<CreatedKey, AccountError> {
    let name = name.trim();
    if name.chars().count() > MAX_KEY_NAME_LEN {
        return Err(AccountError::KeyNameTooLong);
    }
    let name = if name.is_empty() { "default" } else { name };
    let secret = crypto::generate_gateway_key();
    let txn = db.begin().await?;
    let plan = lock_account_for_change(&txn, account_id).await?;
    let limit = plans.limits(plan).gateway_keys;
    let active = gateway_key::Entity::find()
        .filter(gateway_key::Column::AccountId.eq(account_id))
        .filter(gateway_key::Column::RevokedAt.is_null())
        .count(&txn)
        .await?;
    if !limit.allows_one_more(active) {
        return Err(AccountError::PlanLimit(PlanLimitHit::GatewayKeys {
            plan: plan.display_name(),
            included: limit.describe(),
            in_use: active,
        }));
    }
    let key = gateway_key::ActiveModel {
        account_id: Set(account_id),
        name: Set(name.to_owned()),
        prefix: Set(secret[..GATEWAY_KEY_SHOWN_LEN].to_owned()),
        key_digest: Set(crypto::key_digest(&secret)),
        created_at: Set(now_ms()),
        last_used_at: Set(None),
        revoked_at: Set(None),
        created_by_member: Set(member_id),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(CreatedKey { secret, key })
}

/// The account's keys, newest first, revoked ones included (they show as revoked).
pub async fn list_gateway_keys(
    db: &DatabaseConnection,
    account_id: i32,
) -> Result<Vec<gateway_key::Model>, DbErr> {
    gateway_key::Entity::find()
        .filter(gateway_key::Column::AccountId.eq(account_id))
        .order_by_desc(gateway_key::Column::CreatedAt)
        .order_by_desc(gateway_key::Column::Id)
        .all(db)
        .await
}

pub async fn revoke_gateway_key(
    db: &DatabaseConnection,
    account_id: i32,
    key_id: i32,
) -> Result<(), AccountError> {
    update_active_key(
        db,
        account_id,
        key_id,
        gateway_key::Column::RevokedAt,
        Expr::value(now_ms()),
    )
    .await
}

/// Finds the one active key of the account that `prefix` (any leading part of the key, as the
/// portal shows it, or the whole key) designates.
pub async fn find_key_by_prefix(
    db: &DatabaseConnection,
    account_id: i32,
    prefix: &str,
) -> Result<gateway_key::Model, AccountError> {
    let prefix = prefix.trim();
    if prefix.is_empty() {
        return Err(AccountError::KeyNotFound);
    }
    let active: Vec<_> = list_gateway_keys(db, account_id)
        .await?
        .into_iter()
        .filter(|key| key.revoked_at.is_none())
        .collect();
    if crypto::looks_like_gateway_key(prefix) {
        let digest = crypto::key_digest(prefix);
        return active
            .into_iter()
            .find(|key| key.key_digest == digest)
            .ok_or(AccountError::KeyNotFound);
    }
    // Past the stored prefix nothing more can be compared, so a longer partial key is matched on
    // the part that is stored.
    // Keys are ASCII: a prefix with anything else matches none (and is not cut mid-character).
    if !prefix.is_ascii() {
        return Err(AccountError::KeyNotFound);
    }
    let comparable = &prefix[..prefix.len().min(GATEWAY_KEY_SHOWN_LEN)];
    let mut matches: Vec<_> = active
        .into_iter()
        .filter(|key| key.prefix.starts_with(comparable))
        .collect();
    match matches.len() {
        0 => Err(AccountError::KeyNotFound),
        1 => Ok(matches.remove(0)),
        count => Err(AccountError::AmbiguousKeyPrefix {
            prefix: prefix.to_owned(),
            count,
        }),
    }
}
