//! Budgets and rate limits of the account and of each of its keys, stored as JSON
//! ([`crate::limits::Limits`]).

use std::collections::HashMap;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, TransactionTrait,
};

use super::account::account_by_id;
use super::error::AccountError;
use super::keys::update_active_key;
use crate::entities::{account, gateway_key};
use crate::limits::Limits;

/// The account's limits, and those of each active key that has its own.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountLimits {
    pub account: Limits,
    pub keys: HashMap<i32, Limits>,
}

pub async fn account_limits(
    db: &impl ConnectionTrait,
    account_id: i32,
) -> Result<AccountLimits, AccountError> {
    let Some(account) = account_by_id(db, account_id).await? else {
        return Ok(AccountLimits::default());
    };
    let mut limits = AccountLimits {
        account: Limits::parse(account.limits.as_deref().unwrap_or_default())?,
        ..Default::default()
    };
    let keys = gateway_key::Entity::find()
        .filter(gateway_key::Column::AccountId.eq(account_id))
        .filter(gateway_key::Column::RevokedAt.is_null())
        .filter(gateway_key::Column::Limits.is_not_null())
        .all(db)
        .await?;
    for key in keys {
        limits.keys.insert(
            key.id,
            Limits::parse(key.limits.as_deref().unwrap_or_default())?,
        );
    }
    Ok(limits)
}

/// Replaces the account's (the organisation's) limits; empty limits clear them.
pub async fn set_account_limits(
    db: &DatabaseConnection,
    account_id: i32,
    limits: &Limits,
) -> Result<(), AccountError> {
    limits.validate()?;
    let txn = db.begin().await?;
    let updated = account::Entity::update_many()
        .col_expr(account::Column::Limits, Expr::value(limits.to_json()))
        .filter(account::Column::Id.eq(account_id))
        .exec(&txn)
        .await?;
    if updated.rows_affected == 0 {
        return Err(AccountError::UnknownEmail(format!("account {account_id}")));
    }
    super::account::touch_account(&txn, account_id).await?;
    txn.commit().await?;
    Ok(())
}

/// Replaces one key's limits; the key must be the account's and active.
pub async fn set_key_limits(
    db: &DatabaseConnection,
    account_id: i32,
    key_id: i32,
    limits: &Limits,
) -> Result<(), AccountError> {
    limits.validate()?;
    update_active_key(
        db,
        account_id,
        key_id,
        gateway_key::Column::Limits,
        Expr::value(limits.to_json()),
    )
    .await
}
