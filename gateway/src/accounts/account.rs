//! The account itself: its address and password, finding it, and marking it changed.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, Set, SqlErr, TransactionTrait,
};

use super::error::{AccountError, MAX_PASSWORD_LEN, MIN_PASSWORD_LEN, Weakness};
use crate::clock::now_ms;
use crate::crypto;
use crate::entities::account;
use crate::plans::Plan;

/// Normalises and checks an email address: trimmed, lower-cased, one `@` with text around it.
pub fn normalize_email(email: &str) -> Result<String, AccountError> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && matches!(email.split_once('@'), Some((local, domain))
            if !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.') && !domain.contains('@'));
    if valid {
        Ok(email)
    } else {
        Err(AccountError::InvalidEmail)
    }
}

/// Length first (NIST 800-63B), plus a refusal of the obviously guessable.
pub fn check_password_strength(password: &str, email: &str) -> Result<(), AccountError> {
    let weak = |why: Weakness| Err(AccountError::WeakPassword(why));
    let length = password.chars().count();
    if length < MIN_PASSWORD_LEN {
        return weak(Weakness::TooShort);
    }
    if length > MAX_PASSWORD_LEN {
        return weak(Weakness::TooLong);
    }
    let distinct: std::collections::HashSet<char> = password.chars().collect();
    if distinct.len() < 4 {
        return weak(Weakness::Repetitive);
    }
    let lowered = password.to_lowercase();
    let local_part = email.split('@').next().unwrap_or_default();
    let common = [
        "password", "123456", "qwerty", "letmein", "welcome", "iloveyou", "admin",
    ];
    if common.iter().any(|word| lowered.contains(word))
        || (local_part.len() >= 4 && lowered.contains(local_part))
    {
        return weak(Weakness::Guessable);
    }
    Ok(())
}

/// A row for `accounts`: the address normalised, the password hashed.
pub(crate) struct NewAccount {
    pub email: String,
    pub password_hash: String,
    pub plan: Plan,
    pub email_verified_at: Option<i64>,
    pub lang: crate::mail::Lang,
}

/// Inserts the account; `EmailTaken` when the address has one already (two sign-ups racing for
/// one address: the unique index decides).
pub(crate) async fn insert_account(
    db: &impl ConnectionTrait,
    new: NewAccount,
) -> Result<account::Model, AccountError> {
    let now = now_ms();
    let inserted = account::ActiveModel {
        email: Set(new.email),
        password_hash: Set(new.password_hash),
        plan: Set(new.plan.id().to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
        email_verified_at: Set(new.email_verified_at),
        locale: Set(Some(new.lang.code().to_owned())),
        ..Default::default()
    }
    .insert(db)
    .await;
    match inserted {
        Ok(account) => Ok(account),
        Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            Err(AccountError::EmailTaken)
        }
        Err(err) => Err(err.into()),
    }
}

pub async fn find_account(
    db: &impl ConnectionTrait,
    email: &str,
) -> Result<Option<account::Model>, AccountError> {
    let Ok(email) = normalize_email(email) else {
        return Ok(None);
    };
    Ok(account::Entity::find()
        .filter(account::Column::Email.eq(email))
        .one(db)
        .await?)
}

pub async fn account_by_email(
    db: &impl ConnectionTrait,
    email: &str,
) -> Result<account::Model, AccountError> {
    find_account(db, email)
        .await?
        .ok_or_else(|| AccountError::UnknownEmail(email.trim().to_owned()))
}

pub async fn account_by_id(
    db: &impl ConnectionTrait,
    account_id: i32,
) -> Result<Option<account::Model>, DbErr> {
    account::Entity::find_by_id(account_id).one(db).await
}

/// Checks email and password. An unknown email costs the same hashing work as a wrong password,
/// so response times do not reveal which emails have accounts.
pub async fn authenticate_password(
    db: &DatabaseConnection,
    email: &str,
    password: &str,
) -> Result<account::Model, AccountError> {
    static DUMMY_HASH: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    let account = find_account(db, email).await?;
    let stored = match &account {
        Some(account) => account.password_hash.clone(),
        None => DUMMY_HASH
            .get_or_try_init(|| crypto::hash_password("no such account".into()))
            .await?
            .clone(),
    };
    let verified = crypto::verify_password(password.to_owned(), stored).await;
    match account {
        Some(account) if verified => Ok(account),
        _ => Err(AccountError::WrongCredentials),
    }
}

/// Marks the account changed so that every running server drops what it cached about it.
/// It stamps `updated_at` and adds the change to the journal, whose database-assigned numbers the
/// servers follow (`crate::directory`).
pub async fn touch_account(db: &impl ConnectionTrait, account_id: i32) -> Result<(), DbErr> {
    let now = now_ms();
    account::Entity::update_many()
        .col_expr(account::Column::UpdatedAt, Expr::value(now))
        .filter(account::Column::Id.eq(account_id))
        .exec(db)
        .await?;
    crate::entities::account_change::ActiveModel {
        account_id: sea_orm::Set(account_id),
        changed_at: sea_orm::Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

pub async fn set_plan(
    db: &DatabaseConnection,
    account_id: i32,
    plan: Plan,
) -> Result<(), AccountError> {
    let txn = db.begin().await?;
    account::Entity::update_many()
        .col_expr(account::Column::Plan, Expr::value(plan.id()))
        .filter(account::Column::Id.eq(account_id))
        .exec(&txn)
        .await?;
    touch_account(&txn, account_id).await?;
    txn.commit().await?;
    Ok(())
}

/// Marks the account changed and, on PostgreSQL, locks its row until the transaction ends, so
/// that concurrent additions are counted one after another; returns its plan.
pub(super) async fn lock_account_for_change(
    txn: &impl ConnectionTrait,
    account_id: i32,
) -> Result<Plan, AccountError> {
    touch_account(txn, account_id).await?;
    let Some(account) = account_by_id(txn, account_id).await? else {
        return Err(AccountError::UnknownEmail(format!("account {account_id}")));
    };
    Ok(Plan::stored(&account.plan))
}

/// Requests recorded for the account since `since_ms` (one counted event per request).
pub async fn count_requests(
    db: &DatabaseConnection,
    account_id: i32,
    since_ms: i64,
) -> Result<u64, DbErr> {
    crate::quota::counted_requests(db, account_id, since_ms).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            normalize_email("  Ada@Example.COM ").unwrap(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a da@example.com",
            "a@b@c.com",
            "ada@.com",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn weak_passwords_are_refused_with_a_reason() {
        for weak in ["short", "aaaaaaaaaaaa", "mypassword123", "ada.lovelace!!"] {
            let err = check_password_strength(weak, "ada.lovelace@example.com").unwrap_err();
            assert!(matches!(err, AccountError::WeakPassword(_)), "{weak}");
        }
        check_password_strength("correct horse battery", "ada@example.com").unwrap();
    }
}
