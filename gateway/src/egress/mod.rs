//! Where the gateway may connect on a tenant's behalf (SSRF guard).
//!
//! A provider base URL is chosen by a tenant, so without a guard anyone with an account could make
//! the gateway call its own network: the cloud metadata service, a database's HTTP port, another
//! tenant's self-hosted model. Only `https` to public addresses is allowed, unless the operator
//! opens a way (`ALLOWED_PRIVATE_UPSTREAMS`, e.g. a local Ollama): one scheme, host and port,
//! for one provider kind or all (`ollama=http://localhost:11434`), or, wider, a whole host or
//! network. The operator's own provider base URLs (`OLLAMA_BASE_URL`) open exactly their scheme,
//! host and port, for their provider kind only: a tenant cannot reach the database on the same
//! host, nor use an "Ollama" opening as an "OpenAI" one.
//!
//! The check runs when a URL is saved, for a clear error, and again on every connection: the
//! HTTP client resolves names through [`GuardedResolver`], so a name that resolved to a public
//! address at saving and to a private one later (DNS rebinding) is still refused. Redirects are
//! never followed (see `GatewayBuilder::start`), so the provider key cannot be sent elsewhere.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use futures::future::BoxFuture;
use gateway_types::ProviderKind;
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

/// One way the operator opened: exactly this scheme, host and port, for one provider kind or all.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Opening {
    kind: Option<ProviderKind>,
    scheme: String,
    host: url::Host<String>,
    port: u16,
}

impl Opening {
    fn of(kind: Option<ProviderKind>, url: &reqwest::Url) -> Option<Self> {
        Some(Self {
            kind,
            scheme: url.scheme().to_owned(),
            host: lowercase(url.host()?.to_owned()),
            port: url.port_or_known_default()?,
        })
    }

    fn admits(&self, kind: ProviderKind, url: &reqwest::Url) -> bool {
        self.kind.is_none_or(|opened| opened == kind)
            && Opening::of(self.kind, url).is_some_and(|asked| {
                asked.scheme == self.scheme && asked.host == self.host && asked.port == self.port
            })
    }
}

fn lowercase(host: url::Host<String>) -> url::Host<String> {
    match host {
        url::Host::Domain(name) => {
            url::Host::Domain(name.trim_end_matches('.').to_ascii_lowercase())
        }
        other => other,
    }
}

/// How a base URL may be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Through the guard: every address a name resolves to is checked at each connection.
    Guarded,
    /// Through a way the operator opened for it (scheme, host, port and provider kind): the
    /// operator's own network, connected to without the address check.
    Opened,
}

/// The operator's exceptions and the resolver to check names with.
#[derive(Clone)]
pub struct EgressPolicy {
    /// Whole hosts and networks (every port, plain http too): the operator's wide entries.
    allowed_hosts: Vec<String>,
    allowed_nets: Vec<IpNet>,
    openings: Vec<Opening>,
    lookup: Lookup,
}

impl std::fmt::Debug for EgressPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EgressPolicy")
            .field("allowed_hosts", &self.allowed_hosts)
            .field("allowed_nets", &self.allowed_nets)
            .field("openings", &self.openings)
            .finish_non_exhaustive()
    }
}

impl Default for EgressPolicy {
    /// Public addresses over https only.
    fn default() -> Self {
        Self {
            allowed_hosts: Vec::new(),
            allowed_nets: Vec::new(),
            openings: Vec::new(),
            lookup: system_lookup(),
        }
    }
}

impl EgressPolicy {
    /// Entries are openings (`http://localhost:11434`, or for one provider kind only
    /// `ollama=http://ollama.internal:11434`: that scheme, host and port), or, wider, host names
    /// (`ollama.internal`, `localhost`), addresses (`10.0.0.5`) or networks (`10.0.0.0/8`,
    /// `fd00::/8`). A listed host may be reached on any port, over plain http, at whatever address
    /// it resolves to; a listed address or network may be reached under any name.
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
        if entry.contains("://") {
            let (kind, url) = match entry.split_once('=') {
                Some((kind, url)) => {
                    let Some(kind) = ProviderKind::parse(kind.trim()) else {
                        return Err(format!(
                            "`{kind}` in `{entry}` is not a provider (openai, anthropic, gemini, groq, ollama)"
                        ));
                    };
                    (Some(kind), url.trim())
                }
                None => (None, entry.as_str()),
            };
            let opening = reqwest::Url::parse(url)
                .ok()
                .filter(|url| matches!(url.scheme(), "http" | "https"))
                .and_then(|url| Opening::of(kind, &url))
                .ok_or_else(|| {
                    format!("`{entry}` is not an http:// or https:// URL with a host")
                })?;
            self.openings.push(opening);
            return Ok(());
        }
        if let Ok(net) = entry.parse::<IpNet>() {
            self.allowed_nets.push(net);
        } else if let Ok(addr) = entry.trim_matches(['[', ']']).parse::<IpAddr>() {
            self.allowed_nets.push(IpNet::from(addr));
        } else if entry.contains(['/', ':', '@', ' ']) {
            return Err(format!(
                "`{entry}` is neither a URL (http://host:port), a host name, an address nor a network"
            ));
        } else {
            self.allowed_hosts.push(entry);
        }
        Ok(())
    }

    /// Opens the scheme, host and port of a provider's base URL the operator configured, for
    /// that provider kind.
    pub fn open_base_url(&mut self, kind: ProviderKind, url: &str) {
        if let Some(opening) = reqwest::Url::parse(url)
            .ok()
            .and_then(|url| Opening::of(Some(kind), &url))
        {
            self.openings.push(opening);
        }
    }

    /// Whether the operator opened exactly this URL's way for `kind`.
    fn opened(&self, kind: ProviderKind, url: &reqwest::Url) -> bool {
        self.openings
            .iter()
            .any(|opening| opening.admits(kind, url))
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

    /// What can be told without resolving: an opening, the scheme, and a host that is an address.
    /// Checked for every stored base URL when an account is loaded, since an address cannot
    /// rebind.
    pub fn check_static(
        &self,
        kind: ProviderKind,
        url: &reqwest::Url,
    ) -> Result<Reach, EgressRefusal> {
        if self.opened(kind, url) {
            return Ok(Reach::Opened);
        }
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
        Ok(Reach::Guarded)
    }

    /// The whole check, resolving the host: when a tenant saves a base URL.
    pub async fn check_url(
        &self,
        kind: ProviderKind,
        url: &reqwest::Url,
    ) -> Result<Reach, EgressRefusal> {
        let reach = self.check_static(kind, url)?;
        let Some(url::Host::Domain(name)) = url.host() else {
            return Ok(reach);
        };
        if reach == Reach::Guarded {
            self.resolve(name).await?;
        }
        Ok(reach)
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
