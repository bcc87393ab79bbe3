//! Cluster mode against a real `nats-server` (JetStream, loopback, a port
//! and a storage directory of its own per test): replicas of the binary,
//! a storm through all of them, a replica killed mid-run, and a
//! linearizability check of `PUT`, `DELETE` and `GET` across replicas.
//!
//! Without `nats-server` on the machine these tests say so and pass,
//! unless `WEBHOOK_REQUIRE_NATS` is set (CI sets it): then they fail.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use spec::linearize::{Event, Order, linearizable};
use spec::model::{Model, Op, Out};
use webhook_daemon::local_cluster::{
    Audit, DaemonProcess, NatsServer, find_nats_server, unix_nanos,
};

mod support;
use support::request_with;

/// The NATS server of one test, or `None` (the test passes, saying so)
/// where `nats-server` is not installed and `WEBHOOK_REQUIRE_NATS` unset.
fn nats(name: &str) -> Option<NatsServer> {
    let Some(binary) = find_nats_server() else {
        assert!(
            std::env::var_os("WEBHOOK_REQUIRE_NATS").is_none(),
            "nats-server is not installed and WEBHOOK_REQUIRE_NATS is set"
        );
        eprintln!("skipped: nats-server is not installed (apt-get install nats-server)");
        return None;
    };
    Some(NatsServer::start(&binary, name).expect("start nats-server"))
}

/// One replica: the daemon binary in cluster mode.
fn replica(nats: &NatsServer, name: &str, audit: &str) -> DaemonProcess {
    let mut command = Command::new(env!("CARGO_BIN_EXE_webhook-daemon"));
    command
        .args(["--listen", "127.0.0.1:0", "--work-ms", "1"])
        .args(["--replica", name, "--nats", nats.url()])
        .args(["--lease-ms", LEASE_MS, "--ack-wait-ms", ACK_WAIT_MS])
        .args(["--audit-subject", audit])
        .args(["--log-filter", "warn,webhook_daemon=info"]);
    DaemonProcess::spawn(command, Duration::from_secs(10)).expect("start a replica")
}

/// SIGTERM, then whether it exited with success (bounded).
fn stop(replica: DaemonProcess) -> bool {
    replica.signal("TERM").expect("SIGTERM");
    let exited = replica
        .wait(Duration::from_secs(30))
        .expect("a replica exits after SIGTERM");
    if !exited.status.success() {
        eprintln!("{}\n{}", exited.stdout, exited.stderr);
    }
    exited.status.success()
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

async fn audit(nats: &NatsServer, subject: &str) -> Audit {
    Audit::create(nats.url(), subject)
        .await
        .expect("the audit stream")
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
        .filter(|(id, _)| handled[id].times > 1)
        .map(|&(id, _)| id)
        .collect();
    let slowest = storm
        .accepted
        .iter()
        .map(|(id, at)| (handled[id].first_unix_nanos - at).max(0))
        .max()
        .unwrap_or_default();
    (duplicates, Duration::from_nanos(slowest as u64))
}

/// Three replicas, their shards split, and 30 instances created.
async fn three_replicas(nats: &NatsServer, audit: &str) -> (Vec<DaemonProcess>, Vec<SocketAddr>) {
    let replicas: Vec<DaemonProcess> = (0..3)
        .map(|n| replica(nats, &format!("r{n}"), audit))
        .collect();
    let addrs: Vec<SocketAddr> = replicas.iter().map(DaemonProcess::addr).collect();
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
    let Some(nats) = nats("storm") else { return };
    let audit = audit(&nats, "audit.storm").await;
    let (mut replicas, addrs) = three_replicas(&nats, "audit.storm").await;
    let storm = storm(&addrs, || async {
        replicas[2].kill();
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
        assert!(stop(replica), "a replica exited with a failure");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_server_restart_loses_no_accepted_event() {
    let Some(mut nats) = nats("restart") else {
        return;
    };
    let audit = audit(&nats, "audit.restart").await;
    let (replicas, addrs) = three_replicas(&nats, "audit.restart").await;
    let nats_ref = &mut nats;
    let storm = storm(&addrs, || async move {
        tokio::task::block_in_place(|| nats_ref.restart(Duration::from_millis(500)))
            .expect("restart nats-server");
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
        assert!(stop(replica), "a replica exited with a failure");
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
    let Some(nats) = nats("lin") else { return };
    let replicas: Vec<DaemonProcess> = (0..3)
        .map(|n| replica(&nats, &format!("l{n}"), "audit.lin"))
        .collect();
    let addrs: Vec<SocketAddr> = replicas.iter().map(DaemonProcess::addr).collect();
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
        assert!(stop(replica));
    }
}

/// The shards `addr` owns now, from its `/metrics`.
async fn owned_shards(addr: SocketAddr) -> u64 {
    let metrics = request_with(addr, "GET", "/metrics", &[], "").await;
    metrics
        .body
        .lines()
        .find_map(|line| line.strip_prefix("webhook_cluster_owned_shards "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no owned-shards gauge in {}", metrics.body))
}

/// Polls until the replicas at `addrs` own `want` shards each (bounded).
async fn shards_become(addrs: &[SocketAddr], want: &[u64], within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let mut owned = Vec::new();
        for &addr in addrs {
            owned.push(owned_shards(addr).await);
        }
        if owned == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "owned shards {owned:?}, expected {want:?} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joining_replica_gets_its_share_and_handed_over_shards_deliver() {
    let Some(nats) = nats("join") else { return };
    let audit = audit(&nats, "audit.join").await;
    let lease = Duration::from_millis(LEASE_MS.parse().unwrap());
    let first = replica(&nats, "j0", "audit.join");
    // Alone, it takes every shard (16 by default).
    shards_become(&[first.addr()], &[16], lease * 4).await;
    for id in 0..30u64 {
        let put = request_with(first.addr(), "PUT", &format!("/instances/{id}"), &[], "").await;
        assert_eq!(put.status, 201, "{put:?}");
    }
    let second = replica(&nats, "j1", "audit.join");
    let addrs = [first.addr(), second.addr()];
    // The first gives back what exceeds its share, the second takes it:
    // within a few lease ticks (a third of a lease each).
    let took = shards_become(&addrs, &[8, 8], lease * 4).await;
    println!("rebalanced to 8 + 8 shards {took:?} after the second replica started");
    // Every id, whichever shard moved, still has an owner that handles it.
    let mut accepted = Vec::new();
    for id in 0..30u64 {
        let post = request_with(
            addrs[id as usize % 2],
            "POST",
            &format!("/instances/{id}/events"),
            &[],
            "e",
        )
        .await;
        assert_eq!(post.status, 202, "{post:?}");
        accepted.push(post.json()["event_id"].as_u64().expect("an event id"));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let handled = audit.read().await.unwrap_or_default();
        let missing: Vec<u64> = accepted
            .iter()
            .copied()
            .filter(|id| !handled.contains_key(id))
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "never handled: {missing:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(stop(second));
    // The first takes the leaver's shards back.
    shards_become(&[first.addr()], &[16], lease * 4).await;
    assert!(stop(first));
}

#[test]
fn the_cluster_demo_kills_a_replica_and_accounts_for_every_202() {
    let Some(_) = nats("unused") else { return };
    let out = Command::new(env!("CARGO_BIN_EXE_webhook-daemon"))
        .args(["--demo", "--cluster", "3", "--seconds", "4", "--quiet"])
        .args(["--clients", "16", "--instances", "60"])
        .env_remove("WEBHOOK_NATS")
        .output()
        .expect("run the cluster demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("NOTHING LOST"), "{stdout}");
    assert!(stdout.contains("replica r2 killed (SIGKILL)"), "{stdout}");
    assert!(
        stdout.contains("every shard owned by a survivor again"),
        "{stdout}"
    );
    // The three counts: 202s, of them handled, and the verdict agree.
    let events = stdout
        .lines()
        .find(|l| l.starts_with("events:"))
        .expect("an events line");
    let count = |before: &str, after: &str| -> u64 {
        let rest = &events[events.find(before).expect(before) + before.len()..];
        rest[..rest.find(after).expect(after)]
            .trim()
            .replace(',', "")
            .parse()
            .expect("a count")
    };
    let answered = count("events:", "answered 202");
    let handled = count("answered 202 /", "of them handled");
    assert!(answered > 0, "{events}");
    assert_eq!(answered, handled, "{events}");
}

#[test]
fn cluster_demo_options_are_checked_before_anything_starts() {
    for (args, says) in [
        (&["--cluster", "3"][..], "--demo"),
        (&["--demo", "--nats", "nats://127.0.0.1:1"][..], "--cluster"),
        (&["--demo", "--cluster", "0"][..], "--cluster must be in"),
        (
            &["--demo", "--cluster", "2", "--shards", "0"][..],
            "at least 1 shard",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_webhook-daemon"))
            .args(args)
            .output()
            .expect("run the daemon");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_during_writes_neither_stalls_nor_shows_deleted_ids() {
    let Some(nats) = nats("list") else { return };
    let replicas: Vec<DaemonProcess> = (0..2)
        .map(|n| replica(&nats, &format!("s{n}"), "audit.list"))
        .collect();
    let addrs: Vec<SocketAddr> = replicas.iter().map(DaemonProcess::addr).collect();
    // A writer replaces and deletes ids 0..20 while lists are read.
    let writing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let writers: Vec<_> = (0..4u64)
        .map(|w| {
            let (writing, addr) = (Arc::clone(&writing), addrs[w as usize % 2]);
            tokio::spawn(async move {
                let mut n = w;
                while writing.load(std::sync::atomic::Ordering::Relaxed) {
                    let id = n * 7 % 20;
                    let method = if n % 3 == 2 { "DELETE" } else { "PUT" };
                    request_with(addr, method, &format!("/instances/{id}"), &[], "").await;
                    n += 1;
                }
            })
        })
        .collect();
    // 8 clients list 25 times each through both replicas. With
    // `kv::Store::keys`, lists ended only at an idle heartbeat (5 s) once
    // concurrent writes made its pending count stale: a list must answer
    // well before that.
    let listers: Vec<_> = (0..8usize)
        .map(|l| {
            let addr = addrs[l % 2];
            tokio::spawn(async move {
                let mut slowest = Duration::ZERO;
                for _ in 0..25 {
                    let started = Instant::now();
                    let list =
                        request_with(addr, "GET", "/instances?from=0&limit=100", &[], "").await;
                    slowest = slowest.max(started.elapsed());
                    assert_eq!(list.status, 200, "{list:?}");
                }
                slowest
            })
        })
        .collect();
    let mut slowest = Duration::ZERO;
    for lister in listers {
        slowest = slowest.max(lister.await.unwrap());
    }
    println!("slowest of 200 lists during writes: {slowest:?}");
    assert!(
        slowest < Duration::from_secs(4),
        "a list stalled for {slowest:?}"
    );
    writing.store(false, std::sync::atomic::Ordering::Relaxed);
    for writer in writers {
        writer.await.unwrap();
    }
    // Quiet now: the list is exactly the ids whose last write was a PUT.
    let mut expected = Vec::new();
    for id in 0..20u64 {
        let get = request_with(addrs[0], "GET", &format!("/instances/{id}"), &[], "").await;
        if get.status == 200 {
            expected.push(id);
        }
    }
    for id in [5u64, 6] {
        request_with(addrs[0], "DELETE", &format!("/instances/{id}"), &[], "").await;
        expected.retain(|&e| e != id);
    }
    let list = request_with(addrs[1], "GET", "/instances?from=0&limit=100", &[], "").await;
    let listed: Vec<u64> = list.json()["ids"]
        .as_array()
        .unwrap_or_else(|| panic!("no ids in {}", list.body))
        .iter()
        .map(|v| v.as_u64().expect("an id"))
        .collect();
    assert_eq!(listed, expected, "{}", list.body);
    for replica in replicas {
        assert!(stop(replica));
    }
}

/// The counter `name` in `addr`'s `/metrics`.
async fn metric(addr: SocketAddr, name: &str) -> u64 {
    let metrics = request_with(addr, "GET", "/metrics", &[], "").await;
    metrics
        .body
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {}", metrics.body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_steady_storm_moves_no_shard_and_redelivers_nothing() {
    let Some(nats) = nats("steady") else { return };
    let audit = audit(&nats, "audit.steady").await;
    let (replicas, addrs) = three_replicas(&nats, "audit.steady").await;
    let moves = || async {
        let (mut lost, mut released) = (0, 0);
        for &addr in &addrs {
            lost += metric(addr, "webhook_cluster_leases_lost_total").await;
            released += metric(addr, "webhook_cluster_leases_released_total").await;
        }
        (lost, released)
    };
    let (lost_before, released_before) = moves().await;
    let storm = storm(&addrs, || async { vec![] }).await;
    // Nothing failed, so no event may wait for an ack timeout.
    let (duplicates, slowest) =
        every_accepted_event_handled(&storm, &audit, failover_bound()).await;
    let (lost, released) = moves().await;
    let (lost, released) = (lost - lost_before, released - released_before);
    let mut redelivered = 0;
    for &addr in &addrs {
        redelivered += metric(addr, "webhook_cluster_redeliveries_total").await;
    }
    println!(
        "steady storm: {} accepted, slowest 202-to-handled {slowest:?}; during it: leases lost \
         {lost}, released {released}; redeliveries {redelivered}",
        storm.accepted.len()
    );
    // A lease round stalled by a slow listing of the live replicas let
    // leases expire or miscounted the replicas under load: shards moved,
    // and what their consumers had pulled waited for the ack timeout.
    assert_eq!(lost, 0, "leases expired under a steady load");
    assert_eq!(released, 0, "shards given back under a steady load");
    assert_eq!(redelivered, 0, "events delivered twice without a failure");
    assert!(duplicates.is_empty(), "{duplicates:?}");
    assert!(
        slowest < Duration::from_millis(ACK_WAIT_MS.parse().unwrap()),
        "an event waited {slowest:?}: as long as a redelivery"
    );
    for replica in replicas {
        assert!(stop(replica));
    }
}
