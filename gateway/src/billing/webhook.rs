//! What a verified webhook event changes: each event applied once, in the order Stripe created
//! them, to the account it names (or whose customer it is).

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set,
    SqlErr, TransactionTrait,
};
use serde_json::Value;

use super::checkout::Billing;
use crate::accounts;
use crate::clock::now_ms;
use crate::entities::{account, stripe_event};
use crate::plans::Plan;

/// What a webhook delivery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// The account's plan (or billing state) changed.
    Applied { account_id: i32, plan: Plan },
    /// Handled before: nothing done again.
    Duplicate,
    /// Not an event that changes plans, or older than what was applied, or for no known account.
    Ignored(String),
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("the payload is not a Stripe event: {0}")]
    Malformed(String),
    #[error("database error: {0}")]
    Database(#[from] DbErr),
}

/// What an event says about an account's billing.
#[derive(Debug, Default, PartialEq)]
struct Change {
    account_id: Option<i32>,
    customer: Option<String>,
    subscription: Option<Option<String>>,
    plan: Option<Plan>,
    status: Option<String>,
    current_period_end: Option<i64>,
    cancel_at_period_end: Option<bool>,
}

fn text(value: &Value, pointer: &str) -> Option<String> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// A subscription's status decides whether its plan applies, following Stripe's dunning: while
/// Stripe retries a failed payment (`past_due`) the account keeps its plan; when Stripe gives up
/// (`unpaid`, `canceled`, `incomplete_expired`) or pauses it, the account drops to Free. `None`
/// leaves the plan as it is: a first payment still pending (`incomplete`), or a price this
/// installation does not know (a rotated or mistyped price id must not take a paying account's
/// plan away; it is logged instead).
fn plan_for_status(status: &str, paid_plan: Option<Plan>) -> Option<Plan> {
    match status {
        "active" | "trialing" | "past_due" => paid_plan,
        "incomplete" => None,
        _ => Some(Plan::Free),
    }
}

impl Billing {
    /// Reads what an event changes; `None` for event types that change nothing here.
    fn change_of(&self, event_type: &str, object: &Value) -> Result<Option<Change>, WebhookError> {
        let account_in =
            |pointer: &str| text(object, pointer).and_then(|id| id.parse::<i32>().ok());
        let change = match event_type {
            "checkout.session.completed" => {
                if object["mode"] != "subscription" {
                    return Ok(None);
                }
                let plan = text(object, "/metadata/plan").and_then(|plan| Plan::parse(&plan));
                let paid = matches!(
                    object["payment_status"].as_str(),
                    Some("paid" | "no_payment_required")
                );
                Change {
                    account_id: account_in("/client_reference_id")
                        .or_else(|| account_in("/metadata/account_id")),
                    customer: text(object, "/customer"),
                    subscription: Some(text(object, "/subscription")),
                    plan: if paid { plan } else { None },
                    status: paid.then(|| "active".to_owned()),
                    ..Change::default()
                }
            }
            "customer.subscription.created"
            | "customer.subscription.updated"
            | "customer.subscription.deleted" => {
                let status = if event_type == "customer.subscription.deleted" {
                    "canceled".to_owned()
                } else {
                    text(object, "/status").ok_or_else(|| {
                        WebhookError::Malformed("subscription without status".into())
                    })?
                };
                let price = text(object, "/items/data/0/price/id");
                let paid_plan = price.as_deref().and_then(|price| self.plan_of_price(price));
                if paid_plan.is_none()
                    && matches!(status.as_str(), "active" | "trialing" | "past_due")
                {
                    tracing::error!(
                        price = price.as_deref().unwrap_or("none"),
                        subscription = text(object, "/id").as_deref().unwrap_or("none"),
                        "a Stripe subscription's price matches neither STRIPE_PRICE_PRO nor STRIPE_PRICE_ENTERPRISE: the account keeps its plan; set the price ids to the ones in Stripe"
                    );
                }
                // Newer API versions keep the period on the item, older ones on the subscription.
                let period_end = object
                    .pointer("/items/data/0/current_period_end")
                    .or_else(|| object.get("current_period_end"))
                    .and_then(Value::as_i64);
                Change {
                    account_id: account_in("/metadata/account_id"),
                    customer: text(object, "/customer"),
                    subscription: Some(
                        (status != "canceled")
                            .then(|| text(object, "/id"))
                            .flatten(),
                    ),
                    plan: plan_for_status(&status, paid_plan),
                    status: Some(status),
                    current_period_end: period_end.map(|secs| secs * 1000),
                    cancel_at_period_end: object["cancel_at_period_end"].as_bool(),
                }
            }
            // A failed payment is the start of Stripe's retries, not the end of the plan: the
            // subscription's own events (`past_due`, then `active` or `canceled`/`unpaid`) decide.
            "invoice.payment_failed" => Change {
                customer: text(object, "/customer"),
                status: Some("payment_failed".into()),
                ..Change::default()
            },
            _ => return Ok(None),
        };
        Ok(Some(change))
    }

    /// Applies a verified webhook payload: each event id once, plan changes at once, events older
    /// than the last one applied to the account ignored (Stripe does not promise order).
    pub async fn handle_webhook(
        &self,
        db: &DatabaseConnection,
        payload: &[u8],
    ) -> Result<WebhookOutcome, WebhookError> {
        let event: Value =
            serde_json::from_slice(payload).map_err(|e| WebhookError::Malformed(e.to_string()))?;
        let (Some(id), Some(event_type), Some(created)) = (
            event["id"].as_str(),
            event["type"].as_str(),
            event["created"].as_i64(),
        ) else {
            return Err(WebhookError::Malformed(
                "an event needs id, type and created".into(),
            ));
        };
        let object = event
            .pointer("/data/object")
            .ok_or_else(|| WebhookError::Malformed("no data.object".into()))?;
        let change = self.change_of(event_type, object)?;

        let txn = db.begin().await?;
        let recorded = stripe_event::ActiveModel {
            id: Set(id.to_owned()),
            event_type: Set(event_type.to_owned()),
            account_id: Set(None),
            received_at: Set(now_ms()),
        }
        .insert(&txn)
        .await;
        match recorded {
            Ok(_) => {}
            Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                return Ok(WebhookOutcome::Duplicate);
            }
            Err(err) => return Err(err.into()),
        }
        let Some(change) = change else {
            txn.commit().await?;
            return Ok(WebhookOutcome::Ignored(format!(
                "{event_type} changes no plan"
            )));
        };
        let by_id = match change.account_id {
            Some(account_id) => accounts::account_by_id(&txn, account_id).await?,
            None => None,
        };
        let found = match (by_id, &change.customer) {
            (Some(account), _) => Some(account),
            (None, Some(customer)) => {
                account::Entity::find()
                    .filter(account::Column::StripeCustomerId.eq(customer.as_str()))
                    .one(&txn)
                    .await?
            }
            (None, None) => None,
        };
        let Some(found) = found else {
            txn.commit().await?;
            tracing::warn!(event = id, event_type, "Stripe event for no known account");
            return Ok(WebhookOutcome::Ignored("no account for this event".into()));
        };
        let created_ms = created * 1000;
        if found
            .billing_event_at
            .is_some_and(|applied| created_ms < applied)
        {
            txn.commit().await?;
            return Ok(WebhookOutcome::Ignored(
                "older than the last event applied".into(),
            ));
        }
        let plan = change.plan.unwrap_or_else(|| Plan::stored(&found.plan));
        let mut update = account::Entity::update_many()
            .col_expr(account::Column::Plan, Expr::value(plan.id()))
            .col_expr(account::Column::BillingEventAt, Expr::value(created_ms));
        if let Some(customer) = &change.customer {
            update = update.col_expr(
                account::Column::StripeCustomerId,
                Expr::value(customer.as_str()),
            );
        }
        if let Some(subscription) = &change.subscription {
            update = update.col_expr(
                account::Column::StripeSubscriptionId,
                Expr::value(subscription.clone()),
            );
        }
        if let Some(status) = &change.status {
            update = update.col_expr(account::Column::BillingStatus, Expr::value(status.as_str()));
        }
        if let Some(period_end) = change.current_period_end {
            update = update.col_expr(account::Column::CurrentPeriodEnd, Expr::value(period_end));
        }
        if let Some(cancel) = change.cancel_at_period_end {
            update = update.col_expr(account::Column::CancelAtPeriodEnd, Expr::value(cancel));
        }
        update
            .filter(account::Column::Id.eq(found.id))
            .exec(&txn)
            .await?;
        accounts::touch_account(&txn, found.id).await?;
        stripe_event::Entity::update_many()
            .col_expr(stripe_event::Column::AccountId, Expr::value(found.id))
            .filter(stripe_event::Column::Id.eq(id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        tracing::info!(
            event = id,
            event_type,
            account_id = found.id,
            plan = plan.id(),
            "Stripe event applied"
        );
        Ok(WebhookOutcome::Applied {
            account_id: found.id,
            plan,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::StripeSettings;

    const SECRET: &str = "whsec_test_secret";

    fn billing() -> Billing {
        Billing::new(StripeSettings {
            secret_key: "sk_test_x".into(),
            webhook_secret: SECRET.into(),
            price_pro: "price_pro".into(),
            price_enterprise: "price_ent".into(),
            api_base: "http://127.0.0.1:1".into(),
        })
    }

    #[test]
    fn events_become_plan_changes() {
        let billing = billing();
        let checkout: Value = serde_json::json!({"mode": "subscription", "payment_status": "paid", "client_reference_id": "7",
            "customer": "cus_1", "subscription": "sub_1", "metadata": {"plan": "pro", "account_id": "7"}});
        let change = billing
            .change_of("checkout.session.completed", &checkout)
            .unwrap()
            .unwrap();
        assert_eq!((change.account_id, change.plan), (Some(7), Some(Plan::Pro)));

        let subscription = |status: &str, price: &str| {
            serde_json::json!({"id": "sub_1", "customer": "cus_1", "status": status,
            "cancel_at_period_end": true, "items": {"data": [{"price": {"id": price}, "current_period_end": 1_800_000_000}]}})
        };
        let updated = billing
            .change_of(
                "customer.subscription.updated",
                &subscription("active", "price_ent"),
            )
            .unwrap()
            .unwrap();
        assert_eq!(updated.plan, Some(Plan::Enterprise));
        assert_eq!(
            (updated.current_period_end, updated.cancel_at_period_end),
            (Some(1_800_000_000_000), Some(true))
        );
        let past_due = billing
            .change_of(
                "customer.subscription.updated",
                &subscription("past_due", "price_pro"),
            )
            .unwrap()
            .unwrap();
        assert_eq!(
            past_due.plan,
            Some(Plan::Pro),
            "Stripe is still retrying: the plan stays"
        );
        for gave_up in ["unpaid", "canceled", "incomplete_expired", "paused"] {
            let change = billing
                .change_of(
                    "customer.subscription.updated",
                    &subscription(gave_up, "price_pro"),
                )
                .unwrap()
                .unwrap();
            assert_eq!(change.plan, Some(Plan::Free), "{gave_up}");
        }
        let rotated_price = billing
            .change_of(
                "customer.subscription.updated",
                &subscription("active", "price_unknown_rotated"),
            )
            .unwrap()
            .unwrap();
        assert_eq!(
            rotated_price.plan, None,
            "an unknown price leaves the plan as it is"
        );
        let deleted = billing
            .change_of(
                "customer.subscription.deleted",
                &subscription("active", "price_pro"),
            )
            .unwrap()
            .unwrap();
        assert_eq!(
            (deleted.plan, deleted.subscription),
            (Some(Plan::Free), Some(None))
        );
        let failed = billing
            .change_of(
                "invoice.payment_failed",
                &serde_json::json!({"customer": "cus_1"}),
            )
            .unwrap()
            .unwrap();
        assert_eq!(
            (failed.plan, failed.status.as_deref()),
            (None, Some("payment_failed"))
        );
        assert_eq!(
            billing
                .change_of("invoice.paid", &serde_json::json!({}))
                .unwrap(),
            None
        );
    }

    mod properties {
        use super::*;
        use crate::test_support::arbitrary;
        use proptest::prelude::*;

        const EVENT_TYPES: &[&str] = &[
            "checkout.session.completed",
            "customer.subscription.created",
            "customer.subscription.updated",
            "customer.subscription.deleted",
            "invoice.payment_failed",
            "invoice.paid",
            "something.else",
        ];

        proptest! {
            #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

            /// Whatever object a (signed) event carries, it becomes a change, nothing, or an
            /// error: never a panic.
            #[test]
            fn any_event_object_is_read_or_refused(
                event_type in prop::sample::select(EVENT_TYPES),
                object in arbitrary::json(),
            ) {
                let _ = billing().change_of(event_type, &object);
            }
        }
    }
}
