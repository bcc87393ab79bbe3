//! Clients that misbehave, over loopback: one that stalls mid-request (in
//! its body or its head) must not hold shutdown back past the drain
//! deadline, a buffered event must cost about its own size, not the
//! connection's read buffer, and a flood of `PUT`s of large mailboxes must
//! stop at the slot budget.
//!
//! The heap is counted (`spec::CountingAlloc`), so this binary holds these
//! tests alone, run one at a time (`serial`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use spec::CountingAlloc;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{Mutex, Semaphore, oneshot};
use tokio::task::JoinHandle;
use webhook_daemon::{Config, Daemon, MAILBOX_SLOT_BYTES, Summary};

mod support;
use support::gated_daemon;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// The tests of this binary run one at a time: the heap count is global.
static SERIAL: Mutex<()> = Mutex::const_new(());

/// One request on its own connection; the status.
async fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> u16 {
    support::request(addr, method, path, body).await.0
}

/// Serves `daemon` on a loopback port until the returned sender fires.
fn start(
    daemon: Daemon,
    listener: tokio::net::TcpListener,
) -> (oneshot::Sender<()>, JoinHandle<std::io::Result<Summary>>) {
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        daemon
            .serve(listener, async {
                let _ = stopped.await;
            })
            .await
    });
    (stop, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_client_does_not_hold_shutdown_past_the_drain_deadline() {
    let _serial = SERIAL.lock().await;
    let config = Config {
        drain_timeout: Duration::from_millis(500),
        ..Config::default()
    };
    let daemon = Daemon::new(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, server) = start(daemon, listener);
    assert_eq!(request(addr, "PUT", "/instances/1", "").await, 201);
    assert_eq!(
        request(addr, "POST", "/instances/1/events", "kept").await,
        202
    );
    // Announces 100 bytes, sends 5, and holds the connection open.
    let mut stalled = TcpStream::connect(addr).await.unwrap();
    stalled
        .write_all(
            b"POST /instances/1/events HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nhello",
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let signalled = Instant::now();
    stop.send(()).unwrap();
    let summary = tokio::time::timeout(Duration::from_secs(20), server)
        .await
        .expect("shutdown finished despite the stalled client")
        .unwrap()
        .unwrap();
    let took = signalled.elapsed();
    assert!(
        took >= Duration::from_millis(500),
        "returned before the deadline: {took:?}"
    );
    assert!(summary.nothing_lost(), "{summary}");
    assert_eq!(summary.accepted, 1);
    drop(stalled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_request_head_does_not_hold_shutdown_past_the_drain_deadline() {
    let _serial = SERIAL.lock().await;
    let config = Config {
        drain_timeout: Duration::from_millis(500),
        // Far past the test: only the drain deadline can end the stall.
        header_timeout: Duration::from_secs(60),
        ..Config::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, server) = start(Daemon::new(config), listener);
    assert_eq!(request(addr, "PUT", "/instances/1", "").await, 201);
    // Half a request line, then nothing.
    let mut stalled = TcpStream::connect(addr).await.unwrap();
    stalled.write_all(b"POST /instances/1/ev").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let signalled = Instant::now();
    stop.send(()).unwrap();
    let summary = tokio::time::timeout(Duration::from_secs(20), server)
        .await
        .expect("shutdown finished despite the stalled head")
        .unwrap()
        .unwrap();
    let took = signalled.elapsed();
    println!("shutdown with a stalled request head took {took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(summary.nothing_lost(), "{summary}");
    drop(stalled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_flood_stops_at_the_mailbox_slot_budget() {
    let _serial = SERIAL.lock().await;
    const SLOTS: usize = 100_000;
    const PUTS: u64 = 200;
    let config = Config {
        max_mailbox_slots: SLOTS,
        ..Config::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, server) = start(Daemon::new(config), listener);
    for _ in 0..50 {
        assert_eq!(request(addr, "GET", "/healthz", "").await, 200);
    }
    CountingAlloc::enable();
    let before = CountingAlloc::live();
    let (mut created, mut refused) = (0, 0);
    for id in 0..PUTS {
        let path = format!("/instances/{id}?capacity=4096");
        let answer = support::request_with(addr, "PUT", &path, &[], "").await;
        match answer.status {
            201 => created += 1,
            503 => {
                assert_eq!(answer.header("retry-after"), Some("1"), "{answer:?}");
                assert!(answer.body.contains("slot budget"), "{answer:?}");
                refused += 1;
            }
            _ => panic!("{answer:?}"),
        }
    }
    let grown = CountingAlloc::live() - before;
    println!(
        "{PUTS} PUTs of capacity 4096 under a {SLOTS}-slot budget: {created} created, \
         {refused} refused, heap grew {:.1} MiB",
        grown as f64 / (1 << 20) as f64
    );
    assert_eq!(created, SLOTS / 4096);
    let bound = (SLOTS * MAILBOX_SLOT_BYTES + (2 << 20)) as isize;
    assert!(grown < bound, "heap grew {grown} bytes, bound {bound}");

    // Deleting one gives its slots back once its worker has drained it.
    assert_eq!(request(addr, "DELETE", "/instances/0", "").await, 204);
    let started = Instant::now();
    while request(addr, "PUT", "/instances/0?capacity=4096", "").await != 201 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "slots never came back"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.send(()).unwrap();
    let summary = tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("shutdown")
        .unwrap()
        .unwrap();
    assert!(summary.nothing_lost(), "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buffered_small_event_costs_about_its_size() {
    let _serial = SERIAL.lock().await;
    const EVENTS: usize = 2000;
    let gate = Arc::new(Semaphore::new(0));
    let daemon = gated_daemon(Config::default(), &gate);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, server) = start(daemon, listener);
    assert_eq!(
        request(addr, "PUT", "/instances/1?capacity=4096", "").await,
        201
    );
    // Warm up: the first connections allocate the server's lasting structures.
    for _ in 0..50 {
        assert_eq!(request(addr, "GET", "/instances/1", "").await, 200);
    }
    CountingAlloc::enable();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let before = CountingAlloc::live();
    // Each event on a connection of its own, as webhook senders do: a body
    // that kept a slice of its connection's read buffer would keep that
    // whole buffer alive after the connection closed.
    let event = "x".repeat(25);
    for _ in 0..EVENTS {
        assert_eq!(
            request(addr, "POST", "/instances/1/events", &event).await,
            202
        );
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let per_event = (CountingAlloc::live() as f64 - before as f64) / EVENTS as f64;
    println!("heap per buffered 25-byte event: {per_event:.1} bytes");
    assert!(
        per_event < 200.0,
        "a buffered 25-byte event holds {per_event:.0} bytes of heap"
    );

    gate.add_permits(EVENTS);
    stop.send(()).unwrap();
    let summary = tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("shutdown")
        .unwrap()
        .unwrap();
    assert_eq!(summary.processed, EVENTS as u64, "{summary}");
}
