//! A slowloris attack on a running daemon, with a normal client beside it:
//! what the normal client sees while the attack holds connections.
//!
//! ```sh
//! target/release/webhook-daemon --listen 127.0.0.1:8080 &
//! cargo run --release -p webhook-daemon --example slowloris -- 127.0.0.1:8080 2000 30
//! ```
//!
//! Arguments: address, attacking connections (default 2,000), seconds
//! (default 30). Each attacker sends one byte of a never-ending request head
//! per second and reconnects when the daemon closes it. The normal client
//! sends `GET /healthz` on a fresh connection every 10 ms. Printed: the
//! attackers' connections the daemon closed, and the normal client's
//! answers by status and its latency.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One request on a fresh connection: the status, or 0 if none came.
async fn probe(addr: SocketAddr) -> u16 {
    let Ok(mut stream) = TcpStream::connect(addr).await else {
        return 0;
    };
    let head = b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    if stream.write_all(head).await.is_err() {
        return 0;
    }
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    std::str::from_utf8(&response)
        .ok()
        .and_then(|r| r.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Trickles a request head, one byte a second, until `until`; counts the
/// connections the daemon closed.
async fn attacker(addr: SocketAddr, until: Instant, closed: Arc<AtomicU64>) {
    while Instant::now() < until {
        let Ok(mut stream) = TcpStream::connect(addr).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let head = b"GET /instances HTTP/1.1\r\nHost: t\r\nX-Slow: ";
        let mut sink = [0u8; 512];
        for &byte in head.iter().chain(std::iter::repeat(&b'a')) {
            if Instant::now() >= until {
                return;
            }
            if stream.write_all(&[byte]).await.is_err() {
                break;
            }
            // A read that ends (EOF, an error, or a 503 then EOF) is the
            // daemon closing the connection.
            match tokio::time::timeout(Duration::from_secs(1), stream.read(&mut sink)).await {
                Err(_elapsed) => {}
                Ok(_) => break,
            }
        }
        closed.fetch_add(1, Relaxed);
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| "127.0.0.1:8080".parse().unwrap());
    let attackers: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2000);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(30);
    let until = Instant::now() + Duration::from_secs(seconds);
    let closed = Arc::new(AtomicU64::new(0));
    for _ in 0..attackers {
        tokio::spawn(attacker(addr, until, Arc::clone(&closed)));
    }
    let mut latencies = Vec::new();
    let mut statuses = std::collections::BTreeMap::new();
    while Instant::now() < until {
        let started = Instant::now();
        let status = probe(addr).await;
        latencies.push(started.elapsed());
        *statuses.entry(status).or_insert(0u64) += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    println!(
        "{attackers} slowloris connections for {seconds} s: the daemon closed {} of their connections",
        closed.load(Relaxed)
    );
    println!(
        "normal client: {} requests, by status {statuses:?} (0: no answer)",
        latencies.len()
    );
    println!(
        "normal client latency: p50 {:?}  p99 {:?}  max {:?}",
        at(0.5),
        at(0.99),
        at(1.0)
    );
}
