//! The admin CLI's commands and arguments; [`crate::admin`] runs them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::route_cli::RouteCommand;

#[derive(Debug, Parser)]
#[command(
    name = "llm-gateway",
    version,
    about = "LLM Gateway: an OpenAI-compatible gateway to your LLM providers"
)]
pub struct Cli {
    /// A TOML configuration file (also GATEWAY_CONFIG); environment variables override it.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the portal and the API (the default).
    Serve,
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Exit 0 when the server at GATEWAY_ADDR answers `/healthz`, else 1: a container's
    /// HEALTHCHECK, which has no shell or curl to run.
    Healthcheck,
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// The people of an account's organisation (the operator's view: no role is checked).
    #[command(subcommand)]
    Member(MemberCommand),
    /// Manage gateway keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Manage provider keys.
    #[command(subcommand)]
    Provider(ProviderCommand),
    /// The auto-routing classifier: classify requests, evaluate and train it.
    #[command(subcommand)]
    Route(RouteCommand),
    /// Routing overrides of an account or one of its keys.
    #[command(subcommand)]
    Routing(RoutingCommand),
    /// Budgets and rate limits of an account (its organisation) or one of its keys.
    #[command(subcommand)]
    Limits(LimitsCommand),
    /// Usage events (metadata only).
    #[command(subcommand)]
    Usage(UsageCommand),
    /// The master key that seals provider keys.
    #[command(subcommand)]
    MasterKey(MasterKeyCommand),
}

#[derive(Debug, Subcommand)]
pub enum MasterKeyCommand {
    /// Re-seal every provider key under a new master key, in one transaction. With the key in
    /// `<data dir>/master.key` a new one is generated into that file; with GATEWAY_MASTER_KEY the
    /// new key is read from standard input, to be set in the environment afterwards. Stop the
    /// servers first and start them with the new key.
    Rotate,
}

#[derive(Debug, Subcommand)]
pub enum UsageCommand {
    /// Print the account's events, oldest first, clamped to the plan's retention: the same
    /// columns as the portal's CSV export.
    Export {
        #[arg(long)]
        email: String,
        /// How far back: `1h`, `24h`, `7d`, `90d`….
        #[arg(long, default_value = "7d")]
        since: String,
        #[arg(long, value_parser = ["csv", "json"], default_value = "csv")]
        format: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum RoutingCommand {
    /// Print the routing policy as JSON (the account's, or the key's own overrides).
    Show(RoutingTarget),
    /// Replace the routing policy with the JSON given (see the README for its fields).
    Set {
        #[command(flatten)]
        target: RoutingTarget,
        /// The policy, e.g. '{"max_tier": "standard", "rules": [{"when": "tools", "at_least": "standard"}]}'.
        #[arg(long, conflicts_with = "clear", required_unless_present = "clear")]
        json: Option<String>,
        /// Remove every override.
        #[arg(long)]
        clear: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum LimitsCommand {
    /// Print the limits as JSON, with this month's spend at list price.
    Show(RoutingTarget),
    /// Replace the limits; a limit not given is removed.
    Set {
        #[command(flatten)]
        target: RoutingTarget,
        /// Monthly budget in US dollars at catalog list prices: requests past it get 429
        /// `budget_exceeded` until the month ends.
        #[arg(long)]
        budget_usd: Option<f64>,
        /// E-mail the owners when this percentage of the budget is spent (once a month).
        #[arg(long)]
        alert_percent: Option<u8>,
        /// Requests per minute.
        #[arg(long)]
        rpm: Option<u32>,
        /// Tokens (prompt + completion) per minute.
        #[arg(long)]
        tpm: Option<u32>,
    },
}

#[derive(Debug, Args)]
pub struct RoutingTarget {
    #[arg(long)]
    pub email: String,
    /// A key's prefix: its own overrides instead of the account's.
    #[arg(long)]
    pub key_prefix: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account; the password is read from standard input.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = ["free", "pro", "enterprise"], default_value = "free")]
        plan: String,
    },
    /// Set an account's plan (when billing is off, this is how plans change).
    SetPlan {
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = ["free", "pro", "enterprise"])]
        plan: String,
    },
    /// Show an account.
    Show {
        #[arg(long)]
        email: String,
        /// Print JSON: {"id", "email", "plan", "created_at", "active_keys", "providers"}.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// The organisation's people, owner first: `<role> <email> <id>` per line (the owner's id is 0).
    List {
        /// The owner's e-mail (the account).
        #[arg(long)]
        email: String,
        /// Print JSON: [{"id", "email", "role"}].
        #[arg(long)]
        json: bool,
    },
    /// Invite someone and print the one-time link (valid 7 days) for the operator to pass on.
    Invite {
        #[arg(long)]
        email: String,
        #[arg(long)]
        invitee: String,
        #[arg(long, value_parser = ["admin", "member", "viewer"], default_value = "member")]
        role: String,
    },
    /// Change a member's role.
    SetRole {
        #[arg(long)]
        email: String,
        #[arg(long)]
        member: String,
        #[arg(long, value_parser = ["admin", "member", "viewer"])]
        role: String,
    },
    /// Remove a member; the keys they created are revoked.
    Remove {
        #[arg(long)]
        email: String,
        #[arg(long)]
        member: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create a gateway key and print it (only the key) on standard output.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "default")]
        name: String,
    },
    /// Revoke the key that a prefix (any unambiguous leading part of the key) designates.
    Revoke {
        #[arg(long)]
        email: String,
        #[arg(long)]
        key_prefix: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ProviderCommand {
    /// Add (or replace) a provider key; the API key is read from standard input (optional for
    /// ollama). An unknown `--provider` is answered with the providers there are.
    Add(ProviderAdd),
}

#[derive(Debug, Args)]
pub struct ProviderAdd {
    #[arg(long)]
    pub email: String,
    #[arg(long)]
    pub provider: String,
    #[arg(long)]
    pub base_url: Option<String>,
}
