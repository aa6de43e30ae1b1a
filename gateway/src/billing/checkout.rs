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
    /// The plans' prices as last read from Stripe, and until when they are kept.
    prices: parking_lot::Mutex<Option<(std::time::Instant, Vec<PlanPrice>)>>,
}

/// What a plan costs, as its Stripe price says: the Plan page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanPrice {
    pub plan: Plan,
    /// In the currency's minor unit (cents), as Stripe counts it.
    pub unit_amount: i64,
    /// ISO 4217, lowercase (`usd`).
    pub currency: String,
    /// `month`, `year`, …; `None` for a one-off price.
    pub interval: Option<String>,
}

/// Prices change rarely and are read for page views: kept an hour, or a minute when Stripe
/// did not give them all (so an outage costs one slow page a minute, not every page).
const PRICES_KEPT: std::time::Duration = std::time::Duration::from_secs(3600);
const PRICES_RETRIED: std::time::Duration = std::time::Duration::from_secs(60);
/// A page waits at most this long for Stripe, and then shows the plans without prices.
const PRICE_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

impl Billing {
    pub fn new(settings: StripeSettings) -> Self {
        let base = if settings.api_base.ends_with('/') {
            settings.api_base.clone()
        } else {
            format!("{}/", settings.api_base)
        };
        let client = stripe::Client::from_url(base.as_str(), settings.secret_key.clone())
            .with_strategy(stripe::RequestStrategy::idempotent_with_uuid());
        Self {
            client,
            settings,
            prices: parking_lot::Mutex::new(None),
        }
    }

    /// The prices of the plans for sale that Stripe could tell (see [`PlanPrice`]).
    pub async fn plan_prices(&self) -> Vec<PlanPrice> {
        if let Some((until, prices)) = &*self.prices.lock()
            && std::time::Instant::now() < *until
        {
            return prices.clone();
        }
        let mut prices = Vec::new();
        let for_sale = [Plan::Pro, Plan::Enterprise];
        for plan in for_sale {
            match self.read_price(plan).await {
                Ok(Some(price)) => prices.push(price),
                Ok(None) => {}
                Err(err) => {
                    tracing::warn!(plan = plan.id(), error = %err, "could not read the plan's price from Stripe")
                }
            }
        }
        let kept = if prices.len() == for_sale.len() {
            PRICES_KEPT
        } else {
            PRICES_RETRIED
        };
        *self.prices.lock() = Some((std::time::Instant::now() + kept, prices.clone()));
        prices
    }

    /// `None` for a price without a fixed amount (metered, or a customer-chosen amount).
    async fn read_price(&self, plan: Plan) -> Result<Option<PlanPrice>, BillingError> {
        let id: stripe::PriceId = self
            .price_of(plan)?
            .parse()
            .map_err(|_| BillingError::Stripe("the configured price id is malformed".into()))?;
        let price =
            tokio::time::timeout(PRICE_WAIT, stripe::Price::retrieve(&self.client, &id, &[]))
                .await
                .map_err(|_| BillingError::Stripe(format!("no answer in {PRICE_WAIT:?}")))??;
        Ok(price
            .unit_amount
            .zip(price.currency)
            .map(|(unit_amount, currency)| PlanPrice {
                plan,
                unit_amount,
                currency: currency.to_string(),
                interval: price
                    .recurring
                    .map(|recurring| recurring.interval.as_str().to_owned()),
            }))
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
