//! Stripe billing: Checkout for upgrades, the Billing Portal for changes and cancellation
//! ([`checkout`]), and the webhook that applies what Stripe reports to the account's plan
//! ([`webhook`], verified by [`signature`]; its HTTP route is [`crate::webhooks`]).
//!
//! API calls go through async-stripe. Webhook payloads are verified here (HMAC-SHA256 over
//! `timestamp.payload`, as Stripe documents) and read as JSON rather than into async-stripe's
//! typed events: those reject events of newer API versions, and only a few fields matter here.

mod checkout;
mod signature;
mod webhook;

pub use crate::settings::StripeSettings;
pub use checkout::{Billing, BillingError, PlanPrice};
pub use signature::{SIGNATURE_TOLERANCE_SECS, SignatureError, sign, verify_signature};
pub use webhook::{WebhookError, WebhookOutcome};
