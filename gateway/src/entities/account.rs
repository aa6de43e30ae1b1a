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
