use sea_orm_migration::{prelude::*, schema::*};

/// Plans and Stripe billing: which usage events count against the monthly quota, the account's
/// Stripe customer and subscription, and the webhook events already handled.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum UsageEvents {
    Table,
    Counted,
}

#[derive(DeriveIden)]
enum Accounts {
    Table,
    StripeCustomerId,
    StripeSubscriptionId,
    BillingStatus,
    CurrentPeriodEnd,
    CancelAtPeriodEnd,
    BillingEventAt,
}

#[derive(DeriveIden)]
enum StripeEvents {
    Table,
    Id,
    EventType,
    AccountId,
    ReceivedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(UsageEvents::Table)
                    .add_column(boolean(UsageEvents::Counted).default(true))
                    .to_owned(),
            )
            .await?;
        // One column per statement: SQLite alters one thing at a time.
        for column in [
            string_null(Accounts::StripeCustomerId),
            string_null(Accounts::StripeSubscriptionId),
            string_null(Accounts::BillingStatus),
            big_integer_null(Accounts::CurrentPeriodEnd),
            boolean(Accounts::CancelAtPeriodEnd)
                .default(false)
                .to_owned(),
            big_integer_null(Accounts::BillingEventAt),
        ] {
            let mut column = column;
            manager
                .alter_table(
                    Table::alter()
                        .table(Accounts::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("accounts_stripe_customer_id")
                    .table(Accounts::Table)
                    .col(Accounts::StripeCustomerId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(StripeEvents::Table)
                    .col(string(StripeEvents::Id).primary_key())
                    .col(string(StripeEvents::EventType))
                    .col(integer_null(StripeEvents::AccountId))
                    .col(big_integer(StripeEvents::ReceivedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(StripeEvents::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("accounts_stripe_customer_id")
                    .table(Accounts::Table)
                    .to_owned(),
            )
            .await?;
        for column in [
            Accounts::StripeCustomerId,
            Accounts::StripeSubscriptionId,
            Accounts::BillingStatus,
            Accounts::CurrentPeriodEnd,
            Accounts::CancelAtPeriodEnd,
            Accounts::BillingEventAt,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Accounts::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(UsageEvents::Table)
                    .drop_column(UsageEvents::Counted)
                    .to_owned(),
            )
            .await
    }
}
