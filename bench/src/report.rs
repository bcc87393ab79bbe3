//! The CSV of every run, medians, SVG plots and the README block.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use plotters::prelude::*;

use crate::IMPLS;

/// One run.
#[derive(Clone, Debug)]
pub struct Row {
    /// UTC date of the invocation.
    pub date: String,
    /// Git revision (`-dirty` if the tree had changes).
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
    /// Number of latency samples.
    pub samples: usize,
}

const HEADER: &str = "date,rev,nproc,cpu,load_start,clock_ns,msg,impl,workload,threads,keys,ops,ops_per_worker,rep,wall_s,ops_per_sec,p50_ns,p99_ns,p999_ns,samples";

impl Row {
    /// The WORKLOADS.md output line.
    pub fn line(&self) -> String {
        format!(
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
        )
    }
    fn csv(&self) -> String {
        format!(
            "{},{},{},\"{}\",{},{:.1},{},{},{},{},{},{},{},{},{:.6},{:.0},{},{},{},{}",
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
            self.samples
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
pub fn write_csv(path: &Path, rows: &[Row]) {
    let mut s = String::from(HEADER);
    s.push('\n');
    for r in rows {
        s.push_str(&r.csv());
        s.push('\n');
    }
    fs::write(path, s).expect("write CSV");
}

/// Reads a CSV written by [`write_csv`].
pub fn read_csv(path: &Path) -> Vec<Row> {
    let text = fs::read_to_string(path).expect("read CSV");
    text.lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f = split_csv(l);
            Row {
                date: f[0].clone(),
                rev: f[1].clone(),
                nproc: f[2].clone(),
                cpu: f[3].clone(),
                load_start: f[4].clone(),
                clock_ns: f[5].parse().unwrap(),
                msg: f[6].clone(),
                imp: f[7].clone(),
                workload: f[8].clone(),
                threads: f[9].parse().unwrap(),
                keys: f[10].parse().unwrap(),
                ops: f[11].parse().unwrap(),
                ops_per_worker: f[12].parse().unwrap(),
                rep: f[13].parse().unwrap(),
                wall_s: f[14].parse().unwrap(),
                ops_per_sec: f[15].parse().unwrap(),
                p50: f[16].parse().unwrap(),
                p99: f[17].parse().unwrap(),
                p999: f[18].parse().unwrap(),
                samples: f[19].parse().unwrap(),
            }
        })
        .collect()
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
pub fn write_mem_csv(path: &Path, rows: &[MemRow]) {
    let mut s = String::from("kind,impl,keys,threads,bytes\n");
    for r in rows {
        let _ = writeln!(
            s,
            "{},{},{},{},{:.1}",
            r.kind, r.imp, r.keys, r.threads, r.bytes
        );
    }
    fs::write(path, s).expect("write memory CSV");
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

/// (workload, keys, threads, impl) → (median ops/s, median p99.9, runs).
pub type Medians = BTreeMap<(String, usize, usize, String), (f64, f64, usize)>;

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
            let t = median(v.iter().map(|r| r.ops_per_sec).collect());
            let p = median(v.iter().map(|r| r.p999 as f64).collect());
            (k, (t, p, v.len()))
        })
        .collect()
}

const ORDER: [&str; 3] = ["read-heavy", "mixed", "churn"];
const OURS: [&str; 2] = ["registry-routed", "registry-cached"];

fn ordered_impls(m: &Medians) -> Vec<String> {
    IMPLS
        .iter()
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
                .map(|v| (i.clone(), v.0))
        })
        .max_by(|a, b| a.1.partial_cmp(&b.1).unwrap())
}

fn mops(x: f64) -> String {
    format!("{:.2}", x / 1e6)
}

/// The full medians table (Mops/s, every impl) with ratios to the best peer.
pub fn medians_markdown(rows: &[Row]) -> String {
    let m = medians(rows);
    let impls = ordered_impls(&m);
    let mut s = String::new();
    let _ = write!(s, "| workload | keys | threads |");
    for i in &impls {
        let _ = write!(s, " {i} |");
    }
    let _ = writeln!(s, " best peer | routed ÷ best | cached ÷ best |");
    let _ = write!(s, "|---|---|---|");
    for _ in &impls {
        s.push_str("---|");
    }
    s.push_str("---|---|---|\n");
    for (w, k, t) in configs(&m) {
        let _ = write!(s, "| {w} | {k} | {t} |");
        for i in &impls {
            match m.get(&(w.clone(), k, t, i.clone())) {
                Some(v) => {
                    let _ = write!(s, " {} |", mops(v.0));
                }
                None => s.push_str(" – |"),
            }
        }
        let best = best_peer(&m, &w, k, t, &impls);
        let ratio = |o: &str| -> String {
            match (&best, m.get(&(w.clone(), k, t, o.to_string()))) {
                (Some((_, b)), Some(v)) => format!("{:.2}", v.0 / b),
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

/// p99.9 (ns) at the highest thread count, every impl.
pub fn p999_markdown(rows: &[Row]) -> String {
    let m = medians(rows);
    let impls = ordered_impls(&m);
    let tmax = m.keys().map(|k| k.2).max().unwrap_or(0);
    let mut s = format!("| p99.9 ns, {tmax} threads | keys |");
    for i in &impls {
        let _ = write!(s, " {i} |");
    }
    s.push('\n');
    s.push_str("|---|---|");
    for _ in &impls {
        s.push_str("---|");
    }
    s.push('\n');
    for (w, k, t) in configs(&m) {
        if t != tmax {
            continue;
        }
        let _ = write!(s, "| {w} | {k} |");
        for i in &impls {
            match m.get(&(w.clone(), k, t, i.clone())) {
                Some(v) => {
                    let _ = write!(s, " {:.0} |", v.1);
                }
                None => s.push_str(" – |"),
            }
        }
        s.push('\n');
    }
    s
}

/// Memory table.
pub fn memory_markdown(mem: &[MemRow]) -> String {
    if mem.is_empty() {
        return String::new();
    }
    let impls: Vec<&str> = IMPLS
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
    kinds.sort_by_key(|k| (k.0 != "per_instance", k.1, k.2));
    for (kind, keys, threads) in kinds {
        let label = if kind == "per_instance" {
            format!("bytes per idle instance, {keys} ids")
        } else {
            format!("peak churn garbage (KiB), {keys} ids, {threads} threads")
        };
        let _ = write!(s, "| {label} |");
        for i in &impls {
            match mem
                .iter()
                .find(|r| r.kind == kind && r.keys == keys && r.threads == threads && r.imp == *i)
            {
                Some(r) if kind == "per_instance" => {
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

const COLORS: [RGBColor; 8] = [
    RGBColor(214, 39, 40),
    RGBColor(255, 127, 14),
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

fn color(imp: &str) -> RGBColor {
    COLORS[IMPLS.iter().position(|i| *i == imp).unwrap_or(0) % COLORS.len()]
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
                    .map(|(key, v)| (key.2 as f64, v.0 / 1e6))
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

/// p99.9 at the highest thread count: bars per impl, one panel per
/// (workload, keys).
fn plot_p999(m: &Medians, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
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
                    .map(|v| (n, v.1 / 1000.0))
            })
            .collect();
        let ymax = vals.iter().map(|v| v.1).fold(0.0, f64::max) * 2.0;
        let names = impls.clone();
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!("p99.9 at {tmax} threads: {w}, {k} ids"),
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

/// Plots, medians file and the README block, from the rows of one
/// invocation (and the memory figures).
pub fn render(rows: &[Row], mem: &[MemRow], bench_dir: &Path) {
    let m = medians(rows);
    let res = bench_dir.join("results");
    fs::create_dir_all(&res).unwrap();
    plot_throughput(&m, &res.join("throughput.svg")).expect("plot throughput");
    plot_p999(&m, &res.join("p999.svg")).expect("plot p99.9");
    let first = &rows[0];
    let reps = rows.iter().map(|r| r.rep).max().unwrap_or(0) + 1;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Taken {} on {} ({} CPUs), load average at start {}, rev {}; \
         {} ops per worker, medians of {} interleaved repetitions; message `&'static str`; \
         every impl keeps the receivers of current channels alive; latency from one op in \
         every 64, timed at a random offset in its block. `just bench` regenerates \
         this block, the plots and `bench/results/runs.csv` (every run); `bench/README.md` \
         describes the harness and each peer.\n",
        first.date, first.cpu, first.nproc, first.load_start, first.rev, first.ops_per_worker, reps
    );
    let _ = writeln!(
        s,
        "![throughput against threads](bench/results/throughput.svg)\n\n![p99.9 at 8 threads](bench/results/p999.svg)\n"
    );
    // The short table: ours against the best peer.
    let impls = ordered_impls(&m);
    let _ = writeln!(
        s,
        "Throughput, Mops/s (ratio = ours ÷ best peer):\n\n| workload | ids | threads | routed | cached | best peer | routed ratio | cached ratio |\n|---|---|---|---|---|---|---|---|"
    );
    for (w, k, t) in configs(&m) {
        if t != 2 && t != 8 {
            continue;
        }
        let get = |i: &str| m.get(&(w.clone(), k, t, i.to_string())).map(|v| v.0);
        let best = best_peer(&m, &w, k, t, &impls);
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
    let _ = writeln!(s, "\n{}", p999_markdown(rows));
    let mm = memory_markdown(mem);
    if !mm.is_empty() {
        let _ = writeln!(s, "{mm}");
    }
    let _ = writeln!(s, "Every median, per impl: `bench/results/medians.md`.");
    let full = format!(
        "# Medians\n\n{}\n\n{}\n{}\n{}",
        s.lines().next().unwrap_or(""),
        medians_markdown(rows),
        p999_markdown(rows),
        memory_markdown(mem)
    );
    fs::write(res.join("medians.md"), full).unwrap();
    let readme = bench_dir.join("../README.md");
    if let Ok(text) = fs::read_to_string(&readme) {
        let (a, b) = ("<!-- bench-table:start -->", "<!-- bench-table:end -->");
        if let (Some(i), Some(j)) = (text.find(a), text.find(b)) {
            let new = format!("{}{}\n{}{}", &text[..i + a.len()], "", s, &text[j..]);
            fs::write(&readme, new).unwrap();
        }
    }
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
