//! The Go row runs the Rust harness's op sequence: `--print-ops` of both,
//! compared line by line for every workload (ids, ops and the jittered
//! sampler's picks). Skipped, with a message, when `go` is not on PATH.

use std::path::Path;
use std::process::Command;

use channel_registry_bench::WORKLOADS;
use channel_registry_bench::go::GoRow;

/// Builds the Go row into this test's scratch dir, or says why not.
fn go_row() -> Option<GoRow> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("go");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("go-mutex-map");
    match GoRow::build(&src, &out) {
        Ok(g) => Some(g),
        Err(e) => {
            eprintln!("skipped: the Go row cannot be built here: {e}");
            None
        }
    }
}

fn rust_ops(workload: &str, keys: usize, threads: usize, n: u64) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_channel-registry-bench"))
        .args(["--print-ops", &n.to_string(), "--workloads", workload])
        .args([
            "--keys",
            &keys.to_string(),
            "--threads",
            &threads.to_string(),
        ])
        .output()
        .expect("run the harness");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn go_row_draws_the_same_ops() {
    let Some(go) = go_row() else { return };
    for w in WORKLOADS {
        for (keys, threads) in [(64, 1), (1_048_576, 3)] {
            let rust = rust_ops(w.name, keys, threads, 2_000);
            let go = go.print_ops(w, keys, threads, 2_000).unwrap();
            assert_eq!(rust.lines().count(), 2_000 * threads);
            if let Some((i, (r, g))) = rust
                .lines()
                .zip(go.lines())
                .enumerate()
                .find(|(_, (r, g))| r != g)
            {
                panic!(
                    "{} K={keys} T={threads}: line {i} differs: rust {r:?}, go {g:?}",
                    w.name
                );
            }
            assert_eq!(rust, go, "{}: lengths differ", w.name);
        }
    }
}

#[test]
fn go_row_prints_a_parsable_run() {
    let Some(go) = go_row() else { return };
    let w = WORKLOADS[3]; // churn-held-pin: the pin holder's schedule too
    let r = go.run(w, 64, 2, 1_000, true).unwrap();
    assert!(
        r.line
            .starts_with("impl=go-mutex-map workload=churn-held-pin threads=2 keys=64 ops=2000 ")
    );
    // 1,000 ops: one sample per full block of 64, and one in the last block
    // if its pick falls before op 1,000.
    assert!(
        (15..=16).contains(&(r.samples / 2)),
        "{} samples",
        r.samples
    );
    assert!(r.pcts.windows(2).all(|p| p[0] <= p[1]), "{:?}", r.pcts);
    let (bytes, _) = go.garbage(w, 64, 2, 1_000).unwrap();
    assert!(bytes >= 0);
}
