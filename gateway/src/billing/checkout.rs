//! The Stripe client: Checkout for upgrades and the Billing Portal for changes and cancellation.

use std::collections::HashMap;

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};

use crate::entities::account;
use crate::plans::Plan;
use crate::settings::StripeSettings;

#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    #[error("The {0} plan cannot be bought here.")]
    NotForSale(&'static str),
    #[error("This account has no billing yet: upgrade first.")]
    NoCustomer,
    #[error("Stripe did not answer as expected: {0}")]
    Stripe(String),
    #[error("database error: {0}")]
    Database(#[from] DbErr),
}

impl From<stripe::StripeError> for BillingError {
    fn from(err: stripe::StripeError) -> Self {
        BillingError::Stripe(err.to_string())
    }
}

pub struct Billing {
    client: stripe::Client,
    settings: StripeSettings,
}

impl Billing {
    pub fn new(settings: StripeSettings) -> Self {
        let base = if settings.api_base.ends_with('/') {
            settings.api_base.clone()
        } else {
            format!("{}/", settings.api_base)
        };
        let client = stripe::Client::from_url(base.as_str(), settings.secret_key.clone())
            .with_strategy(stripe::RequestStrategy::idempotent_with_uuid());
        Self { client, settings }
    }

    pub fn settings(&self) -> &StripeSettings {
        &self.settings
    }

    fn price_of(&self, plan: Plan) -> Result<&str, BillingError> {
        match plan {
            Plan::Pro => Ok(&self.settings.price_pro),
            Plan::Enterprise => Ok(&self.settings.price_enterprise),
            Plan::Free => Err(BillingError::NotForSale(plan.display_name())),
        }
    }

    pub fn plan_of_price(&self, price: &str) -> Option<Plan> {
        if price == self.settings.price_pro {
            Some(Plan::Pro)
        } else if price == self.settings.price_enterprise {
            Some(Plan::Enterprise)
        } else {
            None
        }
    }

    /// The account's Stripe customer, created (and remembered) on first use.
    async fn customer_of(
        &self,
        db: &DatabaseConnection,
        account: &account::Model,
    ) -> Result<stripe::CustomerId, BillingError> {
        if let Some(id) = &account.stripe_customer_id {
            return id.parse().map_err(|_| {
                BillingError::Stripe(format!("stored customer id {id:?} is malformed"))
            });
        }
        let account_id = account.id.to_string();
        let customer = stripe::Customer::create(
            &self.client,
            stripe::CreateCustomer {
                email: Some(&account.email),
                metadata: Some(HashMap::from([("account_id".to_owned(), account_id)])),
                ..Default::default()
            },
        )
        .await?;
        account::Entity::update_many()
            .col_expr(
                account::Column::StripeCustomerId,
                Expr::value(customer.id.as_str()),
            )
            .filter(account::Column::Id.eq(account.id))
            .exec(db)
            .await?;
        Ok(customer.id)
    }

    /// A Checkout Session in subscription mode for `plan`, tied to the account; returns the URL
    /// to send the person to. `public_url` is where the portal is reached (for the return pages).
    pub async fn checkout_url(
        &self,
        db: &DatabaseConnection,
        account: &account::Model,
        plan: Plan,
        public_url: &str,
    ) -> Result<String, BillingError> {
        let price = self.price_of(plan)?;
        let customer = self.customer_of(db, account).await?;
        let public_url = public_url.trim_end_matches('/');
        let success_url =
            format!("{public_url}/billing/success?session_id={{CHECKOUT_SESSION_ID}}");
        let cancel_url = format!("{public_url}/billing/cancel");
        let account_id = account.id.to_string();
        let metadata = HashMap::from([
            ("account_id".to_owned(), account_id.clone()),
            ("plan".to_owned(), plan.id().to_owned()),
        ]);
        let mut params = stripe::CreateCheckoutSession::new();
        params.mode = Some(stripe::CheckoutSessionMode::Subscription);
        params.customer = Some(customer);
        params.client_reference_id = Some(&account_id);
        params.success_url = Some(&success_url);
        params.cancel_url = Some(&cancel_url);
        params.line_items = Some(vec![stripe::CreateCheckoutSessionLineItems {
            price: Some(price.to_owned()),
            quantity: Some(1),
            ..Default::default()
        }]);
        params.metadata = Some(metadata.clone());
        params.subscription_data = Some(stripe::CreateCheckoutSessionSubscriptionData {
            metadata: Some(metadata),
            ..Default::default()
        });
        let session = stripe::CheckoutSession::create(&self.client, params).await?;
        session
            .url
            .ok_or_else(|| BillingError::Stripe("the checkout session has no url".into()))
    }

    /// A Billing Portal session for the account's customer; returns its URL.
    pub async fn portal_url(
        &self,
        account: &account::Model,
        return_url: &str,
    ) -> Result<String, BillingError> {
        let Some(customer) = &account.stripe_customer_id else {
            return Err(BillingError::NoCustomer);
        };
        let customer = customer.parse().map_err(|_| BillingError::NoCustomer)?;
        let mut params = stripe::CreateBillingPortalSession::new(customer);
        params.return_url = Some(return_url);
        let session = stripe::BillingPortalSession::create(&self.client, params).await?;
        Ok(session.url)
    }
}
