//! The admin CLI. Its output is stable: scripts parse it.

use std::io::Read as _;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand};
use gateway::accounts::{self, Plan};
use gateway::providers::ProviderKind;

use crate::app::{connect_database, load_master_key};
use crate::config::Config;

#[derive(Debug, Parser)]
#[command(name = "llm-gateway", version, about = "LLM Gateway: an OpenAI-compatible gateway to your LLM providers")]
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
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage gateway keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Manage provider keys.
    #[command(subcommand)]
    Provider(ProviderCommand),
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
    /// Add (or replace) a provider key (openai, anthropic, gemini, groq, ollama); the API key is
    /// read from standard input (optional for ollama).
    Add(ProviderAdd),
}

#[derive(Debug, Args)]
pub struct ProviderAdd {
    #[arg(long)]
    email: String,
    #[arg(long)]
    provider: String,
    #[arg(long)]
    base_url: Option<String>,
}

/// Reads a secret from standard input: the first line, without its line ending.
fn read_secret(what: &str) -> anyhow::Result<String> {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).with_context(|| format!("reading the {what} from standard input"))?;
    let secret = input.lines().next().unwrap_or_default().to_owned();
    if secret.is_empty() {
        bail!("expected the {what} on standard input");
    }
    Ok(secret)
}

fn read_optional_secret() -> anyhow::Result<String> {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).context("reading the API key from standard input")?;
    Ok(input.lines().next().unwrap_or_default().trim().to_owned())
}

/// Runs an admin command (anything but `serve`).
pub async fn run_admin(config: &Config, command: Command) -> anyhow::Result<()> {
    let db = connect_database(config).await?;
    match command {
        Command::Serve => unreachable!("serve is not an admin command"),
        Command::Migrate => {
            println!("database is up to date");
        }
        Command::User(UserCommand::Create { email, plan }) => {
            let plan = Plan::parse(&plan).context("unknown plan")?;
            let password = read_secret("password")?;
            let account = accounts::create_account(&db, &email, &password, plan).await?;
            println!("created account {} ({})", account.email, account.id);
        }
        Command::User(UserCommand::Show { email, json }) => {
            let account = accounts::account_by_email(&db, &email).await?;
            let keys = accounts::list_gateway_keys(&db, account.id).await?;
            let providers = accounts::list_providers(&db, account.id).await?;
            let active_keys = keys.iter().filter(|key| key.revoked_at.is_none()).count();
            let provider_ids: Vec<&str> = providers.iter().map(|p| p.provider.as_str()).collect();
            if json {
                let shown = serde_json::json!({
                    "id": account.id,
                    "email": account.email,
                    "plan": account.plan,
                    "created_at": account.created_at,
                    "active_keys": active_keys,
                    "providers": provider_ids,
                });
                println!("{shown}");
            } else {
                println!("id:          {}", account.id);
                println!("email:       {}", account.email);
                println!("plan:        {}", account.plan);
                println!("active keys: {active_keys}");
                println!("providers:   {}", provider_ids.join(", "));
            }
        }
        Command::Key(KeyCommand::Create { email, name }) => {
            let account = accounts::account_by_email(&db, &email).await?;
            let created = accounts::create_gateway_key(&db, account.id, &name).await?;
            println!("{}", created.secret);
        }
        Command::Key(KeyCommand::Revoke { email, key_prefix }) => {
            let account = accounts::account_by_email(&db, &email).await?;
            let key = accounts::find_key_by_prefix(&db, account.id, &key_prefix).await?;
            accounts::revoke_gateway_key(&db, account.id, key.id).await?;
            println!("revoked key {}… ({})", key.prefix, key.name);
        }
        Command::Provider(ProviderCommand::Add(ProviderAdd { email, provider, base_url })) => {
            let account = accounts::account_by_email(&db, &email).await?;
            let Some(kind) = ProviderKind::parse(&provider) else {
                return Err(accounts::AccountError::UnknownProvider(provider).into());
            };
            // Ollama usually runs without a key: an empty standard input is fine there.
            let api_key = if kind.requires_api_key() { read_secret("API key")? } else { read_optional_secret()? };
            let master_key = load_master_key(config)?;
            let added =
                accounts::add_provider(&db, &master_key, account.id, &provider, &api_key, base_url.as_deref()).await?;
            println!("added provider {} ({})", added.provider, added.key_hint);
        }
    }
    db.close().await.ok();
    Ok(())
}
