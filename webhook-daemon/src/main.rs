//! `webhook-daemon`: serve the API, or `--demo` to load it in-process.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use demo::DemoConfig;
use webhook_daemon::{Config, Daemon, shutdown_signal};

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
    #[arg(long)]
    demo: bool,

    /// Address to serve on (ignored by --demo).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,

    /// Mailbox capacity of an instance created without ?capacity=.
    #[arg(long, default_value_t = 5)]
    capacity: usize,

    /// Simulated processing time per event, in milliseconds (0: none).
    #[arg(long, default_value_t = 1)]
    work_ms: u64,

    /// Most instances at once (a PUT of a new id beyond: 503).
    #[arg(long, default_value_t = 100_000)]
    max_instances: usize,

    /// Largest event body in bytes (larger: 413).
    #[arg(long, default_value_t = 64 * 1024)]
    max_body: usize,

    /// Longest ?wait_ms= a post may ask for.
    #[arg(long, default_value_t = 10_000)]
    max_wait_ms: u64,

    /// At shutdown, how long requests in flight may take before their
    /// connections are abandoned and the mailboxes are drained.
    #[arg(long, default_value_t = 10_000)]
    drain_timeout_ms: u64,

    /// Demo: seconds of load.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,

    /// Demo: concurrent HTTP clients.
    #[arg(long, default_value_t = 64)]
    clients: usize,

    /// Demo: number of instance ids (0..N).
    #[arg(long, default_value_t = 300)]
    instances: u64,

    /// Demo: hot ids (0..N) that get a quarter of the posts.
    #[arg(long, default_value_t = 8)]
    hot: u64,

    /// Demo: seed of the clients' random choices.
    #[arg(long, default_value_t = 0x5eed)]
    seed: u64,

    /// Demo: no live progress line.
    #[arg(long)]
    quiet: bool,
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
    let config = Config {
        default_capacity: args.capacity,
        work: Duration::from_millis(args.work_ms),
        max_body_bytes: args.max_body,
        max_instances: args.max_instances,
        max_wait: Duration::from_millis(args.max_wait_ms),
        drain_timeout: Duration::from_millis(args.drain_timeout_ms),
        ..Config::default()
    };
    if config.default_capacity == 0 || config.default_capacity > config.max_capacity {
        log!(
            "webhook-daemon: --capacity must be in 1..={}",
            config.max_capacity
        );
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
            log!("webhook-daemon: listening on http://{addr} (SIGINT or SIGTERM to stop)");
            let daemon = Daemon::new(config);
            let shutdown = async {
                shutdown_signal().await;
                log!("webhook-daemon: shutting down: no new connections, draining instances");
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
