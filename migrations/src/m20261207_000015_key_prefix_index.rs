use sea_orm_migration::prelude::*;

/// The request log (issue 35) files a refused request under the account whose key it named: a
/// revoked key by its digest, a wrong secret by the key's prefix. The prefix is read on the
/// refusal path only, but a client may repeat that path as fast as it likes, so it is indexed.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum GatewayKeys {
    Table,
    Prefix,
}

const INDEX: &str = "idx_gateway_keys_prefix";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(GatewayKeys::Table)
                    .col(GatewayKeys::Prefix)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(INDEX)
                    .table(GatewayKeys::Table)
                    .to_owned(),
            )
            .await
    }
}
