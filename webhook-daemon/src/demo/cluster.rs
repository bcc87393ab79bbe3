//! `--demo --cluster N`: the same storm against N replicas sharing one
//! NATS JetStream server, with one replica killed (SIGKILL) a third of the
//! way in, and every 202 checked against what the handlers ran.
//!
//! 1. NATS: the server given with `--nats`, or a `nats-server` started on
//!    a free port of 127.0.0.1 with its storage in a temporary directory
//!    (removed afterwards). Every name the run creates starts with a
//!    prefix of its own, so a shared server is not disturbed.
//! 2. N replicas: this binary, as child processes in cluster mode, each
//!    reporting the event id of every event whose handler ran on an audit
//!    subject; the demo stores those reports in a JetStream stream.
//! 3. The storm of the single-process demo, each request to a random live
//!    replica. A third of the way in, the last replica is killed: the
//!    clients stop choosing it, and requests cut by the kill are counted
//!    apart (they got no answer, so nothing was promised to them).
//! 4. Afterwards: every event answered 202 must appear in the audit within
//!    the failover bound (a lease and a third, plus the ack wait); events
//!    handled twice are counted; the survivors are stopped with SIGTERM and
//!    must exit cleanly. The run exits 1 if a 202 was lost.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt as _, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use webhook_daemon::local_cluster::{
    Audit, DaemonProcess, Handling, NatsServer, find_nats_server, unix_nanos,
};
use webhook_daemon::{Config, peak_rss_kib};

use super::{DemoConfig, LatencyHistogram, Targets, drive, ms, thousands};

/// The cluster's shape for `--demo --cluster N`.
#[derive(Debug, Clone)]
pub struct ClusterDemo {
    /// Replicas started.
    pub replicas: usize,
    /// A NATS server to use; `None` starts one.
    pub nats: Option<String>,
    /// Kill one replica a third of the way in (needs 2 or more).
    pub kill: bool,
    /// Shards of the id space.
    pub shards: u32,
    /// The replicas' lease.
    pub lease: Duration,
    /// The replicas' ack wait.
    pub ack_wait: Duration,
    /// Stored events per instance before a 429.
    pub backlog: i64,
}

impl ClusterDemo {
    /// How long an event stored for a dead replica's shard may wait: the
    /// lease expires, a survivor takes the shard within a third of a lease,
    /// and what the dead replica had been delivered comes again after the
    /// ack wait.
    pub fn failover_bound(&self) -> Duration {
        self.lease * 4 / 3 + self.ack_wait
    }
}

/// What the cluster demo saw.
#[derive(Debug)]
pub struct ClusterReport {
    demo: DemoConfig,
    cluster: ClusterDemo,
    config: Config,
    nats: String,
    load_time: Duration,
    by_status: BTreeMap<u16, u64>,
    setup_requests: u64,
    transport_errors: u64,
    cut_by_kill: u64,
    latency: LatencyHistogram,
    /// 202s seen by the clients.
    accepted: u64,
    /// Of those, handled at least once.
    handled: u64,
    /// Of those, handled more than once.
    duplicates: u64,
    /// Handled although no client saw a 202 (a post cut by the kill after
    /// JetStream stored it).
    handled_unanswered: u64,
    /// The longest wait from a 202 to its first handling.
    slowest: Duration,
    /// The kill, from the start of the load, and its effect.
    failover: Option<Failover>,
    /// Survivors that exited with a failure or did not exit.
    survivors_failed: Vec<String>,
    /// Shards all owned again this long after the replicas started.
    startup_split: Duration,
    peak_rss_kib: Option<u64>,
}

/// The timeline of the kill.
#[derive(Debug, Clone, Copy)]
struct Failover {
    /// When the replica was killed, from the start of the load.
    killed_at: Duration,
    /// From the kill to every shard owned by a survivor (`None`: not seen
    /// before the load ended).
    shards_owned_after: Option<Duration>,
    /// Of the events accepted before the kill, the slowest from the kill to
    /// its first handling.
    last_backlog_handled_after: Duration,
    /// Events accepted before the kill and handled after it.
    handled_after_kill: u64,
    /// Of the events accepted after the kill, the slowest from its 202 to
    /// its first handling (those of the dead replica's shards wait for a
    /// survivor to take the shard).
    slowest_accepted_after_kill: Duration,
}

impl ClusterReport {
    /// Lost = answered 202 and never handled; also inconclusive if a
    /// request to a live replica got no answer or a survivor failed.
    pub fn nothing_lost(&self) -> bool {
        self.handled == self.accepted
            && self.transport_errors == 0
            && self.survivors_failed.is_empty()
    }
}

impl fmt::Display for ClusterReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.demo;
        let c = &self.cluster;
        let secs = self.load_time.as_secs_f64();
        writeln!(
            f,
            "== webhook-daemon cluster demo: {} replicas on {}, {} shards, lease {} ms, ack wait {} ms",
            c.replicas,
            self.nats,
            c.shards,
            c.lease.as_millis(),
            c.ack_wait.as_millis()
        )?;
        writeln!(
            f,
            "load:      {secs:.1} s, {} clients, {} instances ({} hot), stored backlog {} per instance, work {} ms per event",
            d.clients,
            d.instances,
            d.hot,
            c.backlog,
            self.config.work.as_millis()
        )?;
        let load = self
            .by_status
            .values()
            .sum::<u64>()
            .saturating_sub(self.setup_requests);
        writeln!(
            f,
            "requests:  {} answered in {secs:.1} s ({}/s) after {} setup PUTs; {} cut by the kill, {} transport errors",
            thousands(load),
            thousands((load as f64 / secs.max(1e-9)) as u64),
            thousands(self.setup_requests),
            self.cut_by_kill,
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
            "latency:   p50 {}  p99 {}  p99.9 {}  max {}  (client-side, all {} requests)",
            ms(self.latency.quantile_us(0.5)),
            ms(self.latency.quantile_us(0.99)),
            ms(self.latency.quantile_us(0.999)),
            ms(self.latency.max_us()),
            thousands(self.latency.count())
        )?;
        writeln!(
            f,
            "events:    {} answered 202 / {} of them handled / {} handled twice or more; {} handled without a 202 seen",
            thousands(self.accepted),
            thousands(self.handled),
            thousands(self.duplicates),
            thousands(self.handled_unanswered)
        )?;
        writeln!(
            f,
            "           slowest 202 to handled: {} ms (failover bound {} ms)",
            self.slowest.as_millis(),
            c.failover_bound().as_millis()
        )?;
        writeln!(
            f,
            "startup:   shards balanced across {} replicas {} ms after the first started",
            c.replicas,
            self.startup_split.as_millis()
        )?;
        match &self.failover {
            Some(fo) => {
                writeln!(
                    f,
                    "failover:  t = {:.2} s  replica r{} killed (SIGKILL)",
                    fo.killed_at.as_secs_f64(),
                    c.replicas - 1
                )?;
                match fo.shards_owned_after {
                    Some(after) => writeln!(
                        f,
                        "           + {} ms  every shard owned by a survivor again (bound: lease {} ms + a third)",
                        after.as_millis(),
                        c.lease.as_millis()
                    )?,
                    None => writeln!(
                        f,
                        "           shards not all owned again before the load ended"
                    )?,
                }
                writeln!(
                    f,
                    "           + {} ms  the last of {} events accepted before the kill and handled after it was handled",
                    fo.last_backlog_handled_after.as_millis(),
                    thousands(fo.handled_after_kill)
                )?;
                writeln!(
                    f,
                    "           an event accepted after the kill waited at most {} ms from its 202 to its handling",
                    fo.slowest_accepted_after_kill.as_millis()
                )?;
            }
            None => writeln!(f, "failover:  no replica killed")?,
        }
        if !self.survivors_failed.is_empty() {
            writeln!(f, "survivors: {}", self.survivors_failed.join("; "))?;
        }
        match self.peak_rss_kib {
            Some(kib) => writeln!(
                f,
                "peak RSS:  {:.1} MiB (the demo's clients; each replica is its own process)",
                kib as f64 / 1024.0
            )?,
            None => writeln!(f, "peak RSS:  not reported by this OS")?,
        }
        if self.nothing_lost() {
            write!(
                f,
                "NOTHING LOST: {} events answered 202, every one handled ({} more than once)",
                thousands(self.accepted),
                thousands(self.duplicates)
            )
        } else {
            write!(
                f,
                "LOST EVENTS: {} answered 202, {} handled, {} transport errors, {} failed survivors",
                self.accepted,
                self.handled,
                self.transport_errors,
                self.survivors_failed.len()
            )
        }
    }
}

/// An error of the cluster demo's set-up, said in one line.
fn setup_error(what: impl fmt::Display) -> std::io::Error {
    std::io::Error::other(what.to_string())
}

/// `webhook_cluster_owned_shards` of each of `addrs` (`None` if one cannot
/// be read).
async fn owned_shards(addrs: &[SocketAddr]) -> Option<Vec<u64>> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
    let mut owned = Vec::with_capacity(addrs.len());
    for addr in addrs {
        let uri = format!("http://{addr}/metrics").parse().ok()?;
        let response = tokio::time::timeout(Duration::from_secs(2), client.get(uri))
            .await
            .ok()?
            .ok()?;
        let body = response.into_body().collect().await.ok()?.to_bytes();
        let text = std::str::from_utf8(&body).ok()?;
        owned.push(
            text.lines()
                .find_map(|l| l.strip_prefix("webhook_cluster_owned_shards "))?
                .trim()
                .parse::<u64>()
                .ok()?,
        );
    }
    Some(owned)
}

/// Polls until `addrs` own every one of `shards` between them, none more
/// than its fair share (`ceil(shards / replicas)`); how long it took.
async fn until_balanced(addrs: &[SocketAddr], shards: u32, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    let share = u64::from(shards).div_ceil(addrs.len() as u64);
    while started.elapsed() < within {
        if let Some(owned) = owned_shards(addrs).await
            && owned.iter().sum::<u64>() == u64::from(shards)
            && owned.iter().all(|&n| n <= share)
        {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    None
}

/// Runs the cluster demo. `config` gives the replicas' mailbox capacity and
/// work per event.
///
/// # Errors
///
/// If NATS or a replica cannot be started (the message says what to do).
pub async fn run(
    config: Config,
    demo: DemoConfig,
    cluster: ClusterDemo,
) -> std::io::Result<ClusterReport> {
    if cluster.replicas == 0 {
        return Err(setup_error("--cluster needs at least 1 replica"));
    }
    // 1. NATS.
    let mut own_server = None;
    let url = match &cluster.nats {
        Some(url) => url.clone(),
        None => {
            let binary = find_nats_server().ok_or_else(|| {
                setup_error(
                    "the cluster demo needs nats-server (Debian: apt-get install nats-server), \
                     or --nats URL of a server with JetStream",
                )
            })?;
            let server = NatsServer::start(&binary, "demo")
                .map_err(|e| setup_error(format!("cannot start {}: {e}", binary.display())))?;
            let url = server.url().to_owned();
            own_server = Some(server);
            url
        }
    };
    let prefix = format!("demo{}t{}", std::process::id(), unix_nanos() / 1_000_000);
    let audit_subject = format!("{prefix}.audit");
    let audit = Audit::create(&url, &audit_subject)
        .await
        .map_err(|e| setup_error(format!("cannot use NATS at {url}: {e}")))?;
    if demo.progress {
        log!("webhook-daemon cluster demo: NATS at {url}, names prefixed {prefix}");
    }

    // 2. The replicas.
    let exe = std::env::current_exe().map_err(setup_error)?;
    let started_replicas = Instant::now();
    let mut replicas = Vec::new();
    for n in 0..cluster.replicas {
        replicas.push(spawn_replica(
            &exe,
            n,
            &url,
            &prefix,
            &audit_subject,
            &config,
            &cluster,
        )?);
    }
    let addrs: Vec<SocketAddr> = replicas.iter().map(DaemonProcess::addr).collect();
    until_balanced(
        &addrs,
        cluster.shards,
        cluster.lease * 4 + Duration::from_secs(5),
    )
    .await
    .ok_or_else(|| setup_error("the replicas did not take every shard between them"))?;
    let startup_split = started_replicas.elapsed();
    if demo.progress {
        log!(
            "webhook-daemon cluster demo: {} replicas on {}; shards balanced {} ms after the first started",
            addrs.len(),
            addrs
                .iter()
                .map(|a| format!("http://{a}"))
                .collect::<Vec<_>>()
                .join(" "),
            startup_split.as_millis()
        );
    }

    // 3. The storm, and the kill.
    let targets = Arc::new(Targets::new(addrs.clone()));
    let victim = cluster.replicas - 1;
    let killed_at_unix = Arc::new(AtomicI64::new(0));
    let victim_process = Arc::new(Mutex::new(None::<DaemonProcess>));
    let disruption: Option<super::Disruption> = if cluster.kill && cluster.replicas >= 2 {
        *victim_process.lock().unwrap_or_else(|e| e.into_inner()) = replicas.pop();
        let (targets, killed_at_unix, victim_process) = (
            Arc::clone(&targets),
            Arc::clone(&killed_at_unix),
            Arc::clone(&victim_process),
        );
        Some((
            demo.duration / 3,
            Box::new(move || {
                targets.mark_gone(victim);
                if let Some(mut process) = victim_process
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take()
                {
                    killed_at_unix.store(unix_nanos() as i64, Relaxed);
                    process.kill();
                }
            }),
        ))
    } else {
        None
    };
    // Watches for the survivors owning every shard again after the kill.
    let survivors: Vec<SocketAddr> = replicas.iter().map(DaemonProcess::addr).collect();
    let watcher = disruption.is_some().then(|| {
        let killed = Arc::clone(&killed_at_unix);
        let survivors = survivors.clone();
        let shards = cluster.shards;
        let within = cluster.lease * 4 + demo.duration;
        tokio::spawn(async move {
            while killed.load(Relaxed) == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            until_balanced(&survivors, shards, within).await.map(|_| {
                let now = unix_nanos();
                Duration::from_nanos((now - i128::from(killed.load(Relaxed))).max(0) as u64)
            })
        })
    });
    let status = || format!("replicas up: {}", targets.alive_count());
    let load = drive(&targets, &demo, true, status, disruption).await;
    let shards_owned_after = match watcher {
        Some(w) => w.await.ok().flatten(),
        None => None,
    };

    // 4. Every 202 handled?
    if demo.progress {
        log!(
            "webhook-daemon cluster demo: waiting for every accepted event to be handled (at most {} ms)",
            (cluster.failover_bound() + Duration::from_secs(10)).as_millis()
        );
    }
    let accepted = &load.tally.accepted_ids;
    let deadline = Instant::now() + cluster.failover_bound() + Duration::from_secs(10);
    let mut handled: HashMap<u64, Handling> = HashMap::new();
    loop {
        if let Some(now) = audit.read().await {
            handled = now;
            if accepted.iter().all(|(id, _)| handled.contains_key(id)) {
                break;
            }
        }
        if Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // The survivors: SIGTERM, a clean exit each.
    let mut survivors_failed = Vec::new();
    for (n, replica) in replicas.into_iter().enumerate() {
        let stopped = replica
            .signal("TERM")
            .and_then(|()| replica.wait(Duration::from_secs(60)));
        match stopped {
            Ok(exited) if exited.status.success() => {}
            Ok(exited) => survivors_failed.push(format!(
                "r{n} exited with {}: {}",
                exited.status,
                exited.stdout.lines().last().unwrap_or("")
            )),
            Err(e) => survivors_failed.push(format!("r{n}: {e}")),
        }
    }
    drop(own_server);

    let killed_unix = i128::from(killed_at_unix.load(Relaxed));
    let mut report = ClusterReport {
        demo,
        cluster,
        config,
        nats: url,
        load_time: load.load_time,
        by_status: load.tally.by_status.clone(),
        setup_requests: load.setup_requests,
        transport_errors: load.tally.transport_errors,
        cut_by_kill: load.tally.cut_by_kill,
        latency: load.tally.latency.clone(),
        accepted: accepted.len() as u64,
        handled: 0,
        duplicates: 0,
        handled_unanswered: 0,
        slowest: Duration::ZERO,
        failover: None,
        survivors_failed,
        startup_split,
        peak_rss_kib: peak_rss_kib(),
    };
    let mut answered = std::collections::HashSet::with_capacity(accepted.len());
    let (mut last_backlog, mut handled_after_kill, mut slowest_after) = (0i128, 0u64, 0i128);
    for &(id, at) in accepted {
        answered.insert(id);
        let Some(h) = handled.get(&id) else { continue };
        report.handled += 1;
        if h.times > 1 {
            report.duplicates += 1;
        }
        let wait = (h.first_unix_nanos - at).max(0);
        report.slowest = report.slowest.max(Duration::from_nanos(wait as u64));
        if killed_unix > 0 && at < killed_unix && h.first_unix_nanos > killed_unix {
            handled_after_kill += 1;
            last_backlog = last_backlog.max(h.first_unix_nanos - killed_unix);
        }
        if killed_unix > 0 && at >= killed_unix {
            slowest_after = slowest_after.max(wait);
        }
    }
    report.handled_unanswered = handled.keys().filter(|id| !answered.contains(id)).count() as u64;
    if killed_unix > 0 {
        report.failover = Some(Failover {
            killed_at: Duration::from_nanos((killed_unix - load.started_unix).max(0) as u64),
            shards_owned_after,
            last_backlog_handled_after: Duration::from_nanos(last_backlog as u64),
            handled_after_kill,
            slowest_accepted_after_kill: Duration::from_nanos(slowest_after as u64),
        });
    }
    Ok(report)
}

/// Replica `n`: this binary in cluster mode, serving on a free port.
fn spawn_replica(
    exe: &PathBuf,
    n: usize,
    url: &str,
    prefix: &str,
    audit_subject: &str,
    config: &Config,
    cluster: &ClusterDemo,
) -> std::io::Result<DaemonProcess> {
    let mut command = Command::new(exe);
    // The demo's own settings must not reach the replicas through the
    // environment (WEBHOOK_DEMO=1 would make each run a demo).
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("WEBHOOK_DEMO") {
            command.env_remove(key);
        }
    }
    command
        .args(["--listen", "127.0.0.1:0", "--nats", url])
        .args(["--replica", &format!("r{n}"), "--cluster-prefix", prefix])
        .args(["--shards", &cluster.shards.to_string()])
        .args(["--lease-ms", &cluster.lease.as_millis().to_string()])
        .args(["--ack-wait-ms", &cluster.ack_wait.as_millis().to_string()])
        .args(["--backlog", &cluster.backlog.to_string()])
        .args(["--audit-subject", audit_subject])
        .args(["--capacity", &config.default_capacity.to_string()])
        .args(["--work-ms", &config.work.as_millis().to_string()])
        // The address is read from the daemon's first INFO line.
        .args(["--log-filter", "warn,webhook_daemon=info"])
        .env_remove("WEBHOOK_LOG_FORMAT");
    DaemonProcess::spawn(command, Duration::from_secs(20))
        .map_err(|e| setup_error(format!("cannot start replica r{n}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(accepted: u64, handled: u64, errors: u64, failed: &[&str]) -> ClusterReport {
        ClusterReport {
            demo: DemoConfig::default(),
            cluster: ClusterDemo {
                replicas: 3,
                nats: None,
                kill: true,
                shards: 16,
                lease: Duration::from_millis(1500),
                ack_wait: Duration::from_millis(3000),
                backlog: 1024,
            },
            config: Config::default(),
            nats: "nats://127.0.0.1:4222".into(),
            load_time: Duration::from_secs(1),
            by_status: BTreeMap::from([(202, accepted)]),
            setup_requests: 0,
            transport_errors: errors,
            cut_by_kill: 3,
            latency: LatencyHistogram::default(),
            accepted,
            handled,
            duplicates: 1,
            handled_unanswered: 0,
            slowest: Duration::from_millis(3600),
            failover: Some(Failover {
                killed_at: Duration::from_millis(2000),
                shards_owned_after: Some(Duration::from_millis(1800)),
                last_backlog_handled_after: Duration::from_millis(3200),
                handled_after_kill: 3,
                slowest_accepted_after_kill: Duration::from_millis(3600),
            }),
            survivors_failed: failed.iter().map(|s| s.to_string()).collect(),
            startup_split: Duration::from_millis(600),
            peak_rss_kib: None,
        }
    }

    #[test]
    fn a_202_never_handled_a_transport_error_or_a_failed_survivor_fails_the_run() {
        let good = report(100, 100, 0, &[]);
        assert!(good.nothing_lost(), "{good}");
        let text = good.to_string();
        assert!(text.contains("NOTHING LOST"), "{text}");
        assert!(text.contains("+ 1800 ms  every shard owned"), "{text}");
        for bad in [
            report(100, 99, 0, &[]),
            report(100, 100, 1, &[]),
            report(100, 100, 0, &["r0 exited with exit status: 1"]),
        ] {
            assert!(!bad.nothing_lost(), "{bad}");
            assert!(bad.to_string().contains("LOST EVENTS"), "{bad}");
        }
    }

    #[test]
    fn the_failover_bound_is_a_lease_and_a_third_plus_the_ack_wait() {
        let r = report(1, 1, 0, &[]);
        assert_eq!(r.cluster.failover_bound(), Duration::from_millis(5000));
    }
}
