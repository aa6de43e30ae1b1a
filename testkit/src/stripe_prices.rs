//! The fake Stripe's prices (`GET /v1/prices/{id}`): the prices a test (or `fake-providers
//! --stripe-price`) put on sale, shaped like the API reference's example
//! (`fixtures/stripe/price.json`). An unknown id is Stripe's 404 `resource_missing`, as the real
//! API answers a price id from another account or mode.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use parking_lot::Mutex;
use serde_json::{Value, json};

const PRICE: &str = include_str!("../fixtures/stripe/price.json");
const INVALID_API_KEY: &str = include_str!("../fixtures/stripe/error_invalid_api_key.json");

/// A recurring price: `unit_amount` in the currency's minor unit (cents), as Stripe counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakePrice {
    pub id: String,
    pub unit_amount: i64,
    pub currency: String,
    pub interval: String,
}

impl std::str::FromStr for FakePrice {
    type Err = String;

    /// `ID=AMOUNT:CURRENCY:INTERVAL`, e.g. `price_pro=2000:usd:month`.
    fn from_str(text: &str) -> Result<Self, String> {
        let usage = || format!("{text:?}: expected ID=AMOUNT:CURRENCY:INTERVAL");
        let (id, rest) = text.split_once('=').ok_or_else(usage)?;
        let mut parts = rest.split(':');
        let (Some(amount), Some(currency), Some(interval), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(usage());
        };
        Ok(FakePrice {
            id: id.to_owned(),
            unit_amount: amount.parse().map_err(|_| usage())?,
            currency: currency.to_owned(),
            interval: interval.to_owned(),
        })
    }
}

#[derive(Clone)]
pub(crate) struct Prices {
    secret_key: Arc<str>,
    on_sale: Arc<Mutex<HashMap<String, FakePrice>>>,
}

impl Prices {
    pub(crate) fn new(secret_key: &str) -> Self {
        Prices {
            secret_key: secret_key.into(),
            on_sale: Arc::default(),
        }
    }

    pub(crate) fn add(&self, price: FakePrice) {
        self.on_sale.lock().insert(price.id.clone(), price);
    }

    pub(crate) fn router(&self) -> Router {
        Router::new()
            .route("/v1/prices/{id}", get(retrieve))
            .with_state(self.clone())
    }
}

async fn retrieve(
    State(prices): State<Prices>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let presented = headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    if presented != Some(&*prices.secret_key) {
        let error: Value = serde_json::from_str(INVALID_API_KEY).expect("fixtures are JSON");
        return (StatusCode::UNAUTHORIZED, axum::Json(error)).into_response();
    }
    let Some(price) = prices.on_sale.lock().get(&id).cloned() else {
        let error = json!({"error": {
            "code": "resource_missing",
            "doc_url": "https://stripe.com/docs/error-codes/resource-missing",
            "message": format!("No such price: '{id}'"),
            "param": "id",
            "type": "invalid_request_error",
        }});
        return (StatusCode::NOT_FOUND, axum::Json(error)).into_response();
    };
    let mut object: Value = serde_json::from_str(PRICE).expect("fixtures are JSON");
    object["id"] = json!(price.id);
    object["unit_amount"] = json!(price.unit_amount);
    object["unit_amount_decimal"] = json!(price.unit_amount.to_string());
    object["currency"] = json!(price.currency);
    object["recurring"]["interval"] = json!(price.interval);
    axum::Json(object).into_response()
}
