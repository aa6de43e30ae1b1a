//! Where the gateway may connect on a tenant's behalf (SSRF guard).
//!
//! A provider base URL is chosen by a tenant, so without a guard anyone with an account could make
//! the gateway call its own network: the cloud metadata service, a database's HTTP port, another
//! tenant's self-hosted model. Only `https` to public addresses is allowed, unless the operator
//! allows a host or a network (`ALLOWED_PRIVATE_UPSTREAMS`, e.g. a local Ollama).
//!
//! The check runs when a URL is saved, for a clear error, and again on every connection: the
//! HTTP client resolves names through [`GuardedResolver`], so a name that resolved to a public
//! address at saving and to a private one later (DNS rebinding) is still refused. Redirects are
//! never followed (see `GatewayBuilder::start`), so the provider key cannot be sent elsewhere.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use futures::future::BoxFuture;
use ipnet::IpNet;

/// Looks a host name up: the system resolver in production, a table in tests.
pub type Lookup =
    Arc<dyn Fn(String) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> + Send + Sync>;

fn system_lookup() -> Lookup {
    Arc::new(|host: String| {
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .map(|addr| addr.ip())
                .collect())
        })
    })
}

/// Why a base URL or an address was refused. The message is shown to the tenant (portal, CLI, the
/// error of a `/v1` call) and says what the operator can do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressRefusal {
    #[error(
        "the base URL must start with https:// (plain http is allowed only for hosts the operator lists in ALLOWED_PRIVATE_UPSTREAMS)"
    )]
    PlainHttp,
    #[error(
        "{}; the gateway does not connect there unless the operator lists it in ALLOWED_PRIVATE_UPSTREAMS",
        where_it_leads(host, addr, range)
    )]
    Forbidden {
        host: String,
        addr: IpAddr,
        range: &'static str,
    },
    #[error("{host} could not be resolved: {detail}")]
    Unresolvable { host: String, detail: String },
}

fn where_it_leads(host: &str, addr: &IpAddr, range: &str) -> String {
    if *host == addr.to_string() {
        format!("{addr} is a {range} address")
    } else {
        format!("{host} resolves to {addr}, a {range} address")
    }
}

/// The operator's exceptions and the resolver to check names with.
#[derive(Clone)]
pub struct EgressPolicy {
    allowed_hosts: Vec<String>,
    allowed_nets: Vec<IpNet>,
    lookup: Lookup,
}

impl std::fmt::Debug for EgressPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EgressPolicy")
            .field("allowed_hosts", &self.allowed_hosts)
            .field("allowed_nets", &self.allowed_nets)
            .finish_non_exhaustive()
    }
}

impl Default for EgressPolicy {
    /// Public addresses over https only.
    fn default() -> Self {
        Self {
            allowed_hosts: Vec::new(),
            allowed_nets: Vec::new(),
            lookup: system_lookup(),
        }
    }
}

impl EgressPolicy {
    /// Entries are host names (`ollama.internal`, `localhost`), addresses (`10.0.0.5`) or networks
    /// (`10.0.0.0/8`, `fd00::/8`). A listed host may be reached over plain http at whatever
    /// address it resolves to; a listed address or network may be reached under any name.
    pub fn allowing<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        let mut policy = Self::default();
        for entry in entries {
            policy.allow(entry.as_ref())?;
        }
        Ok(policy)
    }

    /// Adds one entry (see [`EgressPolicy::allowing`]).
    pub fn allow(&mut self, entry: &str) -> Result<(), String> {
        let entry = entry.trim().trim_end_matches('.').to_ascii_lowercase();
        if entry.is_empty() {
            return Ok(());
        }
        if let Ok(net) = entry.parse::<IpNet>() {
            self.allowed_nets.push(net);
        } else if let Ok(addr) = entry.trim_matches(['[', ']']).parse::<IpAddr>() {
            self.allowed_nets.push(IpNet::from(addr));
        } else if entry.contains(['/', ':', '@', ' ']) {
            return Err(format!(
                "`{entry}` is neither a host name, an address nor a network (ports and URLs are not accepted)"
            ));
        } else {
            self.allowed_hosts.push(entry);
        }
        Ok(())
    }

    /// Allows the host of a URL the operator configured (a provider's default base URL).
    pub fn allow_host_of(&mut self, url: &str) {
        let Ok(parsed) = reqwest::Url::parse(url) else {
            return;
        };
        match parsed.host() {
            Some(url::Host::Domain(name)) => self.allowed_hosts.push(name.to_ascii_lowercase()),
            Some(url::Host::Ipv4(addr)) => self.allowed_nets.push(IpNet::from(IpAddr::V4(addr))),
            Some(url::Host::Ipv6(addr)) => self.allowed_nets.push(IpNet::from(IpAddr::V6(addr))),
            None => {}
        }
    }

    /// Uses `lookup` instead of the system resolver (tests).
    pub fn with_lookup(mut self, lookup: Lookup) -> Self {
        self.lookup = lookup;
        self
    }

    fn host_name_allowed(&self, name: &str) -> bool {
        let name = name.trim_end_matches('.');
        self.allowed_hosts
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(name))
    }

    fn addr_allowed(&self, addr: IpAddr) -> bool {
        self.allowed_nets.iter().any(|net| net.contains(&addr))
    }

    /// Whether `addr` may be connected to for `host`.
    fn admit(&self, host: &str, addr: IpAddr) -> Result<(), EgressRefusal> {
        if self.addr_allowed(addr) {
            return Ok(());
        }
        match forbidden_range(addr) {
            None => Ok(()),
            Some(range) => Err(EgressRefusal::Forbidden {
                host: host.to_owned(),
                addr,
                range,
            }),
        }
    }

    /// What can be told without resolving: the scheme, and a host that is an address. Checked for
    /// every stored base URL when an account is loaded, since an address cannot rebind.
    pub fn check_static(&self, url: &reqwest::Url) -> Result<(), EgressRefusal> {
        let host_allowed = match url.host() {
            Some(url::Host::Domain(name)) => self.host_name_allowed(name),
            Some(url::Host::Ipv4(addr)) => self.addr_allowed(IpAddr::V4(addr)),
            Some(url::Host::Ipv6(addr)) => self.addr_allowed(IpAddr::V6(addr)),
            None => false,
        };
        // A forbidden address says more than a forbidden scheme: judged first.
        match url.host() {
            Some(url::Host::Ipv4(addr)) => self.admit(&addr.to_string(), IpAddr::V4(addr))?,
            Some(url::Host::Ipv6(addr)) => self.admit(&addr.to_string(), IpAddr::V6(addr))?,
            _ => {}
        }
        if url.scheme() != "https" && !host_allowed {
            return Err(EgressRefusal::PlainHttp);
        }
        Ok(())
    }

    /// The whole check, resolving the host: when a tenant saves a base URL.
    pub async fn check_url(&self, url: &reqwest::Url) -> Result<(), EgressRefusal> {
        self.check_static(url)?;
        let Some(url::Host::Domain(name)) = url.host() else {
            return Ok(());
        };
        self.resolve(name).await.map(drop)
    }

    /// The addresses of `host` the gateway may connect to: all of them, or a refusal if any is
    /// forbidden (a name that mixes public and private addresses is refused whole rather than
    /// trimmed, as it is more likely an attack than a mistake).
    async fn resolve(&self, host: &str) -> Result<Vec<IpAddr>, EgressRefusal> {
        let addrs =
            (self.lookup)(host.to_owned())
                .await
                .map_err(|err| EgressRefusal::Unresolvable {
                    host: host.to_owned(),
                    detail: err.to_string(),
                })?;
        if addrs.is_empty() {
            return Err(EgressRefusal::Unresolvable {
                host: host.to_owned(),
                detail: "no addresses".into(),
            });
        }
        if !self.host_name_allowed(host) {
            for &addr in &addrs {
                self.admit(host, addr)?;
            }
        }
        Ok(addrs)
    }
}

/// The HTTP client's resolver: every connection the gateway opens to a provider resolves here.
pub struct GuardedResolver(pub Arc<EgressPolicy>);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = policy.resolve(&host).await?;
            // The port is the connector's to set.
            let addrs: reqwest::dns::Addrs =
                Box::new(addrs.into_iter().map(|addr| SocketAddr::new(addr, 0)));
            Ok(addrs)
        })
    }
}

/// The special-purpose range `addr` is in, if it is not a public unicast address.
pub fn forbidden_range(addr: IpAddr) -> Option<&'static str> {
    match addr {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(addr: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = addr.octets();
    Some(match (a, b, c) {
        (0, _, _) => "\"this network\" (0.0.0.0/8)",
        (127, _, _) => "loopback",
        (10, _, _) | (192, 168, _) => "private",
        (172, 16..=31, _) => "private",
        (169, 254, _) => "link-local (cloud metadata)",
        (100, 64..=127, _) => "shared (carrier-grade NAT, cloud metadata)",
        (192, 0, 0) => "IETF protocol assignment",
        (198, 18..=19, _) => "benchmarking",
        (224..=239, _, _) => "multicast",
        (240..=255, _, _) => "reserved or broadcast",
        _ => return None,
    })
}

fn forbidden_v6(addr: Ipv6Addr) -> Option<&'static str> {
    if addr.is_loopback() {
        return Some("loopback");
    }
    if addr.is_unspecified() {
        return Some("unspecified");
    }
    // Addresses that carry an IPv4 address are judged by it.
    if let Some(v4) = addr.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    let segments = addr.segments();
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [.., hi, lo] = segments;
        return forbidden_v4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
    }
    if segments[0] == 0x2002 {
        return forbidden_v4(Ipv4Addr::from(
            (u32::from(segments[1]) << 16) | u32::from(segments[2]),
        ));
    }
    Some(match segments[0] {
        0xfc00..=0xfdff => "unique-local (cloud metadata)",
        0xfe80..=0xfebf => "link-local",
        0xfec0..=0xfeff => "site-local",
        0xff00..=0xffff => "multicast",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
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
                .check_url(&url(&format!("https://{host}/v1")))
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
                .check_url(&url(&format!("https://{host}/v1")))
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
            "https://0.0.0.0:11434",
        ] {
            let refusal = policy.check_url(&url(literal)).await.expect_err(literal);
            assert!(
                matches!(refusal, EgressRefusal::Forbidden { .. }),
                "{literal}: {refusal:?}"
            );
        }
        policy
            .check_url(&url("https://93.184.216.34/v1"))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn plain_http_needs_an_allowed_host() {
        let policy = EgressPolicy::default().with_lookup(table(HOSTILE));
        assert_eq!(
            policy.check_url(&url("http://public.test/v1")).await,
            Err(EgressRefusal::PlainHttp)
        );
        let policy = EgressPolicy::allowing(&["loopback.test", "10.0.0.0/8", "::1"])
            .unwrap()
            .with_lookup(table(HOSTILE));
        // An allowed name may resolve anywhere and be reached over http.
        policy
            .check_url(&url("http://loopback.test:11434"))
            .await
            .unwrap();
        // An allowed network is reachable under any name, by address over http too.
        policy.check_url(&url("https://ten.test")).await.unwrap();
        policy
            .check_url(&url("http://10.9.9.9:8000/v1"))
            .await
            .unwrap();
        policy.check_url(&url("http://[::1]:11434")).await.unwrap();
        // Other private ranges stay closed.
        assert!(
            policy
                .check_url(&url("https://metadata.test"))
                .await
                .is_err()
        );
        assert_eq!(
            policy.check_url(&url("http://ten.test")).await,
            Err(EgressRefusal::PlainHttp)
        );
    }

    #[tokio::test]
    async fn a_name_that_does_not_resolve_is_refused_with_the_reason() {
        let policy = EgressPolicy::default().with_lookup(table(&[]));
        let refusal = policy
            .check_url(&url("https://nowhere.test"))
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
        for bad in ["http://ollama:11434", "ollama:11434", "10.0.0.0/99"] {
            assert!(EgressPolicy::allowing(&[bad]).is_err(), "{bad}");
        }
    }

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
        let base_url = url(&format!("https://rebind.test:{port}/v1"));
        policy
            .check_url(&base_url)
            .await
            .expect("public when saved");

        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver(policy)))
            .build()
            .unwrap();
        let err = client.get(base_url).send().await.unwrap_err();
        let upstream =
            crate::providers::transport_error("openai", std::time::Duration::from_secs(5), err);
        let crate::error::UpstreamError::Egress { refusal, .. } = &upstream else {
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
}
