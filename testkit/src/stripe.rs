//! A fake Stripe on 127.0.0.1: the API calls the gateway makes (customers, Checkout Sessions,
//! Billing Portal sessions, prices: `stripe_prices`), answered with objects shaped like the API reference's examples
//! (`fixtures/stripe/`, API version 2023-10-16), and hosted Checkout and Billing Portal pages whose
//! buttons deliver webhook events signed as Stripe signs them (`Stripe-Signature: t=…,v1=…`,
//! HMAC-SHA256 of `"{t}.{payload}"` with the endpoint secret).
//!
//! Stripe serves its API at the root of its host (`/v1/…`), so this fake has a port of its own.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use serde_json::{Value, json};
use sha2::Sha256;

const CUSTOMER: &str = include_str!("../fixtures/stripe/customer.json");
const CHECKOUT_SESSION: &str = include_str!("../fixtures/stripe/checkout_session.json");
const PORTAL_SESSION: &str = include_str!("../fixtures/stripe/billing_portal_session.json");
const SUBSCRIPTION: &str = include_str!("../fixtures/stripe/subscription.json");
const INVOICE_PAYMENT_FAILED: &str = include_str!("../fixtures/stripe/invoice_payment_failed.json");
const EVENT: &str = include_str!("../fixtures/stripe/event.json");
const INVALID_API_KEY: &str = include_str!("../fixtures/stripe/error_invalid_api_key.json");

fn fixture(text: &str) -> Value {
    serde_json::from_str(text).expect("fixtures are JSON")
}

/// One API call as the fake received it.
#[derive(Debug, Clone)]
pub struct StripeCall {
    pub method: String,
    pub path: String,
    /// The form body, decoded (`line_items[0][price]` stays one key, as Stripe encodes it).
    pub form: Vec<(String, String)>,
    pub idempotency_key: Option<String>,
    pub stripe_version: Option<String>,
}

impl StripeCall {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

struct Shared {
    secret_key: String,
    addr: SocketAddr,
    webhook: Mutex<Option<(String, String)>>,
    calls: Mutex<Vec<StripeCall>>,
    sessions: Mutex<HashMap<String, Value>>,
    portal_sessions: Mutex<HashMap<String, Value>>,
    subscriptions: Mutex<HashMap<String, Value>>,
    counter: AtomicU64,
    http: reqwest::Client,
    prices: crate::stripe_prices::Prices,
}

impl Shared {
    fn next_id(&self, prefix: &str) -> String {
        format!(
            "{prefix}_fake{:06}",
            self.counter.fetch_add(1, Ordering::Relaxed) + 1
        )
    }

    fn record(&self, method: &str, path: &str, headers: &HeaderMap, form: &[(String, String)]) {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        self.calls.lock().push(StripeCall {
            method: method.into(),
            path: path.into(),
            form: form.to_vec(),
            idempotency_key: header("idempotency-key"),
            stripe_version: header("stripe-version"),
        });
    }

    fn authorized(&self, headers: &HeaderMap) -> Result<(), Response> {
        let presented = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if presented == Some(self.secret_key.as_str()) {
            Ok(())
        } else {
            Err((
                StatusCode::UNAUTHORIZED,
                axum::Json(fixture(INVALID_API_KEY)),
            )
                .into_response())
        }
    }
}

pub struct FakeStripe {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl FakeStripe {
    /// Starts on a free port, accepting only `secret_key`.
    pub async fn start(secret_key: &str) -> std::io::Result<Self> {
        Self::start_on("127.0.0.1:0".parse().expect("a valid address"), secret_key).await
    }

    pub async fn start_on(addr: SocketAddr, secret_key: &str) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            secret_key: secret_key.to_owned(),
            addr,
            webhook: Mutex::new(None),
            calls: Mutex::default(),
            sessions: Mutex::default(),
            portal_sessions: Mutex::default(),
            subscriptions: Mutex::default(),
            counter: AtomicU64::new(0),
            http: reqwest::Client::new(),
            prices: crate::stripe_prices::Prices::new(secret_key),
        });
        let app = Router::new()
            .route("/v1/customers", post(create_customer))
            .route("/v1/checkout/sessions", post(create_checkout_session))
            .route("/v1/billing_portal/sessions", post(create_portal_session))
            .route("/checkout/{id}", get(checkout_page))
            .route("/checkout/{id}/pay", post(pay))
            .route("/checkout/{id}/cancel", post(cancel_checkout))
            .route("/billing_portal/{id}", get(portal_page))
            .route("/billing_portal/{id}/cancel", post(cancel_subscription))
            .with_state(shared.clone())
            .merge(shared.prices.router());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            shared,
            server,
        })
    }

    /// `http://127.0.0.1:<port>/`, for `STRIPE_API_BASE`.
    pub fn base_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Where events go, signed with `secret` (the gateway's `STRIPE_WEBHOOK_SECRET`).
    pub fn set_webhook(&self, url: &str, secret: &str) {
        *self.shared.webhook.lock() = Some((url.to_owned(), secret.to_owned()));
    }

    /// Puts a price on sale: `GET /v1/prices/{id}` finds it.
    pub fn add_price(&self, price: crate::stripe_prices::FakePrice) {
        self.shared.prices.add(price);
    }

    pub fn calls(&self) -> Vec<StripeCall> {
        self.shared.calls.lock().clone()
    }

    /// Signs and delivers an event of `event_type` about `object`; returns the gateway's status.
    pub async fn send_event(&self, event_type: &str, object: Value) -> u16 {
        deliver(&self.shared, event_type, object).await
    }

    /// A subscription as the API reference shows one, for `customer` on `price`.
    pub fn subscription(
        &self,
        customer: &str,
        price: &str,
        status: &str,
        metadata: Value,
    ) -> Value {
        subscription_object(&self.shared, customer, price, status, metadata)
    }

    pub fn invoice_payment_failed(&self, customer: &str, subscription: &str) -> Value {
        let mut invoice = fixture(INVOICE_PAYMENT_FAILED);
        invoice["id"] = json!(self.shared.next_id("in"));
        invoice["customer"] = json!(customer);
        invoice["subscription"] = json!(subscription);
        invoice
    }

    pub async fn wait(mut self) {
        let _ = (&mut self.server).await;
    }
}

impl Drop for FakeStripe {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The `Stripe-Signature` header for `payload` signed at `timestamp` (seconds).
pub fn signature_header(payload: &[u8], secret: &str, timestamp: i64) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(payload);
    let digest: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("t={timestamp},v1={digest}")
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// An event envelope as Stripe sends it.
pub fn event(id: &str, event_type: &str, created: i64, object: Value) -> Value {
    let mut event = fixture(EVENT);
    event["id"] = json!(id);
    event["type"] = json!(event_type);
    event["created"] = json!(created);
    event["data"]["object"] = object;
    event
}

fn subscription_object(
    shared: &Shared,
    customer: &str,
    price: &str,
    status: &str,
    metadata: Value,
) -> Value {
    let now = unix_now();
    let id = shared.next_id("sub");
    let mut subscription = fixture(SUBSCRIPTION);
    subscription["id"] = json!(id);
    subscription["customer"] = json!(customer);
    subscription["status"] = json!(status);
    subscription["metadata"] = metadata;
    subscription["created"] = json!(now);
    subscription["start_date"] = json!(now);
    subscription["current_period_start"] = json!(now);
    subscription["current_period_end"] = json!(now + 30 * 86_400);
    subscription["items"]["data"][0]["price"]["id"] = json!(price);
    subscription["items"]["data"][0]["subscription"] = json!(id);
    subscription
}

async fn deliver(shared: &Shared, event_type: &str, object: Value) -> u16 {
    let Some((url, secret)) = shared.webhook.lock().clone() else {
        panic!("the fake Stripe has no webhook endpoint: call set_webhook first");
    };
    let payload = event(&shared.next_id("evt"), event_type, unix_now(), object).to_string();
    let signature = signature_header(payload.as_bytes(), &secret, unix_now());
    match shared
        .http
        .post(&url)
        .header("content-type", "application/json; charset=utf-8")
        .header("stripe-signature", signature)
        .body(payload)
        .send()
        .await
    {
        Ok(response) => response.status().as_u16(),
        Err(_) => 0,
    }
}

fn form_map(form: &[(String, String)]) -> HashMap<&str, &str> {
    form.iter()
        .map(|(key, value)| (key.as_str(), value.as_str()))
        .collect()
}

fn metadata_of(form: &[(String, String)], prefix: &str) -> Value {
    let mut metadata = serde_json::Map::new();
    for (key, value) in form {
        if let Some(name) = key
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix('['))
            .and_then(|rest| rest.strip_suffix(']'))
        {
            metadata.insert(name.to_owned(), json!(value));
        }
    }
    Value::Object(metadata)
}

async fn create_customer(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    shared.record("POST", "/v1/customers", &headers, &form);
    if let Err(refused) = shared.authorized(&headers) {
        return refused;
    }
    let fields = form_map(&form);
    let mut customer = fixture(CUSTOMER);
    customer["id"] = json!(shared.next_id("cus"));
    customer["email"] = fields
        .get("email")
        .map_or(Value::Null, |email| json!(email));
    customer["metadata"] = metadata_of(&form, "metadata");
    customer["created"] = json!(unix_now());
    axum::Json(customer).into_response()
}

async fn create_checkout_session(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    shared.record("POST", "/v1/checkout/sessions", &headers, &form);
    if let Err(refused) = shared.authorized(&headers) {
        return refused;
    }
    let fields = form_map(&form);
    for required in ["mode", "success_url", "line_items[0][price]"] {
        if !fields.contains_key(required) {
            let error = json!({"error": {"type": "invalid_request_error", "message": format!("Missing required param: {required}."), "param": required}});
            return (StatusCode::BAD_REQUEST, axum::Json(error)).into_response();
        }
    }
    let id = shared.next_id("cs_test");
    let now = unix_now();
    let mut session = fixture(CHECKOUT_SESSION);
    session["id"] = json!(id);
    session["created"] = json!(now);
    session["expires_at"] = json!(now + 86_400);
    session["mode"] = json!(fields["mode"]);
    session["customer"] = fields.get("customer").map_or(Value::Null, |c| json!(c));
    session["client_reference_id"] = fields
        .get("client_reference_id")
        .map_or(Value::Null, |c| json!(c));
    session["success_url"] = json!(fields["success_url"]);
    session["cancel_url"] = fields.get("cancel_url").map_or(Value::Null, |c| json!(c));
    session["metadata"] = metadata_of(&form, "metadata");
    session["url"] = json!(format!("http://{}/checkout/{id}", shared.addr));
    // Kept for the payment: the price and the subscription's metadata.
    let mut stored = session.clone();
    stored["x_price"] = json!(fields["line_items[0][price]"]);
    stored["x_subscription_metadata"] = metadata_of(&form, "subscription_data[metadata]");
    shared.sessions.lock().insert(id, stored);
    axum::Json(session).into_response()
}

async fn create_portal_session(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    shared.record("POST", "/v1/billing_portal/sessions", &headers, &form);
    if let Err(refused) = shared.authorized(&headers) {
        return refused;
    }
    let fields = form_map(&form);
    let Some(customer) = fields.get("customer") else {
        let error = json!({"error": {"type": "invalid_request_error", "message": "Missing required param: customer.", "param": "customer"}});
        return (StatusCode::BAD_REQUEST, axum::Json(error)).into_response();
    };
    let id = shared.next_id("bps");
    let mut session = fixture(PORTAL_SESSION);
    session["id"] = json!(id);
    session["created"] = json!(unix_now());
    session["customer"] = json!(customer);
    session["return_url"] = fields
        .get("return_url")
        .map_or(Value::Null, |url| json!(url));
    session["url"] = json!(format!("http://{}/billing_portal/{id}", shared.addr));
    shared.portal_sessions.lock().insert(id, session.clone());
    axum::Json(session).into_response()
}

async fn checkout_page(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let Some(session) = shared.sessions.lock().get(&id).cloned() else {
        return (StatusCode::NOT_FOUND, "no such checkout session").into_response();
    };
    Html(format!(
        "<!DOCTYPE html><html><head><title>Fake Stripe Checkout</title></head><body>\
         <h1>Fake Stripe Checkout</h1><p>Subscribe to <code>{price}</code></p>\
         <form method=\"post\" action=\"/checkout/{id}/pay\"><button type=\"submit\">Pay and subscribe</button></form>\
         <form method=\"post\" action=\"/checkout/{id}/cancel\"><button type=\"submit\">Back</button></form>\
         </body></html>",
        price = session["x_price"].as_str().unwrap_or_default()
    ))
    .into_response()
}

/// Completes the session as a successful card payment: a subscription starts, Stripe sends
/// `checkout.session.completed` and `customer.subscription.created`, and the browser goes to the
/// success URL.
async fn pay(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let Some(mut session) = shared.sessions.lock().get(&id).cloned() else {
        return (StatusCode::NOT_FOUND, "no such checkout session").into_response();
    };
    let customer = session["customer"].as_str().unwrap_or_default().to_owned();
    let price = session["x_price"].as_str().unwrap_or_default().to_owned();
    let subscription = subscription_object(
        &shared,
        &customer,
        &price,
        "active",
        session["x_subscription_metadata"].clone(),
    );
    shared.subscriptions.lock().insert(
        subscription["id"].as_str().unwrap_or_default().to_owned(),
        subscription.clone(),
    );
    session["status"] = json!("complete");
    session["payment_status"] = json!("paid");
    session["subscription"] = subscription["id"].clone();
    let success_url = session["success_url"]
        .as_str()
        .unwrap_or_default()
        .replace("{CHECKOUT_SESSION_ID}", &id);
    let mut sent = session.clone();
    if let Some(object) = sent.as_object_mut() {
        object.retain(|key, _| !key.starts_with("x_"));
    }
    shared.sessions.lock().insert(id, session);
    deliver(&shared, "checkout.session.completed", sent).await;
    deliver(&shared, "customer.subscription.created", subscription).await;
    Redirect::to(&success_url).into_response()
}

async fn cancel_checkout(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let cancel_url = shared
        .sessions
        .lock()
        .get(&id)
        .and_then(|s| s["cancel_url"].as_str().map(str::to_owned));
    match cancel_url {
        Some(url) => Redirect::to(&url).into_response(),
        None => (StatusCode::NOT_FOUND, "no such checkout session").into_response(),
    }
}

async fn portal_page(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let Some(session) = shared.portal_sessions.lock().get(&id).cloned() else {
        return (StatusCode::NOT_FOUND, "no such portal session").into_response();
    };
    Html(format!(
        "<!DOCTYPE html><html><head><title>Fake Stripe Billing Portal</title></head><body>\
         <h1>Fake Stripe Billing Portal</h1><p>Customer <code>{customer}</code></p>\
         <form method=\"post\" action=\"/billing_portal/{id}/cancel\"><button type=\"submit\">Cancel plan</button></form>\
         <a href=\"{back}\">Return</a></body></html>",
        customer = session["customer"].as_str().unwrap_or_default(),
        back = session["return_url"].as_str().unwrap_or("/"),
    ))
    .into_response()
}

/// Cancels at the end of the period, as the Billing Portal does by default: Stripe sends
/// `customer.subscription.updated` with `cancel_at_period_end: true` now, and `deleted` later.
async fn cancel_subscription(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Response {
    let Some(session) = shared.portal_sessions.lock().get(&id).cloned() else {
        return (StatusCode::NOT_FOUND, "no such portal session").into_response();
    };
    let customer = session["customer"].as_str().unwrap_or_default();
    let subscription = shared
        .subscriptions
        .lock()
        .values()
        .find(|s| s["customer"] == customer)
        .cloned();
    if let Some(mut subscription) = subscription {
        subscription["cancel_at_period_end"] = json!(true);
        subscription["cancel_at"] = subscription["current_period_end"].clone();
        deliver(&shared, "customer.subscription.updated", subscription).await;
    }
    Redirect::to(session["return_url"].as_str().unwrap_or("/")).into_response()
}
