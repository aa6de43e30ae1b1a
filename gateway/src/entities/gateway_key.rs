use sea_orm::entity::prelude::*;

/// A gateway key (`gw_…`). Only its SHA-256 digest is stored; `prefix` is the first characters,
/// kept so people can tell their keys apart.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "gateway_keys")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub account_id: i32,
    pub name: String,
    pub prefix: String,
    #[sea_orm(unique)]
    pub key_digest: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// Routing overrides as JSON (`routing::RoutingPolicy`); NULL: none.
    #[sea_orm(column_type = "Text", nullable)]
    pub routing_policy: Option<String>,
    /// The member who created it (`None`: the owner or the CLI); revoked with that member.
    pub created_by_member: Option<i32>,
    /// Budget and rate limits as JSON (`limits::Limits`); NULL: none.
    #[sea_orm(column_type = "Text", nullable)]
    pub limits: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::account::Entity",
        from = "Column::AccountId",
        to = "super::account::Column::Id"
    )]
    Account,
}

impl Related<super::account::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Account.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
