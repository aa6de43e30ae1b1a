//! Sign-up with address verification, and password reset by a one-time link. The links' tokens
//! are in [`super::tokens`]; sending the e-mails is the caller's (the portal's) part.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, TransactionTrait};

use super::tokens::{self, Purpose, TokenError};
use super::{AccountError, Plan, check_password_strength, find_account};
use crate::clock::now_ms;
use crate::crypto;
use crate::entities::{account, member};
use crate::mail::Lang;

impl From<TokenError> for AccountError {
    fn from(err: TokenError) -> Self {
        match err {
            TokenError::Database(err) => AccountError::Database(err),
            other => AccountError::Link(other),
        }
    }
}

/// A new account whose address is not confirmed yet, and the token of its confirmation link.
pub async fn sign_up(
    db: &DatabaseConnection,
    email: &str,
    password: &str,
    lang: Lang,
) -> Result<(account::Model, String), AccountError> {
    let created = super::create_account_unverified(db, email, password, Plan::Free, lang).await?;
    let token = tokens::issue(db, created.id, Purpose::VerifyEmail, None).await?;
    Ok((created, token))
}

/// Confirms the address the link was sent to.
pub async fn confirm_email(db: &DatabaseConnection, token: &str) -> Result<i32, AccountError> {
    let spent = tokens::spend(db, token, Purpose::VerifyEmail).await?;
    account::Entity::update_many()
        .col_expr(account::Column::EmailVerifiedAt, Expr::value(now_ms()))
        .filter(account::Column::Id.eq(spent.account_id))
        .filter(account::Column::EmailVerifiedAt.is_null())
        .exec(db)
        .await?;
    Ok(spent.account_id)
}

/// A fresh confirmation link for an account still unconfirmed (older links stop working);
/// `None` when it is confirmed already.
pub async fn renew_verification(
    db: &DatabaseConnection,
    account_id: i32,
) -> Result<Option<(account::Model, String)>, AccountError> {
    let Some(account) = super::account_by_id(db, account_id).await? else {
        return Err(AccountError::UnknownEmail(format!("account {account_id}")));
    };
    if account.email_verified_at.is_some() {
        return Ok(None);
    }
    tokens::revoke_unused(db, account_id, Purpose::VerifyEmail).await?;
    let token = tokens::issue(db, account_id, Purpose::VerifyEmail, None).await?;
    Ok(Some((account, token)))
}

/// A reset link, and where and in which language to send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordReset {
    pub email: String,
    pub lang: Lang,
    pub token: String,
}

/// A reset link for the owner or the member who logs in with this address; `None` for an unknown
/// address, which the caller must answer exactly as a known one (no one learns who has a login).
/// A member's link carries the member's id, so it resets that member's password only.
pub async fn start_password_reset(
    db: &DatabaseConnection,
    email: &str,
) -> Result<Option<PasswordReset>, AccountError> {
    let (account_id, member_id, email, lang) = match find_account(db, email).await? {
        Some(account) => (account.id, None, account.email.clone(), lang_of(&account)),
        None => match super::members::find_member(db, email).await? {
            Some(member) => {
                let lang = Lang::of_stored(member.locale.as_deref());
                (member.account_id, Some(member.id), member.email, lang)
            }
            None => return Ok(None),
        },
    };
    let detail = member_id.map(|id| id.to_string());
    let txn = db.begin().await?;
    tokens::revoke_unused_for(&txn, account_id, Purpose::ResetPassword, detail.as_deref()).await?;
    let token = tokens::issue(&txn, account_id, Purpose::ResetPassword, detail).await?;
    txn.commit().await?;
    Ok(Some(PasswordReset { email, lang, token }))
}

/// Sets a new password with a reset link: the owner's, or the member's the link names. Following
/// it also proves the address, so an unconfirmed account becomes confirmed.
pub async fn reset_password(
    db: &DatabaseConnection,
    token: &str,
    new_password: &str,
) -> Result<i32, AccountError> {
    // The password is checked before the link is spent, so a weak one can be corrected.
    let found = tokens::peek(db, token, Purpose::ResetPassword).await?;
    let invalid = || AccountError::Link(TokenError::Invalid);
    let member_id: Option<i32> = match &found.detail {
        None => None,
        Some(detail) => Some(detail.parse().map_err(|_| invalid())?),
    };
    let email = match member_id {
        None => super::account_by_id(db, found.account_id)
            .await?
            .map(|a| a.email),
        Some(id) => member::Entity::find_by_id(id)
            .filter(member::Column::AccountId.eq(found.account_id))
            .one(db)
            .await?
            .map(|m| m.email),
    };
    let email = email.ok_or_else(invalid)?;
    check_password_strength(new_password, &email)?;
    let hash = crypto::hash_password(new_password.to_owned()).await?;
    let txn = db.begin().await?;
    tokens::spend(&txn, token, Purpose::ResetPassword).await?;
    match member_id {
        None => {
            account::Entity::update_many()
                .col_expr(account::Column::PasswordHash, Expr::value(hash))
                .col_expr(
                    account::Column::EmailVerifiedAt,
                    Expr::col(account::Column::EmailVerifiedAt).if_null(now_ms()),
                )
                .filter(account::Column::Id.eq(found.account_id))
                .exec(&txn)
                .await?;
        }
        Some(id) => {
            member::Entity::update_many()
                .col_expr(member::Column::PasswordHash, Expr::value(hash))
                .filter(member::Column::Id.eq(id))
                .filter(member::Column::AccountId.eq(found.account_id))
                .exec(&txn)
                .await?;
        }
    }
    txn.commit().await?;
    Ok(found.account_id)
}

/// The account's e-mail language.
pub fn lang_of(account: &account::Model) -> Lang {
    Lang::of_stored(account.locale.as_deref())
}
