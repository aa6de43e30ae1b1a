//! Runs the admin CLI's commands ([`crate::cli`] declares them). Its output is stable: scripts
//! parse it.

use std::io::Read as _;

use anyhow::{Context as _, bail};
use gateway::accounts::{self, Plan};
use gateway::limits::{Limits, Scope};
use gateway::providers::ProviderKind;
use gateway::routing::RoutingPolicy;

use crate::app::connect_database;
use crate::cli::{
    Command, KeyCommand, LimitsCommand, MasterKeyCommand, MemberCommand, ProviderAdd,
    ProviderCommand, RoutingCommand, RoutingTarget, UsageCommand, UserCommand,
};
use crate::config::Config;
use crate::master_key::load_master_key;
use crate::route_cli::run_route;

/// Reads a secret from standard input: the first line, without its line ending.
fn read_secret(what: &str) -> anyhow::Result<String> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .with_context(|| format!("reading the {what} from standard input"))?;
    let secret = input.lines().next().unwrap_or_default().to_owned();
    if secret.is_empty() {
        bail!("expected the {what} on standard input");
    }
    Ok(secret)
}

fn read_optional_secret() -> anyhow::Result<String> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .context("reading the API key from standard input")?;
    Ok(input.lines().next().unwrap_or_default().trim().to_owned())
}

/// The member of `account_id` whose address is `email`.
async fn member_by_email(
    db: &gateway::sea_orm::DatabaseConnection,
    account_id: i32,
    email: &str,
) -> anyhow::Result<gateway::entities::member::Model> {
    accounts::members::find_member(db, email)
        .await?
        .filter(|member| member.account_id == account_id)
        .with_context(|| format!("{email} is not a member of this organisation"))
}

async fn run_member(
    config: &Config,
    db: &gateway::sea_orm::DatabaseConnection,
    command: MemberCommand,
) -> anyhow::Result<()> {
    use accounts::members::{self, Role};
    let role_of = |role: &str| Role::parse(role).context("unknown role");
    match command {
        MemberCommand::List { email, json } => {
            let account = accounts::account_by_email(db, &email).await?;
            let mut people = vec![(0, account.email, Role::Owner.id().to_owned())];
            for member in members::list_members(db, account.id).await? {
                people.push((member.id, member.email, member.role));
            }
            if json {
                let shown: Vec<_> = people
                    .iter()
                    .map(|(id, email, role)| serde_json::json!({"id": id, "email": email, "role": role}))
                    .collect();
                println!("{}", serde_json::Value::Array(shown));
            } else {
                for (id, email, role) in people {
                    println!("{role:<7} {email} {id}");
                }
            }
        }
        MemberCommand::Invite {
            email,
            invitee,
            role,
        } => {
            let account = accounts::account_by_email(db, &email).await?;
            // The operator may know who has a login; an inviter in the portal is not told.
            members::address_is_free(db, &invitee).await?;
            let invited = members::invite(db, account.id, &invitee, role_of(&role)?).await?;
            let link = accounts::tokens::link(&config.link_base(), "/invite", &invited.token);
            println!("{link}");
        }
        MemberCommand::SetRole {
            email,
            member,
            role,
        } => {
            let account = accounts::account_by_email(db, &email).await?;
            let member = member_by_email(db, account.id, &member).await?;
            members::set_role(db, account.id, member.id, role_of(&role)?).await?;
            println!("{} is now {role}", member.email);
        }
        MemberCommand::Remove { email, member } => {
            let account = accounts::account_by_email(db, &email).await?;
            let member = member_by_email(db, account.id, &member).await?;
            let revoked = members::remove_member(db, account.id, member.id).await?;
            println!(
                "removed {} and revoked {revoked} of their keys",
                member.email
            );
        }
    }
    Ok(())
}

/// Runs an admin command (anything but `serve` and `route`).
/// `/healthz` of the server this configuration starts (on 127.0.0.1 when it listens on every
/// address), within 3 s.
async fn healthcheck(config: &Config) -> anyhow::Result<()> {
    let mut addr: std::net::SocketAddr = config
        .gateway_addr
        .parse()
        .with_context(|| format!("GATEWAY_ADDR {:?} is not an address", config.gateway_addr))?;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let response = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build()?
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .with_context(|| format!("no answer from http://{addr}/healthz"))?;
    anyhow::ensure!(
        response.status().is_success(),
        "http://{addr}/healthz answered {}",
        response.status()
    );
    println!("healthy");
    Ok(())
}

pub async fn run_admin(config: &Config, command: Command) -> anyhow::Result<()> {
    if let Command::Route(route) = command {
        return run_route(config, route);
    }
    if let Command::Healthcheck = command {
        return healthcheck(config).await;
    }
    let db = connect_database(config).await?;
    match command {
        Command::Serve | Command::Route(_) | Command::Healthcheck => {
            unreachable!("handled elsewhere")
        }
        Command::Migrate => {
            println!("database is up to date");
        }
        Command::User(UserCommand::Create { email, plan }) => {
            let plan = Plan::parse(&plan).context("unknown plan")?;
            let password = read_secret("password")?;
            let account = accounts::create_account(&db, &email, &password, plan).await?;
            println!("created account {} ({})", account.email, account.id);
        }
        Command::User(UserCommand::SetPlan { email, plan }) => {
            let plan = Plan::parse(&plan).context("unknown plan")?;
            let account = accounts::account_by_email(&db, &email).await?;
            accounts::set_plan(&db, account.id, plan).await?;
            println!("plan of {} set to {}", account.email, plan.id());
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
        Command::Member(command) => run_member(config, &db, command).await?,
        Command::Key(KeyCommand::Create { email, name }) => {
            let account = accounts::account_by_email(&db, &email).await?;
            let created =
                accounts::create_gateway_key(&db, &config.plans, account.id, &name).await?;
            println!("{}", created.secret);
        }
        Command::Key(KeyCommand::Revoke { email, key_prefix }) => {
            let account = accounts::account_by_email(&db, &email).await?;
            let key = accounts::find_key_by_prefix(&db, account.id, &key_prefix).await?;
            accounts::revoke_gateway_key(&db, account.id, key.id).await?;
            println!("revoked key {}… ({})", key.prefix, key.name);
        }
        Command::Routing(RoutingCommand::Show(RoutingTarget { email, key_prefix })) => {
            let account = accounts::account_by_email(&db, &email).await?;
            let policies = accounts::routing_policies(&db, account.id).await?;
            let policy = match key_prefix {
                None => policies.account,
                Some(prefix) => {
                    let key = accounts::find_key_by_prefix(&db, account.id, &prefix).await?;
                    policies.keys.get(&key.id).cloned().unwrap_or_default()
                }
            };
            println!("{}", serde_json::to_string(&policy)?);
        }
        Command::Routing(RoutingCommand::Set {
            target: RoutingTarget { email, key_prefix },
            json,
            clear,
        }) => {
            let policy = if clear {
                RoutingPolicy::default()
            } else {
                RoutingPolicy::parse(json.as_deref().unwrap_or_default())
                    .map_err(accounts::AccountError::from)?
            };
            let account = accounts::account_by_email(&db, &email).await?;
            match key_prefix {
                None => {
                    accounts::set_account_routing_policy(&db, account.id, &policy).await?;
                    println!("routing policy of {} set", account.email);
                }
                Some(prefix) => {
                    let key = accounts::find_key_by_prefix(&db, account.id, &prefix).await?;
                    accounts::set_key_routing_policy(&db, account.id, key.id, &policy).await?;
                    println!("routing policy of key {}… ({}) set", key.prefix, key.name);
                }
            }
        }
        Command::Limits(LimitsCommand::Show(RoutingTarget { email, key_prefix })) => {
            let account = accounts::account_by_email(&db, &email).await?;
            let limits = accounts::account_limits(&db, account.id).await?;
            let (scope, limits) = match key_prefix {
                None => (Scope::Account(account.id), limits.account),
                Some(prefix) => {
                    let key = accounts::find_key_by_prefix(&db, account.id, &prefix).await?;
                    let own = limits.keys.get(&key.id).cloned().unwrap_or_default();
                    (Scope::Key(key.id), own)
                }
            };
            let (month_start, _) = gateway::plans::month_bounds_utc(gateway::clock::now_ms());
            let spent = gateway::limits::ledger::spent_since(&db, scope, month_start).await?;
            let shown = serde_json::json!({
                "limits": limits,
                "spent_this_month_usd": spent as f64 / gateway::limits::NANOS_PER_USD,
            });
            println!("{shown}");
        }
        Command::Limits(LimitsCommand::Set {
            target: RoutingTarget { email, key_prefix },
            budget_usd,
            alert_percent,
            rpm,
            tpm,
        }) => {
            let limits = Limits {
                monthly_budget_usd: budget_usd,
                alert_at_percent: alert_percent,
                requests_per_minute: rpm,
                tokens_per_minute: tpm,
            };
            limits.validate().map_err(accounts::AccountError::from)?;
            let account = accounts::account_by_email(&db, &email).await?;
            match key_prefix {
                None => {
                    accounts::set_account_limits(&db, account.id, &limits).await?;
                    println!("limits of {} set", account.email);
                }
                Some(prefix) => {
                    let key = accounts::find_key_by_prefix(&db, account.id, &prefix).await?;
                    accounts::set_key_limits(&db, account.id, key.id, &limits).await?;
                    println!("limits of key {}… ({}) set", key.prefix, key.name);
                }
            }
        }
        Command::MasterKey(MasterKeyCommand::Rotate) => {
            let new_key = if config.gateway_master_key.is_some() {
                Some(read_secret("new master key")?)
            } else {
                None
            };
            let resealed =
                crate::master_key::rotate_master_key(config, &db, new_key.as_deref()).await?;
            if config.gateway_master_key.is_some() {
                println!(
                    "re-sealed {resealed} provider key(s); set GATEWAY_MASTER_KEY to the new key before starting the servers again"
                );
            } else {
                println!(
                    "re-sealed {resealed} provider key(s); the new master key is in {}: back it up, and restart the servers",
                    config.gateway_data_dir.join("master.key").display()
                );
            }
        }
        Command::Usage(UsageCommand::Export {
            email,
            since,
            format,
        }) => {
            use gateway::analytics;
            use std::io::Write as _;
            let Some(range) = analytics::parse_range(&since) else {
                bail!("--since must look like 1h, 24h, 7d or 90d, not {since:?}");
            };
            let account = accounts::account_by_email(&db, &email).await?;
            let plan = Plan::stored(&account.plan);
            let now = gateway::clock::now_ms();
            let since =
                analytics::clamp_since(now, range, config.plans.limits(plan).retention_days);
            // A page at a time, as the portal's export: memory stays flat however many events.
            if format == "csv" {
                use futures::TryStreamExt as _;
                let mut chunks =
                    std::pin::pin!(analytics::csv_stream(db.clone(), account.id, since).await?);
                while let Some(chunk) = chunks.try_next().await? {
                    std::io::stdout().lock().write_all(&chunk)?;
                }
            } else {
                let mut after = None;
                loop {
                    let page = analytics::events_page(
                        &db,
                        account.id,
                        since,
                        after,
                        analytics::EXPORT_PAGE,
                    )
                    .await?;
                    let mut out = std::io::stdout().lock();
                    for event in &page {
                        writeln!(
                            out,
                            "{}",
                            serde_json::Value::Object(analytics::export_row(event))
                        )?;
                    }
                    if (page.len() as u64) < analytics::EXPORT_PAGE {
                        break;
                    }
                    after = page.last().map(|last| (last.created_at, last.id));
                }
            }
        }
        Command::Provider(ProviderCommand::Add(ProviderAdd {
            email,
            provider,
            base_url,
        })) => {
            let account = accounts::account_by_email(&db, &email).await?;
            let Some(kind) = ProviderKind::parse(&provider) else {
                return Err(accounts::AccountError::UnknownProvider(provider).into());
            };
            // Ollama usually runs without a key: an empty standard input is fine there.
            let api_key = if kind.requires_api_key() {
                read_secret("API key")?
            } else {
                read_optional_secret()?
            };
            let master_key = load_master_key(config, &db).await?;
            let added = accounts::add_provider(
                &db,
                &config.plans,
                &master_key,
                &config.egress_policy()?,
                account.id,
                &provider,
                &api_key,
                base_url.as_deref(),
            )
            .await?;
            println!("added provider {} ({})", added.provider, added.key_hint);
        }
    }
    db.close().await.ok();
    Ok(())
}
