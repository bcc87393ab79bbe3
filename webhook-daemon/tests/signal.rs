//! The binary: SIGTERM and SIGINT shut it down gracefully, draining what
//! was accepted, and it prints its summary.
#![cfg(unix)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Generous: only there so that a bug hangs no CI run.
const HANG_GUARD: Duration = Duration::from_secs(60);

/// One request on its own connection; returns the status code.
fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> u16 {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(HANG_GUARD)).expect("timeout");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: test\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"))
}

struct Daemon {
    child: Child,
    addr: SocketAddr,
    /// Kept open: the daemon logs its shutdown there.
    stderr: BufReader<std::process::ChildStderr>,
}

impl Daemon {
    /// Starts the binary on an ephemeral port; the address is read from the
    /// line it prints.
    fn start(work_ms: u32, extra: &[&str]) -> Daemon {
        let mut child = Command::new(env!("CARGO_BIN_EXE_webhook-daemon"))
            .args(["--listen", "127.0.0.1:0", "--work-ms", &work_ms.to_string()])
            .args(extra)
            // The environment must not change the flags' defaults here.
            .env_remove("WEBHOOK_LOG_FORMAT")
            .env_remove("WEBHOOK_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the daemon");
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
        let mut line = String::new();
        stderr.read_line(&mut line).expect("read stderr");
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        Daemon {
            child,
            addr,
            stderr,
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Waits for the exit; returns (success, stdout, the rest of stderr).
    fn wait(mut self) -> (bool, String, String) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                let mut out = String::new();
                if let Some(mut stdout) = self.child.stdout.take() {
                    stdout.read_to_string(&mut out).expect("stdout");
                }
                let mut log = String::new();
                self.stderr.read_to_string(&mut log).expect("stderr");
                return (status.success(), out, log);
            }
            if started.elapsed() > HANG_GUARD {
                let _ = self.child.kill();
                panic!("hang guard: the daemon did not exit after the signal");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn shuts_down_on(signal: &str) {
    // 50 ms per event: the events are still buffered when the signal comes
    // (the summary says how many), and are processed before the exit either way.
    let daemon = Daemon::start(50, &[]);
    assert_eq!(request(daemon.addr, "PUT", "/instances/1", ""), 201);
    let mut accepted = 0;
    for n in 0..5 {
        match request(daemon.addr, "POST", "/instances/1/events", &format!("e{n}")) {
            202 => accepted += 1,
            429 => {}
            other => panic!("post: {other}"),
        }
    }
    assert!(
        accepted >= 4,
        "a mailbox of 5 refused {} of 5",
        5 - accepted
    );
    daemon.signal(signal);
    let (success, out, log) = daemon.wait();
    assert!(success, "exit status; stdout:\n{out}\nstderr:\n{log}");
    assert!(log.contains("shutdown signal received"), "{log}");
    assert!(log.contains("listener closed"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
    assert!(
        out.contains(&format!("{accepted} accepted, {accepted} processed")),
        "{out}"
    );
    assert!(out.contains("1 closed at shutdown"), "{out}");
    assert!(out.contains("nothing lost"), "{out}");
}

#[test]
fn sigterm_drains_and_prints_the_summary() {
    shuts_down_on("TERM");
}

#[test]
fn sigint_drains_and_prints_the_summary() {
    shuts_down_on("INT");
}

#[test]
fn json_logs_are_one_object_per_line_and_options_read_the_environment() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_webhook-daemon"))
        .args(["--listen", "127.0.0.1:0"])
        .env("WEBHOOK_LOG_FORMAT", "json")
        .env("WEBHOOK_SHUTDOWN_DELAY_MS", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the daemon");
    let daemon = {
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
        let mut line = String::new();
        stderr.read_line(&mut line).expect("read stderr");
        let log: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
        assert_eq!(log["level"], "INFO", "{log}");
        let message = log["fields"]["message"].as_str().expect("a message");
        assert!(message.starts_with("listening on http://"), "{log}");
        let addr = message
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {message:?}"));
        Daemon {
            child,
            addr,
            stderr,
        }
    };
    assert_eq!(request(daemon.addr, "GET", "/healthz", ""), 200);
    daemon.signal("TERM");
    let (success, _out, log) = daemon.wait();
    assert!(success, "{log}");
    for line in log.lines() {
        let parsed: Result<serde_json::Value, _> = serde_json::from_str(line);
        assert!(parsed.is_ok(), "not a JSON log line: {line:?}");
    }
    assert!(log.contains("shutdown signal received"), "{log}");
}

#[test]
fn a_bad_option_is_refused_before_serving() {
    let out = Command::new(env!("CARGO_BIN_EXE_webhook-daemon"))
        .args(["--listen", "127.0.0.1:0", "--request-timeout-ms", "5000"])
        .output()
        .expect("run the daemon");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("must exceed the longest wait"), "{err}");
}
