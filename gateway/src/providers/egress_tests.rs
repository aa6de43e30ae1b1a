//! The SSRF guard at connection time, as the provider calls meet it: a refusal from the
//! resolver becomes the upstream error `Egress`, not a retried connection failure.

use std::net::IpAddr;
use std::sync::Arc;

use crate::egress::{EgressPolicy, GuardedResolver, Lookup};
use crate::error::UpstreamError;

/// DNS rebinding: the name resolves to a public address when the tenant saves it and to
/// this machine when the gateway connects. The connection is refused, not opened.
#[tokio::test]
async fn a_name_rebound_to_a_private_address_after_saving_is_refused_at_connecting() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counter = accepted.clone();
    let server = tokio::spawn(async move {
        while listener.accept().await.is_ok() {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let lookups = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let rebinding: Lookup = Arc::new(move |_host: String| {
        let first = lookups.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0;
        let addr: IpAddr = if first { "93.184.216.34" } else { "127.0.0.1" }
            .parse()
            .unwrap();
        Box::pin(async move { Ok(vec![addr]) })
    });
    let policy = Arc::new(EgressPolicy::default().with_lookup(rebinding));
    let base_url = reqwest::Url::parse(&format!("https://rebind.test:{port}/v1")).unwrap();
    policy
        .check_url(crate::providers::ProviderKind::OpenAi, &base_url)
        .await
        .expect("public when saved");

    let client = reqwest::Client::builder()
        .dns_resolver(Arc::new(GuardedResolver(policy)))
        .build()
        .unwrap();
    let err = client.get(base_url).send().await.unwrap_err();
    let upstream = super::transport_error("openai", std::time::Duration::from_secs(5), err);
    let UpstreamError::Egress { refusal, .. } = &upstream else {
        panic!("{upstream:?}");
    };
    assert!(
        refusal
            .to_string()
            .starts_with("rebind.test resolves to 127.0.0.1, a loopback address"),
        "{refusal}"
    );
    assert!(!upstream.is_retryable());
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 0);
    server.abort();
}
