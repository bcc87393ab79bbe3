//! `just bench`: the WORKLOADS.md matrix for this crate and every peer,
//! interleaved, then memory, then the CSV, plots and README table.
//!
//! Flags (defaults = the full spec): `--ops 1000000` (per worker), `--reps 3`,
//! `--threads 1,2,4,8`, `--keys 1024,65536`, `--workloads read-heavy,mixed,churn`,
//! `--impls all`, `--out bench/results/runs.csv`, `--no-memory`, `--no-report`,
//! `--render CSV` (plots and README from an existing CSV only),
//! `--memory-only` (internal: the memory measurements, printed as lines),
//! `--criterion-table DIR` (criterion's output dir to `results/criterion.md`).

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Instant;

use channel_registry_bench::report::{self, MemRow, Row};
use channel_registry_bench::{CountingAlloc, IMPLS, Impl, XorShift64Star, dispatch};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// (name, send %, set %, delete %)
const WORKLOADS: [(&str, u64, u64, u64); 3] = [
    ("read-heavy", 98, 1, 1),
    ("mixed", 90, 5, 5),
    ("churn", 0, 50, 50),
];

struct Args {
    ops: u64,
    reps: usize,
    threads: Vec<usize>,
    keys: Vec<usize>,
    workloads: Vec<String>,
    impls: Vec<String>,
    out: PathBuf,
    memory: bool,
    report: bool,
    render: Option<PathBuf>,
    memory_only: bool,
    mem_ops: u64,
    criterion: Option<PathBuf>,
    sampling: Sampling,
}

/// Which op of each block of 64 is timed.
#[derive(Clone, Copy, PartialEq)]
enum Sampling {
    /// One op at a pseudo-random offset in each block of 64 (default): the
    /// same rate as WORKLOADS.md's "every 64th op", without locking the
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
[--keys 1024,65536] [--workloads read-heavy,mixed,churn] [--impls all|NAME,...] [--out CSV] \
[--mem-ops N] [--no-memory] [--no-report] [--render CSV] [--criterion-table DIR] \
[--sampling jitter|stride (stride implies --no-report)]
Defaults: the full matrix of the workload spec (bench/README.md).";

/// Bad command line: say why, show the usage, exit 2 (no panic).
fn fail(msg: &str) -> ! {
    eprintln!("channel-registry-bench: {msg}\n{USAGE}");
    std::process::exit(2)
}

fn parse<T: std::str::FromStr>(flag: &str, s: &str) -> T {
    s.trim()
        .parse()
        .unwrap_or_else(|_| fail(&format!("{flag}: cannot parse {s:?}")))
}

fn list<T: std::str::FromStr>(flag: &str, s: &str) -> Vec<T> {
    s.split(',').map(|x| parse(flag, x)).collect()
}

fn parse_args() -> Args {
    let mut a = Args {
        ops: 1_000_000,
        reps: 3,
        threads: vec![1, 2, 4, 8],
        keys: vec![1024, 65536],
        workloads: WORKLOADS.iter().map(|w| w.0.to_string()).collect(),
        impls: IMPLS.iter().map(|s| s.to_string()).collect(),
        out: bench_dir().join("results/runs.csv"),
        memory: true,
        report: true,
        render: None,
        memory_only: false,
        mem_ops: 200_000,
        criterion: None,
        sampling: Sampling::Jitter,
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
            "--threads" => a.threads = list(&flag, &val()),
            "--keys" => a.keys = list(&flag, &val()),
            "--workloads" => a.workloads = list(&flag, &val()),
            "--impls" => {
                let v = val();
                if v != "all" {
                    a.impls = list(&flag, &v);
                }
            }
            "--out" => a.out = PathBuf::from(val()),
            "--mem-ops" => a.mem_ops = parse(&flag, &val()),
            "--no-memory" => a.memory = false,
            "--no-report" => a.report = false,
            "--render" => a.render = Some(PathBuf::from(val())),
            "--memory-only" => a.memory_only = true,
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
    for i in &a.impls {
        if !IMPLS.contains(&i.as_str()) {
            fail(&format!("unknown impl {i}; known: {}", IMPLS.join(", ")));
        }
    }
    for w in &a.workloads {
        if !WORKLOADS.iter().any(|x| x.0 == w.as_str()) {
            fail(&format!("unknown workload {w}"));
        }
    }
    a
}

struct RunResult {
    wall_s: f64,
    samples: Vec<u32>,
}

fn prefill<I: Impl>(imp: &I, keys: usize) -> Vec<I::Rx> {
    (0..keys as u64).map(|id| imp.set(id)).collect()
}

/// One run: prefill, T workers behind one barrier, wall time from the
/// barrier to the last worker's end. One op in every 64 is timed
/// (`Sampling`).
fn run<I: Impl>(
    keys: usize,
    threads: usize,
    ops: u64,
    mix: (u64, u64),
    sampling: Sampling,
) -> RunResult {
    let imp = Arc::new(I::new(keys));
    let held = prefill(&*imp, keys);
    let barrier = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|w| {
            let imp = Arc::clone(&imp);
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let mut local = imp.local(keys);
                let mut rxs: Vec<Option<I::Rx>> = (0..keys).map(|_| None).collect();
                let mut samples = Vec::with_capacity((ops / 64 + 1) as usize);
                let mut rng = XorShift64Star::new(w as u64 + 1);
                // The sampler draws from its own generator, so the op
                // sequence stays the one WORKLOADS.md seeds.
                let mut pick = XorShift64Star::new(0x9E37_79B9_7F4A_7C15 ^ (w as u64 + 1));
                let mut target = 0;
                let (send_pct, set_pct) = mix;
                barrier.wait();
                // Each worker stamps its own start: the earliest of them is
                // the barrier's release (the main thread may be descheduled
                // after it and would stamp late).
                let begin = Instant::now();
                for i in 0..ops {
                    let id = rng.next_u64() % keys as u64;
                    let p = rng.next_u64() % 100;
                    if i & 63 == 0 && sampling == Sampling::Jitter {
                        target = i + pick.next_u64() % 64;
                    }
                    let timed = match sampling {
                        Sampling::Jitter => i == target,
                        Sampling::Stride => i & 63 == 0,
                    };
                    let t0 = if timed { Some(Instant::now()) } else { None };
                    if p < send_pct {
                        imp.send(&mut local, id);
                    } else if p < send_pct + set_pct {
                        rxs[id as usize] = Some(imp.set(id));
                    } else {
                        imp.delete(id);
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
    let mut rev = sh(
        "git",
        &[
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "rev-parse",
            "--short",
            "HEAD",
        ],
    );
    if !sh(
        "git",
        &["-C", env!("CARGO_MANIFEST_DIR"), "status", "--porcelain"],
    )
    .is_empty()
    {
        rev.push_str("-dirty");
    }
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

fn main() {
    let args = parse_args();
    if args.memory_only {
        memory_only(&args);
        return;
    }
    if let Some(dir) = &args.criterion {
        let table = report::criterion_table(dir);
        print!("{table}");
        fs::write(bench_dir().join("results/criterion.md"), table).unwrap();
        return;
    }
    if let Some(csv) = &args.render {
        let rows = report::read_csv(csv);
        let mem = report::read_mem_csv(&csv.with_file_name("memory.csv"));
        report::render(&rows, &mem, &bench_dir());
        return;
    }
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
    fs::create_dir_all(args.out.parent().unwrap()).unwrap();
    let mut rows = Vec::new();
    let total = args.reps * args.workloads.len() * args.keys.len() * args.threads.len();
    let t_all = Instant::now();
    let mut n = 0;
    for rep in 0..args.reps {
        for wl in &args.workloads {
            let &(_, send, set, _) = WORKLOADS.iter().find(|w| w.0 == wl).expect("workload");
            for &keys in &args.keys {
                for &threads in &args.threads {
                    n += 1;
                    for name in &args.impls {
                        let r = dispatch!(name.as_str(), I => run::<I>(keys, threads, args.ops, (send, set), args.sampling));
                        let total_ops = args.ops * threads as u64;
                        let row = Row {
                            date: h.date.clone(),
                            rev: h.rev.clone(),
                            nproc: h.nproc.clone(),
                            cpu: h.cpu.clone(),
                            load_start: h.load.clone(),
                            clock_ns: clock_mean,
                            msg: "&'static str".into(),
                            imp: name.clone(),
                            workload: wl.clone(),
                            threads,
                            keys,
                            ops: total_ops,
                            ops_per_worker: args.ops,
                            rep,
                            wall_s: r.wall_s,
                            ops_per_sec: total_ops as f64 / r.wall_s,
                            p50: pct(&r.samples, 0.5),
                            p99: pct(&r.samples, 0.99),
                            p999: pct(&r.samples, 0.999),
                            samples: r.samples.len(),
                        };
                        println!("{}", row.line());
                        rows.push(row);
                    }
                    eprintln!(
                        "[{n}/{total} configurations, {:.0} s elapsed]",
                        t_all.elapsed().as_secs_f64()
                    );
                    report::write_csv(&args.out, &rows);
                }
            }
        }
    }
    println!("matrix took {:.0} s", t_all.elapsed().as_secs_f64());
    let mem_path = args.out.with_file_name("memory.csv");
    let mem = if args.memory {
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["--memory-only", "--mem-ops", &args.mem_ops.to_string()])
            .output()
            .expect("memory run");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        print!("{text}");
        let mem: Vec<MemRow> = text.lines().filter_map(MemRow::parse).collect();
        report::write_mem_csv(&mem_path, &mem);
        mem
    } else {
        report::read_mem_csv(&mem_path)
    };
    println!("\nmedians of {} interleaved repetitions:", args.reps);
    print!("{}", report::medians_markdown(&rows));
    if args.report {
        report::render(&rows, &mem, &bench_dir());
    }
}

/// Memory, in its own process with the counting allocator on.
///
/// Per instance: live heap after prefilling K ids (receivers held, as a
/// consumer would), less the empty structure, over K.
/// Churn garbage: 8 threads of the churn workload on 1,024 ids, receivers
/// dropped right after `set` (so the harness holds no retired channel); a
/// sampler thread records the peak live heap (and, for this crate,
/// `channels_alive()`); garbage = peak − the live heap with all 1,024 ids
/// registered (the largest the live set can be), measured before the run.
fn memory_only(args: &Args) {
    CountingAlloc::enable();
    for name in &args.impls {
        for &keys in &[1024usize, 65536] {
            let bytes = dispatch!(name.as_str(), I => per_instance::<I>(keys));
            println!("mem kind=per_instance impl={name} keys={keys} bytes={bytes:.1}");
        }
    }
    for name in &args.impls {
        for &threads in &[2usize, 8] {
            let (garbage, after, alive) =
                dispatch!(name.as_str(), I => churn_garbage::<I>(1024, threads, args.mem_ops));
            println!(
                "mem kind=churn_garbage impl={name} keys=1024 threads={threads} bytes={garbage} live_after={after} peak_alive_minus_keys={alive}"
            );
        }
    }
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

fn churn_garbage<I: Impl>(keys: usize, threads: usize, ops: u64) -> (isize, isize, isize) {
    use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
    I::quiesce_global();
    let imp = Arc::new(I::new(keys));
    for id in 0..keys as u64 {
        drop(imp.set(id));
    }
    imp.quiesce();
    let full = CountingAlloc::live();
    let done = Arc::new(AtomicBool::new(false));
    let peak_alive = Arc::new(AtomicIsize::new(0));
    CountingAlloc::reset_peak();
    let sampler = {
        let done = Arc::clone(&done);
        let peak_alive = Arc::clone(&peak_alive);
        thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak_alive.fetch_max(
                    channel_registry::channels_alive() as isize,
                    Ordering::Relaxed,
                );
                thread::sleep(std::time::Duration::from_micros(50));
            }
        })
    };
    let hs: Vec<_> = (0..threads)
        .map(|w| {
            let imp = Arc::clone(&imp);
            thread::spawn(move || {
                let mut rng = XorShift64Star::new(w as u64 + 1);
                for _ in 0..ops {
                    let id = rng.next_u64() % keys as u64;
                    if rng.next_u64() % 100 < 50 {
                        drop(imp.set(id));
                    } else {
                        imp.delete(id);
                    }
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let peak = CountingAlloc::peak();
    for _ in 0..8 {
        imp.quiesce();
        I::quiesce_global();
    }
    let after = CountingAlloc::live();
    drop(imp);
    I::quiesce_global();
    (
        peak - full,
        after,
        peak_alive.load(Ordering::Relaxed) - keys as isize,
    )
}
