//! The CSV of every run, medians, SVG plots and the README block.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use plotters::prelude::*;

use crate::{IMPLS, ROWS};

/// One run.
#[derive(Clone, Debug)]
pub struct Row {
    /// UTC date of the invocation.
    pub date: String,
    /// Git revision the binary was built from (`-dirty` if its sources had
    /// uncommitted changes then: bench/build.rs).
    pub rev: String,
    /// Available parallelism.
    pub nproc: String,
    /// CPU model from /proc/cpuinfo.
    pub cpu: String,
    /// Load average (1, 5, 15 min) at the start of the invocation.
    pub load_start: String,
    /// `Instant::now()` back-to-back cost, ns (mean).
    pub clock_ns: f64,
    /// Message type.
    pub msg: String,
    /// Implementation.
    pub imp: String,
    /// Workload name.
    pub workload: String,
    /// Worker threads.
    pub threads: usize,
    /// Key space.
    pub keys: usize,
    /// Total ops (all workers).
    pub ops: u64,
    /// Ops per worker.
    pub ops_per_worker: u64,
    /// Repetition index.
    pub rep: usize,
    /// Wall seconds from the barrier to the last worker's end.
    pub wall_s: f64,
    /// Throughput.
    pub ops_per_sec: f64,
    /// Latency percentiles of the sampled ops (one in every 64), ns.
    pub p50: u32,
    /// p99, ns.
    pub p99: u32,
    /// p99.9, ns.
    pub p999: u32,
    /// p99.99, ns (`None` when read from a CSV written before it existed).
    pub p9999: Option<u32>,
    /// The slowest sample, ns (`None` as for `p9999`).
    pub max: Option<u32>,
    /// Number of latency samples.
    pub samples: usize,
    /// Churn cells: peak garbage in bytes, from the untimed garbage run of
    /// the same cell (`None` elsewhere, or when not measured).
    pub garbage: Option<i64>,
}

/// The CSV header. [`read_csv`] finds columns by name, so a CSV written
/// before `p9999_ns`, `max_ns` and `garbage_bytes` existed still reads.
const HEADER: &str = "date,rev,nproc,cpu,load_start,clock_ns,msg,impl,workload,threads,keys,ops,ops_per_worker,rep,wall_s,ops_per_sec,p50_ns,p99_ns,p999_ns,p9999_ns,max_ns,samples,garbage_bytes";

/// `Some(x)` as `x`, `None` as the empty string (an empty CSV cell).
fn opt<T: std::fmt::Display>(x: Option<T>) -> String {
    x.map_or(String::new(), |x| x.to_string())
}

impl Row {
    /// The spec's output line, then `p9999_ns` and `max_ns` when known.
    pub fn line(&self) -> String {
        let mut l = format!(
            "impl={} workload={} threads={} keys={} ops={} ops_per_sec={:.0} p50_ns={} p99_ns={} p999_ns={}",
            self.imp,
            self.workload,
            self.threads,
            self.keys,
            self.ops,
            self.ops_per_sec,
            self.p50,
            self.p99,
            self.p999
        );
        if let Some(p) = self.p9999 {
            let _ = write!(l, " p9999_ns={p}");
        }
        if let Some(m) = self.max {
            let _ = write!(l, " max_ns={m}");
        }
        l
    }
    fn csv(&self) -> String {
        format!(
            "{},{},{},\"{}\",{},{:.1},{},{},{},{},{},{},{},{},{:.6},{:.0},{},{},{},{},{},{},{}",
            self.date,
            self.rev,
            self.nproc,
            self.cpu.replace('"', ""),
            self.load_start,
            self.clock_ns,
            self.msg,
            self.imp,
            self.workload,
            self.threads,
            self.keys,
            self.ops,
            self.ops_per_worker,
            self.rep,
            self.wall_s,
            self.ops_per_sec,
            self.p50,
            self.p99,
            self.p999,
            opt(self.p9999),
            opt(self.max),
            self.samples,
            opt(self.garbage)
        )
    }
}

/// Splits a CSV line on commas outside double quotes.
fn split_csv(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(String::new()),
            c => out.last_mut().unwrap().push(c),
        }
    }
    out
}

/// Writes every run (header first).
pub fn write_csv(path: &Path, rows: &[Row]) -> Result<(), String> {
    let mut s = String::from(HEADER);
    s.push('\n');
    for r in rows {
        s.push_str(&r.csv());
        s.push('\n');
    }
    fs::write(path, s).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// A CSV line's cells, looked up by the header's column names.
struct Cells<'a> {
    names: &'a [String],
    cells: Vec<String>,
    line: usize,
}

impl Cells<'_> {
    fn raw(&self, name: &str) -> Option<&str> {
        let i = self.names.iter().position(|n| n == name)?;
        self.cells.get(i).map(String::as_str)
    }
    /// A column every CSV of this harness has.
    fn get<T: std::str::FromStr>(&self, name: &str) -> Result<T, String> {
        let v = self
            .raw(name)
            .ok_or_else(|| format!("line {}: no {name} column", self.line))?;
        v.parse()
            .map_err(|_| format!("line {}: {name}: cannot parse {v:?}", self.line))
    }
    /// A column added later: absent or empty is `None`.
    fn opt<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, String> {
        match self.raw(name) {
            None | Some("") => Ok(None),
            Some(_) => self.get(name).map(Some),
        }
    }
}

/// Reads a CSV written by [`write_csv`], or by the harness before the
/// p99.99, max and garbage columns existed (those are then `None`).
pub fn read_csv(path: &Path) -> Result<Vec<Row>, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut lines = text.lines();
    let names = split_csv(lines.next().unwrap_or(""));
    let rows = lines
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
        .map(|(i, l)| {
            let c = Cells {
                names: &names,
                cells: split_csv(l),
                line: i + 2,
            };
            Ok(Row {
                date: c.get("date")?,
                rev: c.get("rev")?,
                nproc: c.get("nproc")?,
                cpu: c.get("cpu")?,
                load_start: c.get("load_start")?,
                clock_ns: c.get("clock_ns")?,
                msg: c.get("msg")?,
                imp: c.get("impl")?,
                workload: c.get("workload")?,
                threads: c.get("threads")?,
                keys: c.get("keys")?,
                ops: c.get("ops")?,
                ops_per_worker: c.get("ops_per_worker")?,
                rep: c.get("rep")?,
                wall_s: c.get("wall_s")?,
                ops_per_sec: c.get("ops_per_sec")?,
                p50: c.get("p50_ns")?,
                p99: c.get("p99_ns")?,
                p999: c.get("p999_ns")?,
                p9999: c.opt("p9999_ns")?,
                max: c.opt("max_ns")?,
                samples: c.get("samples")?,
                garbage: c.opt("garbage_bytes")?,
            })
        })
        .collect::<Result<Vec<Row>, String>>();
    rows.map_err(|e| format!("{}: {e}", path.display()))
}

/// One memory figure.
#[derive(Clone, Debug)]
pub struct MemRow {
    /// `per_instance` or `churn_garbage`.
    pub kind: String,
    /// Implementation.
    pub imp: String,
    /// Key space.
    pub keys: usize,
    /// Threads (churn only; 0 otherwise).
    pub threads: usize,
    /// Bytes (per instance, or peak garbage).
    pub bytes: f64,
}

impl MemRow {
    /// Parses a `mem kind=… impl=… keys=… [threads=…] bytes=…` line.
    pub fn parse(line: &str) -> Option<MemRow> {
        let rest = line.strip_prefix("mem ")?;
        let mut m = BTreeMap::new();
        for kv in rest.split_whitespace() {
            let (k, v) = kv.split_once('=')?;
            m.insert(k, v);
        }
        Some(MemRow {
            kind: m.get("kind")?.to_string(),
            imp: m.get("impl")?.to_string(),
            keys: m.get("keys")?.parse().ok()?,
            threads: m.get("threads").map_or(0, |t| t.parse().unwrap_or(0)),
            bytes: m.get("bytes")?.parse().ok()?,
        })
    }
}

/// Writes the memory figures.
pub fn write_mem_csv(path: &Path, rows: &[MemRow]) -> Result<(), String> {
    let mut s = String::from("kind,impl,keys,threads,bytes\n");
    for r in rows {
        let _ = writeln!(
            s,
            "{},{},{},{},{:.1}",
            r.kind, r.imp, r.keys, r.threads, r.bytes
        );
    }
    fs::write(path, s).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Reads [`write_mem_csv`]'s file (empty if absent).
pub fn read_mem_csv(path: &Path) -> Vec<MemRow> {
    let Ok(text) = fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Some(MemRow {
                kind: f.first()?.to_string(),
                imp: f.get(1)?.to_string(),
                keys: f.get(2)?.parse().ok()?,
                threads: f.get(3)?.parse().ok()?,
                bytes: f.get(4)?.parse().ok()?,
            })
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The median of the values present; `None` if none is.
fn median_opt(v: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let v: Vec<f64> = v.flatten().collect();
    (!v.is_empty()).then(|| median(v))
}

/// The medians of one (workload, keys, threads, impl) over its repetitions.
#[derive(Clone, Debug)]
pub struct Med {
    /// Throughput, ops/s.
    pub ops_per_sec: f64,
    /// p99.9, ns.
    pub p999: f64,
    /// p99.99, ns (absent in CSVs from before it existed).
    pub p9999: Option<f64>,
    /// Slowest sample, ns (likewise).
    pub max: Option<f64>,
    /// Peak garbage, bytes (churn cells).
    pub garbage: Option<f64>,
    /// Repetitions.
    pub runs: usize,
}

/// (workload, keys, threads, impl) → medians over repetitions.
pub type Medians = BTreeMap<(String, usize, usize, String), Med>;

/// Medians over repetitions.
pub fn medians(rows: &[Row]) -> Medians {
    let mut g: BTreeMap<(String, usize, usize, String), Vec<&Row>> = BTreeMap::new();
    for r in rows {
        g.entry((r.workload.clone(), r.keys, r.threads, r.imp.clone()))
            .or_default()
            .push(r);
    }
    g.into_iter()
        .map(|(k, v)| {
            let med = Med {
                ops_per_sec: median(v.iter().map(|r| r.ops_per_sec).collect()),
                p999: median(v.iter().map(|r| r.p999 as f64).collect()),
                p9999: median_opt(v.iter().map(|r| r.p9999.map(f64::from))),
                max: median_opt(v.iter().map(|r| r.max.map(f64::from))),
                garbage: median_opt(v.iter().map(|r| r.garbage.map(|g| g as f64))),
                runs: v.len(),
            };
            (k, med)
        })
        .collect()
}

const ORDER: [&str; 4] = ["read-heavy", "mixed", "churn", "churn-held-pin"];
const OURS: [&str; 2] = ["registry-routed", "registry-cached"];

fn ordered_impls(m: &Medians) -> Vec<String> {
    ROWS.iter()
        .filter(|i| m.keys().any(|k| k.3 == **i))
        .map(|s| s.to_string())
        .collect()
}

fn configs(m: &Medians) -> Vec<(String, usize, usize)> {
    let mut c: Vec<(String, usize, usize)> = m
        .keys()
        .map(|k| (k.0.clone(), k.1, k.2))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    c.sort_by_key(|(w, k, t)| (ORDER.iter().position(|o| o == w), *k, *t));
    c
}

fn best_peer(m: &Medians, w: &str, k: usize, t: usize, impls: &[String]) -> Option<(String, f64)> {
    impls
        .iter()
        .filter(|i| !OURS.contains(&i.as_str()))
        .filter_map(|i| {
            m.get(&(w.to_string(), k, t, i.clone()))
                .map(|v| (i.clone(), v.ops_per_sec))
        })
        .max_by(|a, b| a.1.partial_cmp(&b.1).unwrap())
}

fn mops(x: f64) -> String {
    format!("{:.2}", x / 1e6)
}

/// The header row and rule of a table with one column per impl.
fn table_head(first: &str, impls: &[String], tail: &[&str]) -> String {
    let mut s = format!("| {first} |");
    for i in impls.iter().map(String::as_str).chain(tail.iter().copied()) {
        let _ = write!(s, " {i} |");
    }
    s.push_str("\n|");
    for _ in 0..first.matches(" | ").count() + 1 + impls.len() + tail.len() {
        s.push_str("---|");
    }
    s.push('\n');
    s
}

/// One row of per-impl cells: `cell` formats an impl's medians ("–" if the
/// impl has no run in this configuration).
fn impl_cells(
    m: &Medians,
    (w, k, t): (&str, usize, usize),
    impls: &[String],
    cell: impl Fn(&Med) -> String,
) -> String {
    let mut s = String::new();
    for i in impls {
        match m.get(&(w.to_string(), k, t, i.clone())) {
            Some(v) => {
                let _ = write!(s, " {} |", cell(v));
            }
            None => s.push_str(" – |"),
        }
    }
    s
}

/// The full medians table (Mops/s, every impl) with ratios to the best peer.
pub fn medians_markdown(rows: &[Row]) -> String {
    let m = medians(rows);
    let impls = ordered_impls(&m);
    let mut s = table_head(
        "workload | keys | threads",
        &impls,
        &["best peer", "routed ÷ best", "cached ÷ best"],
    );
    for (w, k, t) in configs(&m) {
        let _ = write!(s, "| {w} | {k} | {t} |");
        s.push_str(&impl_cells(&m, (&w, k, t), &impls, |v| mops(v.ops_per_sec)));
        let best = best_peer(&m, &w, k, t, &impls);
        let ratio = |o: &str| -> String {
            match (&best, m.get(&(w.clone(), k, t, o.to_string()))) {
                (Some((_, b)), Some(v)) => format!("{:.2}", v.ops_per_sec / b),
                _ => "–".into(),
            }
        };
        let _ = writeln!(
            s,
            " {} | {} | {} |",
            best.as_ref().map_or("–".into(), |b| b.0.clone()),
            ratio(OURS[0]),
            ratio(OURS[1])
        );
    }
    s
}

/// What the latency samples of `rows` rest on: samples per worker, and how
/// many of the slowest decide p99.9 and p99.99 (one op in 64 is timed).
pub fn sampling_note(rows: &[Row]) -> String {
    let per_worker = rows.first().map_or(0, |r| r.ops_per_worker) as f64 / 64.0;
    format!(
        "one op in 64 is timed, so a run has {per_worker:.0} samples per worker: p99.9 is decided by \
         the slowest ~{:.1} samples per worker, p99.99 by the slowest ~{:.1} per worker (a handful \
         per run: read it as an order of magnitude), max by the single slowest of the run",
        per_worker * 1e-3,
        per_worker * 1e-4
    )
}

/// Latency medians, ns: p99.9 / p99.99 / max per impl, at `threads` only
/// (`None`: every configuration).
pub fn latency_markdown(rows: &[Row], threads: Option<usize>) -> String {
    let m = medians(rows);
    let impls = ordered_impls(&m);
    let mut s = format!(
        "Latency, ns, p99.9 / p99.99 / max (medians over repetitions; {}):\n\n",
        sampling_note(rows)
    );
    s.push_str(&table_head("workload | keys | threads", &impls, &[]));
    let ns = |x: Option<f64>| x.map_or("–".into(), |x| format!("{x:.0}"));
    for (w, k, t) in configs(&m) {
        if threads.is_some_and(|x| x != t) {
            continue;
        }
        let _ = write!(s, "| {w} | {k} | {t} |");
        s.push_str(&impl_cells(&m, (&w, k, t), &impls, |v| {
            format!("{} / {} / {}", ns(Some(v.p999)), ns(v.p9999), ns(v.max))
        }));
        s.push('\n');
    }
    s
}

/// The definition of peak garbage, for the tables' headers.
pub const GARBAGE_DEFINITION: &str = "peak garbage, KiB: an untimed run of the same cell \
(same ids, threads, op sequence and held pin; `--mem-ops` ops per worker; receivers dropped at once, so \
the harness keeps no retired channel alive) in a child process with the counting allocator on; \
garbage = the highest live heap during the run − the live heap right after the prefill (all ids \
registered, deferred frees flushed, every thread started). The Go row: Go's heap objects \
(live, or dead and not yet swept) sampled every 1 ms, peak − the heap after the prefill and a \
full collection";

/// Peak garbage medians (KiB) of the churn cells, at `threads` only
/// (`None`: every thread count). Empty if no row has a garbage figure.
pub fn garbage_markdown(rows: &[Row], threads: Option<usize>) -> String {
    let m = medians(rows);
    if m.values().all(|v| v.garbage.is_none()) {
        return String::new();
    }
    let impls = ordered_impls(&m);
    let mut s = format!("{GARBAGE_DEFINITION}:\n\n");
    s.push_str(&table_head("workload | keys | threads", &impls, &[]));
    for (w, k, t) in configs(&m) {
        let has = impls.iter().any(|i| {
            m.get(&(w.clone(), k, t, i.clone()))
                .is_some_and(|v| v.garbage.is_some())
        });
        if !has || threads.is_some_and(|x| x != t) {
            continue;
        }
        let _ = write!(s, "| {w} | {k} | {t} |");
        s.push_str(&impl_cells(&m, (&w, k, t), &impls, |v| {
            v.garbage
                .map_or("–".into(), |g| format!("{:.0}", g / 1024.0))
        }));
        s.push('\n');
    }
    s
}

/// Memory table.
pub fn memory_markdown(mem: &[MemRow]) -> String {
    if mem.is_empty() {
        return String::new();
    }
    let impls: Vec<&str> = ROWS
        .iter()
        .copied()
        .filter(|i| mem.iter().any(|r| r.imp == *i))
        .collect();
    let mut s = String::from("| memory |");
    for i in &impls {
        let _ = write!(s, " {i} |");
    }
    s.push_str("\n|---|");
    for _ in &impls {
        s.push_str("---|");
    }
    s.push('\n');
    let mut kinds: Vec<(String, usize, usize)> = mem
        .iter()
        .map(|r| (r.kind.clone(), r.keys, r.threads))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    kinds.sort_by_key(|k| (!k.0.starts_with("per_instance"), k.1, k.0.clone(), k.2));
    for (kind, keys, threads) in kinds {
        let label = match kind.as_str() {
            "per_instance" => format!("bytes per idle instance, {keys} ids"),
            "per_instance_state24" => {
                format!("bytes per idle instance with a 24-byte state, {keys} ids")
            }
            _ => format!("peak churn garbage (KiB), {keys} ids, {threads} threads"),
        };
        let _ = write!(s, "| {label} |");
        for i in &impls {
            match mem
                .iter()
                .find(|r| r.kind == kind && r.keys == keys && r.threads == threads && r.imp == *i)
            {
                Some(r) if kind.starts_with("per_instance") => {
                    let _ = write!(s, " {:.0} |", r.bytes);
                }
                Some(r) => {
                    let _ = write!(s, " {:.0} |", r.bytes / 1024.0);
                }
                None => s.push_str(" – |"),
            }
        }
        s.push('\n');
    }
    s
}

const COLORS: [RGBColor; 9] = [
    RGBColor(214, 39, 40),
    RGBColor(255, 127, 14),
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
    RGBColor(127, 127, 127),
];

fn color(imp: &str) -> RGBColor {
    COLORS[ROWS.iter().position(|i| *i == imp).unwrap_or(0) % COLORS.len()]
}

/// Throughput against threads, one panel per (workload, keys).
fn plot_throughput(m: &Medians, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let impls = ordered_impls(m);
    let keys: Vec<usize> = m
        .keys()
        .map(|k| k.1)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let wls: Vec<&str> = ORDER
        .iter()
        .copied()
        .filter(|w| m.keys().any(|k| k.0 == *w))
        .collect();
    let root = SVGBackend::new(path, (420 * wls.len() as u32, 340 * keys.len() as u32))
        .into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((keys.len(), wls.len()));
    for (ki, k) in keys.iter().enumerate() {
        for (wi, w) in wls.iter().enumerate() {
            let area = &panels[ki * wls.len() + wi];
            let pts = |i: &str| -> Vec<(f64, f64)> {
                m.iter()
                    .filter(|(key, _)| key.0 == *w && key.1 == *k && key.3 == i)
                    .map(|(key, v)| (key.2 as f64, v.ops_per_sec / 1e6))
                    .collect()
            };
            let ymax = impls
                .iter()
                .flat_map(|i| pts(i))
                .map(|p| p.1)
                .fold(0.0, f64::max)
                * 1.1;
            let tmax = m.keys().map(|k| k.2).max().unwrap_or(8) as f64;
            let mut chart = ChartBuilder::on(area)
                .caption(format!("{w}, {k} ids"), ("sans-serif", 18))
                .margin(8)
                .x_label_area_size(30)
                .y_label_area_size(45)
                .build_cartesian_2d(0.5f64..tmax + 0.5, 0f64..ymax.max(0.1))?;
            chart
                .configure_mesh()
                .x_desc("threads")
                .y_desc("Mops/s")
                .x_labels(9)
                .draw()?;
            for i in &impls {
                let c = color(i);
                let p = pts(i);
                chart
                    .draw_series(LineSeries::new(p.clone(), c.stroke_width(2)))?
                    .label(i.as_str())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], c));
                chart.draw_series(p.into_iter().map(|q| Circle::new(q, 3, c.filled())))?;
            }
            if ki == 0 && wi == 0 {
                chart
                    .configure_series_labels()
                    .background_style(WHITE.mix(0.8))
                    .border_style(BLACK)
                    .label_font(("sans-serif", 11))
                    .position(SeriesLabelPosition::UpperRight)
                    .draw()?;
            }
        }
    }
    root.present()?;
    Ok(())
}

/// A tail percentile (`label`, read by `metric`) at the highest thread
/// count: bars per impl, one panel per (workload, keys).
fn plot_tail(
    m: &Medians,
    path: &Path,
    label: &str,
    metric: fn(&Med) -> Option<f64>,
) -> Result<(), Box<dyn std::error::Error>> {
    let impls = ordered_impls(m);
    let tmax = m.keys().map(|k| k.2).max().unwrap_or(8);
    let cfgs: Vec<(String, usize)> = configs(m)
        .into_iter()
        .filter(|c| c.2 == tmax)
        .map(|c| (c.0, c.1))
        .collect();
    let root =
        SVGBackend::new(path, (420 * 3, 300 * cfgs.len().div_ceil(3) as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((cfgs.len().div_ceil(3), 3));
    for ((w, k), area) in cfgs.iter().zip(panels.iter()) {
        let vals: Vec<(usize, f64)> = impls
            .iter()
            .enumerate()
            .filter_map(|(n, i)| {
                m.get(&(w.clone(), *k, tmax, i.clone()))
                    .and_then(metric)
                    .map(|v| (n, v / 1000.0))
            })
            .collect();
        let ymax = vals.iter().map(|v| v.1).fold(0.0, f64::max) * 2.0;
        let names = impls.clone();
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!("{label} at {tmax} threads: {w}, {k} ids"),
                ("sans-serif", 16),
            )
            .margin(8)
            .x_label_area_size(60)
            .y_label_area_size(45)
            .build_cartesian_2d(
                -0.5f64..impls.len() as f64 - 0.5,
                (0.1f64..ymax.max(1.0)).log_scale(),
            )?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .y_desc("µs (log scale)")
            .x_labels(impls.len())
            .x_label_formatter(&move |x| {
                let i = x.round();
                if (x - i).abs() < 0.01 && i >= 0.0 {
                    names
                        .get(i as usize)
                        .map(|s| s.replace("registry-", "reg-").replace("-hashmap", ""))
                        .unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .x_label_style(("sans-serif", 10))
            .draw()?;
        chart.draw_series(vals.iter().map(|(n, v)| {
            let c = color(&impls[*n]);
            Rectangle::new(
                [(*n as f64 - 0.35, 0.1), (*n as f64 + 0.35, v.max(0.1))],
                c.filled(),
            )
        }))?;
    }
    root.present()?;
    Ok(())
}

/// Where [`render`] writes.
pub enum Target<'a> {
    /// The bench crate's directory: plots and `medians.md` into its
    /// `results`, the table into the repository README's block.
    Repository(&'a Path),
    /// Another directory (`--render-to`): plots, `medians.md`, and the
    /// README's block as `readme-block.md`; the repository is not touched.
    Elsewhere(&'a Path),
}

/// Plots, medians file and the README block, from the rows of one
/// invocation (and the memory figures).
pub fn render(rows: &[Row], mem: &[MemRow], to: Target<'_>) -> Result<(), String> {
    let m = medians(rows);
    let res = match to {
        Target::Repository(bench_dir) => bench_dir.join("results"),
        Target::Elsewhere(dir) => dir.to_path_buf(),
    };
    let io = |what: &str, e: &dyn std::fmt::Display| format!("{what}: {e}");
    fs::create_dir_all(&res).map_err(|e| io(&res.display().to_string(), &e))?;
    plot_throughput(&m, &res.join("throughput.svg")).map_err(|e| io("plot throughput", &e))?;
    plot_tail(&m, &res.join("p999.svg"), "p99.9", |v| Some(v.p999))
        .map_err(|e| io("plot p99.9", &e))?;
    plot_tail(&m, &res.join("p9999.svg"), "p99.99", |v| v.p9999)
        .map_err(|e| io("plot p99.99", &e))?;
    let first = rows.first().ok_or("no runs to render")?;
    let reps = rows.iter().map(|r| r.rep).max().unwrap_or(0) + 1;
    let tmax = rows.iter().map(|r| r.threads).max().unwrap_or(0);
    // A CSV may join the runs of several invocations (say, one per `--keys`
    // value, bench/README.md): name each one's start, load, ids, threads
    // and repetitions, and every revision.
    let mut starts: Vec<&str> = Vec::new();
    let mut revs: Vec<&str> = Vec::new();
    let mut cpus: Vec<&str> = Vec::new();
    for r in rows {
        if !starts.contains(&r.date.as_str()) {
            starts.push(&r.date);
        }
        if !revs.contains(&r.rev.as_str()) {
            revs.push(&r.rev);
        }
        if !cpus.contains(&r.cpu.as_str()) {
            cpus.push(&r.cpu);
        }
    }
    let list = |mut v: Vec<usize>| {
        v.sort_unstable();
        v.dedup();
        v.iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let taken = starts
        .iter()
        .map(|d| {
            let part: Vec<&Row> = rows.iter().filter(|r| r.date == *d).collect();
            let part_reps = part.iter().map(|r| r.rep).max().unwrap_or(0) + 1;
            let what = if starts.len() == 1 {
                String::new()
            } else {
                let mut workloads: Vec<&str> = Vec::new();
                for r in &part {
                    if !workloads.contains(&r.workload.as_str()) {
                        workloads.push(&r.workload);
                    }
                }
                format!(
                    "; {}; ids {}; threads {}; {part_reps} repetitions; rev {} on {}",
                    workloads.join(", "),
                    list(part.iter().map(|r| r.keys).collect()),
                    list(part.iter().map(|r| r.threads).collect()),
                    part[0].rev,
                    part[0].cpu
                )
            };
            format!("{d} (load average at start {}{what})", part[0].load_start)
        })
        .collect::<Vec<_>>()
        .join(" and ");
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Taken {} on {} ({} CPUs), rev {}; \
         {} ops per worker, medians of {} interleaved repetitions{}; message `&'static str` \
         (the Go row: a constant `string`); every Rust impl keeps the receivers of current \
         channels alive; latency from one op in every 64, timed at a random offset in its \
         block. `just bench` regenerates this block, the plots and `bench/results/runs.csv` \
         (every run); `bench/README.md` describes the harness and each row.\n",
        taken,
        cpus.join(" and "),
        first.nproc,
        revs.join(", "),
        first.ops_per_worker,
        reps,
        if starts.len() > 1 {
            " (each part's rows are interleaved among themselves, so a ratio in one \
             configuration compares rows measured side by side; configurations of \
             different parts may come from different machines and revisions)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        s,
        "![throughput against threads](bench/results/throughput.svg)\n\n\
         ![p99.9 at {tmax} threads](bench/results/p999.svg)\n\n\
         ![p99.99 at {tmax} threads](bench/results/p9999.svg)\n"
    );
    s.push_str(&short_table(&m, &[2, 8]));
    let _ = writeln!(s, "\n{}", latency_markdown(rows, Some(tmax)));
    let gm = garbage_markdown(rows, None);
    if !gm.is_empty() {
        let _ = writeln!(s, "{gm}");
    }
    let mm = memory_markdown(mem);
    if !mm.is_empty() {
        let _ = writeln!(s, "{mm}");
    }
    let _ = writeln!(s, "Every median, per impl: `bench/results/medians.md`.");
    let full = format!(
        "# Medians\n\n{}\n\n{}\n{}\n{}\n{}",
        s.lines().next().unwrap_or(""),
        medians_markdown(rows),
        latency_markdown(rows, None),
        garbage_markdown(rows, None),
        memory_markdown(mem)
    );
    let medians_md = res.join("medians.md");
    fs::write(&medians_md, full).map_err(|e| io(&medians_md.display().to_string(), &e))?;
    let readme = match to {
        Target::Repository(bench_dir) => bench_dir.join("../README.md"),
        Target::Elsewhere(dir) => {
            let block = dir.join("readme-block.md");
            return fs::write(&block, s).map_err(|e| io(&block.display().to_string(), &e));
        }
    };
    if let Ok(text) = fs::read_to_string(&readme) {
        let (a, b) = ("<!-- bench-table:start -->", "<!-- bench-table:end -->");
        if let (Some(i), Some(j)) = (text.find(a), text.find(b)) {
            let new = format!("{}{}\n{}{}", &text[..i + a.len()], "", s, &text[j..]);
            fs::write(&readme, new).map_err(|e| io(&readme.display().to_string(), &e))?;
        }
    }
    Ok(())
}

/// The README's short throughput table: ours against the best peer, at the
/// given thread counts.
fn short_table(m: &Medians, threads: &[usize]) -> String {
    let impls = ordered_impls(m);
    let mut s = String::from(
        "Throughput, Mops/s (ratio = ours ÷ best peer):\n\n| workload | ids | threads | routed | cached | best peer | routed ratio | cached ratio |\n|---|---|---|---|---|---|---|---|\n",
    );
    for (w, k, t) in configs(m) {
        if !threads.contains(&t) {
            continue;
        }
        let get = |i: &str| {
            m.get(&(w.clone(), k, t, i.to_string()))
                .map(|v| v.ops_per_sec)
        };
        let best = best_peer(m, &w, k, t, &impls);
        let cell = |x: Option<f64>| x.map_or("–".into(), mops);
        let ratio = |x: Option<f64>| match (x, &best) {
            (Some(x), Some((_, b))) => format!("{:.2}", x / b),
            _ => "–".into(),
        };
        let _ = writeln!(
            s,
            "| {w} | {k} | {t} | {} | {} | {} {} | {} | {} |",
            cell(get(OURS[0])),
            cell(get(OURS[1])),
            best.as_ref().map_or("–".into(), |b| b.0.clone()),
            best.as_ref().map_or("–".into(), |b| mops(b.1)),
            ratio(get(OURS[0])),
            ratio(get(OURS[1]))
        );
    }
    s
}

/// The criterion medians (ns per op) from `dir` (`$CARGO_TARGET_DIR/criterion`).
pub fn criterion_table(dir: &Path) -> String {
    const OPS: [&str; 4] = ["send_full", "send_recv", "set", "delete_set"];
    let mut s = String::from(
        "Criterion, ns per op (median estimate), single thread, 1,024 ids\n\n| impl |",
    );
    for op in OPS {
        let _ = write!(s, " {op} |");
    }
    s.push_str("\n|---|---|---|---|---|\n");
    for imp in IMPLS {
        let _ = write!(s, "| {imp} |");
        for op in OPS {
            let p = dir.join(imp).join(op).join("new/estimates.json");
            let v = fs::read_to_string(&p).ok().and_then(|t| {
                // "median":{"confidence_interval":{...},"point_estimate":X,...}
                let m = &t[t.find("\"median\"")?..];
                let pe = &m[m.find("\"point_estimate\":")? + 17..];
                pe[..pe.find([',', '}'])?].parse::<f64>().ok()
            });
            match v {
                Some(v) => {
                    let _ = write!(s, " {v:.1} |");
                }
                None => s.push_str(" – |"),
            }
        }
        s.push('\n');
    }
    s
}
