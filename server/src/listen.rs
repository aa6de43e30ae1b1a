//! The HTTP/1.1 accept loop, with the limits `axum::serve` does not set: a deadline for a request's
//! headers (a client that trickles them, slowloris, holds a connection no longer than that), a cap
//! on open connections, in all and per client address (the ones over it are closed at once, so one
//! address cannot take every place), and a bounded graceful shutdown (the
//! open connections get `shutdown_grace` to finish, then the server stops anyway, so queued usage
//! is always written).

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::config::Config;

/// How many connections may wait to be accepted (the kernel caps it at `net.core.somaxconn`).
/// With tokio's `TcpListener::bind` 129 of a burst of 1,500 got through here (the test below): a
/// burst of new clients past the backlog (thousands of streams opening at once) is dropped by the
/// kernel, and each client waits a second or more for its connection to be tried again.
const LISTEN_BACKLOG: u32 = 65_535;

/// The listening socket for `addr` (`host:port`), with [`LISTEN_BACKLOG`].
pub async fn bind(addr: &str) -> std::io::Result<TcpListener> {
    let mut failed = None;
    for addr in tokio::net::lookup_host(addr).await? {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        // As `TcpListener::bind` does: a restarted server binds while old connections linger.
        socket.set_reuseaddr(true)?;
        match socket.bind(addr) {
            Ok(()) => return socket.listen(LISTEN_BACKLOG),
            Err(err) => failed = Some(err),
        }
    }
    Err(failed.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the address resolves to nothing",
        )
    }))
}

#[derive(Debug, Clone)]
pub struct ServeLimits {
    pub header_read_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_address: usize,
    pub shutdown_grace: Duration,
}

impl ServeLimits {
    pub fn from_config(config: &Config) -> Self {
        let max_connections = config.max_connections.max(1);
        Self {
            header_read_timeout: Duration::from_secs(config.header_read_timeout_secs.max(1)),
            max_connections,
            max_connections_per_address: config.connections_per_address(max_connections),
            shutdown_grace: Duration::from_secs(config.shutdown_grace_secs),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets open connections finish
/// for at most `limits.shutdown_grace`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &ServeLimits,
    shutdown: impl Future<Output = ()>,
) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let per_address = gateway::abuse::Places::<IpAddr>::default();
    let per_address_max = u32::try_from(limits.max_connections_per_address).unwrap_or(u32::MAX);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of file descriptors and the like: wait a little instead of spinning.
                tracing::warn!(error = %err, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(
                max = limits.max_connections,
                "connection refused: too many open connections"
            );
            continue;
        };
        let Some(address_place) = per_address.take(peer.ip(), per_address_max) else {
            tracing::warn!(
                max = limits.max_connections_per_address,
                "connection refused: too many open connections from one address"
            );
            continue;
        };
        // Each response (and each streamed event) goes out when written, not after Nagle's wait
        // for the client's acknowledgement of the previous segment.
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(error = %err, "could not set TCP_NODELAY");
        }
        // The peer's address, for the per-address limits on log-in and sign-up.
        let with_peer = tower::ServiceExt::map_request(
            router.clone(),
            move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            },
        );
        let service = TowerToHyperService::new(with_peer);
        // No upgrades: nothing here speaks WebSocket.
        let connection = http.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "connection ended with an error");
            }
            drop((permit, address_place));
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!(
                grace_secs = limits.shutdown_grace.as_secs(),
                "connections still open after the shutdown grace period: stopping anyway"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A burst of new connections larger than tokio's default backlog is queued until the server
    /// accepts it, not dropped (a dropped one waits a second or more to be retried).
    #[tokio::test]
    async fn a_burst_of_connections_waits_in_the_backlog() {
        let listener = bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut connects = tokio::task::JoinSet::new();
        for _ in 0..1_500 {
            connects.spawn(async move {
                tokio::time::timeout(
                    Duration::from_millis(800),
                    tokio::net::TcpStream::connect(addr),
                )
                .await
            });
        }
        let mut connected = Vec::new();
        while let Some(outcome) = connects.join_next().await {
            if let Ok(Ok(stream)) = outcome.unwrap() {
                connected.push(stream);
            }
        }
        // Nothing was accepted yet: every connection waits in the kernel's queue.
        assert_eq!(connected.len(), 1_500);
        drop(listener);
    }
}
