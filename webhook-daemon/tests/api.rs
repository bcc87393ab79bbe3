//! The daemon on loopback, every endpoint, through real HTTP.
//!
//! No assertion depends on timing: where a test needs events to stay in a
//! mailbox, the workers run a handler that blocks on a semaphore the test
//! opens (a "gate"), and where it needs a send to be waiting, it polls the
//! `webhook_sends_waiting` gauge. Timeouts are hang guards only.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderMap;
use hyper::{Method, Request};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinHandle;
use webhook_daemon::{Config, Daemon, EventHandler, Summary};

/// Generous: only there so that a bug hangs no CI run.
const HANG_GUARD: Duration = Duration::from_secs(60);

async fn guard<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(HANG_GUARD, fut).await {
        Ok(out) => out,
        Err(_) => panic!("hang guard: {what} did not finish in {HANG_GUARD:?}"),
    }
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: HeaderMap,
    body: Bytes,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    /// A JSON error answer with this status.
    fn assert_error(&self, status: u16) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(
            self.headers
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/json"),
            "{self:?}"
        );
        let json = self.json();
        assert_eq!(json["status"], status, "{json}");
        assert!(
            json["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{json}"
        );
    }
}

struct Server {
    addr: SocketAddr,
    client: HttpClient,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<Summary>>,
}

impl Server {
    async fn start(config: Config) -> Server {
        Server::with_daemon(Daemon::new(config)).await
    }

    async fn with_daemon(daemon: Daemon) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            daemon
                .serve(listener, async move {
                    let _ = stopped.await;
                })
                .await
        });
        let client = Client::builder(TokioExecutor::new()).build_http();
        Server {
            addr,
            client,
            stop: Some(stop),
            task,
        }
    }

    async fn req(&self, method: &str, path: &str, body: impl Into<Bytes>) -> Resp {
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        send(&self.client, self.addr, method, path, body.into()).await
    }

    /// Lines of `/metrics` that start with `name`.
    async fn metric(&self, name: &str) -> String {
        let resp = self.req("GET", "/metrics", "").await;
        assert_eq!(resp.status, 200);
        let text = String::from_utf8(resp.body.to_vec()).expect("utf-8");
        text.lines()
            .filter(|l| l.starts_with(name))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Sends the shutdown signal; the server task goes on draining.
    fn signal_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    async fn shutdown(mut self) -> Summary {
        self.signal_shutdown();
        drop(self.client);
        guard("graceful shutdown", self.task)
            .await
            .expect("server task")
            .expect("server")
    }
}

async fn send(
    client: &HttpClient,
    addr: SocketAddr,
    method: Method,
    path: &str,
    body: Bytes,
) -> Resp {
    let request = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .body(Full::new(body))
        .expect("request");
    guard("request", async {
        let response = client.request(request).await.expect("response");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        Resp {
            status,
            headers,
            body,
        }
    })
    .await
}

fn no_work() -> Config {
    Config {
        work: Duration::ZERO,
        ..Config::default()
    }
}

/// A handler that finishes an event only when the test adds a permit.
struct Gate {
    permits: Semaphore,
    /// Events a worker has taken out of its mailbox (and is blocked on).
    entered: AtomicU64,
    /// Events finished.
    done: AtomicU64,
}

impl Gate {
    fn open(&self) {
        self.permits.add_permits(1 << 20);
    }
}

fn gated() -> (EventHandler, Arc<Gate>) {
    let gate = Arc::new(Gate {
        permits: Semaphore::new(0),
        entered: AtomicU64::new(0),
        done: AtomicU64::new(0),
    });
    let g = Arc::clone(&gate);
    let handler: EventHandler = Arc::new(move |_id, _event| {
        let g = Arc::clone(&g);
        Box::pin(async move {
            g.entered.fetch_add(1, Relaxed);
            if let Ok(permit) = g.permits.acquire().await {
                permit.forget();
            }
            g.done.fetch_add(1, Relaxed);
        })
    });
    (handler, gate)
}

/// Fills the mailbox of `id`, whose worker is idle behind a shut gate:
/// one event for the worker to take and block on, then `capacity` more,
/// then a 429. Returns the 202s: always `capacity + 1`.
async fn fill(server: &Server, gate: &Gate, id: u64, capacity: u64) -> u64 {
    let path = format!("/instances/{id}/events");
    let before = gate.entered.load(Relaxed);
    assert_eq!(server.req("POST", &path, "first").await.status, 202);
    guard("the worker to take its first event", async {
        while gate.entered.load(Relaxed) == before {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    for n in 0..capacity {
        let resp = server.req("POST", &path, format!("e{n}")).await;
        assert_eq!(resp.status, 202, "{resp:?}");
    }
    let resp = server.req("POST", &path, "one too many").await;
    resp.assert_error(429);
    assert_eq!(
        resp.headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    capacity + 1
}

/// Polls until `/metrics` shows `webhook_sends_waiting want`.
async fn until_waiting(server: &Server, want: u64) {
    guard("a send to start waiting", async {
        loop {
            if server.metric("webhook_sends_waiting ").await
                == format!("webhook_sends_waiting {want}")
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_creates_then_replaces_and_get_reports() {
    let server = Server::start(no_work()).await;

    let created = server.req("PUT", "/instances/42?capacity=3", "").await;
    assert_eq!(created.status, 201, "{created:?}");
    let c = created.json();
    assert_eq!(c["id"], 42);
    assert_eq!(c["capacity"], 3);
    assert_eq!(c["created"], true);

    let replaced = server.req("PUT", "/instances/42", "").await;
    assert_eq!(replaced.status, 200, "{replaced:?}");
    let r = replaced.json();
    assert_eq!(r["created"], false);
    assert_eq!(r["capacity"], 5, "default capacity");
    assert!(r["generation"].as_u64() > c["generation"].as_u64());

    let info = server.req("GET", "/instances/42", "").await;
    assert_eq!(info.status, 200);
    let i = info.json();
    assert_eq!(i["id"], 42);
    assert_eq!(i["generation"], r["generation"], "GET reports the newest");
    assert_eq!(i["capacity"], 5);
    assert_eq!(i["depth"], 0);
    assert_eq!(i["processed"], 0);

    let summary = server.shutdown().await;
    assert_eq!((summary.created, summary.replaced), (1, 1));
    assert_eq!(summary.closed_at_shutdown, 1);
}

/// Racing PUTs of one id: a GET after a client's PUT was answered never
/// reports a generation that was replaced before that PUT's (the counters
/// are the registry's own state: no second map to lag behind), never 503,
/// and exactly one PUT in the race created the id.
///
/// Generation numbers are drawn before the registry orders the racing
/// `PUT`s, so "older" is not numeric order: the order is the chain each
/// `PUT` reports with `replaced_generation`, which the test rebuilds and
/// checks is one line through all 200 generations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_after_put_never_sees_an_older_generation() {
    let server = Arc::new(Server::start(no_work()).await);
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let server = Arc::clone(&server);
            tokio::spawn(async move {
                // (generation, replaced_generation, generation a GET saw next)
                let mut seen = Vec::new();
                for _ in 0..50 {
                    let put = server.req("PUT", "/instances/77?capacity=2", "").await;
                    assert!(matches!(put.status, 200 | 201), "{put:?}");
                    let put = put.json();
                    assert_eq!(put["created"], put["replaced_generation"].is_null());
                    let get = server.req("GET", "/instances/77", "").await;
                    assert_eq!(get.status, 200, "{get:?}");
                    seen.push((
                        put["generation"].as_u64().unwrap(),
                        put["replaced_generation"].as_u64(),
                        get.json()["generation"].as_u64().unwrap(),
                    ));
                }
                seen
            })
        })
        .collect();
    let mut puts = Vec::new();
    for client in clients {
        puts.extend(guard("a PUT/GET client", client).await.unwrap());
    }
    // Rebuild the order of the generations: each PUT replaced the one before.
    let mut next = HashMap::new();
    let mut first = Vec::new();
    for &(generation, replaced, _) in &puts {
        match replaced {
            None => first.push(generation),
            Some(old) => assert!(
                next.insert(old, generation).is_none(),
                "generation {old} was replaced twice"
            ),
        }
    }
    assert_eq!(
        first.len(),
        1,
        "one PUT created the id, the others replaced it"
    );
    let mut position = HashMap::new();
    let mut at = Some(first[0]);
    while let Some(generation) = at {
        assert!(position.insert(generation, position.len()).is_none());
        at = next.get(&generation).copied();
    }
    assert_eq!(
        position.len(),
        puts.len(),
        "the replacements form one chain"
    );
    for &(mine, _, seen) in &puts {
        assert!(
            position[&seen] >= position[&mine],
            "GET saw generation {seen}, replaced before the PUT of {mine} answered"
        );
    }
    let server = Arc::into_inner(server).expect("clients done");
    let summary = server.shutdown().await;
    assert_eq!((summary.created, summary.replaced), (1, 199));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_accepted_and_processed() {
    let server = Server::start(no_work()).await;
    assert_eq!(server.req("PUT", "/instances/1", "").await.status, 201);
    for n in 0..3 {
        let resp = server
            .req("POST", "/instances/1/events", format!("event {n}"))
            .await;
        assert_eq!(resp.status, 202, "{resp:?}");
    }
    guard("three events processed", async {
        loop {
            let i = server.req("GET", "/instances/1", "").await.json();
            if i["processed"] == 3 {
                assert_eq!(i["depth"], 0);
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert_eq!(
        server
            .metric("webhook_sends_total{outcome=\"accepted\"}")
            .await,
        "webhook_sends_total{outcome=\"accepted\"} 3"
    );
    let summary = server.shutdown().await;
    assert_eq!((summary.accepted, summary.processed), (3, 3));
    assert!(summary.nothing_lost());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ids_are_404_and_delete_is_204_once() {
    let server = Server::start(no_work()).await;
    server
        .req("DELETE", "/instances/5", "")
        .await
        .assert_error(404);
    server
        .req("POST", "/instances/5/events", "x")
        .await
        .assert_error(404);
    server
        .req("GET", "/instances/5", "")
        .await
        .assert_error(404);

    assert_eq!(server.req("PUT", "/instances/5", "").await.status, 201);
    let deleted = server.req("DELETE", "/instances/5", "").await;
    assert_eq!(deleted.status, 204);
    assert!(deleted.body.is_empty());
    server
        .req("DELETE", "/instances/5", "")
        .await
        .assert_error(404);
    server
        .req("GET", "/instances/5", "")
        .await
        .assert_error(404);
    server
        .req("POST", "/instances/5/events", "x")
        .await
        .assert_error(404);

    let summary = server.shutdown().await;
    assert_eq!((summary.created, summary.deleted), (1, 1));
    assert_eq!(summary.not_found, 2);
    assert_eq!(summary.closed_at_shutdown, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_mailbox_is_429_with_retry_after_and_wait_mode_times_out() {
    let (handler, gate) = gated();
    let server = Server::with_daemon(Daemon::with_handler(no_work(), handler)).await;
    assert_eq!(
        server
            .req("PUT", "/instances/3?capacity=2", "")
            .await
            .status,
        201
    );
    let accepted = fill(&server, &gate, 3, 2).await;

    // Still full (the gate is shut), so a short wait ends in 429 too.
    let waited = server
        .req("POST", "/instances/3/events?wait_ms=30", "late")
        .await;
    waited.assert_error(429);
    assert!(waited.headers.contains_key("retry-after"));
    assert_eq!(
        server
            .metric("webhook_sends_total{outcome=\"timeout\"}")
            .await,
        "webhook_sends_total{outcome=\"timeout\"} 1"
    );

    gate.open();
    let summary = server.shutdown().await;
    assert_eq!(summary.accepted, accepted);
    assert_eq!(summary.processed, accepted);
    assert_eq!(gate.done.load(Relaxed), accepted);
    assert_eq!(summary.rejected_full, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_send_is_accepted_when_space_frees() {
    let (handler, gate) = gated();
    let server = Server::with_daemon(Daemon::with_handler(no_work(), handler)).await;
    assert_eq!(
        server
            .req("PUT", "/instances/4?capacity=1", "")
            .await
            .status,
        201
    );
    let accepted = fill(&server, &gate, 4, 1).await;

    let (client, addr) = (server.client.clone(), server.addr);
    let waiting = tokio::spawn(async move {
        let body = Bytes::from_static(b"patient");
        send(
            &client,
            addr,
            Method::POST,
            "/instances/4/events?wait_ms=10000",
            body,
        )
        .await
    });
    until_waiting(&server, 1).await;
    gate.permits.add_permits(1); // the worker finishes one event and takes the next
    let resp = guard("the waiting post", waiting).await.expect("task");
    assert_eq!(resp.status, 202, "{resp:?}");
    until_waiting(&server, 0).await;

    gate.open();
    let summary = server.shutdown().await;
    assert_eq!(summary.accepted, accepted + 1);
    assert_eq!(summary.processed, accepted + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_while_a_send_waits_is_410() {
    let (handler, gate) = gated();
    let server = Server::with_daemon(Daemon::with_handler(no_work(), handler)).await;
    assert_eq!(
        server
            .req("PUT", "/instances/6?capacity=1", "")
            .await
            .status,
        201
    );
    let accepted = fill(&server, &gate, 6, 1).await;

    let (client, addr) = (server.client.clone(), server.addr);
    let waiting = tokio::spawn(async move {
        let body = Bytes::from_static(b"doomed");
        send(
            &client,
            addr,
            Method::POST,
            "/instances/6/events?wait_ms=10000",
            body,
        )
        .await
    });
    until_waiting(&server, 1).await;
    assert_eq!(server.req("DELETE", "/instances/6", "").await.status, 204);
    let resp = guard("the waiting post", waiting).await.expect("task");
    resp.assert_error(410);

    // The deleted instance's worker still drains what it had accepted.
    gate.open();
    let summary = server.shutdown().await;
    assert_eq!(summary.gone, 1);
    assert_eq!(summary.accepted, accepted);
    assert_eq!(summary.processed, accepted);
    assert_eq!(summary.instances_left, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replace_while_a_send_waits_moves_it_to_the_new_instance() {
    let (handler, gate) = gated();
    let server = Server::with_daemon(Daemon::with_handler(no_work(), handler)).await;
    assert_eq!(
        server
            .req("PUT", "/instances/8?capacity=1", "")
            .await
            .status,
        201
    );
    let accepted = fill(&server, &gate, 8, 1).await;

    let (client, addr) = (server.client.clone(), server.addr);
    let waiting = tokio::spawn(async move {
        let body = Bytes::from_static(b"follows");
        send(
            &client,
            addr,
            Method::POST,
            "/instances/8/events?wait_ms=10000",
            body,
        )
        .await
    });
    until_waiting(&server, 1).await;
    let replaced = server.req("PUT", "/instances/8?capacity=4", "").await;
    assert_eq!(replaced.status, 200);
    let resp = guard("the waiting post", waiting).await.expect("task");
    assert_eq!(resp.status, 202, "{resp:?}");

    // It went into the new channel: the new instance holds one event
    // (buffered, or taken by its blocked worker), the old one is draining.
    let info = server.req("GET", "/instances/8", "").await.json();
    assert_eq!(info["generation"], replaced.json()["generation"]);
    assert_eq!(info["capacity"], 4);
    assert_eq!(info["processed"], 0);
    assert!(info["depth"].as_u64() <= Some(1), "{info}");

    gate.open();
    let summary = server.shutdown().await;
    assert_eq!(summary.accepted, accepted + 1);
    assert_eq!(summary.processed, accepted + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_json_4xx() {
    let config = Config {
        max_body_bytes: 1024,
        ..no_work()
    };
    let server = Server::start(config).await;
    assert_eq!(server.req("PUT", "/instances/1", "").await.status, 201);

    for path in [
        "/instances/abc",
        "/instances/-1",
        "/instances/18446744073709551616",
        "/instances/1.5",
        "/instances/%FF%FE",
        "/instances/+1",
        "/instances/%201",
        "/instances/0x10",
        "/instances/%00",
    ] {
        server.req("PUT", path, "").await.assert_error(400);
        server.req("GET", path, "").await.assert_error(400);
        server.req("DELETE", path, "").await.assert_error(400);
        server
            .req("POST", &format!("{path}/events"), "x")
            .await
            .assert_error(400);
    }
    // The largest id is fine.
    assert_eq!(
        server
            .req("PUT", "/instances/18446744073709551615", "")
            .await
            .status,
        201
    );

    for bad in [
        "/instances/1?capacity=0",
        "/instances/1?capacity=-3",
        "/instances/1?capacity=many",
        "/instances/1?capacity=99999999999",
        "/instances/1?capacity=4097",
    ] {
        server.req("PUT", bad, "").await.assert_error(400);
    }
    for bad in [
        "/instances?limit=0",
        "/instances?limit=100000",
        "/instances?from=x",
        "/instances?from=9&to=3",
    ] {
        server.req("GET", bad, "").await.assert_error(400);
    }
    for bad in [
        "/instances/1/events?wait_ms=abc",
        "/instances/1/events?wait_ms=99999999",
    ] {
        server.req("POST", bad, "x").await.assert_error(400);
    }

    // Oversized body: with Content-Length (Full sets it) ...
    server
        .req("POST", "/instances/1/events", vec![b'x'; 1025])
        .await
        .assert_error(413);
    // ... and exactly at the cap it is accepted.
    assert_eq!(
        server
            .req("POST", "/instances/1/events", vec![b'x'; 1024])
            .await
            .status,
        202
    );
    // ... and chunked, with no length up front.
    let chunked = raw_request(
        server.addr,
        &format!(
            "POST /instances/1/events HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n{:x}\r\n{}\r\n0\r\n\r\n",
            2000,
            "y".repeat(2000)
        ),
    )
    .await;
    assert!(chunked.starts_with("HTTP/1.1 413"), "{chunked}");
    assert!(chunked.contains("\"status\":413"), "{chunked}");

    // Wrong methods: 405, JSON, with Allow.
    for (method, path) in [
        ("PATCH", "/instances/1"),
        ("POST", "/instances/1"),
        ("GET", "/instances/1/events"),
        ("DELETE", "/instances"),
        ("POST", "/metrics"),
    ] {
        let resp = server.req(method, path, "").await;
        resp.assert_error(405);
        assert!(resp.headers.contains_key("allow"), "{resp:?}");
    }
    // Unknown routes.
    for path in [
        "/",
        "/instance/1",
        "/instances/1/events/2",
        "/instances/1/x",
    ] {
        server.req("GET", path, "").await.assert_error(404);
    }
    // Garbage that is not HTTP gets hyper's 400 and the server lives on.
    let garbage = raw_request(server.addr, "\x16\x03\x01 not http at all\r\n\r\n").await;
    assert!(
        garbage.is_empty() || garbage.starts_with("HTTP/1.1 400"),
        "{garbage}"
    );

    let summary = server.shutdown().await;
    assert_eq!((summary.accepted, summary.processed), (1, 1));
    assert!(summary.nothing_lost());
}

/// Writes `raw` on a fresh connection and reads until the server closes it.
async fn raw_request(addr: SocketAddr, raw: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    guard("raw request", async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream.write_all(raw.as_bytes()).await.expect("write");
        let mut out = Vec::new();
        // The server may reset the connection after answering; keep what came.
        let _ = stream.read_to_end(&mut out).await;
        String::from_utf8_lossy(&out).into_owned()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_instance_limit_refuses_new_ids_only() {
    let config = Config {
        max_instances: 2,
        ..no_work()
    };
    let server = Server::start(config).await;
    assert_eq!(server.req("PUT", "/instances/1", "").await.status, 201);
    assert_eq!(server.req("PUT", "/instances/2", "").await.status, 201);
    server
        .req("PUT", "/instances/3", "")
        .await
        .assert_error(503);
    assert_eq!(server.req("PUT", "/instances/1", "").await.status, 200);
    assert_eq!(server.req("DELETE", "/instances/2", "").await.status, 204);
    assert_eq!(server.req("PUT", "/instances/3", "").await.status, 201);
    let summary = server.shutdown().await;
    assert_eq!((summary.created, summary.replaced), (2 + 1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_is_ordered_and_paginated_by_id_range() {
    let server = Server::start(no_work()).await;
    for id in [100, 5, 1, 9, 3, 7] {
        assert_eq!(
            server
                .req("PUT", &format!("/instances/{id}"), "")
                .await
                .status,
            201
        );
    }
    let page = |q: &'static str| {
        let server = &server;
        async move {
            server
                .req("GET", &format!("/instances{q}"), "")
                .await
                .json()
        }
    };
    let all = page("").await;
    assert_eq!(all["ids"], serde_json::json!([1, 3, 5, 7, 9, 100]));
    assert_eq!(all["next"], Value::Null);

    let p1 = page("?limit=2").await;
    assert_eq!(p1["ids"], serde_json::json!([1, 3]));
    assert_eq!(p1["next"], 5);
    let p2 = page("?limit=2&from=5").await;
    assert_eq!(p2["ids"], serde_json::json!([5, 7]));
    assert_eq!(p2["next"], 9);
    let p3 = page("?limit=2&from=9").await;
    assert_eq!(p3["ids"], serde_json::json!([9, 100]));
    assert_eq!(p3["next"], Value::Null);

    assert_eq!(
        page("?from=2&to=8").await["ids"],
        serde_json::json!([3, 5, 7])
    );
    assert_eq!(page("?from=101").await["ids"], serde_json::json!([]));

    assert_eq!(server.req("DELETE", "/instances/5", "").await.status, 204);
    assert_eq!(page("?from=2&to=8").await["ids"], serde_json::json!([3, 7]));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_prometheus_text() {
    let server = Server::start(no_work()).await;
    assert_eq!(server.req("PUT", "/instances/1", "").await.status, 201);
    assert_eq!(server.req("PUT", "/instances/2", "").await.status, 201);
    assert_eq!(
        server.req("POST", "/instances/1/events", "a").await.status,
        202
    );
    server
        .req("POST", "/instances/9/events", "a")
        .await
        .assert_error(404);

    let resp = server.req("GET", "/metrics", "").await;
    assert_eq!(resp.status, 200);
    assert!(
        resp.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/plain; version=0.0.4"))
    );
    let text = String::from_utf8(resp.body.to_vec()).expect("utf-8");
    for line in [
        "webhook_instances 2",
        "webhook_instances_created_total 2",
        "webhook_sends_total{outcome=\"accepted\"} 1",
        "webhook_sends_total{outcome=\"no_such_id\"} 1",
        "webhook_http_responses_total{code=\"201\"} 2",
        "webhook_http_responses_total{code=\"404\"} 1",
        "webhook_request_duration_seconds_count{method=\"PUT\",route=\"/instances/{id}\"} 2",
        "webhook_request_duration_seconds_bucket{method=\"POST\",route=\"/instances/{id}/events\",le=\"+Inf\"} 2",
        "# TYPE webhook_request_duration_seconds histogram",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    // Every sample line is `name{labels} number`.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let value = line.rsplit(' ').next().unwrap_or("");
        assert!(value.parse::<f64>().is_ok(), "bad sample line {line:?}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replacing_and_deleting_under_load_loses_nothing() {
    let server = Arc::new(Server::start(no_work()).await);
    const IDS: u64 = 8;
    for id in 0..IDS {
        assert_eq!(
            server
                .req("PUT", &format!("/instances/{id}?capacity=4"), "")
                .await
                .status,
            201
        );
    }
    let mut posters = Vec::new();
    for p in 0..6u64 {
        let server = Arc::clone(&server);
        posters.push(tokio::spawn(async move {
            let mut accepted = 0u64;
            for n in 0..300u64 {
                let id = (n * 7 + p) % IDS;
                let path = if n % 5 == 0 {
                    format!("/instances/{id}/events?wait_ms=20")
                } else {
                    format!("/instances/{id}/events")
                };
                let resp = server.req("POST", &path, format!("{p}:{n}")).await;
                match resp.status {
                    202 => accepted += 1,
                    404 | 410 | 429 => resp.assert_error(resp.status),
                    _ => panic!("post: {resp:?}"),
                }
            }
            accepted
        }));
    }
    let mut churners = Vec::new();
    for c in 0..2u64 {
        let server = Arc::clone(&server);
        churners.push(tokio::spawn(async move {
            // (201s, 200s, 204s) this churner saw.
            let mut seen = (0u64, 0u64, 0u64);
            for n in 0..150u64 {
                let id = (n * 3 + c) % IDS;
                let (method, path) = match n % 3 {
                    0 => ("DELETE", format!("/instances/{id}")),
                    1 => ("PUT", format!("/instances/{id}?capacity=4")),
                    _ => ("GET", format!("/instances/{id}")),
                };
                let resp = server.req(method, &path, "").await;
                match (method, resp.status) {
                    ("PUT", 201) => seen.0 += 1,
                    ("PUT", 200) => seen.1 += 1,
                    ("DELETE", 204) => seen.2 += 1,
                    ("DELETE" | "GET", 404) => resp.assert_error(404),
                    ("GET", 200) => {
                        let info = resp.json();
                        assert_eq!(info["id"], id, "{info}");
                        assert_eq!(info["capacity"], 4, "{info}");
                    }
                    _ => panic!("churn {method} {path}: {resp:?}"),
                }
            }
            seen
        }));
    }
    let mut client_accepted = 0;
    for p in posters {
        client_accepted += guard("poster", p).await.expect("poster task");
    }
    let (mut created, mut replaced, mut deleted) = (IDS, 0, 0);
    for c in churners {
        let seen = guard("churner", c).await.expect("churner task");
        created += seen.0;
        replaced += seen.1;
        deleted += seen.2;
    }
    let server = Arc::into_inner(server).expect("all tasks done");
    let summary = server.shutdown().await;
    assert!(client_accepted > 0);
    assert_eq!(summary.accepted, client_accepted);
    assert_eq!(summary.processed, client_accepted);
    assert_eq!(summary.instances_left, 0);
    assert_eq!(
        (summary.created, summary.replaced, summary.deleted),
        (created, replaced, deleted)
    );
    // The churn did churn: each churner's first request deletes an id
    // created above.
    assert!(deleted > 0, "{summary:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_stops_accepting_and_drains_buffered_events() {
    let (handler, gate) = gated();
    let mut server = Server::with_daemon(Daemon::with_handler(no_work(), handler)).await;
    assert_eq!(server.req("PUT", "/instances/11", "").await.status, 201);
    assert_eq!(server.req("PUT", "/instances/12", "").await.status, 201);
    let accepted = fill(&server, &gate, 11, 5).await;
    assert_eq!(
        server
            .req("POST", "/instances/12/events", "one")
            .await
            .status,
        202
    );
    // The blocked worker holds one event; the rest are buffered.
    let info = server.req("GET", "/instances/11", "").await.json();
    assert_eq!(info["depth"], 5, "{info}");
    assert_eq!(info["processed"], 0, "{info}");

    server.signal_shutdown();
    // The listener closes: new connections are refused.
    let addr = server.addr;
    guard("the listener to close", async {
        while tokio::net::TcpStream::connect(addr).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    // The workers cannot finish while the gate is shut, so neither can the
    // shutdown: it waits for them.
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(
        !server.task.is_finished(),
        "shutdown did not wait for the workers"
    );
    assert_eq!(gate.done.load(Relaxed), 0);

    gate.open();
    let summary = server.shutdown().await;
    assert_eq!(summary.accepted, accepted + 1);
    assert_eq!(summary.processed, accepted + 1);
    assert_eq!(gate.done.load(Relaxed), accepted + 1);
    // 5 in instance 11's mailbox; instance 12's one event is buffered or held.
    assert!(
        (5..=6).contains(&summary.buffered_at_shutdown),
        "{summary:?}"
    );
    assert_eq!(summary.closed_at_shutdown, 2);
    assert!(summary.nothing_lost());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_costs_its_event_not_the_instance() {
    // The panic message below is printed by the panic hook: expected.
    let handler: EventHandler = Arc::new(|_id, event| {
        Box::pin(async move {
            assert!(
                &event[..] != b"boom",
                "deliberate test panic in an event handler"
            );
        })
    });
    let server = Server::with_daemon(Daemon::with_handler(no_work(), handler)).await;
    assert_eq!(server.req("PUT", "/instances/1", "").await.status, 201);
    for body in ["boom", "ok", "ok"] {
        assert_eq!(
            server.req("POST", "/instances/1/events", body).await.status,
            202
        );
    }
    // The worker survives the panic and processes what follows, in order.
    guard("the events after the panic", async {
        loop {
            let i = server.req("GET", "/instances/1", "").await.json();
            if i["processed"] == 2 {
                assert_eq!(i["failed"], 1, "{i}");
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert_eq!(
        server.metric("webhook_events_failed_total ").await,
        "webhook_events_failed_total 1"
    );
    let summary = server.shutdown().await;
    assert_eq!(
        (summary.accepted, summary.processed, summary.failed),
        (3, 2, 1)
    );
    assert_eq!(summary.closed, 0);
    assert!(summary.nothing_lost(), "every event reached the handler");
}
