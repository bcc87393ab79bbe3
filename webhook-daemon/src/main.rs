//! `webhook-daemon`: serve the API, or `--demo` to load it in-process.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use demo::DemoConfig;
use demo::cluster::ClusterDemo;
use webhook_daemon::{BearerToken, ClusterConfig, Config, Daemon, shutdown_signal};

/// A Go webhook daemon, rebuilt on channel-registry.
///
/// Without --demo: serves the API on --listen until SIGINT or SIGTERM, then
/// drains every instance and prints a summary. With --demo: starts the
/// daemon on an ephemeral port of 127.0.0.1, storms it from in-process HTTP
/// clients for --seconds, and exits non-zero if any accepted event was not
/// processed.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Run the in-process load demo instead of serving.
    #[arg(long, env = "WEBHOOK_DEMO")]
    demo: bool,

    /// Address to serve on (ignored by --demo).
    #[arg(long, env = "WEBHOOK_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,

    /// Mailbox capacity of an instance created without ?capacity=.
    #[arg(long, env = "WEBHOOK_CAPACITY", default_value_t = 5)]
    capacity: usize,

    /// Simulated processing time per event, in milliseconds (0: none).
    #[arg(long, env = "WEBHOOK_WORK_MS", default_value_t = 1)]
    work_ms: u64,

    /// Most instances at once (a PUT of a new id beyond: 503).
    #[arg(long, env = "WEBHOOK_MAX_INSTANCES", default_value_t = 100_000)]
    max_instances: usize,

    /// Most mailbox slots of all instances together (a PUT beyond: 503).
    #[arg(long, env = "WEBHOOK_MAX_MAILBOX_SLOTS", default_value_t = 1 << 20)]
    max_mailbox_slots: usize,

    /// Most bytes of event bodies buffered at once (a POST beyond: 503).
    #[arg(long, env = "WEBHOOK_MAX_BUFFERED_BYTES", default_value_t = 64 << 20)]
    max_buffered_bytes: usize,

    /// Largest event body in bytes (larger: 413).
    #[arg(long, env = "WEBHOOK_MAX_BODY", default_value_t = 64 * 1024)]
    max_body: usize,

    /// Longest ?wait_ms= a post may ask for.
    #[arg(long, env = "WEBHOOK_MAX_WAIT_MS", default_value_t = 10_000)]
    max_wait_ms: u64,

    /// Most connections open at once (one more: 503 and closed). Keep it
    /// below `ulimit -n`.
    #[arg(long, env = "WEBHOOK_MAX_CONNECTIONS", default_value_t = 1000)]
    max_connections: usize,

    /// Largest request head in bytes (larger: 431); at least 8192.
    #[arg(long, env = "WEBHOOK_MAX_HEADER_BYTES", default_value_t = 16 * 1024)]
    max_header_bytes: usize,

    /// Longest time to receive a request head, and longest idle keep-alive.
    #[arg(long, env = "WEBHOOK_HEADER_TIMEOUT_MS", default_value_t = 10_000)]
    header_timeout_ms: u64,

    /// Longest gap while receiving a request body (then 408).
    #[arg(long, env = "WEBHOOK_BODY_TIMEOUT_MS", default_value_t = 10_000)]
    body_timeout_ms: u64,

    /// Longest time from a request head to its response (then 408); must
    /// exceed --max-wait-ms.
    #[arg(long, env = "WEBHOOK_REQUEST_TIMEOUT_MS", default_value_t = 30_000)]
    request_timeout_ms: u64,

    /// At shutdown, how long to keep serving with /readyz at 503 before the
    /// listener closes.
    #[arg(long, env = "WEBHOOK_SHUTDOWN_DELAY_MS", default_value_t = 0)]
    shutdown_delay_ms: u64,

    /// At shutdown, how long requests in flight may take before their
    /// connections are closed and the mailboxes are drained.
    #[arg(long, env = "WEBHOOK_DRAIN_TIMEOUT_MS", default_value_t = 10_000)]
    drain_timeout_ms: u64,

    /// Require `Authorization: Bearer <token>` on PUT, DELETE and POST.
    /// Prefer the environment variable: arguments show in `ps`.
    #[arg(long, env = "WEBHOOK_AUTH_TOKEN", hide_env_values = true)]
    auth_token: Option<String>,

    /// Log format on stderr.
    #[arg(long, env = "WEBHOOK_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,

    /// Which logs to keep (tracing's filter syntax, as in RUST_LOG)
    /// [default: info; warn for --demo, whose report is its output].
    #[arg(long, env = "WEBHOOK_LOG")]
    log_filter: Option<String>,

    /// Log every request (method, path, status, latency) at INFO.
    #[arg(long, env = "WEBHOOK_ACCESS_LOG")]
    access_log: bool,

    /// Cluster mode: the NATS server (JetStream on) that replicas share,
    /// e.g. nats://127.0.0.1:4222. Without it, one process holds everything.
    #[arg(long, env = "WEBHOOK_NATS")]
    nats: Option<String>,

    /// Cluster mode: this replica's name, unique in the cluster (default:
    /// made from the process id).
    #[arg(long, env = "WEBHOOK_REPLICA")]
    replica: Option<String>,

    /// Cluster mode: the prefix of the buckets, stream and subjects; one
    /// cluster per prefix.
    #[arg(long, env = "WEBHOOK_CLUSTER_PREFIX", default_value = "webhook")]
    cluster_prefix: String,

    /// Cluster mode: shards the ids map to (every replica must agree).
    #[arg(long, env = "WEBHOOK_SHARDS", default_value_t = 16)]
    shards: u32,

    /// Cluster mode: lifetime of a shard lease, renewed every third of it
    /// [default: 3000; 1500 in the cluster demo].
    #[arg(long, env = "WEBHOOK_LEASE_MS")]
    lease_ms: Option<u64>,

    /// Cluster mode: how long a delivered event may stay unacknowledged
    /// before it is delivered again [default: 10000; 3000 in the cluster
    /// demo].
    #[arg(long, env = "WEBHOOK_ACK_WAIT_MS")]
    ack_wait_ms: Option<u64>,

    /// Cluster mode: most stored, unhandled events per instance (beyond: 429).
    #[arg(long, env = "WEBHOOK_BACKLOG", default_value_t = 1024)]
    backlog: i64,

    /// Cluster mode: publish each handled event's id on this NATS subject
    /// before acknowledging it (for tests and audits).
    #[arg(long, env = "WEBHOOK_AUDIT_SUBJECT")]
    audit_subject: Option<String>,

    /// Demo: seconds of load.
    #[arg(long, env = "WEBHOOK_DEMO_SECONDS", default_value_t = 10.0)]
    seconds: f64,

    /// Demo: concurrent HTTP clients.
    #[arg(long, env = "WEBHOOK_DEMO_CLIENTS", default_value_t = 64)]
    clients: usize,

    /// Demo: number of instance ids (0..N).
    #[arg(long, env = "WEBHOOK_DEMO_INSTANCES", default_value_t = 300)]
    instances: u64,

    /// Demo: hot ids (0..N) that get a quarter of the posts.
    #[arg(long, env = "WEBHOOK_DEMO_HOT", default_value_t = 8)]
    hot: u64,

    /// Demo: seed of the clients' random choices.
    #[arg(long, env = "WEBHOOK_DEMO_SEED", default_value_t = 0x5eed)]
    seed: u64,

    /// Demo: no live progress line.
    #[arg(long, env = "WEBHOOK_DEMO_QUIET")]
    quiet: bool,

    /// Demo: run the storm against N replicas in cluster mode (child
    /// processes of this binary) sharing the --nats server, or a
    /// nats-server started for the run; one replica is killed a third of
    /// the way in.
    #[arg(
        long,
        env = "WEBHOOK_DEMO_CLUSTER",
        value_name = "N",
        requires = "demo"
    )]
    cluster: Option<usize>,

    /// Cluster demo: kill no replica.
    #[arg(long, env = "WEBHOOK_DEMO_NO_KILL", requires = "cluster")]
    no_kill: bool,
}

/// How logs are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the `tracing` subscriber: stderr, `filter`, text or JSON.
fn init_logs(format: LogFormat, filter: &str) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .map_err(|e| format!("bad --log-filter {filter:?}: {e}"))?;
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Text => logs.try_init(),
        LogFormat::Json => logs.json().try_init(),
    };
    installed.map_err(|e| format!("cannot install the logger: {e}"))
}

/// `println!` / `eprintln!` that ignore a closed stream instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}
macro_rules! log {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

// The `--demo` load generator: part of this binary, not of the library's API.
mod demo;

fn main() -> ExitCode {
    let args = Args::parse();
    let log_filter =
        (args.log_filter.as_deref()).unwrap_or(if args.demo { "warn" } else { "info" });
    if let Err(e) = init_logs(args.log_format, log_filter) {
        log!("webhook-daemon: {e}");
        return ExitCode::from(2);
    }
    let auth_token = match args.auth_token.as_deref().map(BearerToken::new) {
        None => None,
        Some(Some(token)) => Some(token),
        Some(None) => {
            log!("webhook-daemon: --auth-token must be non-empty visible ASCII");
            return ExitCode::from(2);
        }
    };
    let config = Config {
        default_capacity: args.capacity,
        work: Duration::from_millis(args.work_ms),
        max_body_bytes: args.max_body,
        max_instances: args.max_instances,
        max_mailbox_slots: args.max_mailbox_slots,
        max_buffered_bytes: args.max_buffered_bytes,
        max_wait: Duration::from_millis(args.max_wait_ms),
        max_connections: args.max_connections,
        max_header_bytes: args.max_header_bytes,
        header_timeout: Duration::from_millis(args.header_timeout_ms),
        body_timeout: Duration::from_millis(args.body_timeout_ms),
        request_timeout: Duration::from_millis(args.request_timeout_ms),
        shutdown_delay: Duration::from_millis(args.shutdown_delay_ms),
        drain_timeout: Duration::from_millis(args.drain_timeout_ms),
        auth_token,
        access_log: args.access_log,
        cluster: args.nats.as_ref().map(|url| {
            let mut cluster = ClusterConfig::new(url.clone());
            cluster.prefix = args.cluster_prefix.clone();
            if let Some(replica) = &args.replica {
                cluster.replica = replica.clone();
            }
            cluster.shards = args.shards;
            cluster.lease = Duration::from_millis(args.lease_ms.unwrap_or(3000));
            cluster.ack_wait = Duration::from_millis(args.ack_wait_ms.unwrap_or(10_000));
            cluster.backlog = args.backlog;
            cluster.audit_subject = args.audit_subject.clone();
            cluster
        }),
        ..Config::default()
    };
    if config.default_capacity == 0 || config.default_capacity > config.max_capacity {
        log!(
            "webhook-daemon: --capacity must be in 1..={}",
            config.max_capacity
        );
        return ExitCode::from(2);
    }
    if let Err(e) = Daemon::check_config(&config) {
        log!("webhook-daemon: {e}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            log!("webhook-daemon: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.demo {
        let seconds = args.seconds;
        if !(seconds.is_finite() && seconds > 0.0 && seconds <= 86_400.0) {
            log!("webhook-daemon: --seconds must be in (0, 86400]");
            return ExitCode::from(2);
        }
        if args.instances == 0 || args.clients == 0 || args.hot > args.instances {
            log!("webhook-daemon: need --instances > 0, --clients > 0, --hot <= --instances");
            return ExitCode::from(2);
        }
        let demo = DemoConfig {
            duration: Duration::from_secs_f64(seconds),
            clients: args.clients,
            instances: args.instances,
            hot: args.hot,
            seed: args.seed,
            progress: !args.quiet,
            ..DemoConfig::default()
        };
        if let Some(replicas) = args.cluster {
            if !(1..=16).contains(&replicas) {
                log!("webhook-daemon: --cluster must be in 1..=16");
                return ExitCode::from(2);
            }
            let cluster = ClusterDemo {
                replicas,
                nats: args.nats.clone(),
                kill: !args.no_kill,
                shards: args.shards,
                lease: Duration::from_millis(args.lease_ms.unwrap_or(1500)),
                ack_wait: Duration::from_millis(args.ack_wait_ms.unwrap_or(3000)),
                backlog: args.backlog,
            };
            let mut probe = ClusterConfig::new("nats://127.0.0.1:4222");
            probe.shards = cluster.shards;
            probe.lease = cluster.lease;
            probe.backlog = cluster.backlog;
            if let Err(e) = Daemon::check_config(&Config {
                cluster: Some(probe),
                ..config.clone()
            }) {
                log!("webhook-daemon: {e}");
                return ExitCode::from(2);
            }
            let config = Config {
                cluster: None,
                ..config
            };
            return match runtime.block_on(demo::cluster::run(config, demo, cluster)) {
                Ok(report) => {
                    out!("{report}");
                    if report.nothing_lost() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    }
                }
                Err(e) => {
                    log!("webhook-daemon cluster demo: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        if config.cluster.is_some() {
            log!("webhook-daemon: with --demo, --nats is the server of --cluster N");
            return ExitCode::from(2);
        }
        match runtime.block_on(demo::run(config, demo)) {
            Ok(report) => {
                out!("{report}");
                if report.nothing_lost() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
            Err(e) => {
                log!("webhook-daemon demo: {e}");
                ExitCode::FAILURE
            }
        }
    } else {
        runtime.block_on(async {
            let listener = match tokio::net::TcpListener::bind(args.listen).await {
                Ok(l) => l,
                Err(e) => {
                    log!("webhook-daemon: cannot listen on {}: {e}", args.listen);
                    return ExitCode::FAILURE;
                }
            };
            let addr = listener.local_addr().unwrap_or(args.listen);
            tracing::info!("listening on http://{addr} (SIGINT or SIGTERM to stop)");
            let daemon = Daemon::new(config);
            let shutdown = async {
                shutdown_signal().await;
                tracing::info!("shutdown signal received");
            };
            match daemon.serve(listener, shutdown).await {
                Ok(summary) => {
                    out!("{summary}");
                    if let Some(kib) = webhook_daemon::peak_rss_kib() {
                        out!("  peak RSS: {:.1} MiB", kib as f64 / 1024.0);
                    }
                    if summary.nothing_lost() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    }
                }
                Err(e) => {
                    log!("webhook-daemon: server failed: {e}");
                    ExitCode::FAILURE
                }
            }
        })
    }
}
