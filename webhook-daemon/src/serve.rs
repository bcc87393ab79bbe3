//! The HTTP server: accept loop, connection cap, timeouts, and a graceful
//! shutdown with a deadline.
//!
//! Built from hyper's HTTP/1 connection builder, hyper-util's graceful
//! shutdown and tower-http's body timeout rather than `axum::serve`, which
//! takes no header-read timer, caps no connections and has no deadline for
//! its graceful shutdown: with it, one client stalled mid-request could hold
//! shutdown back forever and idle connections could exhaust the process's
//! file descriptors.
//!
//! What bounds what:
//! - a request head, a silent new connection and an idle keep-alive
//!   connection: [`Config::header_timeout`] (hyper's header read timer runs
//!   whenever the connection waits for a request head);
//! - a request head's size: [`Config::max_header_bytes`] (431 past it);
//! - a stalled body: [`Config::body_timeout`] between chunks (408);
//! - a whole request: [`Config::request_timeout`] (408, set in the router);
//! - open connections: [`Config::max_connections`]; one more is answered
//!   503 with `Retry-After` and closed;
//! - shutdown: [`Config::shutdown_delay`] of serving with `/readyz` at 503,
//!   then the listener closes, keep-alive ends, and the requests in flight
//!   get [`Config::drain_timeout`]; connections still open are then closed.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tower::ServiceBuilder;
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::Config;
use crate::state::State;

/// How many refusals (503s at the connection cap) may be in flight at once;
/// past it, a connection over the cap is closed without an answer.
const MAX_REFUSALS: usize = 64;

/// How long a refusal may take to write its 503 and see the client off.
const REFUSAL_TIME: Duration = Duration::from_secs(1);

/// Serves `router` on `listener` until `shutdown` completes, then shuts
/// down as the module docs say. Returns once every connection is closed.
pub(crate) async fn serve<F>(
    state: &Arc<State>,
    router: Router,
    listener: TcpListener,
    shutdown: F,
) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let config = &state.config;
    let router = if config.access_log {
        router.layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
    } else {
        router
    };
    let service = ServiceBuilder::new()
        .layer(RequestBodyTimeoutLayer::new(config.body_timeout))
        .service(router);
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.header_timeout)
        .max_buf_size(config.max_header_bytes.max(8192));

    let permits = Arc::new(Semaphore::new(config.max_connections));
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS));
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();

    let delay = config.shutdown_delay;
    let stop = {
        let state = Arc::clone(state);
        async move {
            shutdown.await;
            state.draining.store(true, Relaxed);
            tracing::info!(
                delay_ms = delay.as_millis() as u64,
                "shutdown: /readyz now answers 503"
            );
            tokio::time::sleep(delay).await;
        }
    };
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    if let Ok(permit) = Arc::clone(&permits).try_acquire_owned() {
                        let io = TokioIo::new(stream);
                        let conn = http.serve_connection(io, TowerToHyperService::new(service.clone()));
                        let conn = graceful.watch(conn);
                        let state = Arc::clone(state);
                        state.metrics.connections.fetch_add(1, Relaxed);
                        connections.spawn(async move {
                            if let Err(e) = conn.await {
                                tracing::debug!(%peer, error = %e, "connection ended with an error");
                            }
                            state.metrics.connections.fetch_sub(1, Relaxed);
                            drop(permit);
                        });
                    } else {
                        state.metrics.refused_connections.fetch_add(1, Relaxed);
                        tracing::warn!(%peer, limit = config.max_connections, "connection cap reached: answering 503");
                        if let Ok(slot) = Arc::clone(&refusals).try_acquire_owned() {
                            let retry = config.retry_after_secs;
                            connections.spawn(async move {
                                let _ = tokio::time::timeout(REFUSAL_TIME, refuse(stream, retry)).await;
                                drop(slot);
                            });
                        }
                    }
                }
                Err(e) => {
                    state.metrics.accept_errors.fetch_add(1, Relaxed);
                    tracing::error!(error = %e, "cannot accept a connection");
                    // Out of file descriptors (or memory): give connections
                    // time to close rather than spin on the error.
                    if !is_connection_error(&e) {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            },
        }
    }
    drop(listener);
    tracing::info!(
        open = connections.len(),
        deadline_ms = config.drain_timeout.as_millis() as u64,
        "shutdown: listener closed, finishing the requests in flight"
    );
    if tokio::time::timeout(config.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            open = connections.len(),
            "shutdown: requests still open at the drain deadline; closing their connections"
        );
    }
    connections.shutdown().await;
    Ok(())
}

/// Answers a connection over the cap with a JSON 503, then reads what the
/// client sent for a moment, so that closing does not reset the connection
/// before the client has read the answer.
async fn refuse(mut stream: TcpStream, retry_after: u32) {
    let body = r#"{"error":"connection limit reached; retry later","status":503}"#;
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: {retry_after}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(response.as_bytes()).await.is_err() {
        return;
    }
    let _ = stream.shutdown().await;
    let mut sink = [0u8; 1024];
    while let Ok(n) = stream.read(&mut sink).await {
        if n == 0 {
            break;
        }
    }
}

/// Errors of one connection (it went away before it was accepted), after
/// which accepting the next one can go on at once.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// The config's [`Config::request_timeout`] must leave room for the
/// longest wait a post may ask for.
pub(crate) fn check(config: &Config) -> Result<(), String> {
    if config.request_timeout <= config.max_wait {
        return Err(format!(
            "the request timeout ({} ms) must exceed the longest wait ({} ms)",
            config.request_timeout.as_millis(),
            config.max_wait.as_millis()
        ));
    }
    if config.max_connections == 0 {
        return Err("the connection cap must be at least 1".into());
    }
    if let Some(cluster) = &config.cluster {
        if cluster.shards == 0 || cluster.lease < Duration::from_millis(300) || cluster.backlog < 1
        {
            return Err("cluster mode needs at least 1 shard, a lease of at least 300 ms and a backlog of at least 1".into());
        }
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if !name_ok(&cluster.prefix) || !name_ok(&cluster.replica) {
            return Err(
                "the cluster prefix and the replica name take letters, digits, '-' and '_'".into(),
            );
        }
    }
    Ok(())
}
