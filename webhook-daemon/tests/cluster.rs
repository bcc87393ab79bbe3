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
    let child = Command::new(server)
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nats-server");
    let url = format!("nats://127.0.0.1:{port}");
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
    Nats { child, url, dir }
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

/// Collects the audit subject: event id -> times handled, and when first.
async fn audit(nats: &Nats, subject: &str) -> Arc<Mutex<HashMap<u64, (u32, Instant)>>> {
    let client = async_nats::connect(nats.url.as_str())
        .await
        .expect("connect");
    let mut sub = client
        .subscribe(subject.to_string())
        .await
        .expect("subscribe");
    client.flush().await.expect("flush");
    let seen = Arc::new(Mutex::new(HashMap::new()));
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        let _client = client;
        while let Some(msg) = sub.next().await {
            if let Ok(id) = std::str::from_utf8(&msg.payload)
                .unwrap_or("")
                .parse::<u64>()
            {
                let mut log = log.lock().unwrap();
                let entry = log.entry(id).or_insert((0, Instant::now()));
                entry.0 += 1;
            }
        }
    });
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_a_storm_and_a_sigkill_lose_no_accepted_event() {
    let Some(server) = nats_server() else { return };
    let nats = start_nats(&server, "storm").await;
    let audited = audit(&nats, "audit.storm").await;
    let replicas: Vec<Replica> = (0..3)
        .map(|n| Replica::start(&nats, &format!("r{n}"), "audit.storm"))
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

    let alive = Arc::new(Mutex::new(vec![true; 3]));
    let accepted: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::default();
    let statuses: Arc<Mutex<HashMap<u16, u64>>> = Arc::default();
    let started = Instant::now();
    let run = Duration::from_secs(6);
    let clients: Vec<_> = (0..6u64)
        .map(|c| {
            let (alive, accepted, statuses, addrs) = (
                Arc::clone(&alive),
                Arc::clone(&accepted),
                Arc::clone(&statuses),
                addrs.clone(),
            );
            tokio::spawn(async move {
                let mut rng = spec::XorShift64Star::new(c + 1);
                while started.elapsed() < run {
                    let replica = loop {
                        let r = rng.below(3) as usize;
                        if alive.lock().unwrap()[r] {
                            break r;
                        }
                    };
                    let id = rng.below(30);
                    let dice = rng.below(100);
                    let (method, path) = match dice {
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
                        accepted.lock().unwrap().push((id, Instant::now()));
                    }
                }
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_secs(2)).await;
    alive.lock().unwrap()[2] = false;
    let killed_at = Instant::now();
    replicas[2].signal("KILL");
    for client in clients {
        client.await.unwrap();
    }

    // Every 202 must be handled at least once, within the failover bound.
    let accepted = accepted.lock().unwrap().clone();
    let deadline = Instant::now() + failover_bound() + Duration::from_secs(10);
    loop {
        let missing = {
            let seen = audited.lock().unwrap();
            accepted
                .iter()
                .filter(|(id, _)| !seen.contains_key(id))
                .count()
        };
        if missing == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} of {} accepted events were never handled",
            accepted.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seen = audited.lock().unwrap().clone();
    let duplicates: Vec<u64> = accepted
        .iter()
        .filter(|(id, _)| seen[id].0 > 1)
        .map(|&(id, _)| id)
        .collect();
    let slowest = accepted
        .iter()
        .map(|(id, at)| seen[id].1.saturating_duration_since(*at))
        .max()
        .unwrap_or_default();
    println!(
        "{} events accepted, all handled; {} handled twice or more; slowest 202-to-handled {slowest:?} (bound {:?}); statuses {:?}",
        accepted.len(),
        duplicates.len(),
        failover_bound(),
        statuses.lock().unwrap()
    );
    assert!(
        accepted.len() > 100,
        "the storm accepted too little to test"
    );
    assert!(
        slowest <= failover_bound() + Duration::from_secs(2),
        "an event waited {slowest:?} past the failover bound"
    );
    // Duplicates come from the killed replica's unacknowledged events: they
    // were stored before the kill.
    for id in &duplicates {
        let stored = accepted.iter().find(|(a, _)| a == id).unwrap().1;
        assert!(
            stored <= killed_at + Duration::from_secs(1),
            "event {id} was handled twice though stored {:?} after the kill",
            stored - killed_at
        );
    }
    let mut replicas = replicas;
    replicas.truncate(2);
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
