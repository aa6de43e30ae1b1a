//! The SSRF guard against hostile names, addresses and rebinding.

use super::*;

/// A resolver that answers from a table, as a hostile DNS server could.
fn table(entries: &[(&str, &str)]) -> Lookup {
    let entries: Vec<(String, IpAddr)> = entries
        .iter()
        .map(|(host, addr)| ((*host).to_owned(), addr.parse().unwrap()))
        .collect();
    Arc::new(move |host: String| {
        let found: Vec<IpAddr> = entries
            .iter()
            .filter(|(name, _)| *name == host)
            .map(|(_, addr)| *addr)
            .collect();
        Box::pin(async move {
            if found.is_empty() {
                Err(std::io::Error::other("no such host"))
            } else {
                Ok(found)
            }
        })
    })
}

const HOSTILE: &[(&str, &str)] = &[
    ("loopback.test", "127.0.0.2"),
    ("metadata.test", "169.254.169.254"),
    ("ten.test", "10.1.2.3"),
    ("oneseventwo.test", "172.20.0.1"),
    ("oneninetwo.test", "192.168.1.1"),
    ("cgnat.test", "100.100.100.200"),
    ("zero.test", "0.0.0.0"),
    ("multicast.test", "239.1.1.1"),
    ("loopback6.test", "::1"),
    ("ula.test", "fd00:ec2::254"),
    ("linklocal6.test", "fe80::1"),
    ("mapped.test", "::ffff:127.0.0.1"),
    ("nat64.test", "64:ff9b::a9fe:a9fe"),
    ("sixtofour.test", "2002:c0a8:0101::1"),
    ("compatible.test", "::169.254.169.254"),
    ("translated.test", "::ffff:0:10.0.0.1"),
    ("localnat64.test", "64:ff9b:1::a9fe:a9fe"),
    ("teredo.test", "2001:0:4136:e378:8000:63bf:3fff:fdd2"),
    ("mixed.test", "93.184.216.34"),
    ("mixed.test", "10.0.0.1"),
    ("public.test", "93.184.216.34"),
    ("public6.test", "2606:2800:220:1::1"),
];

fn url(raw: &str) -> reqwest::Url {
    reqwest::Url::parse(raw).unwrap()
}

#[tokio::test]
async fn hosts_resolving_to_each_forbidden_range_are_refused() {
    let policy = EgressPolicy::default().with_lookup(table(HOSTILE));
    for (host, addr) in HOSTILE {
        if host.starts_with("public") {
            continue;
        }
        let refusal = policy
            .check_url(ProviderKind::OpenAi, &url(&format!("https://{host}/v1")))
            .await
            .expect_err(host);
        let EgressRefusal::Forbidden { addr: refused, .. } = refusal else {
            panic!("{host}: {refusal:?}");
        };
        if *host != "mixed.test" {
            assert_eq!(refused, addr.parse::<IpAddr>().unwrap(), "{host}");
        }
    }
    for host in ["public.test", "public6.test"] {
        policy
            .check_url(ProviderKind::OpenAi, &url(&format!("https://{host}/v1")))
            .await
            .unwrap_or_else(|err| panic!("{host}: {err}"));
    }
}

#[tokio::test]
async fn address_literals_are_judged_without_resolving() {
    let policy = EgressPolicy::default().with_lookup(table(&[]));
    for literal in [
        "https://127.0.0.1",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]:8080",
        "https://[fd00:ec2::254]",
        "https://[::ffff:10.0.0.1]",
        "https://[::127.0.0.1]",
        "https://[::ffff:0:169.254.169.254]",
        "https://[64:ff9b:1::a00:1]",
        "https://0.0.0.0:11434",
    ] {
        let refusal = policy
            .check_url(ProviderKind::OpenAi, &url(literal))
            .await
            .expect_err(literal);
        assert!(
            matches!(refusal, EgressRefusal::Forbidden { .. }),
            "{literal}: {refusal:?}"
        );
    }
    policy
        .check_url(ProviderKind::OpenAi, &url("https://93.184.216.34/v1"))
        .await
        .unwrap();
}

#[tokio::test]
async fn plain_http_needs_an_allowed_host() {
    let policy = EgressPolicy::default().with_lookup(table(HOSTILE));
    assert_eq!(
        policy
            .check_url(ProviderKind::OpenAi, &url("http://public.test/v1"))
            .await,
        Err(EgressRefusal::PlainHttp)
    );
    let policy = EgressPolicy::allowing(&["loopback.test", "10.0.0.0/8", "::1"])
        .unwrap()
        .with_lookup(table(HOSTILE));
    // An allowed name may resolve anywhere and be reached over http.
    policy
        .check_url(ProviderKind::OpenAi, &url("http://loopback.test:11434"))
        .await
        .unwrap();
    // An allowed network is reachable under any name, by address over http too.
    policy
        .check_url(ProviderKind::OpenAi, &url("https://ten.test"))
        .await
        .unwrap();
    policy
        .check_url(ProviderKind::OpenAi, &url("http://10.9.9.9:8000/v1"))
        .await
        .unwrap();
    policy
        .check_url(ProviderKind::OpenAi, &url("http://[::1]:11434"))
        .await
        .unwrap();
    // Other private ranges stay closed.
    assert!(
        policy
            .check_url(ProviderKind::OpenAi, &url("https://metadata.test"))
            .await
            .is_err()
    );
    assert_eq!(
        policy
            .check_url(ProviderKind::OpenAi, &url("http://ten.test"))
            .await,
        Err(EgressRefusal::PlainHttp)
    );
}

#[tokio::test]
async fn a_name_that_does_not_resolve_is_refused_with_the_reason() {
    let policy = EgressPolicy::default().with_lookup(table(&[]));
    let refusal = policy
        .check_url(ProviderKind::OpenAi, &url("https://nowhere.test"))
        .await
        .unwrap_err();
    assert!(
        refusal
            .to_string()
            .contains("nowhere.test could not be resolved"),
        "{refusal}"
    );
}

#[test]
fn allow_list_entries_are_parsed_or_refused() {
    let policy =
        EgressPolicy::allowing(&[" Ollama.Internal. ", "10.0.0.0/8", "[fd00::1]", ""]).unwrap();
    assert_eq!(policy.allowed_hosts, ["ollama.internal"]);
    assert_eq!(policy.allowed_nets.len(), 2);
    for bad in [
        "ollama:11434",
        "10.0.0.0/99",
        "ftp://ollama:21",
        "llama=http://ollama:11434",
    ] {
        assert!(EgressPolicy::allowing(&[bad]).is_err(), "{bad}");
    }
    let policy =
        EgressPolicy::allowing(&["http://Ollama.Internal:11434", "ollama=https://10.0.0.5"])
            .unwrap();
    assert!(policy.allowed_hosts.is_empty() && policy.allowed_nets.is_empty());
    assert_eq!(policy.openings.len(), 2);
    assert_eq!(policy.openings[1].port, 443);
    assert_eq!(policy.openings[1].kind, Some(ProviderKind::Ollama));
}

#[tokio::test]
async fn an_opening_is_one_scheme_host_and_port_for_one_kind() {
    // As a self-hoster runs it: OLLAMA_BASE_URL=http://localhost:11434, with the database and
    // Redis on the same host.
    let mut policy = EgressPolicy::default().with_lookup(table(&[("localhost", "127.0.0.1")]));
    policy.open_base_url(ProviderKind::Ollama, "http://localhost:11434");
    policy.allow("http://10.0.0.7:8000").unwrap();
    for opened in [
        "http://localhost:11434",
        "http://LOCALHOST:11434/v1",
        "http://localhost.:11434",
    ] {
        assert_eq!(
            policy.check_url(ProviderKind::Ollama, &url(opened)).await,
            Ok(Reach::Opened),
            "{opened}"
        );
    }
    for (kind, closed) in [
        (ProviderKind::Ollama, "http://localhost:5432"),
        (ProviderKind::Ollama, "https://localhost:6379"),
        (ProviderKind::Ollama, "https://localhost:11434"),
        (ProviderKind::Ollama, "http://127.0.0.1:11434"),
        (ProviderKind::OpenAi, "http://localhost:11434"),
        (ProviderKind::OpenAi, "http://10.0.0.7:8001"),
    ] {
        assert!(
            policy.check_url(kind, &url(closed)).await.is_err(),
            "{kind:?} {closed}"
        );
    }
    // An opening without a kind is for every kind.
    assert_eq!(
        policy
            .check_url(ProviderKind::Groq, &url("http://10.0.0.7:8000/openai/v1"))
            .await,
        Ok(Reach::Opened)
    );
    // A guarded name stays guarded at connection: localhost is no allowed host.
    assert!(policy.resolve("localhost").await.is_err());
}

/// A name the guard lets through is connected to on the URL's port (the resolver answers
/// addresses only), as every provider's public host name is in production.
#[tokio::test]
async fn an_allowed_name_is_connected_to_on_the_urls_port() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buffer = [0u8; 1024];
            let _ = socket.read(&mut buffer).await;
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                .await;
        }
    });
    let policy = EgressPolicy::allowing(&["provider.test"])
        .unwrap()
        .with_lookup(table(&[("provider.test", "127.0.0.1")]));
    let client = reqwest::Client::builder()
        .dns_resolver(Arc::new(GuardedResolver(Arc::new(policy))))
        .build()
        .unwrap();
    let response = client
        .get(format!("http://provider.test:{port}/v1/models"))
        .send()
        .await
        .expect("connected through the guard");
    assert_eq!(response.text().await.unwrap(), "ok");
}

#[test]
fn public_addresses_are_not_in_a_forbidden_range() {
    for public in [
        "8.8.8.8",
        "1.1.1.1",
        "172.32.0.1",
        "100.128.0.1",
        "2606:4700::1111",
    ] {
        assert_eq!(forbidden_range(public.parse().unwrap()), None, "{public}");
    }
}
