//! Organisations: the account is the billing unit, its owner logs in with the account's address,
//! and members invited by e-mail log in with their own, each with a role:
//!
//! | role   | billing, delete | keys of everyone, providers, routing, limits, members | own keys | analytics |
//! |--------|-----------------|-------------------------------------------------------|----------|-----------|
//! | owner  | yes             | yes                                                   | yes      | yes       |
//! | admin  |                 | yes                                                   | yes      | yes       |
//! | member |                 |                                                       | yes      | yes       |
//! | viewer |                 |                                                       |          | yes       |
//!
//! Removing a member revokes the keys they created: a key outlives no one's access to the
//! organisation, and nobody inherits a secret they never saw.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
    TransactionTrait,
};
use serde::{Deserialize, Serialize};

use super::account::{check_password_strength, find_account, normalize_email};
use super::error::AccountError;
pub use super::error::MemberProblem;
use super::tokens::{self, Purpose};
use crate::clock::now_ms;
use crate::crypto;
use crate::entities::{gateway_key, member};
use crate::mail::Lang;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Admin,
    Member,
    Viewer,
}

/// What a portal page or server function does, for the role check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The plan and payment; deleting the organisation.
    Billing,
    /// Everyone's keys, providers, routing, limits and members.
    Administer,
    /// Create, see and revoke one's own keys.
    OwnKeys,
    /// The dashboard and analytics.
    ReadAnalytics,
}

impl Role {
    pub fn id(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(id: &str) -> Option<Self> {
        match id.trim().to_ascii_lowercase().as_str() {
            "owner" => Some(Role::Owner),
            "admin" => Some(Role::Admin),
            "member" => Some(Role::Member),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }

    pub fn allows(self, action: Action) -> bool {
        match action {
            Action::Billing => self == Role::Owner,
            Action::Administer => matches!(self, Role::Owner | Role::Admin),
            Action::OwnKeys => self != Role::Viewer,
            Action::ReadAnalytics => true,
        }
    }
}

/// Who is acting in the portal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub account_id: i32,
    /// `None`: the owner.
    pub member_id: Option<i32>,
    pub role: Role,
    /// The signed-in person's own address (a member's, not the owner's).
    pub email: String,
}

impl Actor {
    /// Whether this person may see and revoke a key made by `creator` (`None`: the owner):
    /// owners and admins every key, members the keys they made, viewers none.
    pub fn manages_key(&self, creator: Option<i32>) -> bool {
        self.role.allows(Action::Administer)
            || (self.role.allows(Action::OwnKeys) && creator == self.member_id)
    }
}

/// A successful log-in: the organisation, and the member unless it is the owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Login {
    pub account_id: i32,
    pub member_id: Option<i32>,
}

/// What an invitation link carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    pub email: String,
    pub role: Role,
}

pub async fn find_member(
    db: &DatabaseConnection,
    email: &str,
) -> Result<Option<member::Model>, AccountError> {
    let Ok(email) = normalize_email(email) else {
        return Ok(None);
    };
    Ok(member::Entity::find()
        .filter(member::Column::Email.eq(email))
        .one(db)
        .await?)
}

/// The person a session names, with the fingerprint of their current password (see
/// [`auth_stamp`]), read in one query; `None` if the member was removed or the account is gone.
pub async fn signed_in(
    db: &DatabaseConnection,
    account_id: i32,
    member_id: Option<i32>,
) -> Result<Option<(Actor, String)>, AccountError> {
    let found = match member_id {
        None => super::account::account_by_id(db, account_id)
            .await?
            .map(|owner| (Role::Owner, owner.email, owner.password_hash)),
        Some(member_id) => member::Entity::find_by_id(member_id)
            .filter(member::Column::AccountId.eq(account_id))
            .one(db)
            .await?
            .and_then(|member| {
                Some((
                    Role::parse(&member.role)?,
                    member.email,
                    member.password_hash,
                ))
            }),
    };
    Ok(found.map(|(role, email, hash)| {
        let actor = Actor {
            account_id,
            member_id,
            role,
            email,
        };
        (actor, crypto::key_digest(&hash)[..16].to_owned())
    }))
}

/// Checks a password against the owner of an account or a member: one argon2 verification either
/// way, and the same error for an unknown address as for a wrong password.
pub async fn authenticate(
    db: &DatabaseConnection,
    email: &str,
    password: &str,
) -> Result<Login, AccountError> {
    if find_account(db, email).await?.is_some() {
        let account = super::account::authenticate_password(db, email, password).await?;
        if account.email_verified_at.is_none() {
            return Err(AccountError::Unconfirmed(account.id));
        }
        return Ok(Login {
            account_id: account.id,
            member_id: None,
        });
    }
    let Some(member) = find_member(db, email).await? else {
        // The dummy verification inside keeps the timing of an unknown address.
        super::account::authenticate_password(db, email, password).await?;
        return Err(AccountError::WrongCredentials);
    };
    if crypto::verify_password(password.to_owned(), member.password_hash.clone()).await {
        Ok(Login {
            account_id: member.account_id,
            member_id: Some(member.id),
        })
    } else {
        Err(AccountError::WrongCredentials)
    }
}

/// An invitation made: the address it is for (normalised) and the link's token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invited {
    pub email: String,
    pub token: String,
}

/// An invitation to the organisation for `email` with `role`.
pub async fn invite(
    db: &DatabaseConnection,
    account_id: i32,
    email: &str,
    role: Role,
) -> Result<Invited, AccountError> {
    if role == Role::Owner {
        return Err(AccountError::Members(MemberProblem::InviteOwner));
    }
    // Whether the address already has a login is not the inviter's to learn: the invitation is
    // sent either way, and only whoever follows the link is told it cannot be accepted.
    let email = normalize_email(email)?;
    let detail = serde_json::to_string(&Invitation {
        email: email.clone(),
        role,
    })
    .unwrap_or_default();
    // A newer invitation to the same address replaces the older ones (as a newer reset link
    // does): one link per address works, and the Members page lists it once.
    for older in pending_invitations(db, account_id).await? {
        if older.email == email {
            tokens::withdraw(db, account_id, older.id, Purpose::Invitation).await?;
        }
    }
    let token = tokens::issue(db, account_id, Purpose::Invitation, Some(detail)).await?;
    Ok(Invited { email, token })
}

/// An invitation sent and not yet accepted (nor withdrawn, nor expired).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingInvitation {
    pub id: i32,
    pub email: String,
    pub role: Role,
    pub expires_at: i64,
}

/// The organisation's invitations still waiting for their link to be followed, oldest first.
pub async fn pending_invitations(
    db: &DatabaseConnection,
    account_id: i32,
) -> Result<Vec<PendingInvitation>, AccountError> {
    Ok(tokens::live(db, account_id, Purpose::Invitation)
        .await?
        .into_iter()
        .filter_map(|link| {
            let invitation: Invitation = serde_json::from_str(link.detail.as_deref()?).ok()?;
            Some(PendingInvitation {
                id: link.id,
                email: invitation.email,
                role: invitation.role,
                expires_at: link.expires_at,
            })
        })
        .collect())
}

/// Withdraws an invitation: its link stops working at once.
pub async fn withdraw_invitation(
    db: &DatabaseConnection,
    account_id: i32,
    id: i32,
) -> Result<(), AccountError> {
    if !tokens::withdraw(db, account_id, id, Purpose::Invitation).await? {
        return Err(AccountError::Members(MemberProblem::NoSuchInvitation));
    }
    Ok(())
}

/// Refuses an address that already has a login (as an owner or a member): each address belongs
/// to one organisation. Told to whoever follows an invitation, and to the operator's CLI, never
/// to an inviter in the portal.
pub async fn address_is_free(db: &DatabaseConnection, email: &str) -> Result<(), AccountError> {
    let email = normalize_email(email)?;
    if find_account(db, &email).await?.is_some() || find_member(db, &email).await?.is_some() {
        return Err(AccountError::Members(MemberProblem::AddressTaken(email)));
    }
    Ok(())
}

/// What an invitation offers, without accepting it.
pub async fn invitation(
    db: &DatabaseConnection,
    token: &str,
) -> Result<(i32, Invitation), AccountError> {
    let found = tokens::peek(db, token, Purpose::Invitation).await?;
    let invitation: Invitation = serde_json::from_str(found.detail.as_deref().unwrap_or_default())
        .map_err(|_| AccountError::Link(tokens::TokenError::Invalid))?;
    address_is_free(db, &invitation.email).await?;
    Ok((found.account_id, invitation))
}

/// Accepts an invitation: the member is created with the chosen password (following the link
/// proves the address).
pub async fn accept_invitation(
    db: &DatabaseConnection,
    token: &str,
    password: &str,
    lang: Lang,
) -> Result<member::Model, AccountError> {
    let (account_id, invitation) = invitation(db, token).await?;
    check_password_strength(password, &invitation.email)?;
    let hash = crypto::hash_password(password.to_owned()).await?;
    let txn = db.begin().await?;
    tokens::spend(&txn, token, Purpose::Invitation).await?;
    let created = member::ActiveModel {
        account_id: Set(account_id),
        email: Set(invitation.email.clone()),
        password_hash: Set(hash),
        role: Set(invitation.role.id().to_owned()),
        locale: Set(Some(lang.code().to_owned())),
        created_at: Set(now_ms()),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(|err| match err.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => AccountError::EmailTaken,
        _ => AccountError::Database(err),
    })?;
    txn.commit().await?;
    Ok(created)
}

pub async fn list_members(
    db: &DatabaseConnection,
    account_id: i32,
) -> Result<Vec<member::Model>, AccountError> {
    Ok(member::Entity::find()
        .filter(member::Column::AccountId.eq(account_id))
        .order_by_asc(member::Column::Id)
        .all(db)
        .await?)
}

pub async fn set_role(
    db: &DatabaseConnection,
    account_id: i32,
    member_id: i32,
    role: Role,
) -> Result<(), AccountError> {
    if role == Role::Owner {
        return Err(AccountError::Members(MemberProblem::SecondOwner));
    }
    let updated = member::Entity::update_many()
        .col_expr(member::Column::Role, Expr::value(role.id()))
        .filter(member::Column::Id.eq(member_id))
        .filter(member::Column::AccountId.eq(account_id))
        .exec(db)
        .await?;
    if updated.rows_affected == 0 {
        return Err(AccountError::Members(MemberProblem::NoSuchMember));
    }
    Ok(())
}

/// Removes a member and revokes the keys they created, in one transaction; returns how many
/// keys were revoked.
pub async fn remove_member(
    db: &DatabaseConnection,
    account_id: i32,
    member_id: i32,
) -> Result<u64, AccountError> {
    let txn = db.begin().await?;
    let revoked = gateway_key::Entity::update_many()
        .col_expr(gateway_key::Column::RevokedAt, Expr::value(now_ms()))
        .filter(gateway_key::Column::AccountId.eq(account_id))
        .filter(gateway_key::Column::CreatedByMember.eq(member_id))
        .filter(gateway_key::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    let removed = member::Entity::delete_many()
        .filter(member::Column::Id.eq(member_id))
        .filter(member::Column::AccountId.eq(account_id))
        .exec(&txn)
        .await?;
    if removed.rows_affected == 0 {
        return Err(AccountError::Members(MemberProblem::NoSuchMember));
    }
    super::account::touch_account(&txn, account_id).await?;
    txn.commit().await?;
    Ok(revoked.rows_affected)
}

/// A fingerprint of the password a portal session was opened with: when the password changes
/// (a reset), every session opened before no longer matches and ends. `None`: the person is gone.
pub async fn auth_stamp(
    db: &DatabaseConnection,
    account_id: i32,
    member_id: Option<i32>,
) -> Result<Option<String>, AccountError> {
    Ok(signed_in(db, account_id, member_id)
        .await?
        .map(|(_, stamp)| stamp))
}
