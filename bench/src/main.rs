//! `just bench`: the workload matrix (bench/README.md) for this crate, every
//! peer and the Go original, interleaved, with peak garbage for every churn
//! cell, then memory per instance, then the CSV, plots and README table.
//!
//! Flags (defaults = the full matrix): `--ops 1000000` (per worker), `--reps 5`,
//! `--threads 1,2,4,8`, `--keys 1024,65536,1048576`,
//! `--workloads read-heavy,mixed,churn,churn-held-pin`, `--impls all`,
//! `--out bench/results/runs.csv`, `--mem-ops 200000`, `--no-memory`,
//! `--no-report`, `--no-estimate`, `--estimate-only` (calibrate, print the
//! estimate, stop), `--render CSV` (plots and README from an
//! existing CSV only), `--render-to DIR` (with `--render`: plots, medians and
//! the README's block into DIR instead of `bench/results` and the README),
//! `--print-ops N` (the first N ops of every worker, as
//! the Go row prints them), `--criterion-table DIR` (criterion's output dir to
//! `results/criterion.md`). Internal: `--memory-only` (bytes per instance,
//! printed as lines) and `--garbage-run` (one churn cell's peak garbage), both
//! run in a child process with the counting allocator on.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use channel_registry_bench::go::{self, GoRow};
use channel_registry_bench::report::{self, MemRow, Row};
use channel_registry_bench::{
    CountingAlloc, GO, Impl, Op, ROWS, Routed, WORKLOADS, Workload, XorShift64Star, dispatch,
};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// How long the `churn-held-pin` cell's extra thread holds each pin.
const PIN_HOLD: Duration = Duration::from_millis(10);
/// The gap between two holds (the pin is released for this long).
const PIN_GAP: Duration = Duration::from_millis(1);
/// How often the garbage runs sample `channels_alive()`.
const ALIVE_EVERY: Duration = Duration::from_millis(1);
/// Ops per workload of the calibration behind the duration estimate.
const CALIBRATION_OPS: u64 = 20_000;

struct Args {
    ops: u64,
    reps: usize,
    threads: Vec<usize>,
    keys: Vec<usize>,
    workloads: Vec<Workload>,
    impls: Vec<String>,
    out: PathBuf,
    memory: bool,
    report: bool,
    estimate: bool,
    estimate_only: bool,
    render: Option<PathBuf>,
    render_to: Option<PathBuf>,
    memory_only: bool,
    garbage_run: bool,
    print_ops: Option<u64>,
    mem_ops: u64,
    criterion: Option<PathBuf>,
    sampling: Sampling,
    /// `channel_registry::set_garbage_limit` for this run and its children;
    /// `None`: the crate's default.
    garbage_limit: Option<usize>,
}

/// Which op of each block of 64 is timed.
#[derive(Clone, Copy, PartialEq)]
enum Sampling {
    /// One op at a pseudo-random offset in each block of 64 (default): the
    /// same rate as the spec's "every 64th op", without locking the
    /// samples to periodic work in the code under test.
    Jitter,
    /// Ops 0, 64, 128, ... exactly. crossbeam-epoch collects on every
    /// 128th pin of a thread (from its first), and each routed op of this
    /// crate pins once, so this times a collecting op in every other sample.
    Stride,
}

fn bench_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const USAGE: &str = "usage: channel-registry-bench [--ops N] [--reps N] [--threads 1,2,4,8] \
[--keys 1024,65536,1048576] [--workloads read-heavy,mixed,churn,churn-held-pin] \
[--impls all|NAME,...] [--out CSV] [--mem-ops N] [--no-memory] [--no-report] [--no-estimate] \
[--estimate-only] [--garbage-limit BYTES|none] \
[--render CSV [--render-to DIR]] [--print-ops N] [--criterion-table DIR] \
[--sampling jitter|stride (stride implies --no-report)]
Defaults: the full matrix (bench/README.md).";

/// Bad command line: say why, show the usage, exit 2 (no panic).
fn fail(msg: &str) -> ! {
    eprintln!("channel-registry-bench: {msg}\n{USAGE}");
    std::process::exit(2)
}

/// A failure after the command line was accepted: say why, exit 1.
fn die(msg: &str) -> ! {
    eprintln!("channel-registry-bench: {msg}");
    std::process::exit(1)
}

fn parse<T: std::str::FromStr>(flag: &str, s: &str) -> T {
    s.trim()
        .parse()
        .unwrap_or_else(|_| fail(&format!("{flag}: cannot parse {s:?}")))
}

fn list<T: std::str::FromStr>(flag: &str, s: &str) -> Vec<T> {
    s.split(',').map(|x| parse(flag, x)).collect()
}

/// A comma-separated list of counts, each at least 1.
fn counts(flag: &str, s: &str) -> Vec<usize> {
    let v: Vec<usize> = list(flag, &s.replace('_', ""));
    if v.contains(&0) {
        fail(&format!("{flag}: every value must be at least 1"));
    }
    v
}

fn workloads(flag: &str, s: &str) -> Vec<Workload> {
    s.split(',')
        .map(|w| {
            Workload::by_name(w.trim()).unwrap_or_else(|| {
                let known: Vec<&str> = WORKLOADS.iter().map(|w| w.name).collect();
                fail(&format!(
                    "{flag}: unknown workload {w:?}; known: {}",
                    known.join(", ")
                ))
            })
        })
        .collect()
}

fn parse_args() -> Args {
    let mut a = Args {
        ops: 1_000_000,
        reps: 5,
        threads: vec![1, 2, 4, 8],
        keys: vec![1024, 65536, 1_048_576],
        workloads: WORKLOADS.to_vec(),
        impls: ROWS.iter().map(|s| s.to_string()).collect(),
        out: bench_dir().join("results/runs.csv"),
        memory: true,
        report: true,
        estimate: true,
        estimate_only: false,
        render: None,
        render_to: None,
        memory_only: false,
        garbage_run: false,
        print_ops: None,
        mem_ops: 200_000,
        criterion: None,
        sampling: Sampling::Jitter,
        garbage_limit: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || {
            it.next()
                .unwrap_or_else(|| fail(&format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--help" | "-h" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            "--ops" => a.ops = parse(&flag, &val().replace('_', "")),
            "--reps" => a.reps = parse(&flag, &val()),
            "--threads" => a.threads = counts(&flag, &val()),
            "--keys" => a.keys = counts(&flag, &val()),
            "--workloads" => a.workloads = workloads(&flag, &val()),
            "--impls" => {
                let v = val();
                if v != "all" {
                    a.impls = list(&flag, &v);
                }
            }
            "--out" => a.out = PathBuf::from(val()),
            "--mem-ops" => a.mem_ops = parse(&flag, &val().replace('_', "")),
            "--no-memory" => a.memory = false,
            "--no-report" => a.report = false,
            "--no-estimate" => a.estimate = false,
            "--estimate-only" => a.estimate_only = true,
            "--render" => a.render = Some(PathBuf::from(val())),
            "--render-to" => a.render_to = Some(PathBuf::from(val())),
            "--memory-only" => a.memory_only = true,
            "--garbage-run" => a.garbage_run = true,
            "--garbage-limit" => {
                a.garbage_limit = Some(match val().as_str() {
                    "none" => usize::MAX,
                    v => parse(&flag, &v.replace('_', "")),
                })
            }
            "--print-ops" => a.print_ops = Some(parse(&flag, &val())),
            "--criterion-table" => a.criterion = Some(PathBuf::from(val())),
            "--sampling" => {
                a.sampling = match val().as_str() {
                    "jitter" => Sampling::Jitter,
                    "stride" => Sampling::Stride,
                    v => fail(&format!("--sampling: {v:?} is not jitter or stride")),
                }
            }
            other => fail(&format!("unknown flag {other}")),
        }
    }
    if a.sampling == Sampling::Stride {
        // A diagnostic mode: the published table and plots always come from
        // the jittered sampler (bench/README.md, *Latency*).
        a.report = false;
    }
    if a.ops == 0 || a.reps == 0 || a.mem_ops == 0 {
        fail("--ops, --reps and --mem-ops must be at least 1");
    }
    for i in &a.impls {
        if !ROWS.contains(&i.as_str()) {
            fail(&format!("unknown impl {i}; known: {}", ROWS.join(", ")));
        }
    }
    a
}

/// Picks the one timed op of each block of 64 ([`Sampling`]). Draws from
/// its own generator, so the op sequence stays the one the spec seeds.
struct Sampler {
    sampling: Sampling,
    pick: XorShift64Star,
    target: u64,
}

impl Sampler {
    /// Worker `w`'s sampler (the Go row seeds it the same way).
    fn new(w: usize, sampling: Sampling) -> Self {
        Sampler {
            sampling,
            pick: XorShift64Star::new(0x9E37_79B9_7F4A_7C15 ^ (w as u64 + 1)),
            target: 0,
        }
    }
    /// Whether op `i` is timed.
    #[inline]
    fn timed(&mut self, i: u64) -> bool {
        match self.sampling {
            Sampling::Jitter => {
                if i & 63 == 0 {
                    self.target = i + self.pick.below(64);
                }
                i == self.target
            }
            Sampling::Stride => i & 63 == 0,
        }
    }
}

/// `--print-ops N`: worker, index, id, op and whether it is timed, for the
/// first N ops of every worker of the first `--threads`, `--keys` and
/// `--workloads` values; `go-mutex-map -print-ops N` prints the same.
fn print_ops(args: &Args, n: u64) {
    let (w, keys, threads) = (args.workloads[0], args.keys[0], args.threads[0]);
    let mut out = String::new();
    for worker in 0..threads {
        let mut rng = XorShift64Star::new(worker as u64 + 1);
        let mut sampler = Sampler::new(worker, args.sampling);
        for i in 0..n {
            let (id, op) = w.next_op(&mut rng, keys as u64);
            let timed = u8::from(sampler.timed(i));
            out.push_str(&format!("{worker} {i} {id} {} {timed}\n", op.name()));
        }
    }
    print!("{out}");
}

struct RunResult {
    wall_s: f64,
    samples: Vec<u32>,
}

fn prefill<I: Impl>(imp: &I, keys: usize) -> Vec<I::Rx> {
    (0..keys as u64).map(|id| imp.set(id)).collect()
}

/// Sleeps until `until` or until `done` is set (the setter unparks this
/// thread); whether the deadline was reached.
fn nap(until: Instant, done: &AtomicBool) -> bool {
    loop {
        if done.load(Ordering::Acquire) {
            return false;
        }
        let now = Instant::now();
        if now >= until {
            return true;
        }
        thread::park_timeout(until - now);
    }
}

/// The `churn-held-pin` cell's extra thread: from the `start` barrier until
/// `done`, holds [`Impl::hold_pin`] for [`PIN_HOLD`], releases it for
/// [`PIN_GAP`], and again. An impl with nothing to hold gets the same thread
/// on the same schedule, asleep. With `ready`, it enters the reclamation
/// scheme once (registering this thread) and waits there first. Returns how
/// many pins it held.
fn pin_holder<I: Impl>(
    imp: Arc<I>,
    ready: Option<Arc<Barrier>>,
    start: Arc<Barrier>,
    done: Arc<AtomicBool>,
) -> JoinHandle<u64> {
    thread::spawn(move || {
        if let Some(ready) = ready {
            drop(imp.hold_pin());
            ready.wait();
        }
        start.wait();
        let mut held = 0;
        loop {
            let pin = imp.hold_pin();
            held += u64::from(pin.is_some());
            let full = nap(Instant::now() + PIN_HOLD, &done);
            drop(pin);
            if !full || !nap(Instant::now() + PIN_GAP, &done) {
                return held;
            }
        }
    })
}

/// Spawns the pin holder if `w` asks for one (the barriers then have a
/// party for it).
fn maybe_pin_holder<I: Impl>(
    w: Workload,
    imp: &Arc<I>,
    ready: Option<&Arc<Barrier>>,
    start: &Arc<Barrier>,
    done: &Arc<AtomicBool>,
) -> Option<JoinHandle<u64>> {
    w.held_pin.then(|| {
        pin_holder(
            Arc::clone(imp),
            ready.cloned(),
            Arc::clone(start),
            Arc::clone(done),
        )
    })
}

/// Tells the pin holder the workers are done and waits for it.
fn stop_pin_holder(holder: Option<JoinHandle<u64>>, done: &AtomicBool) {
    done.store(true, Ordering::Release);
    if let Some(h) = holder {
        h.thread().unpark();
        h.join().expect("pin holder");
    }
}

/// One timed run: prefill, T workers behind one barrier (plus the pin
/// holder for `churn-held-pin`), wall time from the barrier to the last
/// worker's end. One op in every 64 is timed ([`Sampling`]).
fn run<I: Impl>(
    keys: usize,
    threads: usize,
    ops: u64,
    w: Workload,
    sampling: Sampling,
) -> RunResult {
    let imp = Arc::new(I::new(keys));
    let held = prefill(&*imp, keys);
    let barrier = Arc::new(Barrier::new(threads + 1 + usize::from(w.held_pin)));
    let done = Arc::new(AtomicBool::new(false));
    let holder = maybe_pin_holder(w, &imp, None, &barrier, &done);
    let handles: Vec<_> = (0..threads)
        .map(|worker| {
            let imp = Arc::clone(&imp);
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let mut local = imp.local(keys);
                let mut rxs: Vec<Option<I::Rx>> = (0..keys).map(|_| None).collect();
                let mut samples = Vec::with_capacity((ops / 64 + 1) as usize);
                let mut rng = XorShift64Star::new(worker as u64 + 1);
                let mut sampler = Sampler::new(worker, sampling);
                barrier.wait();
                // Each worker stamps its own start: the earliest of them is
                // the barrier's release (the main thread may be descheduled
                // after it and would stamp late).
                let begin = Instant::now();
                for i in 0..ops {
                    let (id, op) = w.next_op(&mut rng, keys as u64);
                    let t0 = sampler.timed(i).then(Instant::now);
                    match op {
                        Op::Send => imp.send(&mut local, id),
                        Op::Set => rxs[id as usize] = Some(imp.set(id)),
                        Op::Delete => imp.delete(id),
                    }
                    if let Some(t0) = t0 {
                        samples.push(t0.elapsed().as_nanos().min(u32::MAX as u128) as u32);
                    }
                }
                let end = Instant::now();
                (begin, end, samples, rxs, local)
            })
        })
        .collect();
    barrier.wait();
    let mut start: Option<Instant> = None;
    let mut end: Option<Instant> = None;
    let mut samples = Vec::new();
    let mut keep = Vec::new();
    for h in handles {
        let (b, e, s, rxs, local) = h.join().unwrap();
        start = Some(start.map_or(b, |x| x.min(b)));
        end = Some(end.map_or(e, |x| x.max(e)));
        samples.extend(s);
        keep.push((rxs, local));
    }
    stop_pin_holder(holder, &done);
    drop(keep);
    drop(held);
    drop(imp);
    I::quiesce_global();
    samples.sort_unstable();
    RunResult {
        wall_s: match (start, end) {
            (Some(s), Some(e)) => (e - s).as_secs_f64(),
            _ => 0.0, // no workers
        },
        samples,
    }
}

trait QuiesceGlobal {
    fn quiesce_global();
}
impl<I: Impl> QuiesceGlobal for I {
    fn quiesce_global() {
        channel_registry::reclaim();
        for _ in 0..4 {
            crossbeam_epoch::pin().flush();
        }
    }
}

fn pct(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn sh(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn clock_cost() -> (f64, u32) {
    const N: usize = 1_000_000;
    let t = Instant::now();
    let mut last = t;
    let mut diffs = Vec::with_capacity(N);
    for _ in 0..N {
        let now = Instant::now();
        diffs.push((now - last).as_nanos() as u32);
        last = now;
    }
    let mean = t.elapsed().as_nanos() as f64 / N as f64;
    diffs.sort_unstable();
    (mean, diffs[N / 2])
}

pub struct Host {
    date: String,
    rev: String,
    nproc: String,
    cpu: String,
    load: String,
}

fn host() -> Host {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("unknown")
        .trim()
        .to_string();
    let load = fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    // The revision the binary was built from, `-dirty` if its sources had
    // uncommitted changes then (bench/build.rs).
    let rev = env!("CHANNEL_REGISTRY_BENCH_REV").to_string();
    Host {
        date: sh("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]),
        rev,
        nproc: thread::available_parallelism()
            .map_or(0, |n| n.get())
            .to_string(),
        cpu,
        load,
    }
}

fn nproc() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
}

/// The Go row's binary: `go/go-mutex-map` in this binary's target dir
/// (`target/bench/go/` under `just bench`).
fn go_bin_path() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|e| die(&format!("current_exe: {e}")));
    let target = exe
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("."));
    target.join("go/go-mutex-map")
}

/// Builds the Go row if it was asked for; prints why not (once) and drops it
/// from `impls` when `go` is missing or the build fails.
fn setup_go(impls: &mut Vec<String>) -> Option<GoRow> {
    if !impls.iter().any(|i| i == GO) {
        return None;
    }
    let out = go_bin_path();
    match GoRow::build(&bench_dir().join("go"), &out) {
        Ok(g) => {
            println!("{GO}: {} ({})", g.version, out.display());
            Some(g)
        }
        Err(e) => {
            println!("{GO}: row skipped: {e} (`just bench` tries `apt-get install -y golang-go`)");
            impls.retain(|i| i != GO);
            None
        }
    }
}

fn main() {
    let args = parse_args();
    if let Some(limit) = args.garbage_limit {
        channel_registry::set_garbage_limit(limit);
    }
    if let Some(n) = args.print_ops {
        print_ops(&args, n);
        return;
    }
    if args.memory_only {
        memory_only(&args);
        return;
    }
    if args.garbage_run {
        garbage_run(&args);
        return;
    }
    if let Some(dir) = &args.criterion {
        let table = report::criterion_table(dir);
        print!("{table}");
        let path = bench_dir().join("results/criterion.md");
        fs::write(&path, table).unwrap_or_else(|e| die(&format!("{}: {e}", path.display())));
        return;
    }
    if let Some(csv) = &args.render {
        let rows = report::read_csv(csv).unwrap_or_else(|e| fail(&e));
        if rows.is_empty() {
            fail(&format!("{}: no runs to render", csv.display()));
        }
        let mem = report::read_mem_csv(&csv.with_file_name("memory.csv"));
        let to = match &args.render_to {
            Some(dir) => report::Target::Elsewhere(dir),
            None => report::Target::Repository(&bench_dir()),
        };
        report::render(&rows, &mem, to).unwrap_or_else(|e| die(&e));
        return;
    }
    matrix(args);
}

/// The matrix, then memory per instance, the CSV, medians and the report.
fn matrix(mut args: Args) {
    let h = host();
    let (clock_mean, clock_med) = clock_cost();
    println!(
        "host: {} cpus, {} | load average at start {} | rev {} | {}",
        h.nproc, h.cpu, h.load, h.rev, h.date
    );
    println!(
        "clock: Instant::now() back-to-back costs {clock_mean:.1} ns (mean), {clock_med} ns (median); not subtracted"
    );
    println!("message: &'static str; receivers of current channels kept alive (per-worker tables)");
    let go = setup_go(&mut args.impls);
    if args.estimate || args.estimate_only {
        estimate(&args, go.as_ref());
    }
    if args.estimate_only {
        return;
    }
    if let Some(dir) = args.out.parent() {
        fs::create_dir_all(dir)
            .unwrap_or_else(|e| fail(&format!("--out: cannot create {}: {e}", dir.display())));
    }
    let mut rows = Vec::new();
    let total = args.reps * args.workloads.len() * args.keys.len() * args.threads.len();
    let t_all = Instant::now();
    let mut n = 0;
    for rep in 0..args.reps {
        for &wl in &args.workloads {
            for &keys in &args.keys {
                for &threads in &args.threads {
                    n += 1;
                    let first = rows.len();
                    for name in &args.impls {
                        let row = timed_row(
                            &args,
                            go.as_ref(),
                            &h,
                            clock_mean,
                            name,
                            (rep, wl, keys, threads),
                        );
                        println!("{}", row.line());
                        rows.push(row);
                    }
                    if args.memory && wl.is_churn() {
                        for row in &mut rows[first..] {
                            row.garbage =
                                garbage_cell(&args, go.as_ref(), &row.imp, wl, keys, threads);
                        }
                    }
                    eprintln!(
                        "[{n}/{total} configurations, {:.0} s elapsed]",
                        t_all.elapsed().as_secs_f64()
                    );
                    report::write_csv(&args.out, &rows).unwrap_or_else(|e| die(&e));
                }
            }
        }
    }
    println!("matrix took {:.0} s", t_all.elapsed().as_secs_f64());
    let mem_path = args.out.with_file_name("memory.csv");
    let mem = if args.memory {
        let mem = memory_child(&args);
        report::write_mem_csv(&mem_path, &mem).unwrap_or_else(|e| die(&e));
        mem
    } else {
        report::read_mem_csv(&mem_path)
    };
    println!("\nmedians of {} interleaved repetitions:", args.reps);
    print!("{}", report::medians_markdown(&rows));
    print!("{}", report::latency_markdown(&rows, None));
    print!("{}", report::garbage_markdown(&rows, None));
    if args.report {
        report::render(&rows, &mem, report::Target::Repository(&bench_dir()))
            .unwrap_or_else(|e| die(&e));
    }
}

/// One timed run of `name` in cell (rep, workload, keys, threads), as a row.
fn timed_row(
    args: &Args,
    go: Option<&GoRow>,
    h: &Host,
    clock_ns: f64,
    name: &str,
    (rep, wl, keys, threads): (usize, Workload, usize, usize),
) -> Row {
    let total_ops = args.ops * threads as u64;
    let (wall_s, pcts, samples, clock_ns) = if name == GO {
        let g = go.expect("the Go row is dropped from impls when not built");
        match g.run(
            wl,
            keys,
            threads,
            args.ops,
            args.sampling == Sampling::Jitter,
        ) {
            Ok(r) => (r.wall_s, r.pcts, r.samples, r.clock_ns),
            Err(e) => die(&e),
        }
    } else {
        let r = dispatch!(name, I => run::<I>(keys, threads, args.ops, wl, args.sampling));
        let s = &r.samples;
        let max = s.last().copied().unwrap_or(0);
        let pcts = [
            pct(s, 0.5),
            pct(s, 0.99),
            pct(s, 0.999),
            pct(s, 0.9999),
            max,
        ];
        (r.wall_s, pcts, s.len(), clock_ns)
    };
    Row {
        date: h.date.clone(),
        rev: h.rev.clone(),
        nproc: h.nproc.clone(),
        cpu: h.cpu.clone(),
        load_start: h.load.clone(),
        clock_ns,
        msg: if name == GO { "string" } else { "&'static str" }.into(),
        imp: name.to_string(),
        workload: wl.name.to_string(),
        threads,
        keys,
        ops: total_ops,
        ops_per_worker: args.ops,
        rep,
        wall_s,
        ops_per_sec: total_ops as f64 / wall_s,
        p50: pcts[0],
        p99: pcts[1],
        p999: pcts[2],
        p9999: Some(pcts[3]),
        max: Some(pcts[4]),
        samples,
        garbage: None,
    }
}

/// Peak garbage of one churn cell for `name`, from an untimed run in a child
/// process (the Go row: its own program); prints the child's line. `None`,
/// with the reason printed, if the child failed.
fn garbage_cell(
    args: &Args,
    go: Option<&GoRow>,
    name: &str,
    wl: Workload,
    keys: usize,
    threads: usize,
) -> Option<i64> {
    let got = if name == GO {
        go.ok_or_else(|| "no Go row".to_string())
            .and_then(|g| g.garbage(wl, keys, threads, args.mem_ops))
            .map(|(bytes, ops_per_sec)| {
                format!(
                    "garbage impl={GO} workload={} keys={keys} threads={threads} bytes={bytes} ops_per_sec={ops_per_sec:.0}",
                    wl.name
                )
            })
    } else {
        child(&[
            "--garbage-run",
            "--impls",
            name,
            "--workloads",
            wl.name,
            "--keys",
            &keys.to_string(),
            "--threads",
            &threads.to_string(),
            "--mem-ops",
            &args.mem_ops.to_string(),
        ])
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("garbage "))
                .map(str::to_string)
                .ok_or_else(|| format!("no garbage line in {text:?}"))
        })
    };
    match got {
        Ok(line) => {
            println!("{line}");
            go::fields(&line).get("bytes").and_then(|b| b.parse().ok())
        }
        Err(e) => {
            println!(
                "garbage impl={name} workload={} keys={keys} threads={threads}: failed: {e}",
                wl.name
            );
            None
        }
    }
}

/// Runs this binary with `args` and returns its output.
fn child(args: &[&str]) -> Result<String, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    // The parent's garbage limit, if it was given one.
    let limit = std::env::args()
        .skip_while(|a| a != "--garbage-limit")
        .take(2)
        .collect::<Vec<_>>();
    let out = Command::new(exe)
        .args(args)
        .args(limit)
        .output()
        .map_err(|e| format!("cannot start child: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "child {args:?} exited with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Bytes per instance for every Rust impl and `--keys` value, in a child
/// with the counting allocator on (the Go row has none).
fn memory_child(args: &Args) -> Vec<MemRow> {
    let impls: Vec<&str> = args
        .impls
        .iter()
        .map(String::as_str)
        .filter(|i| *i != GO)
        .collect();
    if impls.is_empty() {
        return Vec::new();
    }
    let keys: Vec<String> = args.keys.iter().map(usize::to_string).collect();
    match child(&[
        "--memory-only",
        "--impls",
        &impls.join(","),
        "--keys",
        &keys.join(","),
    ]) {
        Ok(text) => {
            print!("{text}");
            text.lines().filter_map(MemRow::parse).collect()
        }
        Err(e) => {
            println!("memory step failed: {e}");
            Vec::new()
        }
    }
}

/// Measured costs of one row at one key count, for the duration estimate.
struct Calibration {
    /// The prefill, seconds.
    prefill_s: f64,
    /// Everything else a run pays outside its timed part: the teardown of
    /// the prefilled structure (the Go row: the process's start and exit),
    /// seconds.
    other_s: f64,
    /// Seconds to free one channel that a worker's receiver table retains
    /// (0 for the Go row, which retains none).
    retained_s: f64,
    /// Seconds per op on one thread, per `--workloads` entry.
    op_s: Vec<f64>,
}

impl Calibration {
    /// The estimated seconds of one timed run of `w` (`retain`: the
    /// workers' receiver tables keep what they set) or garbage run.
    fn run_s(
        &self,
        w: &Workload,
        (keys, threads, ops): (usize, usize, u64),
        op_s: f64,
        retain: bool,
    ) -> f64 {
        let work = threads as f64 * ops as f64 * op_s / threads.min(nproc()) as f64;
        // Each worker's table ends up holding one channel per distinct id it
        // set: K (1 − e^(−sets/K)) of them.
        let sets = ops as f64 * w.set as f64 / 100.0;
        let held = threads as f64 * keys as f64 * (1.0 - (-sets / keys as f64).exp());
        let retained = if retain { held * self.retained_s } else { 0.0 };
        self.prefill_s + self.other_s + work + retained
    }
}

/// Prefills `keys` ids, runs [`CALIBRATION_OPS`] ops of each workload on
/// this thread, then tears down, timing each part.
fn calibrate<I: Impl>(keys: usize, wls: &[Workload]) -> Calibration {
    let t = Instant::now();
    let imp = I::new(keys);
    let held = prefill(&imp, keys);
    let prefill_s = t.elapsed().as_secs_f64();
    let mut local = imp.local(keys);
    let mut rxs: Vec<Option<I::Rx>> = (0..keys).map(|_| None).collect();
    let mut rng = XorShift64Star::new(1);
    let op_s = wls
        .iter()
        .map(|w| {
            let t = Instant::now();
            for _ in 0..CALIBRATION_OPS {
                match w.next_op(&mut rng, keys as u64) {
                    (id, Op::Send) => imp.send(&mut local, id),
                    (id, Op::Set) => rxs[id as usize] = Some(imp.set(id)),
                    (id, Op::Delete) => imp.delete(id),
                }
            }
            t.elapsed().as_secs_f64() / CALIBRATION_OPS as f64
        })
        .collect();
    let t = Instant::now();
    drop((rxs, local, held, imp));
    I::quiesce_global();
    let other_s = t.elapsed().as_secs_f64();
    Calibration {
        prefill_s,
        other_s,
        retained_s: other_s / keys as f64,
        op_s,
    }
}

/// The Go row's calibration: one short single-worker run per workload.
fn calibrate_go(g: &GoRow, keys: usize, wls: &[Workload]) -> Result<Calibration, String> {
    let n = wls.len() as f64;
    let mut c = Calibration {
        prefill_s: 0.0,
        other_s: 0.0,
        retained_s: 0.0,
        op_s: Vec::new(),
    };
    for &w in wls {
        let r = g.run(w, keys, 1, CALIBRATION_OPS, true)?;
        c.prefill_s += r.prefill_s / n;
        c.other_s += (r.total_s - r.wall_s - r.prefill_s) / n;
        c.op_s.push(r.wall_s / CALIBRATION_OPS as f64);
    }
    Ok(c)
}

/// Prints the prefill times and an estimate of the whole invocation's
/// duration, from a calibration of every row at every key count: each run
/// costs its prefill and teardown, T × ops × (1-thread seconds per op) ÷
/// min(T, cores) (perfect scaling: contention makes real runs longer), and
/// the freeing of the channels the workers' receiver tables retain.
fn estimate(args: &Args, go: Option<&GoRow>) {
    let t = Instant::now();
    let wls = &args.workloads;
    let (mut timed, mut garbage, mut memory) = (0.0, 0.0, 0.0);
    for &keys in &args.keys {
        let mut prefills = Vec::new();
        for name in &args.impls {
            let c = if name == GO {
                match go.map(|g| calibrate_go(g, keys, wls)) {
                    Some(Ok(c)) => c,
                    Some(Err(e)) => die(&e),
                    None => continue,
                }
            } else {
                dispatch!(name.as_str(), I => calibrate::<I>(keys, wls))
            };
            prefills.push(format!(
                "{name} {} (+ {} teardown or start-up)",
                duration(c.prefill_s),
                duration(c.other_s)
            ));
            for (w, &op_s) in wls.iter().zip(&c.op_s) {
                for &threads in &args.threads {
                    let reps = args.reps as f64;
                    timed += reps * c.run_s(w, (keys, threads, args.ops), op_s, true);
                    if args.memory && w.is_churn() {
                        garbage += reps * c.run_s(w, (keys, threads, args.mem_ops), op_s, false);
                    }
                }
            }
            if args.memory && name != GO {
                memory += c.prefill_s + c.other_s;
            }
        }
        println!("prefill of {keys} ids: {}", prefills.join(", "));
    }
    println!(
        "estimate: about {} in all: timed runs {}, garbage runs {}, memory step {} \
         (1-thread costs measured just now in {}, scaled to {} cores; contention and \
         oversubscription make real runs longer)",
        duration(timed + garbage + memory),
        duration(timed),
        duration(garbage),
        duration(memory),
        duration(t.elapsed().as_secs_f64()),
        nproc()
    );
}

/// Seconds for a person: "12 ms", "3.4 s", "17 min", "2 h 05 min".
fn duration(s: f64) -> String {
    if s < 1.0 {
        format!("{:.1} ms", s * 1e3)
    } else if s < 120.0 {
        format!("{s:.1} s")
    } else if s < 7200.0 {
        format!("{:.0} min", s / 60.0)
    } else {
        let m = (s / 60.0).round() as u64;
        format!("{} h {:02} min", m / 60, m % 60)
    }
}

/// `--memory-only`, in its own process with the counting allocator on:
/// live heap after prefilling K ids (receivers held, as a consumer would),
/// less the empty structure, over K, for every `--impls` and `--keys`.
fn memory_only(args: &Args) {
    CountingAlloc::enable();
    for name in args.impls.iter().filter(|i| *i != GO) {
        for &keys in &args.keys {
            let bytes = dispatch!(name.as_str(), I => per_instance::<I>(keys));
            println!("mem kind=per_instance impl={name} keys={keys} bytes={bytes:.1}");
            if name == Routed::NAME {
                let bytes = per_instance_with_state(keys);
                println!("mem kind={STATE_KIND} impl={name} keys={keys} bytes={bytes:.1}");
            }
        }
    }
}

/// The memory row of an instance carrying a small state: 24 bytes, the
/// webhook daemon's per-instance counters (a generation number and two
/// event counts), set with `set_with`.
const STATE_KIND: &str = "per_instance_state24";

/// [`per_instance`] for this crate's registry with a 24-byte state per
/// generation (the `S = ()` row is `per_instance::<Routed>`).
fn per_instance_with_state(keys: usize) -> f64 {
    use std::sync::atomic::AtomicU64;
    Routed::quiesce_global();
    let before = CountingAlloc::live();
    let registry = channel_registry::Registry::<u64, &'static str, [AtomicU64; 3]>::new();
    let held: Vec<_> = (0..keys as u64)
        .map(|id| {
            let state = [AtomicU64::new(id), AtomicU64::new(0), AtomicU64::new(0)];
            registry
                .set_with(id, channel_registry_bench::CAP, state)
                .expect("capacity 5 is valid")
                .receiver
        })
        .collect();
    channel_registry::reclaim();
    let after = CountingAlloc::live();
    drop(registry);
    drop(held);
    Routed::quiesce_global();
    (after - before) as f64 / keys as f64
}

fn per_instance<I: Impl>(keys: usize) -> f64 {
    I::quiesce_global();
    let mut held: Vec<Option<I::Rx>> = Vec::with_capacity(keys);
    let before = CountingAlloc::live();
    let imp = I::new(keys);
    for id in 0..keys as u64 {
        held.push(Some(imp.set(id)));
    }
    imp.quiesce();
    let after = CountingAlloc::live();
    drop(imp);
    drop(held);
    I::quiesce_global();
    (after - before) as f64 / keys as f64
}

/// `--garbage-run`: one churn cell (the first `--impls`, `--workloads`,
/// `--keys` and `--threads` values), untimed, in its own process with the
/// counting allocator on; prints one `garbage …` line.
fn garbage_run(args: &Args) {
    CountingAlloc::enable();
    let (name, w) = (args.impls[0].as_str(), args.workloads[0]);
    let (keys, threads) = (args.keys[0], args.threads[0]);
    if name == GO {
        fail("--garbage-run: the Go row measures its own garbage");
    }
    if !w.is_churn() {
        fail(&format!(
            "--garbage-run: {} is not a churn workload",
            w.name
        ));
    }
    let g = dispatch!(name, I => garbage::<I>(keys, threads, args.mem_ops, w));
    println!(
        "garbage impl={name} workload={} keys={keys} threads={threads} bytes={} ops_per_sec={:.0} live_after={} peak_alive_minus_keys={}",
        w.name, g.bytes, g.ops_per_sec, g.live_after, g.peak_alive_minus_keys
    );
}

/// One garbage run's figures.
struct Garbage {
    /// Peak live heap during the run − live heap right after the prefill.
    bytes: isize,
    /// Throughput of this run (counting allocator on), for comparison only.
    ops_per_sec: f64,
    /// Live heap after the run and every flush, structure still alive.
    live_after: isize,
    /// For this crate: peak of `channels_alive()` (sampled) − K.
    peak_alive_minus_keys: isize,
}

/// Churn garbage: the cell's workers (and pin holder) on `keys` prefilled
/// ids, receivers dropped right after `set` (so the harness keeps no retired
/// channel alive); the allocator records the peak live heap; garbage = peak
/// − the live heap with all ids registered, measured after the prefill, a
/// flush of deferred frees, and every thread's set-up (each has entered the
/// reclamation scheme once, so its per-thread registration is not counted).
/// A sampler thread reads `channels_alive()` every [`ALIVE_EVERY`].
fn garbage<I: Impl>(keys: usize, threads: usize, ops: u64, w: Workload) -> Garbage {
    I::quiesce_global();
    let imp = Arc::new(I::new(keys));
    for id in 0..keys as u64 {
        drop(imp.set(id));
    }
    imp.quiesce();
    I::quiesce_global();
    let done = Arc::new(AtomicBool::new(false));
    let peak_alive = Arc::new(AtomicIsize::new(0));
    let parties = threads + 1 + usize::from(w.held_pin);
    let (ready, start) = (
        Arc::new(Barrier::new(parties)),
        Arc::new(Barrier::new(parties)),
    );
    let holder = maybe_pin_holder(w, &imp, Some(&ready), &start, &done);
    let sampler = {
        let done = Arc::clone(&done);
        let peak_alive = Arc::clone(&peak_alive);
        thread::spawn(move || {
            while !done.load(Ordering::Acquire) {
                peak_alive.fetch_max(
                    channel_registry::channels_alive() as isize,
                    Ordering::Relaxed,
                );
                thread::park_timeout(ALIVE_EVERY);
            }
        })
    };
    let hs: Vec<_> = (0..threads)
        .map(|worker| {
            let imp = Arc::clone(&imp);
            let (ready, start) = (Arc::clone(&ready), Arc::clone(&start));
            thread::spawn(move || {
                let mut local = imp.local(keys);
                let mut rng = XorShift64Star::new(worker as u64 + 1);
                drop(imp.hold_pin());
                ready.wait();
                start.wait();
                let begin = Instant::now();
                for _ in 0..ops {
                    match w.next_op(&mut rng, keys as u64) {
                        (id, Op::Send) => imp.send(&mut local, id),
                        (id, Op::Set) => drop(imp.set(id)),
                        (id, Op::Delete) => imp.delete(id),
                    }
                }
                (begin, Instant::now())
            })
        })
        .collect();
    ready.wait();
    let full = CountingAlloc::live();
    CountingAlloc::reset_peak();
    start.wait();
    let spans: Vec<(Instant, Instant)> = hs.into_iter().map(|h| h.join().unwrap()).collect();
    let peak = CountingAlloc::peak();
    stop_pin_holder(holder, &done);
    sampler.thread().unpark();
    sampler.join().unwrap();
    for _ in 0..8 {
        imp.quiesce();
        I::quiesce_global();
    }
    let live_after = CountingAlloc::live();
    drop(imp);
    I::quiesce_global();
    let wall = match (
        spans.iter().map(|s| s.0).min(),
        spans.iter().map(|s| s.1).max(),
    ) {
        (Some(b), Some(e)) => (e - b).as_secs_f64(),
        _ => 0.0,
    };
    Garbage {
        bytes: peak - full,
        ops_per_sec: (threads as u64 * ops) as f64 / wall,
        live_after,
        peak_alive_minus_keys: peak_alive.load(Ordering::Relaxed) - keys as isize,
    }
}
