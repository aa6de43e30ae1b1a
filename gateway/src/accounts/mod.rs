//! Accounts, gateway keys and provider credentials: the operations the portal and the CLI share.
//! Every query is scoped by account id, so one tenant never reaches another's rows.
//!
//! Each change to an account's keys or providers bumps `accounts.updated_at`, which running
//! servers watch to evict their caches (see [`crate::directory`]).
//! Keys, provider credentials and routing overrides are in [`keys`], [`providers`] and
//! [`routing`]; their functions are re-exported here. A running server makes these changes
//! through [`crate::state::GatewayState`]'s operations, which also evict what it keeps in memory.

mod account;
mod error;
mod keys;
mod limits;
pub mod members;
mod providers;
mod routing;
pub mod tokens;
pub mod verification;

pub use keys::{
    CreatedKey, create_gateway_key, create_member_key, find_key_by_prefix, list_gateway_keys,
    revoke_gateway_key,
};
pub use limits::{AccountLimits, account_limits, set_account_limits, set_key_limits};
pub(crate) use providers::provider_credentials;
pub use providers::{
    ProviderView, add_provider, delete_provider, list_providers, reseal_provider_keys,
};
pub use routing::{
    RoutingPolicies, latest_threshold_change, routing_policies, set_account_routing_policy,
    set_key_routing_policy,
};

pub use crate::plans::Plan;
pub use account::{
    account_by_email, account_by_id, authenticate_password, check_password_strength,
    count_requests, find_account, normalize_email, set_plan, touch_account,
};
pub use error::{
    AccountError, MAX_KEY_NAME_LEN, MAX_PASSWORD_LEN, MIN_PASSWORD_LEN, PlanLimitHit, Weakness,
};
pub use verification::create_account;
