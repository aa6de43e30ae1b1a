//! Runs the fake provider servers as a process, for the browser and SDK tests.
//! Prints `<provider>=<base url>` lines once listening, `openai=` first.

use clap::Parser;

#[derive(Parser)]
struct Args {
    /// Address of the fake providers (OpenAI's API at /v1).
    #[arg(long, default_value = "127.0.0.1:0")]
    openai_addr: std::net::SocketAddr,
    /// Keys the fake accepts (repeatable); any key when none is given.
    #[arg(long = "accept-key")]
    accept_keys: Vec<String>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let fakes = testkit::FakeProviders::start_on(args.openai_addr, args.accept_keys).await?;
    for provider in ["openai", "anthropic", "gemini", "groq", "ollama"] {
        println!("{provider}={}", fakes.base_url_for(provider));
    }
    fakes.wait().await;
    Ok(())
}
