//! The daemon's limits, driven over loopback: the header timeout against
//! slowloris and idle connections, the connection cap, the byte budget,
//! bearer-token auth, and health and readiness while shutting down.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinHandle;
use webhook_daemon::{BearerToken, Config, Daemon, Summary};

mod support;
use support::{gated_daemon, request, request_with};

/// Bounds every wait on the daemon.
const HANG_GUARD: Duration = Duration::from_secs(20);

struct Server {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    served: JoinHandle<std::io::Result<Summary>>,
}

impl Server {
    async fn start(daemon: Daemon) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(async move {
            daemon
                .serve(listener, async {
                    let _ = stopped.await;
                })
                .await
        });
        Server { addr, stop, served }
    }

    async fn shutdown(self) -> Summary {
        self.stop.send(()).unwrap();
        tokio::time::timeout(HANG_GUARD, self.served)
            .await
            .expect("hang guard: shutdown")
            .unwrap()
            .unwrap()
    }
}

/// The value of an unlabelled metric in a `/metrics` text.
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

/// Whether the server closed `stream` (EOF or reset) within `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut sink = [0u8; 4096];
    let read = async {
        loop {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(within, read).await.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_and_idle_connections_are_closed_by_the_header_timeout() {
    const TRICKLERS: usize = 20;
    let config = Config {
        header_timeout: Duration::from_millis(300),
        ..Config::default()
    };
    let server = Server::start(Daemon::new(config)).await;
    let addr = server.addr;
    // Each trickler sends one byte of its head every 50 ms, forever.
    let tricklers: Vec<JoinHandle<Duration>> = (0..TRICKLERS)
        .map(|_| {
            tokio::spawn(async move {
                let started = Instant::now();
                let mut stream = TcpStream::connect(addr).await.unwrap();
                let head = b"GET /instances HTTP/1.1\r\nHost: t\r\nX-Slow: ";
                for byte in head.iter().chain(std::iter::repeat(&b'a')) {
                    if stream.write_all(&[*byte]).await.is_err() {
                        break;
                    }
                    if closed_within(&mut stream, Duration::from_millis(50)).await {
                        break;
                    }
                    assert!(
                        started.elapsed() < HANG_GUARD,
                        "a trickler was never closed"
                    );
                }
                started.elapsed()
            })
        })
        .collect();
    let mut silent = TcpStream::connect(addr).await.unwrap();
    // A normal client meanwhile.
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let started = Instant::now();
        assert_eq!(request(addr, "GET", "/healthz", "").await.0, 200);
        slowest = slowest.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!("slowest normal request during the slowloris: {slowest:?}");
    for trickler in tricklers {
        let lasted = trickler.await.unwrap();
        assert!(
            lasted < Duration::from_secs(3),
            "a slowloris connection lasted {lasted:?}"
        );
    }
    assert!(
        closed_within(&mut silent, Duration::from_secs(3)).await,
        "a silent connection stayed open"
    );
    // An idle keep-alive connection is closed too.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    assert!(closed_within(&mut idle, Duration::from_secs(3)).await);
    assert!(started.elapsed() >= Duration::from_millis(250));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_are_answered_503_and_closed() {
    const CAP: usize = 4;
    let config = Config {
        max_connections: CAP,
        header_timeout: Duration::from_secs(60),
        ..Config::default()
    };
    let server = Server::start(Daemon::new(config)).await;
    let addr = server.addr;
    let mut held = Vec::new();
    for _ in 0..CAP {
        held.push(TcpStream::connect(addr).await.unwrap());
    }
    // Let the daemon accept them all before the one over the cap.
    tokio::time::sleep(Duration::from_millis(100)).await;
    for _ in 0..10 {
        let answer = request_with(addr, "GET", "/healthz", &[], "").await;
        assert_eq!(answer.status, 503, "{answer:?}");
        assert_eq!(answer.header("retry-after"), Some("1"));
        assert_eq!(answer.json()["status"], 503);
    }
    drop(held);
    let started = Instant::now();
    while request(addr, "GET", "/healthz", "").await.0 != 200 {
        assert!(started.elapsed() < HANG_GUARD, "the cap never freed up");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Ten refusals above, and any of the polls made before the held
    // connections were seen closed.
    let metrics = request(addr, "GET", "/metrics", "").await.1;
    let refused: u64 = metric(&metrics, "webhook_connections_refused_total");
    assert!(refused >= 10, "{metrics}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_past_the_byte_budget_are_answered_503_until_processed() {
    let gate = Arc::new(Semaphore::new(0));
    let config = Config {
        max_buffered_bytes: 1000,
        ..Config::default()
    };
    let server = Server::start(gated_daemon(config, &gate)).await;
    let addr = server.addr;
    assert_eq!(
        request(addr, "PUT", "/instances/1?capacity=100", "")
            .await
            .0,
        201
    );
    let event = "x".repeat(25);
    let mut ids = Vec::new();
    for _ in 0..40 {
        let answer = request_with(addr, "POST", "/instances/1/events", &[], &event).await;
        assert_eq!(answer.status, 202, "{answer:?}");
        ids.push(answer.json()["event_id"].as_u64().expect("an event id"));
    }
    ids.dedup();
    assert_eq!(ids.len(), 40, "event ids are distinct");
    let answer = request_with(addr, "POST", "/instances/1/events", &[], &event).await;
    assert_eq!(
        answer.status, 503,
        "1,025 bytes of a 1,000-byte budget: {answer:?}"
    );
    assert_eq!(answer.header("retry-after"), Some("1"));
    assert!(answer.body.contains("budget"), "{answer:?}");

    gate.add_permits(40);
    let started = Instant::now();
    while request(addr, "POST", "/instances/1/events", &event).await.0 != 202 {
        assert!(started.elapsed() < HANG_GUARD, "the budget never freed up");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    gate.add_permits(1);
    let summary = server.shutdown().await;
    assert_eq!(summary.accepted, 41, "{summary}");
    assert!(summary.nothing_lost(), "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutating_routes_need_the_bearer_token_when_one_is_set() {
    let config = Config {
        auth_token: BearerToken::new("s3cret-token"),
        ..Config::default()
    };
    let server = Server::start(Daemon::new(config)).await;
    let addr = server.addr;
    let good = [("Authorization", "Bearer s3cret-token")];
    let bad = [("Authorization", "Bearer s3cret-tokem")];
    for (method, path) in [
        ("PUT", "/instances/1"),
        ("POST", "/instances/1/events"),
        ("DELETE", "/instances/1"),
    ] {
        for headers in [&[][..], &bad[..]] {
            let answer = request_with(addr, method, path, headers, "").await;
            assert_eq!(answer.status, 401, "{method} {path}: {answer:?}");
            assert_eq!(answer.header("www-authenticate"), Some("Bearer"));
            assert_eq!(answer.json()["status"], 401);
        }
    }
    assert_eq!(
        request(addr, "GET", "/instances/1", "").await.0,
        404,
        "never created"
    );
    assert_eq!(
        request_with(addr, "PUT", "/instances/1", &good, "")
            .await
            .status,
        201
    );
    assert_eq!(
        request(addr, "GET", "/instances/1", "").await.0,
        200,
        "reads stay open"
    );
    let post = request_with(addr, "POST", "/instances/1/events", &good, "e").await;
    assert_eq!(post.status, 202, "{post:?}");
    assert_eq!(
        request_with(addr, "DELETE", "/instances/1", &good, "")
            .await
            .status,
        204
    );
    let metrics = request(addr, "GET", "/metrics", "").await.1;
    assert_eq!(metric(&metrics, "webhook_unauthorized_total"), 6);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_turns_false_while_draining_and_health_stays_true() {
    let config = Config {
        shutdown_delay: Duration::from_millis(800),
        ..Config::default()
    };
    let server = Server::start(Daemon::new(config)).await;
    let addr = server.addr;
    let ready = request(addr, "GET", "/readyz", "").await;
    assert_eq!(ready.0, 200, "{ready:?}");
    assert_eq!(request(addr, "GET", "/healthz", "").await.0, 200);
    let Server { stop, served, .. } = server;
    let signalled = Instant::now();
    stop.send(()).unwrap();
    let started = Instant::now();
    loop {
        let (status, body) = request(addr, "GET", "/readyz", "").await;
        if status == 503 {
            assert!(body.contains("\"ready\":false"), "{body}");
            break;
        }
        assert!(started.elapsed() < HANG_GUARD, "/readyz stayed 200");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Still serving during the delay: new connections, and liveness.
    assert_eq!(request(addr, "GET", "/healthz", "").await.0, 200);
    tokio::time::timeout(HANG_GUARD, served)
        .await
        .expect("hang guard: shutdown")
        .unwrap()
        .unwrap();
    let took = signalled.elapsed();
    assert!(took >= Duration::from_millis(800), "{took:?}");
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the listener is closed after the delay"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_head_over_the_limit_is_answered_431_and_closed() {
    let config = Config {
        max_header_bytes: 16 * 1024,
        ..Config::default()
    };
    let server = Server::start(Daemon::new(config)).await;
    let big = "a".repeat(20 * 1024);
    let answer = request_with(server.addr, "GET", "/healthz", &[("X-Big", &big)], "").await;
    assert_eq!(answer.status, 431, "{answer:?}");
    let small = "a".repeat(4 * 1024);
    let answer = request_with(server.addr, "GET", "/healthz", &[("X-Small", &small)], "").await;
    assert_eq!(answer.status, 200, "{answer:?}");
    server.shutdown().await;
}
