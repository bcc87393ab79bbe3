//! The Go row (`go-mutex-map`): the Go daemon's original fix, a
//! `map[uint64]chan string` behind one `sync.Mutex`, in `bench/go/`.
//!
//! The harness builds it once with `go build` and runs it as a subprocess
//! for every run of that row, interleaved with the Rust implementations; the
//! program prefills, runs the workers behind a barrier and prints the
//! harness's run line plus a `go …` detail line, parsed here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::Workload;

/// A built Go row.
#[derive(Clone, Debug)]
pub struct GoRow {
    bin: PathBuf,
    /// `go version`'s output.
    pub version: String,
}

/// One timed run of the Go row, from its two output lines.
#[derive(Clone, Debug)]
pub struct GoRun {
    /// The harness's run line, as the program printed it.
    pub line: String,
    /// Wall seconds from the barrier to the last worker's end.
    pub wall_s: f64,
    /// Latency percentiles (ns): p50, p99, p99.9, p99.99, max.
    pub pcts: [u32; 5],
    /// Number of latency samples.
    pub samples: usize,
    /// `time.Now()` back-to-back cost in the Go program, ns (mean).
    pub clock_ns: f64,
    /// Seconds the prefill took.
    pub prefill_s: f64,
    /// Seconds the whole subprocess took (start, prefill, run, exit).
    pub total_s: f64,
}

/// Splits `word k=v k=v …` into its `k=v` pairs.
pub fn fields(line: &str) -> BTreeMap<&str, &str> {
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .collect()
}

fn field<T: std::str::FromStr>(m: &BTreeMap<&str, &str>, k: &str, line: &str) -> Result<T, String> {
    m.get(k)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("go-mutex-map: no {k}= in {line:?}"))
}

impl GoRow {
    /// Builds `bench/go` into `out` with the `go` on PATH. An error says
    /// why the row cannot run (no `go`, or the build failed).
    pub fn build(src: &Path, out: &Path) -> Result<GoRow, String> {
        let version = Command::new("go")
            .arg("version")
            .output()
            .map_err(|_| "`go` is not on PATH".to_string())?;
        if !version.status.success() {
            return Err("`go version` failed".into());
        }
        let mut cmd = Command::new("go");
        cmd.args(["build", "-o"]).arg(out).arg(".").current_dir(src);
        if std::env::var_os("HOME").is_none() && std::env::var_os("GOCACHE").is_none() {
            // `go build` needs a cache directory; without HOME it has none.
            cmd.env("GOCACHE", out.with_file_name("gocache"));
        }
        let built = cmd
            .output()
            .map_err(|e| format!("cannot run `go build`: {e}"))?;
        if !built.status.success() {
            return Err(format!(
                "`go build` in {} failed:\n{}",
                src.display(),
                String::from_utf8_lossy(&built.stderr).trim()
            ));
        }
        Ok(GoRow {
            bin: out.to_path_buf(),
            version: String::from_utf8_lossy(&version.stdout).trim().to_string(),
        })
    }

    fn command(&self, w: Workload, keys: usize, threads: usize, ops: u64) -> Command {
        let mut c = Command::new(&self.bin);
        c.args([
            "-workload",
            w.name,
            "-send",
            &w.send.to_string(),
            "-set",
            &w.set.to_string(),
            "-keys",
            &keys.to_string(),
            "-threads",
            &threads.to_string(),
            "-ops",
            &ops.to_string(),
        ]);
        if w.held_pin {
            c.arg("-held-pin");
        }
        c
    }

    fn stdout(mut c: Command) -> Result<String, String> {
        let out = c
            .output()
            .map_err(|e| format!("go-mutex-map: cannot start: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "go-mutex-map exited with {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// One timed run; `jitter` false times ops 0, 64, 128, … (`--sampling stride`).
    pub fn run(
        &self,
        w: Workload,
        keys: usize,
        threads: usize,
        ops: u64,
        jitter: bool,
    ) -> Result<GoRun, String> {
        let mut c = self.command(w, keys, threads, ops);
        c.args(["-sampling", if jitter { "jitter" } else { "stride" }]);
        let t = Instant::now();
        let text = Self::stdout(c)?;
        let total_s = t.elapsed().as_secs_f64();
        let line = text
            .lines()
            .find(|l| l.starts_with("impl="))
            .ok_or_else(|| format!("go-mutex-map printed no run line: {text:?}"))?;
        let detail = text
            .lines()
            .find(|l| l.starts_with("go "))
            .ok_or_else(|| format!("go-mutex-map printed no detail line: {text:?}"))?;
        let (m, d) = (fields(line), fields(detail));
        Ok(GoRun {
            line: line.to_string(),
            wall_s: field(&d, "wall_s", detail)?,
            pcts: [
                field(&m, "p50_ns", line)?,
                field(&m, "p99_ns", line)?,
                field(&m, "p999_ns", line)?,
                field(&m, "p9999_ns", line)?,
                field(&m, "max_ns", line)?,
            ],
            samples: field(&d, "samples", detail)?,
            clock_ns: field(&d, "clock_ns", detail)?,
            prefill_s: field(&d, "prefill_s", detail)?,
            total_s,
        })
    }

    /// One untimed garbage run: (peak garbage bytes, ops/s of that run).
    pub fn garbage(
        &self,
        w: Workload,
        keys: usize,
        threads: usize,
        ops: u64,
    ) -> Result<(i64, f64), String> {
        let mut c = self.command(w, keys, threads, ops);
        c.arg("-garbage");
        let text = Self::stdout(c)?;
        let line = text
            .lines()
            .find(|l| l.starts_with("garbage "))
            .ok_or_else(|| format!("go-mutex-map printed no garbage line: {text:?}"))?;
        let m = fields(line);
        Ok((field(&m, "bytes", line)?, field(&m, "ops_per_sec", line)?))
    }

    /// The first `n` ops of every worker, as `--print-ops` prints them.
    pub fn print_ops(
        &self,
        w: Workload,
        keys: usize,
        threads: usize,
        n: u64,
    ) -> Result<String, String> {
        let mut c = self.command(w, keys, threads, 0);
        c.args(["-print-ops", &n.to_string()]);
        Self::stdout(c)
    }
}
