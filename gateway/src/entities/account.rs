use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "accounts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    #[sea_orm(unique)]
    pub email: String,
    pub password_hash: String,
    pub plan: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// Routing overrides as JSON (`routing::RoutingPolicy`); NULL: none.
    #[sea_orm(column_type = "Text", nullable)]
    pub routing_policy: Option<String>,
    /// Stripe's customer id, once the account has been to Checkout.
    pub stripe_customer_id: Option<String>,
    pub stripe_subscription_id: Option<String>,
    /// The subscription's status as Stripe last reported it (`active`, `past_due`, `canceled` …).
    pub billing_status: Option<String>,
    /// When the current paid period ends (ms), and whether the plan drops then.
    pub current_period_end: Option<i64>,
    pub cancel_at_period_end: bool,
    /// `created` of the last Stripe event applied (ms): older events arriving late are ignored.
    pub billing_event_at: Option<i64>,
    /// When the owner confirmed the address; `None`: not yet (no keys can be created).
    pub email_verified_at: Option<i64>,
    /// The language of the account's e-mails (`en`, `es`).
    pub locale: Option<String>,
    /// Budget and rate limits as JSON (`limits::Limits`); NULL: none.
    #[sea_orm(column_type = "Text", nullable)]
    pub limits: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::gateway_key::Entity")]
    GatewayKey,
    #[sea_orm(has_many = "super::provider_credential::Entity")]
    ProviderCredential,
}

impl Related<super::gateway_key::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::GatewayKey.def()
    }
}

impl Related<super::provider_credential::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ProviderCredential.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
