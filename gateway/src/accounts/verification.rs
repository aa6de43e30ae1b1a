//! Sign-up with address verification, and password reset by a one-time link. The links' tokens
//! are in [`super::tokens`]; sending the e-mails is the caller's (the portal's) part.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, TransactionTrait};

use super::account::{NewAccount, check_password_strength, find_account};
use super::error::AccountError;
use super::tokens::{self, Purpose, TokenError};
use crate::clock::now_ms;
use crate::crypto;
use crate::entities::{account, member};
use crate::mail::Lang;
use crate::plans::Plan;

impl From<TokenError> for AccountError {
    fn from(err: TokenError) -> Self {
        match err {
            TokenError::Database(err) => AccountError::Database(err),
            other => AccountError::Link(other),
        }
    }
}

/// What a sign-up leads to. The portal answers every outcome alike (no session, "check your
/// inbox"); only the e-mail differs, and it goes to the address's owner. So the form does not tell
/// who has an account, and neither does the time it takes: the password is hashed in every case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignUp {
    /// A new account, or one still unconfirmed: the confirmation link to send.
    Confirm {
        email: String,
        lang: Lang,
        token: String,
    },
    /// The address already logs in (a confirmed account or a member): tell its owner instead.
    AlreadyRegistered { email: String, lang: Lang },
    /// The installation's first account, on a server that sends no mail: confirmed at once (its
    /// operator is the one signing up, and no link could reach them but through the log).
    FirstAccount { account_id: i32, email: String },
}

/// Signs up `email`. An account whose address nobody has confirmed yet takes the latest
/// sign-up's password and language, and its older links stop working: only the address's owner
/// can follow the new one, so a stranger's earlier sign-up cannot keep the account. With
/// `confirm_first` (no mail is sent), the first account of the database is confirmed at once.
pub async fn sign_up(
    db: &DatabaseConnection,
    email: &str,
    password: &str,
    lang: Lang,
    confirm_first: bool,
) -> Result<SignUp, AccountError> {
    let email = super::account::normalize_email(email)?;
    check_password_strength(password, &email)?;
    let password_hash = crypto::hash_password(password.to_owned()).await?;
    if let Some(member) = super::members::find_member(db, &email).await? {
        let lang = Lang::of_stored(member.locale.as_deref());
        return Ok(SignUp::AlreadyRegistered { email, lang });
    }
    let txn = db.begin().await?;
    let account_id = match find_account(&txn, &email).await? {
        Some(account) if account.email_verified_at.is_some() => {
            let lang = lang_of(&account);
            return Ok(SignUp::AlreadyRegistered { email, lang });
        }
        Some(account) => {
            account::Entity::update_many()
                .col_expr(account::Column::PasswordHash, Expr::value(password_hash))
                .col_expr(account::Column::Locale, Expr::value(lang.code()))
                .col_expr(account::Column::UpdatedAt, Expr::value(now_ms()))
                .filter(account::Column::Id.eq(account.id))
                .exec(&txn)
                .await?;
            tokens::revoke_unused(&txn, account.id, Purpose::VerifyEmail).await?;
            account.id
        }
        None => {
            let new = NewAccount {
                email: email.clone(),
                password_hash,
                plan: Plan::Free,
                email_verified_at: None,
                lang,
            };
            match super::account::insert_account(&txn, new).await {
                Ok(account) if confirm_first && is_first_account(&txn, account.id).await? => {
                    account::Entity::update_many()
                        .col_expr(account::Column::EmailVerifiedAt, Expr::value(now_ms()))
                        .filter(account::Column::Id.eq(account.id))
                        .exec(&txn)
                        .await?;
                    txn.commit().await?;
                    return Ok(SignUp::FirstAccount {
                        account_id: account.id,
                        email,
                    });
                }
                Ok(account) => account.id,
                // Another sign-up for this address won the race: its link is on its way.
                Err(AccountError::EmailTaken) => {
                    return Ok(SignUp::AlreadyRegistered { email, lang });
                }
                Err(err) => return Err(err),
            }
        }
    };
    let token = tokens::issue(&txn, account_id, Purpose::VerifyEmail, None).await?;
    txn.commit().await?;
    Ok(SignUp::Confirm { email, lang, token })
}

/// Whether `account_id`, just inserted by `txn`, is the only account: the installation's first.
async fn is_first_account(
    txn: &impl sea_orm::ConnectionTrait,
    account_id: i32,
) -> Result<bool, AccountError> {
    use sea_orm::PaginatorTrait as _;
    let others = account::Entity::find()
        .filter(account::Column::Id.ne(account_id))
        .count(txn)
        .await?;
    Ok(others == 0)
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
    let Some(account) = super::account::account_by_id(db, account_id).await? else {
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
        None => super::account::account_by_id(db, found.account_id)
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

/// An account whose address counts as confirmed: made by the operator (CLI) or by tests.
pub async fn create_account(
    db: &DatabaseConnection,
    email: &str,
    password: &str,
    plan: Plan,
) -> Result<account::Model, AccountError> {
    let email = super::account::normalize_email(email)?;
    check_password_strength(password, &email)?;
    if find_account(db, &email).await?.is_some()
        || super::members::find_member(db, &email).await?.is_some()
    {
        return Err(AccountError::EmailTaken);
    }
    let password_hash = crypto::hash_password(password.to_owned()).await?;
    let new = NewAccount {
        email,
        password_hash,
        plan,
        email_verified_at: Some(now_ms()),
        lang: crate::mail::Lang::En,
    };
    super::account::insert_account(db, new).await
}
