//! Cluster mode against a real `nats-server` (JetStream, loopback, a port
//! and a storage directory of its own per test): replicas of the binary,
//! a storm through all of them, a replica killed mid-run, and a
//! linearizability check of `PUT`, `DELETE` and `GET` across replicas.
//!
//! Without `nats-server` on the machine these tests say so and pass,
//! unless `WEBHOOK_REQUIRE_NATS` is set (CI sets it): then they fail.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use spec::linearize::{Event, Order, linearizable};
use spec::model::{Model, Op, Out};

mod support;
use support::request_with;

/// The NATS server of one test; killed when dropped.
struct Nats {
    child: Child,
    url: String,
    dir: PathBuf,
    port: u16,
    server: PathBuf,
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn nats_server() -> Option<PathBuf> {
    let found = ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .or_else(|| {
            let out = Command::new("which").arg("nats-server").output().ok()?;
            let path = String::from_utf8(out.stdout).ok()?;
            let path = path.trim();
            (!path.is_empty()).then(|| PathBuf::from(path))
        });
    if found.is_none() {
        assert!(
            std::env::var_os("WEBHOOK_REQUIRE_NATS").is_none(),
            "nats-server is not installed and WEBHOOK_REQUIRE_NATS is set"
        );
        eprintln!("skipped: nats-server is not installed (apt-get install nats-server)");
    }
    found
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_nats(server: &PathBuf, name: &str) -> Nats {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("webhook-nats-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let child = spawn_nats(server, port, &dir).await;
    let url = format!("nats://127.0.0.1:{port}");
    Nats {
        child,
        url,
        dir,
        port,
        server: server.clone(),
    }
}

/// Starts `nats-server` on `port` with its storage in `dir`; returns once
/// it accepts connections.
async fn spawn_nats(server: &PathBuf, port: u16, dir: &PathBuf) -> Child {
    let child = Command::new(server)
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nats-server");
    let started = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "nats-server did not start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child
}

impl Nats {
    /// Kills the server (SIGKILL) and starts it again on the same port and
    /// storage: JetStream's file store survives a killed process.
    async fn restart(&mut self, down_for: Duration) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        tokio::time::sleep(down_for).await;
        self.child = spawn_nats(&self.server, self.port, &self.dir).await;
    }
}

/// One replica: the daemon binary in cluster mode.
struct Replica {
    child: Child,
    addr: SocketAddr,
}

impl Replica {
    fn start(nats: &Nats, name: &str, audit: &str) -> Replica {
        let mut child = Command::new(env!("CARGO_BIN_EXE_webhook-daemon"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--work-ms",
                "1",
                "--replica",
                name,
            ])
            .args([
                "--nats",
                &nats.url,
                "--lease-ms",
                LEASE_MS,
                "--ack-wait-ms",
                ACK_WAIT_MS,
            ])
            .args([
                "--audit-subject",
                audit,
                "--log-filter",
                "warn,webhook_daemon=info",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn a replica");
        let stderr = child.stderr.take().expect("stderr");
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        // Reads the address from the first line, then keeps draining the
        // log so that the replica never blocks on a full pipe.
        std::thread::spawn(move || {
            use std::io::BufRead as _;
            let mut sent = false;
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if !sent
                    && let Some(addr) = line
                        .split("http://")
                        .nth(1)
                        .and_then(|rest| rest.split_whitespace().next())
                        .and_then(|a| a.parse::<SocketAddr>().ok())
                {
                    let _ = addr_tx.send(addr);
                    sent = true;
                }
            }
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the replica printed its address");
        Replica { child, addr }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// SIGTERM, then the exit status (bounded).
    fn stop(mut self) -> bool {
        self.signal("TERM");
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.success();
            }
            if started.elapsed() > Duration::from_secs(30) {
                let _ = self.child.kill();
                panic!("a replica did not exit after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const LEASE_MS: &str = "1500";
const ACK_WAIT_MS: &str = "3000";

/// The documented bound on how long an event stored for a dead replica's
/// shard waits: its lease expires (one lease), a survivor takes the shard
/// (within a third of a lease), and what the dead replica had been
/// delivered is delivered again after the ack wait.
fn failover_bound() -> Duration {
    let lease: u64 = LEASE_MS.parse().unwrap();
    let ack_wait: u64 = ACK_WAIT_MS.parse().unwrap();
    Duration::from_millis(lease * 4 / 3 + ack_wait)
}

/// Event id -> (times handled, when it was first handled, in Unix nanos).
type Handled = HashMap<u64, (u32, i128)>;

/// The audit subject's reports, captured in a JetStream stream of its own
/// so that none is lost while the server restarts.
struct Audit {
    js: async_nats::jetstream::Context,
    stream: String,
}

async fn audit(nats: &Nats, subject: &str) -> Audit {
    use async_nats::jetstream::stream;
    let client = async_nats::connect(nats.url.as_str())
        .await
        .expect("connect");
    let js = async_nats::jetstream::new(client);
    let name = format!("audit_{}", subject.replace('.', "_"));
    js.get_or_create_stream(stream::Config {
        name: name.clone(),
        subjects: vec![subject.to_string()],
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await
    .expect("the audit stream");
    Audit { js, stream: name }
}

impl Audit {
    /// Reads every report stored so far (a fresh ordered consumer each
    /// time: nothing depends on a subscription surviving a restart).
    async fn read(&self) -> Option<Handled> {
        use async_nats::jetstream::consumer::pull;
        let stream = self.js.get_stream(&self.stream).await.ok()?;
        let total = stream.get_info().await.ok()?.state.messages;
        let mut handled = Handled::new();
        if total == 0 {
            return Some(handled);
        }
        let mut reports = stream
            .create_consumer(pull::OrderedConfig::default())
            .await
            .ok()?
            .messages()
            .await
            .ok()?;
        let mut read = 0;
        while read < total {
            let report = tokio::time::timeout(Duration::from_secs(5), reports.next())
                .await
                .ok()??
                .ok()?;
            read += 1;
            let at = report.info().ok()?.published.unix_timestamp_nanos();
            if let Ok(id) = std::str::from_utf8(&report.payload)
                .unwrap_or("")
                .parse::<u64>()
            {
                let entry = handled.entry(id).or_insert((0, at));
                entry.0 += 1;
                entry.1 = entry.1.min(at);
            }
        }
        Some(handled)
    }
}

fn unix_nanos() -> i128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i128
}

/// What a storm saw.
struct Storm {
    /// Event ids answered 202, and when (Unix nanos).
    accepted: Vec<(u64, i128)>,
    statuses: HashMap<u16, u64>,
    /// When the disruption happened (Unix nanos).
    disrupted_at: i128,
}

/// Six clients storm `addrs` (80 % posts, 10 % PUT, 5 % DELETE, 5 % GET
/// on 30 ids) for 6 s; `disrupt` runs 2 s in and returns the replicas that
/// are gone from then on.
async fn storm<F, Fut>(addrs: &[SocketAddr], disrupt: F) -> Storm
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Vec<usize>>,
{
    let alive = Arc::new(Mutex::new(vec![true; addrs.len()]));
    let accepted: Arc<Mutex<Vec<(u64, i128)>>> = Arc::default();
    let statuses: Arc<Mutex<HashMap<u16, u64>>> = Arc::default();
    let started = Instant::now();
    let run = Duration::from_secs(6);
    let clients: Vec<_> = (0..6u64)
        .map(|c| {
            let (alive, accepted, statuses, addrs) = (
                Arc::clone(&alive),
                Arc::clone(&accepted),
                Arc::clone(&statuses),
                addrs.to_vec(),
            );
            tokio::spawn(async move {
                let mut rng = spec::XorShift64Star::new(c + 1);
                while started.elapsed() < run {
                    let replica = loop {
                        let r = rng.below(addrs.len() as u64) as usize;
                        if alive.lock().unwrap()[r] {
                            break r;
                        }
                    };
                    let id = rng.below(30);
                    let (method, path) = match rng.below(100) {
                        0..80 => ("POST", format!("/instances/{id}/events")),
                        80..90 => ("PUT", format!("/instances/{id}?capacity=64")),
                        90..95 => ("DELETE", format!("/instances/{id}")),
                        _ => ("GET", format!("/instances/{id}")),
                    };
                    let answer = match tokio::time::timeout(
                        Duration::from_secs(10),
                        try_request(addrs[replica], method, &path, "event"),
                    )
                    .await
                    {
                        Ok(Some(answer)) => answer,
                        // The replica was killed under this request.
                        _ => continue,
                    };
                    *statuses.lock().unwrap().entry(answer.status).or_insert(0) += 1;
                    if method == "POST" && answer.status == 202 {
                        let id = answer.json()["event_id"].as_u64().expect("an event id");
                        accepted.lock().unwrap().push((id, unix_nanos()));
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let disrupted_at = unix_nanos();
    for gone in disrupt().await {
        alive.lock().unwrap()[gone] = false;
    }
    for client in clients {
        client.await.unwrap();
    }
    let accepted = accepted.lock().unwrap().clone();
    let statuses = statuses.lock().unwrap().clone();
    Storm {
        accepted,
        statuses,
        disrupted_at,
    }
}

/// Waits until every accepted event was handled (or `within` passed);
/// returns the ids handled more than once and the slowest 202-to-handled.
async fn every_accepted_event_handled(
    storm: &Storm,
    audit: &Audit,
    within: Duration,
) -> (Vec<u64>, Duration) {
    let deadline = Instant::now() + within;
    let handled = loop {
        if let Some(handled) = audit.read().await {
            let missing = storm
                .accepted
                .iter()
                .filter(|(id, _)| !handled.contains_key(id))
                .count();
            if missing == 0 {
                break handled;
            }
            assert!(
                Instant::now() < deadline,
                "{missing} of {} accepted events were never handled",
                storm.accepted.len()
            );
        } else {
            assert!(Instant::now() < deadline, "the audit stream cannot be read");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let duplicates = storm
        .accepted
        .iter()
        .filter(|(id, _)| handled[id].0 > 1)
        .map(|&(id, _)| id)
        .collect();
    let slowest = storm
        .accepted
        .iter()
        .map(|(id, at)| (handled[id].1 - at).max(0))
        .max()
        .unwrap_or_default();
    (duplicates, Duration::from_nanos(slowest as u64))
}

/// Three replicas, their shards split, and 30 instances created.
async fn three_replicas(nats: &Nats, audit: &str) -> (Vec<Replica>, Vec<SocketAddr>) {
    let replicas: Vec<Replica> = (0..3)
        .map(|n| Replica::start(nats, &format!("r{n}"), audit))
        .collect();
    let addrs: Vec<SocketAddr> = replicas.iter().map(|r| r.addr).collect();
    // Let the replicas split the shards.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for id in 0..30u64 {
        let put = request_with(
            addrs[id as usize % 3],
            "PUT",
            &format!("/instances/{id}?capacity=64"),
            &[],
            "",
        )
        .await;
        assert_eq!(put.status, 201, "{put:?}");
    }
    (replicas, addrs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_a_storm_and_a_sigkill_lose_no_accepted_event() {
    let Some(server) = nats_server() else { return };
    let nats = start_nats(&server, "storm").await;
    let audit = audit(&nats, "audit.storm").await;
    let (mut replicas, addrs) = three_replicas(&nats, "audit.storm").await;
    let storm = storm(&addrs, || async {
        replicas[2].signal("KILL");
        vec![2]
    })
    .await;
    let within = failover_bound() + Duration::from_secs(10);
    let (duplicates, slowest) = every_accepted_event_handled(&storm, &audit, within).await;
    println!(
        "SIGKILL of a replica: {} events accepted, all handled; {} handled twice or more; \
         slowest 202-to-handled {slowest:?} (bound {:?}); statuses {:?}",
        storm.accepted.len(),
        duplicates.len(),
        failover_bound(),
        storm.statuses
    );
    assert!(
        storm.accepted.len() > 100,
        "the storm accepted too little to test"
    );
    assert!(
        slowest <= failover_bound() + Duration::from_secs(2),
        "an event waited {slowest:?} past the failover bound"
    );
    // Duplicates come from the killed replica's unacknowledged events: they
    // were stored before the kill.
    for id in &duplicates {
        let stored = storm.accepted.iter().find(|(a, _)| a == id).unwrap().1;
        let after_kill = stored - storm.disrupted_at;
        assert!(
            after_kill <= 1_000_000_000,
            "event {id} was handled twice though stored {after_kill} ns after the kill"
        );
    }
    replicas.truncate(2);
    for replica in replicas {
        assert!(replica.stop(), "a replica exited with a failure");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_server_restart_loses_no_accepted_event() {
    let Some(server) = nats_server() else { return };
    let mut nats = start_nats(&server, "restart").await;
    let audit = audit(&nats, "audit.restart").await;
    let (replicas, addrs) = three_replicas(&nats, "audit.restart").await;
    let nats_ref = &mut nats;
    let storm = storm(&addrs, || async move {
        nats_ref.restart(Duration::from_millis(500)).await;
        vec![]
    })
    .await;
    // Clients reconnect within a few seconds; then leases are renewed or
    // taken again and what was delivered but not acked is delivered again.
    let within = failover_bound() + Duration::from_secs(20);
    let (duplicates, slowest) = every_accepted_event_handled(&storm, &audit, within).await;
    println!(
        "nats-server restart: {} events accepted, all handled; {} handled twice or more; \
         slowest 202-to-handled {slowest:?}; statuses {:?}",
        storm.accepted.len(),
        duplicates.len(),
        storm.statuses
    );
    assert!(
        storm.accepted.len() > 100,
        "the storm accepted too little to test"
    );
    for replica in replicas {
        assert!(replica.stop(), "a replica exited with a failure");
    }
}

/// One request; `None` if the connection failed (a killed replica).
async fn try_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> Option<support::Answer> {
    support::try_request_with(addr, method, path, &[], body)
        .await
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_delete_and_get_are_linearizable_across_replicas() {
    let Some(server) = nats_server() else { return };
    let nats = start_nats(&server, "lin").await;
    let replicas: Vec<Replica> = (0..3)
        .map(|n| Replica::start(&nats, &format!("l{n}"), "audit.lin"))
        .collect();
    let addrs: Vec<SocketAddr> = replicas.iter().map(|r| r.addr).collect();
    let clock = Instant::now();
    let clients: Vec<_> = (0..6usize)
        .map(|thread| {
            let addrs = addrs.clone();
            tokio::spawn(async move {
                let mut rng = spec::XorShift64Star::new(thread as u64 + 7);
                let mut events = Vec::new();
                for index in 0..30 {
                    let addr = addrs[rng.below(3) as usize];
                    let id = rng.below(2);
                    let dice = [0, 0, 1, 2][rng.below(4) as usize];
                    let inv = clock.elapsed().as_nanos() as u64;
                    let (op, out) = match dice {
                        0 => {
                            let a = request_with(
                                addr,
                                "PUT",
                                &format!("/instances/{id}?capacity=4"),
                                &[],
                                "",
                            )
                            .await;
                            let json = a.json();
                            let rx = json["generation"].as_u64().unwrap();
                            let replaced = json["replaced_generation"].as_u64();
                            (Op::Set { id, cap: 4, rx }, Out::Replaced(replaced))
                        }
                        1 => {
                            let a =
                                request_with(addr, "DELETE", &format!("/instances/{id}"), &[], "")
                                    .await;
                            assert!(matches!(a.status, 204 | 404), "{a:?}");
                            (Op::Delete(id), Out::Bool(a.status == 204))
                        }
                        _ => {
                            let a = request_with(addr, "GET", &format!("/instances/{id}"), &[], "")
                                .await;
                            let seen =
                                (a.status == 200).then(|| a.json()["generation"].as_u64().unwrap());
                            (Op::State(id), Out::State(seen))
                        }
                    };
                    let res = clock.elapsed().as_nanos() as u64;
                    events.push(Event {
                        thread,
                        index,
                        op,
                        out,
                        inv,
                        res,
                    });
                }
                events
            })
        })
        .collect();
    let mut events = Vec::new();
    for client in clients {
        events.extend(client.await.unwrap());
    }
    if let Err(e) = linearizable(&Model::new(), &events, Order::RealTime, &[]) {
        for event in &events {
            eprintln!("{event}");
        }
        panic!("{e}");
    }
    for replica in replicas {
        assert!(replica.stop());
    }
}
