//! The binary: SIGTERM and SIGINT shut it down gracefully, draining what
//! was accepted, and it prints its summary.
#![cfg(unix)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use webhook_daemon::local_cluster::DaemonProcess;

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

/// Starts the binary on an ephemeral port with `extra` flags; the address
/// is read from the line it logs.
fn start(work_ms: u32, extra: &[&str], json_logs: bool) -> DaemonProcess {
    let mut command = Command::new(env!("CARGO_BIN_EXE_webhook-daemon"));
    command
        .args(["--listen", "127.0.0.1:0", "--work-ms", &work_ms.to_string()])
        .args(extra)
        // The environment must not change the flags' defaults here.
        .env_remove("WEBHOOK_LOG")
        .env_remove("WEBHOOK_LOG_FORMAT");
    if json_logs {
        command
            .env("WEBHOOK_LOG_FORMAT", "json")
            .env("WEBHOOK_SHUTDOWN_DELAY_MS", "0");
    }
    DaemonProcess::spawn(command, HANG_GUARD).expect("start the daemon")
}

/// Waits for the exit; returns (success, stdout, stderr).
fn wait(daemon: DaemonProcess) -> (bool, String, String) {
    let exited = daemon
        .wait(HANG_GUARD)
        .expect("hang guard: the daemon exits after the signal");
    (exited.status.success(), exited.stdout, exited.stderr)
}

fn shuts_down_on(signal: &str) {
    // 50 ms per event: the events are still buffered when the signal comes
    // (the summary says how many), and are processed before the exit either way.
    let daemon = start(50, &[], false);
    assert_eq!(request(daemon.addr(), "PUT", "/instances/1", ""), 201);
    let mut accepted = 0;
    for n in 0..5 {
        match request(
            daemon.addr(),
            "POST",
            "/instances/1/events",
            &format!("e{n}"),
        ) {
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
    daemon.signal(signal).expect("kill");
    let (success, out, log) = wait(daemon);
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
    let daemon = start(1, &[], true);
    let log = daemon.log();
    let first = log.lines().next().expect("a first log line");
    let first: serde_json::Value =
        serde_json::from_str(first).unwrap_or_else(|e| panic!("{e}: {first:?}"));
    assert_eq!(first["level"], "INFO", "{first}");
    let message = first["fields"]["message"].as_str().expect("a message");
    assert!(message.starts_with("listening on http://"), "{first}");
    assert_eq!(request(daemon.addr(), "GET", "/healthz", ""), 200);
    daemon.signal("TERM").expect("kill");
    let (success, _out, log) = wait(daemon);
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
