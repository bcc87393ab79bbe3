//! A cluster on one machine: a loopback `nats-server` with JetStream,
//! daemons as child processes, and an audit of the events their handlers
//! ran. `--demo --cluster N` runs on it, and so do the cluster tests.
//!
//! Nothing here is needed to run cluster mode in production (point
//! `--nats` at your NATS deployment); it is what starts and watches the
//! pieces of a local cluster, and what tells, afterwards, whether every
//! event answered 202 was handled.
//!
//! * [`NatsServer`] starts Debian's (or any) `nats-server` binary on a free
//!   port of 127.0.0.1 with its JetStream storage in a temporary directory,
//!   and can kill and restart it on the same storage.
//! * [`DaemonProcess`] runs the daemon's binary, reads the address it
//!   serves on from its first log line, keeps draining its output (so that
//!   it never blocks on a full pipe), and signals it.
//! * [`Audit`] stores what replicas started with `--audit-subject` report
//!   (the event id of every event whose handler ran) in a JetStream stream
//!   of its own, so that no report is lost while the server restarts, and
//!   reads them back.

use std::collections::HashMap;
use std::io::{self, BufRead as _, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;

/// Where `nats-server` is: Debian's package path, or the first on `PATH`.
pub fn find_nats_server() -> Option<PathBuf> {
    let packaged = ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    packaged.or_else(|| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("nats-server"))
                .find(|p| p.is_file())
        })
    })
}

/// A free TCP port of 127.0.0.1 (free when this returns; the caller binds
/// it soon after).
pub fn free_port() -> io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// How long a started server has to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A `nats-server` with JetStream on 127.0.0.1, its storage in a directory
/// of its own. Killed, and its storage removed, when dropped.
#[derive(Debug)]
pub struct NatsServer {
    child: Child,
    binary: PathBuf,
    port: u16,
    dir: PathBuf,
    url: String,
}

impl NatsServer {
    /// Starts `binary` on a free port, storage under the temporary
    /// directory (named after `name` and this process); returns once it
    /// accepts connections.
    ///
    /// # Errors
    ///
    /// If it cannot be started or does not accept connections within 10 s.
    pub fn start(binary: &Path, name: &str) -> io::Result<NatsServer> {
        let port = free_port()?;
        let dir = std::env::temp_dir().join(format!("webhook-nats-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let child = Self::spawn(binary, port, &dir)?;
        Ok(NatsServer {
            child,
            binary: binary.to_path_buf(),
            port,
            dir,
            url: format!("nats://127.0.0.1:{port}"),
        })
    }

    fn spawn(binary: &Path, port: u16, dir: &Path) -> io::Result<Child> {
        let mut child = Command::new(binary)
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let started = Instant::now();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Some(status) = child.try_wait()? {
                return Err(io::Error::other(format!(
                    "nats-server exited at start ({status}); is port {port} taken?"
                )));
            }
            if started.elapsed() > START_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "nats-server did not accept connections within 10 s",
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(child)
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Kills the server (SIGKILL), waits `down_for`, and starts it again on
    /// the same port and storage: JetStream's file store survives a killed
    /// process.
    ///
    /// # Errors
    ///
    /// If it cannot be started again.
    pub fn restart(&mut self, down_for: Duration) -> io::Result<()> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(down_for);
        self.child = Self::spawn(&self.binary, self.port, &self.dir)?;
        Ok(())
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What a [`DaemonProcess`] printed, and how it ended.
#[derive(Debug)]
pub struct Exited {
    /// Its exit status.
    pub status: ExitStatus,
    /// Everything it wrote to standard output (the summary).
    pub stdout: String,
    /// Everything it wrote to standard error (the log).
    pub stderr: String,
}

/// The daemon's binary in a child process, serving on an address it chose.
/// Killed (SIGKILL) if dropped before [`DaemonProcess::wait`].
#[derive(Debug)]
pub struct DaemonProcess {
    child: Child,
    addr: SocketAddr,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl DaemonProcess {
    /// Runs `command` (which should serve on `--listen 127.0.0.1:0`) with
    /// its output piped, and returns once it logged the address it serves
    /// on (`... http://<addr> ...`, its first such line), within `within`.
    ///
    /// # Errors
    ///
    /// If it cannot be started, or exits or says nothing of an address in
    /// time (the error carries what it logged).
    pub fn spawn(mut command: Command, within: Duration) -> io::Result<DaemonProcess> {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            let sink = Arc::clone(&stdout);
            readers.push(std::thread::spawn(move || drain(out, &sink)));
        }
        if let Some(err) = child.stderr.take() {
            let sink = Arc::clone(&stderr);
            readers.push(std::thread::spawn(move || {
                let mut lines = BufReader::new(err);
                let mut line = Vec::new();
                let mut sent = false;
                loop {
                    line.clear();
                    match lines.read_until(b'\n', &mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                    // Logged before the address is announced: `log()`
                    // shows the line once `spawn` returned.
                    lock(&sink).extend_from_slice(&line);
                    if !sent && let Some(addr) = address_in(&String::from_utf8_lossy(&line)) {
                        let _ = addr_tx.send(addr);
                        sent = true;
                    }
                }
            }));
        }
        let mut process = DaemonProcess {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            stdout,
            stderr,
            readers,
        };
        match addr_rx.recv_timeout(within) {
            Ok(addr) => {
                process.addr = addr;
                Ok(process)
            }
            Err(_) => {
                let _ = process.child.kill();
                let _ = process.child.wait();
                Err(io::Error::other(format!(
                    "the daemon logged no address within {within:?}; its log:\n{}",
                    String::from_utf8_lossy(&lock(&process.stderr))
                )))
            }
        }
    }

    /// The address it serves on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Sends it the signal `name` (`TERM`, `INT`, `KILL`...) with `kill(1)`.
    ///
    /// # Errors
    ///
    /// If `kill` cannot be run or refuses.
    pub fn signal(&self, name: &str) -> io::Result<()> {
        let status = Command::new("kill")
            .args(["-s", name, &self.child.id().to_string()])
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!("kill -s {name}: {status}")))
        }
    }

    /// Kills it at once (SIGKILL): nothing is drained, nothing printed.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// What it has logged so far.
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&lock(&self.stderr)).into_owned()
    }

    /// Waits for it to exit (SIGKILL after `within`) and returns what it
    /// printed.
    ///
    /// # Errors
    ///
    /// If it had not exited within `within` (it is killed then), or cannot
    /// be waited for.
    pub fn wait(mut self, within: Duration) -> io::Result<Exited> {
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait()? {
                break status;
            }
            if started.elapsed() > within {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("the daemon did not exit within {within:?}"),
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        // The pipes close with the process: the readers end.
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        Ok(Exited {
            status,
            stdout: String::from_utf8_lossy(&lock(&self.stdout)).into_owned(),
            stderr: String::from_utf8_lossy(&lock(&self.stderr)).into_owned(),
        })
    }
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn lock(buffer: &Mutex<Vec<u8>>) -> std::sync::MutexGuard<'_, Vec<u8>> {
    buffer
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn drain(mut from: impl Read, into: &Mutex<Vec<u8>>) {
    let mut chunk = [0u8; 4096];
    while let Ok(n @ 1..) = from.read(&mut chunk) {
        lock(into).extend_from_slice(&chunk[..n]);
    }
}

/// The address in a log line such as `listening on http://127.0.0.1:41234 (...)`.
fn address_in(line: &str) -> Option<SocketAddr> {
    line.split("http://")
        .nth(1)?
        .split(|c: char| c.is_whitespace() || c == '/')
        .next()?
        .parse()
        .ok()
}

/// How often one event was handled, and when first (as JetStream stamped
/// the report, Unix nanoseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handling {
    /// Reports of this event: more than one means it was handled again.
    pub times: u32,
    /// When the first report was stored.
    pub first_unix_nanos: i128,
}

/// The reports of replicas run with `--audit-subject`, kept in a JetStream
/// stream of their own.
#[derive(Debug)]
pub struct Audit {
    js: async_nats::jetstream::Context,
    stream: String,
}

impl Audit {
    /// Connects to `url` and creates (or reuses) the file-backed stream
    /// `audit_<subject>` that stores every report published on `subject`.
    ///
    /// # Errors
    ///
    /// If the server cannot be reached or the stream created.
    pub async fn create(url: &str, subject: &str) -> io::Result<Audit> {
        use async_nats::jetstream::stream;
        let client = async_nats::connect(url).await.map_err(io::Error::other)?;
        let js = async_nats::jetstream::new(client);
        let name = format!("audit_{}", subject.replace(['.', '*', '>'], "_"));
        js.get_or_create_stream(stream::Config {
            name: name.clone(),
            subjects: vec![subject.to_string()],
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await
        .map_err(io::Error::other)?;
        Ok(Audit { js, stream: name })
    }

    /// Every report stored so far, by event id. `None` if the stream cannot
    /// be read now (the server is restarting, say): try again.
    pub async fn read(&self) -> Option<HashMap<u64, Handling>> {
        use async_nats::jetstream::consumer::pull;
        let stream = self.js.get_stream(&self.stream).await.ok()?;
        let total = stream.get_info().await.ok()?.state.messages;
        let mut handled = HashMap::new();
        if total == 0 {
            return Some(handled);
        }
        // A fresh ordered consumer each time: nothing depends on a
        // subscription surviving a restart.
        let mut reports = stream
            .create_consumer(pull::OrderedConfig::default())
            .await
            .ok()?
            .messages()
            .await
            .ok()?;
        for _ in 0..total {
            let report = tokio::time::timeout(Duration::from_secs(5), reports.next())
                .await
                .ok()??
                .ok()?;
            let at = report.info().ok()?.published.unix_timestamp_nanos();
            let Some(id) = std::str::from_utf8(&report.payload)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
            else {
                continue;
            };
            let entry = handled.entry(id).or_insert(Handling {
                times: 0,
                first_unix_nanos: at,
            });
            entry.times += 1;
            entry.first_unix_nanos = entry.first_unix_nanos.min(at);
        }
        Some(handled)
    }
}

/// Now, in Unix nanoseconds (the clock JetStream stamps messages with).
pub fn unix_nanos() -> i128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_is_read_from_the_listening_line() {
        let line = "2026-12-04T04:00:00Z  INFO webhook_daemon: listening on http://127.0.0.1:41234 (SIGINT or SIGTERM to stop)\n";
        assert_eq!(
            address_in(line),
            Some(SocketAddr::from(([127, 0, 0, 1], 41234)))
        );
        assert_eq!(
            address_in("see http://[::1]:80/metrics"),
            "[::1]:80".parse().ok()
        );
        assert_eq!(address_in("no address here"), None);
        assert_eq!(address_in("http://not-an-address"), None);
    }
}
