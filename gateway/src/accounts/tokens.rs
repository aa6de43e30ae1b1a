//! One-time links sent by e-mail: address verification, password reset, invitations. A link
//! carries a random token; the database keeps only its SHA-256, so a leaked table opens nothing.
//! A token works once (the update that spends it is conditional, so two clicks racing cannot both
//! win) and only until it expires.

use std::time::Duration;

use rand::RngCore;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set,
};

use crate::clock::now_ms;
use crate::entities::email_token;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    VerifyEmail,
    ResetPassword,
    Invitation,
}

impl Purpose {
    fn id(self) -> &'static str {
        match self {
            Purpose::VerifyEmail => "verify_email",
            Purpose::ResetPassword => "reset_password",
            Purpose::Invitation => "invitation",
        }
    }

    /// How long a link of this kind works.
    pub fn lifetime(self) -> Duration {
        match self {
            Purpose::VerifyEmail => Duration::from_secs(24 * 3600),
            Purpose::ResetPassword => Duration::from_secs(3600),
            Purpose::Invitation => Duration::from_secs(7 * 24 * 3600),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("This link is not valid. Ask for a new one.")]
    Invalid,
    #[error("This link has expired. Ask for a new one.")]
    Expired,
    #[error("This link has already been used. Ask for a new one if you still need it.")]
    Used,
    #[error("database error: {0}")]
    Database(#[from] DbErr),
}

/// A spent token: whose it was and what it carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spent {
    pub account_id: i32,
    pub detail: Option<String>,
}

/// The link an e-mail carries: the portal's public address, the page, the token.
pub fn link(base: &str, path: &str, token: &str) -> String {
    format!("{base}{path}?token={token}")
}

fn digest(token: &str) -> String {
    crate::crypto::key_digest(token)
}

/// Makes a token for the account and returns it (to put in a link); only its digest is stored.
pub async fn issue(
    db: &impl ConnectionTrait,
    account_id: i32,
    purpose: Purpose,
    detail: Option<String>,
) -> Result<String, DbErr> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = hex::encode(bytes);
    let now = now_ms();
    let lifetime = i64::try_from(purpose.lifetime().as_millis()).unwrap_or(i64::MAX);
    email_token::ActiveModel {
        account_id: Set(account_id),
        purpose: Set(purpose.id().to_owned()),
        token_digest: Set(digest(&token)),
        detail: Set(detail),
        created_at: Set(now),
        expires_at: Set(now.saturating_add(lifetime)),
        used_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(token)
}

/// What a token would do, without spending it (to show an invitation before it is accepted).
pub async fn peek(
    db: &impl ConnectionTrait,
    token: &str,
    purpose: Purpose,
) -> Result<Spent, TokenError> {
    let stored = find(db, token, purpose).await?;
    Ok(Spent {
        account_id: stored.account_id,
        detail: stored.detail,
    })
}

async fn find(
    db: &impl ConnectionTrait,
    token: &str,
    purpose: Purpose,
) -> Result<email_token::Model, TokenError> {
    let token = token.trim();
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(TokenError::Invalid);
    }
    let stored = email_token::Entity::find()
        .filter(email_token::Column::TokenDigest.eq(digest(token)))
        .filter(email_token::Column::Purpose.eq(purpose.id()))
        .one(db)
        .await?
        .ok_or(TokenError::Invalid)?;
    if stored.used_at.is_some() {
        return Err(TokenError::Used);
    }
    if stored.expires_at <= now_ms() {
        return Err(TokenError::Expired);
    }
    Ok(stored)
}

/// Spends a token: it works this once.
pub async fn spend(
    db: &impl ConnectionTrait,
    token: &str,
    purpose: Purpose,
) -> Result<Spent, TokenError> {
    let stored = find(db, token, purpose).await?;
    let now = now_ms();
    let spent = email_token::Entity::update_many()
        .col_expr(email_token::Column::UsedAt, Expr::value(now))
        .filter(email_token::Column::Id.eq(stored.id))
        .filter(email_token::Column::UsedAt.is_null())
        .filter(email_token::Column::ExpiresAt.gt(now))
        .exec(db)
        .await?;
    if spent.rows_affected == 0 {
        // Another click spent it between the read and the update.
        return Err(TokenError::Used);
    }
    Ok(Spent {
        account_id: stored.account_id,
        detail: stored.detail,
    })
}

/// Makes an account's unused tokens of one kind useless (a new link replaces older ones).
pub async fn revoke_unused(
    db: &impl ConnectionTrait,
    account_id: i32,
    purpose: Purpose,
) -> Result<(), DbErr> {
    revoke_unused_for(db, account_id, purpose, None).await
}

/// The same, for the tokens that carry `detail` (a member's reset links), or none (the owner's).
pub async fn revoke_unused_for(
    db: &impl ConnectionTrait,
    account_id: i32,
    purpose: Purpose,
    detail: Option<&str>,
) -> Result<(), DbErr> {
    let whose = match detail {
        Some(detail) => email_token::Column::Detail.eq(detail),
        None => email_token::Column::Detail.is_null(),
    };
    email_token::Entity::update_many()
        .col_expr(email_token::Column::UsedAt, Expr::value(now_ms()))
        .filter(email_token::Column::AccountId.eq(account_id))
        .filter(email_token::Column::Purpose.eq(purpose.id()))
        .filter(email_token::Column::UsedAt.is_null())
        .filter(whose)
        .exec(db)
        .await?;
    Ok(())
}

/// The account's links of one kind that still work (unused, unexpired), oldest first: the
/// invitations the Members page lists as pending.
pub async fn live(
    db: &impl ConnectionTrait,
    account_id: i32,
    purpose: Purpose,
) -> Result<Vec<email_token::Model>, DbErr> {
    email_token::Entity::find()
        .filter(email_token::Column::AccountId.eq(account_id))
        .filter(email_token::Column::Purpose.eq(purpose.id()))
        .filter(email_token::Column::UsedAt.is_null())
        .filter(email_token::Column::ExpiresAt.gt(now_ms()))
        .order_by_asc(email_token::Column::Id)
        .all(db)
        .await
}

/// Makes one of the account's links useless at once; false when it was not the account's, not
/// of this kind, or no longer worked.
pub async fn withdraw(
    db: &impl ConnectionTrait,
    account_id: i32,
    id: i32,
    purpose: Purpose,
) -> Result<bool, DbErr> {
    let withdrawn = email_token::Entity::update_many()
        .col_expr(email_token::Column::UsedAt, Expr::value(now_ms()))
        .filter(email_token::Column::Id.eq(id))
        .filter(email_token::Column::AccountId.eq(account_id))
        .filter(email_token::Column::Purpose.eq(purpose.id()))
        .filter(email_token::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok(withdrawn.rows_affected == 1)
}
