//! A Go webhook daemon, rebuilt on [`channel_registry`].
//!
//! The original was a Go service: an HTTP handler routed events to
//! per-instance channels kept in a plain map, and a manager goroutine
//! created and deleted instances (`ActiveInstances[id] = make(chan string, 5)`
//! / `delete(ActiveInstances, id)`). Under concurrent creates and deletes it
//! died with `fatal error: concurrent map writes`. Here the map is a
//! [`Registry`](channel_registry::Registry): no lock on any path,
//! and a defined answer for an event that races with a delete or a replace.
//!
//! # Endpoints
//!
//! | request | does | answers |
//! |---|---|---|
//! | `PUT /instances/{id}?capacity=N` | creates or replaces the instance (`set_with`); spawns its worker | 201 created, 200 replaced, 400 bad id or capacity, 503 + `Retry-After` past the instance limit or the slot budget |
//! | `DELETE /instances/{id}` | removes it (`delete`); its worker drains, then exits | 204, 404 |
//! | `POST /instances/{id}/events[?wait_ms=N]` | routes the body to the instance's mailbox | 202 `{"event_id": n}`, 404, 408, 410, 413, 429 + `Retry-After`, 503 (+ `Retry-After` past the byte budget) |
//! | `GET /instances?from=A&to=B&limit=N` | ids in `[A, B]`, ascending, at most N | 200 `{"ids": [...], "next": id or null}` |
//! | `GET /instances/{id}` | depth, capacity, processed count | 200, 404 |
//! | `GET /metrics` | Prometheus text | 200 |
//! | `GET /healthz`, `GET /readyz` | liveness; readiness (503 once shutdown began) | 200, 503 |
//!
//! Every error the daemon writes is JSON, `{"error": "...", "status": N}`,
//! including the 404 of an unknown route, the 405 of a wrong method, the
//! 401 of a missing token and the 408 of a timeout. The exceptions are what
//! hyper answers before a request reaches the router: a request head it
//! cannot parse (400) or one over [`Config::max_header_bytes`] (431), with
//! an empty body.
//!
//! # Limits
//!
//! Every client together can make the daemon hold at most
//! [`Config::max_connections`] connections, [`Config::max_mailbox_slots`]
//! mailbox slots and [`Config::max_buffered_bytes`] of event bodies; past
//! each, the answer is 503 with `Retry-After`. A connection that sends
//! nothing, trickles its head, stalls its body or idles between requests is
//! closed by [`Config::header_timeout`] or [`Config::body_timeout`]; a
//! request is bounded by [`Config::request_timeout`], and a shutdown by
//! [`Config::shutdown_delay`] plus [`Config::drain_timeout`] plus the
//! workers' drain of what is buffered. [`Daemon::serve`] applies them all;
//! the connection-level ones belong to its server, not to
//! [`Daemon::router`].
//!
//! # Which status an event gets
//!
//! `POST /instances/{id}/events` looks the id up (`Registry::contains`)
//! *before* it reads the body, then reads the body (capped), then sends it
//! with a routed send (`try_send`, or `send_async` under a timeout when
//! `wait_ms` is given). Routed sends follow a replacement of the id to the
//! new channel, so a replace never fails an event. The rule:
//!
//! * **404**: the id had no instance at the lookup.
//! * **202** with `{"event_id": n}` (numbered per daemon run): the send
//!   returned `Ok`: the event is in a mailbox whose worker will process it
//!   (also during a graceful shutdown, which drains every mailbox). It
//!   means queued in this process's memory: a process that is killed loses
//!   what its mailboxes held.
//! * **429** with `Retry-After`: the mailbox was full (`Full`), or, with
//!   `wait_ms`, stayed full for the whole wait (the event was not accepted).
//! * **410**: the id had an instance at the lookup, and none at the send
//!   (`NoSuchId`): it was deleted while the body was being read or while the
//!   send waited for space.
//! * **503** with `Retry-After`: the body does not fit in what is left of
//!   [`Config::max_buffered_bytes`] (the event was not accepted).
//! * **503**: the id is registered but its channel is closed (`Closed`).
//!   Not expected: a worker keeps its receiver until its channel is closed,
//!   and survives a panicking handler.
//!
//! In the registry, the hot path is one `contains` and one routed send,
//! each an epoch pin and a hash-table probe with no shared write but the
//! push. The daemon adds its own shared writes: the byte budget's charge (a
//! compare-and-swap, and a count on the budget's `Arc`, both undone when
//! the event is handled), the event-id counter and the metrics' counters.
//! Each instance's counters are its channel's state
//! (`Registry::set_with`), so `GET /instances/{id}` reads them from the
//! registry: there is no second map.
//!
//! # Cluster mode
//!
//! With [`Config::cluster`] set, the daemon is one replica of a cluster
//! sharing a NATS JetStream server: the instance table is a key-value
//! bucket written with revision checks (so `PUT` and `DELETE` stay
//! linearizable per id across replicas), a 202 is sent once JetStream
//! stored the event, and each shard of ids is leased to one replica, whose
//! registry holds its instances and whose workers ack each event after its
//! handler ran (at least once across failover). [`ClusterConfig`] and the
//! README describe the protocol, its linearization points and its bounds.
//!
//! # Use as a library
//!
//! [`Daemon`] builds the state; [`Daemon::serve`] runs the HTTP server on
//! a listener until a shutdown future completes, then closes every
//! instance, waits for the workers to drain, and returns a [`Summary`]. The
//! binary (`src/main.rs`) and the integration tests use exactly this.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! let daemon = webhook_daemon::Daemon::new(webhook_daemon::Config::default());
//! let summary = daemon.serve(listener, webhook_daemon::shutdown_signal()).await?;
//! println!("{summary}");
//! # Ok(()) }
//! ```

#![warn(missing_docs, missing_debug_implementations)]

mod api;
mod budget;
mod cluster;
pub mod local_cluster;
mod metrics;
mod serve;
mod state;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

pub use cluster::ClusterConfig;
pub use metrics::SendOutcome;

/// What a worker does with one event: `(instance id, body)`.
///
/// The default ([`Config::work`]) is simulated work, a sleep. If a handler
/// panics, that event counts as failed (`webhook_events_failed_total`) and
/// the worker goes on with the next one.
pub type EventHandler =
    Arc<dyn Fn(u64, Bytes) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// The daemon's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Mailbox capacity of a `PUT` without `?capacity=` (the Go daemon's 5).
    pub default_capacity: usize,
    /// The largest capacity a `PUT` may ask for. A mailbox's buffer is
    /// allocated in full when it is created ([`MAILBOX_SLOT_BYTES`] a slot),
    /// so this bounds what one `PUT` can make the daemon allocate.
    pub max_capacity: usize,
    /// The most mailbox slots all instances together may hold: a `PUT`
    /// whose capacity does not fit gets 503 with `Retry-After`. A replaced
    /// or deleted instance's slots count until its worker has drained it.
    pub max_mailbox_slots: usize,
    /// The most bytes of event bodies buffered at once, across instances:
    /// a `POST` whose body does not fit gets 503 with `Retry-After`. An
    /// event's bytes count from its acceptance until its handler returned.
    pub max_buffered_bytes: usize,
    /// A `PUT` that would create an instance beyond this many gets 503
    /// (replacing one is always allowed). A soft limit: `PUT`s of new ids
    /// racing each other can overshoot it by the number in flight.
    pub max_instances: usize,
    /// Simulated processing time of one event (tokio's timer rounds a
    /// non-zero duration up to whole milliseconds; zero only yields).
    pub work: Duration,
    /// The largest event body accepted; a larger one gets 413.
    pub max_body_bytes: usize,
    /// The longest `wait_ms` a `POST` may ask for; a larger one gets 400.
    pub max_wait: Duration,
    /// The `Retry-After` (seconds) sent with a 429.
    pub retry_after_secs: u32,
    /// The largest `limit` of `GET /instances`.
    pub max_page: usize,
    /// At shutdown, how long the requests in flight may take to finish.
    /// Past it, connections still open (a client that stalled mid-request)
    /// are abandoned and the drain of the mailboxes begins: a stalled client
    /// cannot hold shutdown back.
    pub drain_timeout: Duration,
    /// At shutdown, how long the daemon keeps serving (new connections
    /// included) with `/readyz` answering 503, so that a load balancer
    /// stops routing to it before its listener closes. Zero by default.
    pub shutdown_delay: Duration,
    /// The longest a connection may take to send a request's head, and the
    /// longest an idle keep-alive connection is kept open (hyper's header
    /// read timer starts when the connection waits for a request). Past
    /// it, the connection is closed. Also bounds a silent new connection.
    pub header_timeout: Duration,
    /// The longest gap while reading a request body; past it, 408.
    pub body_timeout: Duration,
    /// The longest a request may take from its head to its response; past
    /// it, 408. Must exceed [`max_wait`](Self::max_wait).
    pub request_timeout: Duration,
    /// The most connections open at once. One more is answered 503 with
    /// `Retry-After` and closed. Keep it below the process's file
    /// descriptor limit (`ulimit -n`).
    pub max_connections: usize,
    /// The largest request head (request line and headers) in bytes; a
    /// larger one is answered 431 by hyper. At least 8,192.
    pub max_header_bytes: usize,
    /// If set, `PUT`, `DELETE` and `POST` need `Authorization: Bearer
    /// <token>` (401 otherwise). Reads (`GET`) and the health routes stay
    /// open.
    pub auth_token: Option<BearerToken>,
    /// Log every request (method, path, status, latency) as a `tracing`
    /// event at INFO, target `tower_http::trace`. Off by default: at tens
    /// of thousands of requests a second, the log costs throughput.
    pub access_log: bool,
    /// Cluster mode: join the replicas sharing this NATS JetStream server
    /// (see [`ClusterConfig`]). `None`, the default, is the single process.
    pub cluster: Option<ClusterConfig>,
}

/// The token of [`Config::auth_token`]; its `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken(String);

impl BearerToken {
    /// A token; `None` if it is empty or not a visible-ASCII HTTP token
    /// (what a client can send in an `Authorization` header).
    pub fn new(token: impl Into<String>) -> Option<Self> {
        let token = token.into();
        let visible = token.bytes().all(|b| b.is_ascii_graphic());
        (!token.is_empty() && visible).then_some(BearerToken(token))
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

/// The bytes one mailbox slot allocates: the event (its body handle and
/// its charge against [`Config::max_buffered_bytes`]) and the channel's
/// per-slot stamp. The body itself is a separate allocation of its length.
pub const MAILBOX_SLOT_BYTES: usize = state::Event::SLOT_BYTES;

impl Default for Config {
    fn default() -> Self {
        Config {
            default_capacity: 5,
            max_capacity: 4096,
            max_instances: 100_000,
            work: Duration::from_millis(1),
            max_body_bytes: 64 * 1024,
            max_wait: Duration::from_secs(10),
            retry_after_secs: 1,
            max_page: 1000,
            drain_timeout: Duration::from_secs(10),
            shutdown_delay: Duration::ZERO,
            max_mailbox_slots: 1 << 20,
            max_buffered_bytes: 64 << 20,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 1000,
            max_header_bytes: 16 * 1024,
            auth_token: None,
            access_log: false,
            cluster: None,
        }
    }
}

/// A snapshot of the daemon's counters (for progress displays).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Instances registered now.
    pub instances: usize,
    /// `PUT`s that created an instance.
    pub created: u64,
    /// `PUT`s that replaced an instance.
    pub replaced: u64,
    /// `DELETE`s that removed an instance.
    pub deleted: u64,
    /// Events answered 202.
    pub accepted: u64,
    /// Events processed by workers.
    pub processed: u64,
    /// HTTP responses sent.
    pub requests: u64,
}

/// What the daemon did, returned by [`Daemon::serve`] after shutdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// From [`Daemon::new`] to the end of the drain.
    pub uptime: Duration,
    /// HTTP responses sent.
    pub requests: u64,
    /// `PUT`s that created an instance.
    pub created: u64,
    /// `PUT`s that replaced an instance.
    pub replaced: u64,
    /// `DELETE`s that removed an instance.
    pub deleted: u64,
    /// Instances still registered when the server stopped, closed by the shutdown.
    pub closed_at_shutdown: u64,
    /// Events waiting in mailboxes when the server stopped (then drained).
    pub buffered_at_shutdown: usize,
    /// Events answered 202.
    pub accepted: u64,
    /// Events processed by workers.
    pub processed: u64,
    /// Events whose handler panicked (handled, but not processed).
    pub failed: u64,
    /// Events answered 429 (full, or full for the whole wait).
    pub rejected_full: u64,
    /// Events answered 404.
    pub not_found: u64,
    /// Events answered 410.
    pub gone: u64,
    /// Events answered 503.
    pub closed: u64,
    /// Instances still registered or workers still running after the drain
    /// (0 unless a worker hung).
    pub instances_left: usize,
    /// Cluster mode: `accepted` counts the events this replica stored (its
    /// 202s) and `processed` those it handled, whichever replica stored
    /// them; the two need not match.
    pub cluster: bool,
}

impl Summary {
    /// Whether every accepted event reached the handler (processed, or
    /// failed by a panicking handler) and every worker cleaned up. In
    /// cluster mode, whether every event this replica took from JetStream
    /// was handled (and so acknowledged) before it exited: what it did not
    /// take stays stored for the other replicas.
    pub fn nothing_lost(&self) -> bool {
        let handled = self.cluster || self.accepted == self.processed + self.failed;
        handled && self.instances_left == 0
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "webhook-daemon: up {:.1} s, {} requests",
            self.uptime.as_secs_f64(),
            self.requests
        )?;
        writeln!(
            f,
            "  instances: {} created, {} replaced, {} deleted, {} closed at shutdown",
            self.created, self.replaced, self.deleted, self.closed_at_shutdown
        )?;
        writeln!(
            f,
            "  events: {} accepted, {} processed, {} failed ({} were buffered at shutdown); rejected: {} full, {} not found, {} gone, {} closed",
            self.accepted,
            self.processed,
            self.failed,
            self.buffered_at_shutdown,
            self.rejected_full,
            self.not_found,
            self.gone,
            self.closed
        )?;
        if self.cluster && self.nothing_lost() {
            write!(
                f,
                "  nothing lost here: every event this replica took from JetStream was handled and acknowledged; the rest stays stored"
            )
        } else if self.nothing_lost() {
            write!(f, "  nothing lost: every accepted event reached its worker")
        } else {
            write!(
                f,
                "  LOST: {} accepted, {} processed, {} failed, {} worker entries left",
                self.accepted, self.processed, self.failed, self.instances_left
            )
        }
    }
}

/// The daemon: the registry, its instances and workers, and the HTTP API.
///
/// Cheap to clone (one `Arc`); clones share everything.
#[derive(Debug, Clone)]
pub struct Daemon {
    state: Arc<state::State>,
}

impl Daemon {
    /// A daemon whose workers simulate work for [`Config::work`] per event.
    pub fn new(config: Config) -> Self {
        let work = config.work;
        let handler: EventHandler = Arc::new(move |_id, _event| {
            Box::pin(async move {
                if work.is_zero() {
                    tokio::task::yield_now().await;
                } else {
                    tokio::time::sleep(work).await;
                }
            })
        });
        Daemon::with_handler(config, handler)
    }

    /// A daemon whose workers run `handler` on each event, in order per
    /// instance ([`Config::work`] is then unused).
    pub fn with_handler(config: Config, handler: EventHandler) -> Self {
        Daemon {
            state: Arc::new(state::State::new(config, handler)),
        }
    }

    /// The HTTP API as an axum router (for embedding in a larger app).
    ///
    /// Instances created through it are drained by [`serve`](Self::serve)'s
    /// shutdown, or by [`drain`](Self::drain).
    pub fn router(&self) -> axum::Router {
        api::router(Arc::clone(&self.state))
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.state.stats()
    }

    /// Serves the API on `listener` until `shutdown` completes, then shuts
    /// down gracefully: answers 503 on `/readyz` for
    /// [`Config::shutdown_delay`], stops accepting connections, lets the
    /// requests in flight finish for up to [`Config::drain_timeout`] (then
    /// closes the connections still open), closes every instance, waits
    /// until every worker has drained its mailbox, and returns what
    /// happened.
    ///
    /// The connection-level limits ([`Config::header_timeout`],
    /// [`Config::body_timeout`], [`Config::max_connections`],
    /// [`Config::max_header_bytes`]) are this server's: a
    /// [`router`](Self::router) served by other means has the rest.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if the config is inconsistent (a request timeout not
    /// above the longest wait, a connection cap of 0).
    pub async fn serve<F>(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: F,
    ) -> std::io::Result<Summary>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        serve::check(&self.state.config)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let owner = match &self.state.config.cluster {
            None => None,
            Some(config) => {
                let cluster = cluster::Cluster::connect(config.clone())
                    .await
                    .map_err(std::io::Error::other)?;
                let _ = self.state.cluster.set(Arc::clone(&cluster));
                let stop = tokio_util::sync::CancellationToken::new();
                let task = cluster::attach(&self.state, cluster, stop.clone());
                tracing::info!(replica = %config.replica, "cluster: joined");
                Some((stop, task))
            }
        };
        serve::serve(&self.state, self.router(), listener, shutdown).await?;
        if let Some((stop, task)) = owner {
            // Give the shards back (their consumers stop) before the local
            // mailboxes drain: their workers ack what they hold.
            stop.cancel();
            let _ = task.await;
        }
        Ok(self.drain().await)
    }

    /// Whether the config is consistent; the message says what is not.
    ///
    /// # Errors
    ///
    /// A request timeout not above the longest wait, or a connection cap of 0.
    pub fn check_config(config: &Config) -> Result<(), String> {
        serve::check(config)
    }

    /// Closes every instance and waits for the workers to drain. For a
    /// router served by other means, once it no longer receives requests.
    pub async fn drain(&self) -> Summary {
        self.state.drain().await
    }
}

/// Completes on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
///
/// If a handler cannot be installed, that signal is not waited for (the
/// error is printed); the other still is.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// Peak resident set size of this process in KiB (`VmHWM` in
/// `/proc/self/status`), where the kernel reports it.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
