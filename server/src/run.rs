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
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    // Traces only when serving (admin commands make no requests).
    let traces = if serving {
        match crate::telemetry::from_env(runtime.handle().clone()) {
            Ok(traces) => traces,
            Err(err) => {
                eprintln!("error: OpenTelemetry: {err}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    init_logs(default_filter, traces.as_ref());
    let result = runtime.block_on(async move {
        let config = Config::load(cli.config.as_deref())?;
        match cli.command {
            None | Some(Command::Serve) => serve(config).await,
            Some(command) => crate::admin::run_admin(&config, command).await,
        }
    });
    if let Some(traces) = traces {
        // The last batch of spans, sent on the runtime before it stops.
        let flushed = runtime.block_on(tokio::task::spawn_blocking(move || {
            traces.provider.shutdown()
        }));
        if let Ok(Err(err)) = flushed {
            eprintln!("warning: OpenTelemetry: the last spans were not sent: {err}");
        }
    }
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

/// Logs to stderr (`LOG_FORMAT=json`: one JSON object per line, for log collectors such as Loki
/// or Elasticsearch), filtered by `RUST_LOG`; with traces, the engine's spans also go to
/// OpenTelemetry (whatever `RUST_LOG` says: they are metadata, and sampled by the SDK).
fn init_logs(default_filter: &str, traces: Option<&crate::telemetry::Traces>) {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs = if std::env::var("LOG_FORMAT")
        .is_ok_and(|format| format.trim().eq_ignore_ascii_case("json"))
    {
        logs.json().boxed()
    } else {
        logs.boxed()
    };
    let spans = traces.map(|traces| {
        tracing_opentelemetry::layer()
            .with_tracer(traces.tracer.clone())
            .with_filter(
                tracing_subscriber::filter::Targets::new()
                    .with_target(gateway::telemetry::TARGET, tracing::Level::INFO),
            )
    });
    tracing_subscriber::registry()
        .with(logs.with_filter(filter))
        .with(spans)
        .init();
}

async fn serve(config: Config) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let listener = crate::listen::bind(&config.gateway_addr)
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
