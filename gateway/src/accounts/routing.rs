//! Routing overrides of the account and of each of its keys, stored as JSON.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, TransactionTrait,
};

use super::account::account_by_id;
use super::error::AccountError;
use super::keys::update_active_key;
use crate::entities::{account, gateway_key};
use crate::routing::RoutingPolicy;

/// The account's routing overrides, and those of each active key that has its own.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoutingPolicies {
    pub account: RoutingPolicy,
    pub keys: std::collections::HashMap<i32, RoutingPolicy>,
}

impl RoutingPolicies {
    /// What applies to requests made with `key_id`.
    pub fn effective(&self, key_id: i32) -> RoutingPolicy {
        RoutingPolicy::merged(&self.account, self.keys.get(&key_id))
    }
}

/// The latest move of the account's routing threshold by calibration (`crate::quality`): its
/// `new_threshold` is the threshold in force.
pub async fn latest_threshold_change(
    db: &impl ConnectionTrait,
    account_id: i32,
) -> Result<Option<crate::entities::threshold_change::Model>, sea_orm::DbErr> {
    use crate::entities::threshold_change;
    use sea_orm::{ColumnTrait as _, EntityTrait as _, QueryFilter as _, QueryOrder as _};
    threshold_change::Entity::find()
        .filter(threshold_change::Column::AccountId.eq(account_id))
        .order_by_desc(threshold_change::Column::ChangedAt)
        .order_by_desc(threshold_change::Column::Id)
        .one(db)
        .await
}

pub async fn routing_policies(
    db: &impl ConnectionTrait,
    account_id: i32,
) -> Result<RoutingPolicies, AccountError> {
    let Some(account) = account_by_id(db, account_id).await? else {
        return Ok(RoutingPolicies::default());
    };
    let mut policies = RoutingPolicies {
        account: RoutingPolicy::parse(account.routing_policy.as_deref().unwrap_or_default())?,
        ..Default::default()
    };
    let keys = gateway_key::Entity::find()
        .filter(gateway_key::Column::AccountId.eq(account_id))
        .filter(gateway_key::Column::RevokedAt.is_null())
        .filter(gateway_key::Column::RoutingPolicy.is_not_null())
        .all(db)
        .await?;
    for key in keys {
        policies.keys.insert(
            key.id,
            RoutingPolicy::parse(key.routing_policy.as_deref().unwrap_or_default())?,
        );
    }
    Ok(policies)
}

/// Replaces the account's routing overrides (the empty policy clears them).
pub async fn set_account_routing_policy(
    db: &DatabaseConnection,
    account_id: i32,
    policy: &RoutingPolicy,
) -> Result<(), AccountError> {
    policy.validate()?;
    let txn = db.begin().await?;
    account::Entity::update_many()
        .col_expr(
            account::Column::RoutingPolicy,
            Expr::value(policy.to_stored()),
        )
        .filter(account::Column::Id.eq(account_id))
        .exec(&txn)
        .await?;
    super::account::touch_account(&txn, account_id).await?;
    txn.commit().await?;
    Ok(())
}

/// Replaces one key's routing overrides; the key must be the account's and active.
pub async fn set_key_routing_policy(
    db: &DatabaseConnection,
    account_id: i32,
    key_id: i32,
    policy: &RoutingPolicy,
) -> Result<(), AccountError> {
    policy.validate()?;
    update_active_key(
        db,
        account_id,
        key_id,
        gateway_key::Column::RoutingPolicy,
        Expr::value(policy.to_stored()),
    )
    .await
}
