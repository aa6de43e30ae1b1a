use sea_orm_migration::{prelude::*, schema::*};

/// Every event of one `/v1` request shares its id (the `x-request-id` the client was answered
/// with): the request log shows a request's attempts and fallbacks together, and finds a request
/// by the id a client logged. Rows written before have none.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum UsageEvents {
    Table,
    RequestId,
}

/// On the id alone: random, so it picks a request's few events by itself (the log's query adds
/// the account), and a query by account keeps using the (account, time) index and its order.
const INDEX: &str = "idx_usage_events_request";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(UsageEvents::Table)
                    .add_column(&mut big_integer_null(UsageEvents::RequestId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(UsageEvents::Table)
                    .col(UsageEvents::RequestId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(INDEX)
                    .table(UsageEvents::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(UsageEvents::Table)
                    .drop_column(UsageEvents::RequestId)
                    .to_owned(),
            )
            .await
    }
}
