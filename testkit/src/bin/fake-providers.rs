//! Runs the fake provider servers as a process, for the browser and SDK tests.
//! Prints `openai=<base url>` once listening.

use clap::Parser;

#[derive(Parser)]
struct Args {
    /// Address of the fake OpenAI API.
    #[arg(long, default_value = "127.0.0.1:0")]
    openai_addr: std::net::SocketAddr,
    /// Keys the fake accepts (repeatable); any key when none is given.
    #[arg(long = "accept-key")]
    accept_keys: Vec<String>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let openai = testkit::FakeOpenAi::start_on(args.openai_addr, args.accept_keys).await?;
    println!("openai={}", openai.base_url());
    openai.wait().await;
    Ok(())
}
