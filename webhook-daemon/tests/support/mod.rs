//! What the loopback tests without an HTTP client library share: one raw
//! HTTP/1.1 request per connection, and a daemon whose workers wait.

#![allow(dead_code)] // each test binary uses a part

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use webhook_daemon::{Config, Daemon, EventHandler};

/// A daemon whose workers wait for a permit of `gate` before each event:
/// events stay buffered until the test opens it.
pub fn gated_daemon(config: Config, gate: &Arc<Semaphore>) -> Daemon {
    let gate = Arc::clone(gate);
    let handler: EventHandler = Arc::new(move |_, _| {
        let gate = Arc::clone(&gate);
        Box::pin(async move {
            if let Ok(permit) = gate.acquire().await {
                permit.forget();
            }
        })
    });
    Daemon::with_handler(config, handler)
}

/// An answer: status, head (status line and headers) and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Answer {
    /// The value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }
}

/// One request on a fresh connection (`Connection: close`): the status and
/// the body.
pub async fn request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, String) {
    let answer = request_with(addr, method, path, &[], body).await;
    (answer.status, answer.body)
}

/// One request with extra `headers` on a fresh connection.
pub async fn request_with(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    try_request_with(addr, method, path, headers, body)
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// [`request_with`], with an error instead of a panic if the connection
/// fails or closes without an answer.
pub async fn try_request_with(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<Answer> {
    let mut stream = TcpStream::connect(addr).await?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head.push_str(body);
    stream.write_all(head.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status in {response:?}")))?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    Ok(Answer {
        status,
        head: head.to_string(),
        body: body.to_string(),
    })
}
