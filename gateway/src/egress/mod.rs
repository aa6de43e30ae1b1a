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

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use futures::future::BoxFuture;
use ipnet::IpNet;

mod ranges;

pub use ranges::forbidden_range;

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

#[cfg(test)]
mod tests;
