//! Changes to accounts made by this server: each writes through [`crate::accounts`] and then
//! evicts the account from the directory, so a revoked key, a new provider or a new plan bites on
//! the next request here. Other servers (and the CLI's changes) are caught by the change watcher.

use super::gateway::GatewayState;
use crate::accounts::{self, AccountError, CreatedKey, Plan, ProviderView};
use crate::billing::{Billing, WebhookError, WebhookOutcome};
use crate::limits::Limits;
use crate::routing::RoutingPolicy;

impl GatewayState {
    pub async fn create_gateway_key(
        &self,
        account_id: i32,
        name: &str,
    ) -> Result<CreatedKey, AccountError> {
        let created =
            accounts::create_gateway_key(&self.db, &self.settings.plans, account_id, name).await?;
        self.evict(account_id);
        Ok(created)
    }

    /// A key made by a member of the organisation (`None`: its owner).
    pub async fn create_member_key(
        &self,
        account_id: i32,
        member_id: Option<i32>,
        name: &str,
    ) -> Result<CreatedKey, AccountError> {
        let created = accounts::create_member_key(
            &self.db,
            &self.settings.plans,
            account_id,
            member_id,
            name,
        )
        .await?;
        self.evict(account_id);
        Ok(created)
    }

    /// Removes a member; the keys they created are revoked at once here, and on other servers
    /// through the change journal.
    pub async fn remove_member(
        &self,
        account_id: i32,
        member_id: i32,
    ) -> Result<u64, AccountError> {
        let removed = accounts::members::remove_member(&self.db, account_id, member_id).await;
        self.evict(account_id);
        removed
    }

    pub async fn revoke_gateway_key(
        &self,
        account_id: i32,
        key_id: i32,
    ) -> Result<(), AccountError> {
        let revoked = accounts::revoke_gateway_key(&self.db, account_id, key_id).await;
        self.evict(account_id);
        revoked
    }

    pub async fn add_provider(
        &self,
        account_id: i32,
        provider: &str,
        api_key: &str,
        base_url: Option<&str>,
    ) -> Result<ProviderView, AccountError> {
        let added = accounts::add_provider(
            &self.db,
            &self.settings.plans,
            &self.master_key,
            &self.settings.egress,
            account_id,
            provider,
            api_key,
            base_url,
        )
        .await?;
        self.evict(account_id);
        Ok(added)
    }

    pub async fn delete_provider(
        &self,
        account_id: i32,
        provider_id: i32,
    ) -> Result<(), AccountError> {
        let deleted = accounts::delete_provider(&self.db, account_id, provider_id).await;
        self.evict(account_id);
        deleted
    }

    pub async fn set_plan(&self, account_id: i32, plan: Plan) -> Result<(), AccountError> {
        let set = accounts::set_plan(&self.db, account_id, plan).await;
        self.evict(account_id);
        set
    }

    pub async fn set_account_routing_policy(
        &self,
        account_id: i32,
        policy: &RoutingPolicy,
    ) -> Result<(), AccountError> {
        let set = accounts::set_account_routing_policy(&self.db, account_id, policy).await;
        self.evict(account_id);
        set
    }

    pub async fn set_key_routing_policy(
        &self,
        account_id: i32,
        key_id: i32,
        policy: &RoutingPolicy,
    ) -> Result<(), AccountError> {
        let set = accounts::set_key_routing_policy(&self.db, account_id, key_id, policy).await;
        self.evict(account_id);
        set
    }

    /// Sets the budget and rate limits of the account (the organisation) as a whole.
    pub async fn set_account_limits(
        &self,
        account_id: i32,
        limits: &Limits,
    ) -> Result<(), AccountError> {
        let set = accounts::set_account_limits(&self.db, account_id, limits).await;
        self.evict(account_id);
        set
    }

    /// Sets one key's budget and rate limits.
    pub async fn set_key_limits(
        &self,
        account_id: i32,
        key_id: i32,
        limits: &Limits,
    ) -> Result<(), AccountError> {
        let set = accounts::set_key_limits(&self.db, account_id, key_id, limits).await;
        self.evict(account_id);
        set
    }

    /// Applies a verified Stripe webhook payload (see [`Billing::handle_webhook`]).
    pub async fn apply_stripe_event(
        &self,
        billing: &Billing,
        payload: &[u8],
    ) -> Result<WebhookOutcome, WebhookError> {
        let outcome = billing.handle_webhook(&self.db, payload).await?;
        if let WebhookOutcome::Applied { account_id, .. } = &outcome {
            self.evict(*account_id);
        }
        Ok(outcome)
    }

    /// Drops what the directory keeps about the account. Also after a failed write: a partial
    /// change costs one reload, a missed one would be served stale until the watcher sees it.
    fn evict(&self, account_id: i32) {
        self.directory.evict_account(account_id);
    }
}
