//! Runs the fake provider servers (and, when asked, the fake Stripe) as a process, for the
//! browser and SDK tests. Prints `<provider>=<base url>` lines once listening, `openai=` first,
//! then `stripe=<api base>` when the fake Stripe runs, and `smtp=` and `mailbox=` when the SMTP
//! catcher does.

use clap::Parser;

#[derive(Parser)]
struct Args {
    /// Address of the fake providers (OpenAI's API at /v1).
    #[arg(long, default_value = "127.0.0.1:0")]
    openai_addr: std::net::SocketAddr,
    /// Keys the fake accepts (repeatable); any key when none is given.
    #[arg(long = "accept-key")]
    accept_keys: Vec<String>,
    /// Also run the fake Stripe on this address.
    #[arg(long)]
    stripe_addr: Option<std::net::SocketAddr>,
    #[arg(long, default_value = "sk_test_fake")]
    stripe_secret_key: String,
    /// Where the fake Stripe delivers webhook events (the gateway's /webhooks/stripe).
    #[arg(long)]
    stripe_webhook_url: Option<String>,
    #[arg(long, default_value = "whsec_fake")]
    stripe_webhook_secret: String,
    /// A price the fake Stripe has on sale, `ID=AMOUNT:CURRENCY:INTERVAL` (amount in cents, as
    /// Stripe counts it), e.g. `price_pro=2000:usd:month`; repeatable.
    #[arg(long = "stripe-price")]
    stripe_prices: Vec<testkit::stripe_prices::FakePrice>,
    /// Also run an SMTP catcher on this address (the gateway's SMTP_URL).
    #[arg(long)]
    smtp_addr: Option<std::net::SocketAddr>,
    /// Where the caught e-mails are served as JSON (`GET /messages`).
    #[arg(long, requires = "smtp_addr")]
    mailbox_addr: Option<std::net::SocketAddr>,
    /// Labelled prompts (JSON lines with `messages` and `weak_ok`, as
    /// `../shared/router-eval/dev.jsonl`): the quality judge grades a served answer adequate
    /// exactly when its prompt is labelled `weak_ok`.
    #[arg(long)]
    judge_labels: Option<std::path::PathBuf>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let fakes = testkit::FakeProviders::start_on(args.openai_addr, args.accept_keys).await?;
    if let Some(path) = &args.judge_labels {
        let mut labels = std::collections::HashMap::new();
        for line in std::fs::read_to_string(path)?.lines() {
            let Ok(row) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let (Some(question), Some(ok)) = (
                row.pointer("/messages/0/content").and_then(|v| v.as_str()),
                row.get("weak_ok").and_then(|v| v.as_bool()),
            ) else {
                continue;
            };
            labels.insert(question.to_owned(), ok);
        }
        eprintln!("judging {} labelled prompts by their labels", labels.len());
        fakes.set_judge_labels(labels);
    }
    for provider in ["openai", "anthropic", "gemini", "groq", "ollama"] {
        println!("{provider}={}", fakes.base_url_for(provider));
    }
    let _stripe = match args.stripe_addr {
        Some(addr) => {
            let stripe =
                testkit::stripe::FakeStripe::start_on(addr, &args.stripe_secret_key).await?;
            if let Some(url) = &args.stripe_webhook_url {
                stripe.set_webhook(url, &args.stripe_webhook_secret);
            }
            for price in &args.stripe_prices {
                stripe.add_price(price.clone());
            }
            println!("stripe={}", stripe.base_url());
            Some(stripe)
        }
        None => None,
    };
    let _smtp = match args.smtp_addr {
        Some(addr) => {
            let catcher = testkit::smtp::SmtpCatcher::start_on(addr).await?;
            println!("smtp={}", catcher.url());
            if let Some(mailbox) = args.mailbox_addr {
                println!(
                    "mailbox=http://{}/messages",
                    catcher.serve_mailbox(mailbox).await?
                );
            }
            Some(catcher)
        }
        None => None,
    };
    fakes.wait().await;
    Ok(())
}
