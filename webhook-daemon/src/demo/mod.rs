//! `--demo`: a storm over HTTP, with every event accounted for.
//!
//! [`run`] starts a [`Daemon`] on an ephemeral port of 127.0.0.1, then many
//! HTTP clients in the same process create, replace, delete, query and post
//! to a few hundred instances for a bounded time. When the time is up the
//! clients stop, the daemon shuts down gracefully (every instance closed,
//! every mailbox drained), and the [`Report`] compares three counts that
//! must be equal: 202s seen by the clients, events the daemon accepted, and
//! events its workers processed.
//!
//! Each client loops until the time is up, one request at a time on a
//! keep-alive connection, choosing an id in `0..instances` (a quarter of the
//! posts go to the `hot` ids, whose mailboxes overflow) and an operation:
//!
//! | share | request |
//! |---|---|
//! | 74 % | `POST /instances/{id}/events` (one in 8 with `?wait_ms=50`) |
//! | 8 % | `PUT /instances/{id}` (create or replace) |
//! | 4 % | `DELETE /instances/{id}` |
//! | 7 % | `GET /instances/{id}` |
//! | 3.5 % | `GET /instances?from={id}&limit=50` |
//! | 1 % | `GET /metrics` |
//! | 1.5 % | bad input: `POST /instances/not-a-number/events` (400) |
//! | 1 % | bad input: `PATCH /instances/{id}` (405) |
//!
//! Before the clock starts, every id is created once.

use std::collections::BTreeMap;
use std::fmt;
use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use spec::XorShift64Star;
use tokio::task::JoinSet;

pub mod cluster;

use webhook_daemon::local_cluster::unix_nanos;
use webhook_daemon::{Config, Daemon, Summary, peak_rss_kib};

/// The load's shape.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// How long the clients run.
    pub duration: Duration,
    /// Concurrent HTTP clients (each one request at a time, keep-alive).
    pub clients: usize,
    /// Ids `0..instances` are used.
    pub instances: u64,
    /// Ids `0..hot` get a share of the posts far above their processing
    /// rate, so their mailboxes fill and the daemon answers 429.
    pub hot: u64,
    /// Share of posts (per mille) sent to the hot ids.
    pub hot_share: u32,
    /// One post in this many uses the wait-for-space mode.
    pub wait_every: u32,
    /// `wait_ms` of those posts.
    pub wait_ms: u64,
    /// Seed of the clients' random choices.
    pub seed: u64,
    /// Draw a live progress line on stderr.
    pub progress: bool,
    /// Hang guard for one request; a request that exceeds it counts as a
    /// transport error (and makes the accounting inconclusive).
    pub request_timeout: Duration,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            duration: Duration::from_secs(10),
            clients: 64,
            instances: 300,
            hot: 8,
            hot_share: 250,
            wait_every: 8,
            wait_ms: 50,
            seed: 0x5eed,
            progress: true,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Request latency seen by the clients: a log-linear histogram in
/// microseconds (128 exact buckets, then 64 per power of two: under 1.6 %
/// relative error).
#[derive(Clone)]
pub struct LatencyHistogram {
    counts: Vec<u64>,
    total: u64,
    max_us: u64,
}

impl fmt::Debug for LatencyHistogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LatencyHistogram")
            .field("total", &self.total)
            .field("p50_us", &self.quantile_us(0.5))
            .field("max_us", &self.max_us)
            .finish()
    }
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            counts: vec![0; 128 + 57 * 64],
            total: 0,
            max_us: 0,
        }
    }
}

impl LatencyHistogram {
    fn index(us: u64) -> usize {
        if us < 128 {
            return us as usize;
        }
        let msb = 63 - us.leading_zeros(); // >= 7
        let shift = msb - 6;
        let mantissa = us >> shift; // in 64..128
        128 + (shift as usize - 1) * 64 + (mantissa as usize - 64)
    }

    /// The largest value that falls in bucket `index`.
    fn upper(index: usize) -> u64 {
        if index < 128 {
            return index as u64;
        }
        let shift = (index - 128) / 64 + 1;
        let mantissa = ((index - 128) % 64 + 64) as u64;
        ((mantissa + 1) << shift) - 1
    }

    /// Records one latency.
    pub fn record(&mut self, elapsed: Duration) {
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.counts[Self::index(us)] += 1;
        self.total += 1;
        self.max_us = self.max_us.max(us);
    }

    /// Adds `other`'s records to this one.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.max_us = self.max_us.max(other.max_us);
    }

    /// Latencies recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The `q` quantile (0 < q <= 1) in microseconds, as its bucket's upper
    /// bound; 0 if nothing was recorded.
    pub fn quantile_us(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::upper(i).min(self.max_us);
            }
        }
        self.max_us
    }

    /// The largest latency recorded, in microseconds.
    pub fn max_us(&self) -> u64 {
        self.max_us
    }
}

/// What the demo saw.
#[derive(Debug, Clone)]
pub struct Report {
    /// The load's shape.
    pub demo: DemoConfig,
    /// The daemon's settings.
    pub config: Config,
    /// How long the clients ran.
    pub load_time: Duration,
    /// From the shutdown signal to the last worker done.
    pub shutdown_time: Duration,
    /// Responses by status code, as the clients saw them.
    pub by_status: BTreeMap<u16, u64>,
    /// Of `by_status`: the `PUT`s that created every id before the clock started.
    pub setup_requests: u64,
    /// Requests that got no response (connection errors, hang guard).
    pub transport_errors: u64,
    /// 202 answers to posts, as the clients saw them.
    pub client_accepted: u64,
    /// Client-side request latency.
    pub latency: LatencyHistogram,
    /// The daemon's own account.
    pub server: Summary,
    /// Peak resident set size of the process (daemon and clients), KiB.
    pub peak_rss_kib: Option<u64>,
}

impl Report {
    /// Whether the three counts agree: clients' 202s, daemon's accepted,
    /// workers' processed; and no request went unanswered.
    pub fn nothing_lost(&self) -> bool {
        self.transport_errors == 0
            && self.client_accepted == self.server.accepted
            && self.server.accepted == self.server.processed
            && self.server.nothing_lost()
    }

    /// Requests answered.
    pub fn requests(&self) -> u64 {
        self.by_status.values().sum()
    }
}

/// `12345678` as `12,345,678`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ms(us: u64) -> String {
    format!("{:.2} ms", us as f64 / 1000.0)
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.demo;
        let s = &self.server;
        let secs = self.load_time.as_secs_f64();
        writeln!(
            f,
            "== webhook-daemon demo: {:.1} s of load, {} clients, {} instances ({} hot), mailbox {}, work {} ms per event",
            secs,
            d.clients,
            d.instances,
            d.hot,
            self.config.default_capacity,
            self.config.work.as_millis()
        )?;
        let load = self.requests().saturating_sub(self.setup_requests);
        writeln!(
            f,
            "requests:  {} answered in {:.1} s ({}/s) after {} setup PUTs, {} transport errors",
            thousands(load),
            secs,
            thousands((load as f64 / secs.max(1e-9)) as u64),
            thousands(self.setup_requests),
            self.transport_errors
        )?;
        let statuses: Vec<String> = self
            .by_status
            .iter()
            .map(|(code, n)| format!("{code}: {}", thousands(*n)))
            .collect();
        writeln!(f, "by status: {}", statuses.join("  "))?;
        writeln!(
            f,
            "events:    {} accepted (202s seen by clients) / {} accepted (daemon) / {} processed",
            thousands(self.client_accepted),
            thousands(s.accepted),
            thousands(s.processed)
        )?;
        writeln!(
            f,
            "           rejected: {} full (429), {} gone (410), {} no such id (404); {} buffered at shutdown, drained in {} ms",
            thousands(s.rejected_full),
            thousands(s.gone),
            thousands(s.not_found),
            s.buffered_at_shutdown,
            self.shutdown_time.as_millis()
        )?;
        writeln!(
            f,
            "latency:   p50 {}  p99 {}  p99.9 {}  max {}  (client-side, all {} requests)",
            ms(self.latency.quantile_us(0.5)),
            ms(self.latency.quantile_us(0.99)),
            ms(self.latency.quantile_us(0.999)),
            ms(self.latency.max_us()),
            thousands(self.latency.count())
        )?;
        writeln!(
            f,
            "instances: {} created, {} replaced, {} deleted, {} closed at shutdown",
            thousands(s.created),
            thousands(s.replaced),
            thousands(s.deleted),
            thousands(s.closed_at_shutdown)
        )?;
        match self.peak_rss_kib {
            Some(kib) => writeln!(f, "peak RSS:  {:.1} MiB", kib as f64 / 1024.0)?,
            None => writeln!(f, "peak RSS:  not reported by this OS")?,
        }
        if self.nothing_lost() {
            write!(
                f,
                "NOTHING LOST: {} events accepted, {} processed",
                thousands(s.accepted),
                thousands(s.processed)
            )
        } else {
            write!(
                f,
                "LOST EVENTS: clients saw {} accepted, daemon {} accepted, workers {} processed, {} transport errors, {} worker entries left",
                self.client_accepted,
                s.accepted,
                s.processed,
                self.transport_errors,
                s.instances_left
            )
        }
    }
}

/// Counters shared by the clients, for the progress line.
#[derive(Debug, Default)]
struct Live {
    requests: AtomicU64,
    accepted: AtomicU64,
    full: AtomicU64,
    errors: AtomicU64,
}

/// One client's tally.
#[derive(Debug, Default)]
struct Tally {
    by_status: BTreeMap<u16, u64>,
    transport_errors: u64,
    /// Requests left unanswered because their replica was killed.
    cut_by_kill: u64,
    accepted: u64,
    /// With `record_ids`: the `event_id` of every 202, and when it came.
    accepted_ids: Vec<(u64, i128)>,
    latency: LatencyHistogram,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        for (code, n) in other.by_status {
            *self.by_status.entry(code).or_default() += n;
        }
        self.transport_errors += other.transport_errors;
        self.cut_by_kill += other.cut_by_kill;
        self.accepted += other.accepted;
        self.accepted_ids.extend(other.accepted_ids);
        self.latency.merge(&other.latency);
    }
}

/// The `event_id` of a 202's body, `{"event_id":n}`.
fn event_id(body: &[u8]) -> Option<u64> {
    let json: serde_json::Value = serde_json::from_slice(body).ok()?;
    json.get("event_id")?.as_u64()
}

/// Where the clients send: one daemon, or the replicas of a cluster. A
/// replica marked gone (about to be killed) is no longer chosen.
#[derive(Debug)]
struct Targets {
    addrs: Vec<SocketAddr>,
    alive: Vec<AtomicBool>,
}

impl Targets {
    fn new(addrs: Vec<SocketAddr>) -> Targets {
        let alive = addrs.iter().map(|_| AtomicBool::new(true)).collect();
        Targets { addrs, alive }
    }

    /// A live target, uniformly (the first if none is left).
    fn pick(&self, rng: &mut XorShift64Star) -> usize {
        if self.addrs.len() == 1 {
            return 0;
        }
        for _ in 0..64 {
            let i = rng.below(self.addrs.len() as u64) as usize;
            if self.is_alive(i) {
                return i;
            }
        }
        (0..self.addrs.len())
            .find(|&i| self.is_alive(i))
            .unwrap_or(0)
    }

    fn is_alive(&self, i: usize) -> bool {
        self.alive[i].load(Relaxed)
    }

    fn alive_count(&self) -> usize {
        (0..self.addrs.len()).filter(|&i| self.is_alive(i)).count()
    }

    fn mark_gone(&self, i: usize) {
        self.alive[i].store(false, Relaxed);
    }
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// Sends one request and reads the whole response.
async fn call(
    client: &HttpClient,
    method: Method,
    uri: Uri,
    body: Bytes,
    timeout: Duration,
) -> Option<(StatusCode, Bytes)> {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Full::new(body))
        .ok()?;
    let exchange = async {
        let response = client.request(request).await.ok()?;
        let status = response.status();
        let body = response.into_body().collect().await.ok()?.to_bytes();
        Some((status, body))
    };
    tokio::time::timeout(timeout, exchange).await.ok().flatten()
}

struct Client1 {
    targets: Arc<Targets>,
    client: HttpClient,
    demo: DemoConfig,
    live: Arc<Live>,
    stop: Arc<AtomicBool>,
    rng: XorShift64Star,
    tally: Tally,
    record_ids: bool,
    seq: u64,
    number: usize,
}

impl Client1 {
    async fn one(&mut self, method: Method, path: String, body: Bytes, is_post: bool) {
        let target = self.targets.pick(&mut self.rng);
        let Ok(uri) = format!("http://{}{path}", self.targets.addrs[target]).parse::<Uri>() else {
            self.tally.transport_errors += 1;
            return;
        };
        let started = Instant::now();
        let answer = call(&self.client, method, uri, body, self.demo.request_timeout).await;
        self.tally.latency.record(started.elapsed());
        self.live.requests.fetch_add(1, Relaxed);
        match answer {
            Some((status, body)) => {
                *self.tally.by_status.entry(status.as_u16()).or_default() += 1;
                if is_post && status == StatusCode::ACCEPTED {
                    self.tally.accepted += 1;
                    self.live.accepted.fetch_add(1, Relaxed);
                    if self.record_ids {
                        match event_id(&body) {
                            Some(id) => self.tally.accepted_ids.push((id, unix_nanos())),
                            // A 202 that cannot be audited: counted as an error.
                            None => self.tally.transport_errors += 1,
                        }
                    }
                }
                if status == StatusCode::TOO_MANY_REQUESTS {
                    self.live.full.fetch_add(1, Relaxed);
                }
            }
            // The replica was killed under this request: no answer was
            // given, so nothing was promised.
            None if !self.targets.is_alive(target) => self.tally.cut_by_kill += 1,
            None => {
                self.tally.transport_errors += 1;
                self.live.errors.fetch_add(1, Relaxed);
            }
        }
    }

    fn pick_id(&mut self) -> u64 {
        let d = &self.demo;
        if d.hot > 0 && self.rng.below(1000) < u64::from(d.hot_share) {
            self.rng.below(d.hot)
        } else {
            self.rng.below(d.instances)
        }
    }

    async fn run(mut self) -> Tally {
        while !self.stop.load(Relaxed) {
            let dice = self.rng.below(1000);
            let id = self.pick_id();
            match dice {
                0..740 => {
                    self.seq += 1;
                    let body = Bytes::from(format!(
                        "{{\"client\":{},\"seq\":{},\"id\":{id}}}",
                        self.number, self.seq
                    ));
                    let wait = self.demo.wait_every > 0
                        && self.rng.below(u64::from(self.demo.wait_every)) == 0;
                    let path = if wait {
                        format!("/instances/{id}/events?wait_ms={}", self.demo.wait_ms)
                    } else {
                        format!("/instances/{id}/events")
                    };
                    self.one(Method::POST, path, body, true).await;
                }
                740..820 => {
                    self.one(Method::PUT, format!("/instances/{id}"), Bytes::new(), false)
                        .await;
                }
                820..860 => {
                    self.one(
                        Method::DELETE,
                        format!("/instances/{id}"),
                        Bytes::new(),
                        false,
                    )
                    .await;
                }
                860..930 => {
                    self.one(Method::GET, format!("/instances/{id}"), Bytes::new(), false)
                        .await;
                }
                930..965 => {
                    self.one(
                        Method::GET,
                        format!("/instances?from={id}&limit=50"),
                        Bytes::new(),
                        false,
                    )
                    .await;
                }
                965..975 => {
                    self.one(Method::GET, "/metrics".to_owned(), Bytes::new(), false)
                        .await;
                }
                975..990 => {
                    // Bad input: an id that is not a number.
                    let path = "/instances/not-a-number/events".to_owned();
                    self.one(Method::POST, path, Bytes::from_static(b"x"), true)
                        .await;
                }
                _ => {
                    // Bad input: a method the route does not have.
                    self.one(
                        Method::PATCH,
                        format!("/instances/{id}"),
                        Bytes::new(),
                        false,
                    )
                    .await;
                }
            }
        }
        self.tally
    }
}

/// Runs the demo: a daemon with `config` on 127.0.0.1, loaded as `demo` says.
///
/// # Errors
///
/// If the listener cannot be bound or the server fails.
pub async fn run(config: Config, demo: DemoConfig) -> std::io::Result<Report> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let daemon = Daemon::new(config.clone());
    let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = {
        let daemon = daemon.clone();
        tokio::spawn(async move {
            daemon
                .serve(listener, async move {
                    let _ = server_stopped.await;
                })
                .await
        })
    };
    if demo.progress {
        log!("webhook-daemon demo: daemon on http://{addr}");
    }

    let targets = Arc::new(Targets::new(vec![addr]));
    let status = || {
        let stats = daemon.stats();
        format!(
            "processed: {}  instances: {}",
            thousands(stats.processed),
            stats.instances
        )
    };
    let load = drive(&targets, &demo, false, status, None).await;
    let (tally, setup_requests, load_time) = (load.tally, load.setup_requests, load.load_time);

    let shutdown_started = Instant::now();
    let _ = stop_server.send(());
    let server = server
        .await
        .map_err(|e| std::io::Error::other(format!("server task failed: {e}")))??;
    let shutdown_time = shutdown_started.elapsed();

    Ok(Report {
        demo,
        config,
        load_time,
        shutdown_time,
        by_status: tally.by_status,
        setup_requests,
        transport_errors: tally.transport_errors,
        client_accepted: tally.accepted,
        latency: tally.latency,
        server,
        peak_rss_kib: peak_rss_kib(),
    })
}

/// What the clients of [`drive`] saw.
struct Load {
    /// Every client's tally, the setup's included.
    tally: Tally,
    /// Of `tally`: the setup's `PUT`s.
    setup_requests: u64,
    /// From the first client's start to the last one's end.
    load_time: Duration,
    /// When the clients started, in Unix nanoseconds.
    started_unix: i128,
}

/// Something done once, `after` the clients started (the cluster demo's kill).
type Disruption = (Duration, Box<dyn FnOnce() + Send>);

/// The storm: every id created once (a `PUT` each, counted apart), then
/// `demo.clients` clients against `targets` until `demo.duration` passed
/// or ^C. `status` adds to the progress line; `disruption` runs once.
async fn drive(
    targets: &Arc<Targets>,
    demo: &DemoConfig,
    record_ids: bool,
    status: impl Fn() -> String,
    mut disruption: Option<Disruption>,
) -> Load {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: HttpClient = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(demo.clients.max(1))
        .build(connector);

    let live = Arc::new(Live::default());
    let stop = Arc::new(AtomicBool::new(false));
    let make = |number: usize| Client1 {
        targets: Arc::clone(targets),
        client: client.clone(),
        demo: demo.clone(),
        live: Arc::clone(&live),
        stop: Arc::clone(&stop),
        rng: XorShift64Star::for_stream(demo.seed, number as u64),
        tally: Tally::default(),
        record_ids,
        seq: 0,
        number,
    };

    // Every instance exists when the storm starts (counted apart from the load).
    let mut setup = Client1 {
        live: Arc::new(Live::default()),
        ..make(usize::MAX)
    };
    for id in 0..demo.instances {
        setup
            .one(Method::PUT, format!("/instances/{id}"), Bytes::new(), false)
            .await;
    }

    let started = Instant::now();
    let started_unix = unix_nanos();
    let mut clients = JoinSet::new();
    for number in 0..demo.clients {
        clients.spawn(make(number).run());
    }

    let deadline = tokio::time::sleep(demo.duration);
    tokio::pin!(deadline);
    let disrupt_at = disruption.as_ref().map_or(demo.duration * 2, |d| d.0);
    let disrupt = tokio::time::sleep(disrupt_at);
    tokio::pin!(disrupt);
    let mut tick =
        tokio::time::interval(Duration::from_millis(if std::io::stderr().is_terminal() {
            250
        } else {
            2000
        }));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tick.tick().await; // the first tick is immediate
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            () = &mut deadline => break,
            _ = &mut ctrl_c => {
                if demo.progress {
                    log!("\nwebhook-daemon demo: interrupted, stopping the load early");
                }
                break;
            }
            () = &mut disrupt, if disruption.is_some() => {
                if let Some((_, act)) = disruption.take() {
                    act();
                }
            }
            _ = tick.tick() => {
                if demo.progress {
                    progress(started, &live, &status());
                }
            }
        }
    }
    stop.store(true, Relaxed);
    let setup_requests = setup.tally.by_status.values().sum::<u64>() + setup.tally.transport_errors;
    let mut tally = setup.tally;
    while let Some(done) = clients.join_next().await {
        match done {
            Ok(t) => tally.merge(t),
            Err(e) => {
                // A client task that panicked: its tally is lost, so the
                // accounting cannot be trusted.
                log!("webhook-daemon demo: a client task failed: {e}");
                tally.transport_errors += 1;
            }
        }
    }
    let load_time = started.elapsed();
    if demo.progress {
        progress(started, &live, &status());
        log!();
    }
    Load {
        tally,
        setup_requests,
        load_time,
        started_unix,
    }
}

fn progress(started: Instant, live: &Live, status: &str) {
    let secs = started.elapsed().as_secs_f64();
    let requests = live.requests.load(Relaxed);
    let line = format!(
        "[{secs:5.1} s] {} requests ({}/s)  202: {}  429: {}  {status}  errors: {}",
        thousands(requests),
        thousands((requests as f64 / secs.max(1e-9)) as u64),
        thousands(live.accepted.load(Relaxed)),
        thousands(live.full.load(Relaxed)),
        live.errors.load(Relaxed),
    );
    if std::io::stderr().is_terminal() {
        use std::io::Write as _;
        let mut stderr = std::io::stderr();
        let _ = write!(stderr, "\r\x1b[2K{line}");
        let _ = stderr.flush();
    } else {
        log!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_contain_their_values() {
        for us in (0..5000).chain([1 << 20, (1 << 40) + 12345, u64::MAX / 2]) {
            let i = LatencyHistogram::index(us);
            assert!(LatencyHistogram::upper(i) >= us, "{us}");
            if i > 0 {
                assert!(LatencyHistogram::upper(i - 1) < us, "{us}");
            }
        }
    }

    #[test]
    fn quantiles_of_a_known_distribution() {
        let mut h = LatencyHistogram::default();
        for us in 1..=1000 {
            h.record(Duration::from_micros(us));
        }
        assert_eq!(h.quantile_us(0.5), 503); // 500 is in bucket [500, 503]
        assert!((990..=1000).contains(&h.quantile_us(0.99)));
        assert_eq!(h.quantile_us(1.0), 1000);
        assert_eq!(h.max_us(), 1000);
    }

    fn report(client_accepted: u64, accepted: u64, processed: u64, errors: u64) -> Report {
        Report {
            demo: DemoConfig::default(),
            config: Config::default(),
            load_time: Duration::from_secs(1),
            shutdown_time: Duration::from_millis(1),
            by_status: BTreeMap::from([(202, client_accepted)]),
            setup_requests: 0,
            transport_errors: errors,
            client_accepted,
            latency: LatencyHistogram::default(),
            server: Summary {
                uptime: Duration::from_secs(1),
                requests: client_accepted,
                created: 0,
                replaced: 0,
                deleted: 0,
                closed_at_shutdown: 0,
                buffered_at_shutdown: 0,
                accepted,
                processed,
                failed: 0,
                rejected_full: 0,
                not_found: 0,
                gone: 0,
                closed: 0,
                instances_left: 0,
                cluster: false,
            },
            peak_rss_kib: None,
        }
    }

    #[test]
    fn the_verdict_needs_all_three_counts_equal_and_no_transport_error() {
        assert!(report(10, 10, 10, 0).nothing_lost());
        for bad in [
            report(10, 10, 9, 0),  // an accepted event not processed
            report(9, 10, 10, 0),  // a 202 the clients did not see
            report(10, 11, 11, 0), // likewise, seen from the daemon
            report(10, 10, 10, 1), // a request without an answer
        ] {
            assert!(!bad.nothing_lost(), "{bad}");
            assert!(bad.to_string().contains("LOST EVENTS"), "{bad}");
        }
        assert!(report(10, 10, 10, 0).to_string().contains("NOTHING LOST"));
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn demo_runs_and_accounts_for_every_event() {
        let demo = DemoConfig {
            duration: Duration::from_millis(1500),
            clients: 8,
            instances: 40,
            hot: 4,
            progress: false,
            ..DemoConfig::default()
        };
        let report = tokio::time::timeout(Duration::from_secs(120), run(Config::default(), demo))
            .await
            .expect("the demo finishes within 120 s")
            .expect("demo");
        assert!(report.nothing_lost(), "{report}");
        assert_eq!(report.transport_errors, 0);
        assert!(report.client_accepted > 0, "{report}");
        assert_eq!(report.client_accepted, report.server.processed);
        assert_eq!(report.latency.count(), report.requests());
        for code in [201, 202] {
            assert!(
                report.by_status.contains_key(&code),
                "no {code} in {report}"
            );
        }
        let text = report.to_string();
        assert!(text.contains("NOTHING LOST"), "{text}");
        assert!(text.contains("p99.9"), "{text}");
    }
}
