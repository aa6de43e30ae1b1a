use sea_orm::entity::prelude::*;

/// A signed-in portal session (tower-sessions' record as JSON: the account id and the CSRF
/// state, never a password).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portal_sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    #[sea_orm(column_type = "Text")]
    pub record: String,
    /// Milliseconds since the Unix epoch, as every timestamp in the schema.
    pub expires_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
