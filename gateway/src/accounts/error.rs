//! What the account operations refuse, and why.

use sea_orm::DbErr;

use super::tokens::TokenError;
use crate::crypto::CryptoError;
use crate::providers::ProviderKind;
use crate::routing::policy::PolicyError;

pub const MIN_PASSWORD_LEN: usize = 10;
pub const MAX_PASSWORD_LEN: usize = 1024;
pub const MAX_KEY_NAME_LEN: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("Enter a valid email address.")]
    InvalidEmail,
    #[error("An account with this email already exists.")]
    EmailTaken,
    #[error("{0}")]
    WeakPassword(Weakness),
    #[error("Wrong email or password.")]
    WrongCredentials,
    /// The right password for an account whose address is not confirmed yet. Answered exactly as
    /// [`Self::WrongCredentials`] (else signing up an address and logging in with the password
    /// chosen would tell whether it had an account); the portal sends the link again.
    #[error("Wrong email or password.")]
    Unconfirmed(i32),
    #[error("no account with email {0}")]
    UnknownEmail(String),
    #[error("no such key")]
    KeyNotFound,
    #[error("the prefix {prefix:?} matches {count} keys; give more characters")]
    AmbiguousKeyPrefix { prefix: String, count: usize },
    #[error("Key names are at most {MAX_KEY_NAME_LEN} characters.")]
    KeyNameTooLong,
    #[error("Unknown provider {0:?}; expected one of: {list}.", list = ProviderKind::ALL.iter().map(|k| k.id()).collect::<Vec<_>>().join(", "))]
    UnknownProvider(String),
    #[error("Enter the provider's API key.")]
    MissingApiKey,
    /// A `gw_` key of this gateway as a provider key: every call would come back here.
    #[error(
        "This is a gateway key (gw_…), not the provider's: enter the key the provider gave you."
    )]
    ProviderKeyIsGatewayKey,
    #[error("The base URL must be an http:// or https:// URL: {0}")]
    InvalidBaseUrl(String),
    #[error("The gateway will not connect to {url}: {refusal}.")]
    BaseUrlRefused {
        url: String,
        refusal: crate::egress::EgressRefusal,
    },
    #[error("no such provider")]
    ProviderNotFound,
    /// A plan's limit on keys or providers.
    #[error("{0}")]
    PlanLimit(PlanLimitHit),
    /// A verification, reset or invitation link that cannot be used.
    #[error("{0}")]
    Link(TokenError),
    /// Inviting, changing or removing members.
    #[error("{0}")]
    Members(MemberProblem),
    #[error("Your role ({0}) does not allow this. Ask an owner or an admin of your organisation.")]
    NotAllowed(&'static str),
    #[error(
        "Confirm your e-mail address first: follow the link we sent to {0}, or ask for a new one."
    )]
    EmailNotVerified(String),
    #[error("Invalid limits: {0}")]
    InvalidLimits(#[from] crate::limits::LimitsError),
    #[error("Invalid routing policy: {0}")]
    InvalidPolicy(#[from] PolicyError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("database error: {0}")]
    Database(#[from] DbErr),
}

/// Why a password was refused. The portal words it in the person's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Weakness {
    #[error("Choose a password of at least {MIN_PASSWORD_LEN} characters.")]
    TooShort,
    #[error("Passwords are at most {MAX_PASSWORD_LEN} characters.")]
    TooLong,
    #[error("This password repeats too few characters; choose a less predictable one.")]
    Repetitive,
    #[error("This password is too easy to guess; avoid common words and your email.")]
    Guessable,
}

/// A plan allows no more gateway keys or providers. `included` is the plan's limit as shown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanLimitHit {
    #[error(
        "The {plan} plan includes {included} gateway keys and this account has {in_use} active. Revoke a key, or upgrade for more."
    )]
    GatewayKeys {
        plan: &'static str,
        included: String,
        in_use: u64,
    },
    #[error(
        "The {plan} plan includes {included} providers and this account has {in_use}. Remove one, or upgrade for more."
    )]
    Providers {
        plan: &'static str,
        included: String,
        in_use: u64,
    },
}

/// Why a change to the organisation's members was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemberProblem {
    #[error("An organisation has one owner; invite people as admin, member or viewer.")]
    InviteOwner,
    #[error("{0} already has an LLM Gateway login; each address belongs to one organisation.")]
    AddressTaken(String),
    #[error("An organisation has one owner.")]
    SecondOwner,
    #[error("No such member.")]
    NoSuchMember,
    #[error("No such invitation: it was accepted, withdrawn or has expired.")]
    NoSuchInvitation,
}
