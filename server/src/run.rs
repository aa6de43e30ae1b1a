//! What `llm-gateway` does when started.

use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::config::Config;
use clap::Parser as _;
use tracing_subscriber::EnvFilter;

/// The whole binary: parse the command line, set up logging and the runtime, then serve or run an
/// admin command. It lives in the library so that the hyper server stack `crate::listen::serve`
/// instantiates is compiled once, here, and not again in the binary (release builds share no
/// generics).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let serving = matches!(cli.command, None | Some(Command::Serve));
    // Admin commands keep stdout for their output and log only warnings, to stderr.
    let default_filter = if serving {
        "info,sqlx=warn,sea_orm=warn,tower_sessions=warn"
    } else {
        "warn"
    };
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr);
    // `LOG_FORMAT=json`: one JSON object per line, for log collectors (Loki, Elasticsearch, …).
    if std::env::var("LOG_FORMAT").is_ok_and(|format| format.trim().eq_ignore_ascii_case("json")) {
        logs.json().init();
    } else {
        logs.init();
    }

    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let config = Config::load(cli.config.as_deref())?;
        match cli.command {
            None | Some(Command::Serve) => serve(config).await,
            Some(command) => crate::admin::run_admin(&config, command).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line: the error and its causes.
            let causes: Vec<String> = err.chain().map(ToString::to_string).collect();
            eprintln!("error: {}", causes.join(": "));
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let listener = tokio::net::TcpListener::bind(&config.gateway_addr)
        .await
        .with_context(|| format!("binding {}", config.gateway_addr))?;
    let addr = listener.local_addr()?;
    let application = crate::app::build(&config, addr).await?;
    tracing::info!(config = ?config, "configuration");
    println!("LLM Gateway is running at http://{addr}");
    println!(
        "  portal:  http://{addr}/signup to create an account, then add a provider key and a gateway key"
    );
    println!("  API:     point the OpenAI SDK at base_url=http://{addr}/v1 with your gw_… key");
    crate::listen::serve(
        listener,
        application.router,
        &crate::listen::ServeLimits::from_config(&config),
        shutdown_signal(),
    )
    .await;
    tracing::info!("shutting down: writing queued usage events");
    application.tasks.shutdown(&application.state).await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
