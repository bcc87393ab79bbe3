//! The CSV reads back what it wrote, a CSV from before the p99.99, max and
//! garbage columns still reads (those empty), and the report renders from
//! either.

use std::fs;
use std::path::PathBuf;

use channel_registry_bench::report::{self, Row};

/// The header and two lines of the format before p99.99, max and garbage.
const OLD: &str = "date,rev,nproc,cpu,load_start,clock_ns,msg,impl,workload,threads,keys,ops,ops_per_worker,rep,wall_s,ops_per_sec,p50_ns,p99_ns,p999_ns,samples
2026-12-01T20:29:35Z,9f6300c-dirty,2,\"AMD EPYC\",1.26 1.62 1.41,33.0,&'static str,registry-routed,churn,2,1024,2000000,1000000,0,0.106427,9396078,111,350,922,31250
2026-12-01T20:29:35Z,9f6300c-dirty,2,\"AMD EPYC\",1.26 1.62 1.41,33.0,&'static str,mutex-hashmap,churn,2,1024,2000000,1000000,0,0.065300,15313837,70,511,2254,31250
";

fn scratch(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(d.join("bench/results")).unwrap();
    d
}

#[test]
fn old_csv_reads_with_new_columns_empty() {
    let d = scratch("old-csv");
    let p = d.join("old.csv");
    fs::write(&p, OLD).unwrap();
    let rows = report::read_csv(&p).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].cpu, "AMD EPYC");
    assert_eq!(rows[1].p999, 2254);
    assert!(
        rows.iter()
            .all(|r| r.p9999.is_none() && r.max.is_none() && r.garbage.is_none())
    );
}

#[test]
fn new_csv_round_trips() {
    let d = scratch("new-csv");
    let old = d.join("old.csv");
    fs::write(&old, OLD).unwrap();
    let mut rows: Vec<Row> = report::read_csv(&old).unwrap();
    rows[0].p9999 = Some(5_000);
    rows[0].max = Some(90_000);
    rows[0].garbage = Some(123_456);
    let p = d.join("new.csv");
    report::write_csv(&p, &rows).unwrap();
    let back = report::read_csv(&p).unwrap();
    assert_eq!(back[0].p9999, Some(5_000));
    assert_eq!(back[0].max, Some(90_000));
    assert_eq!(back[0].garbage, Some(123_456));
    assert_eq!(back[1].garbage, None);
    assert_eq!(back[0].line(), rows[0].line());
    assert!(
        back[0]
            .line()
            .ends_with("p999_ns=922 p9999_ns=5000 max_ns=90000")
    );
}

#[test]
fn bad_csv_is_an_error_not_a_panic() {
    let d = scratch("bad-csv");
    let p = d.join("bad.csv");
    fs::write(&p, OLD.replace("0.106427", "fast")).unwrap();
    let e = report::read_csv(&p).unwrap_err();
    assert!(e.contains("line 2") && e.contains("wall_s"), "{e}");
    assert!(report::read_csv(&d.join("absent.csv")).is_err());
}

#[test]
fn renders_old_and_new_rows() {
    let d = scratch("render");
    let bench = d.join("bench");
    fs::write(
        d.join("README.md"),
        "x\n<!-- bench-table:start -->\nold\n<!-- bench-table:end -->\ny\n",
    )
    .unwrap();
    let p = d.join("old.csv");
    fs::write(&p, OLD).unwrap();
    let mut rows = report::read_csv(&p).unwrap();
    report::render(&rows, &[], report::Target::Repository(&bench)).unwrap();
    let readme = fs::read_to_string(d.join("README.md")).unwrap();
    assert!(
        readme.contains("| churn | 1024 | 2 | 922 / – / – | 2254 / – / – |"),
        "{readme}"
    );
    assert!(
        !readme.contains("peak garbage"),
        "no garbage figures, no garbage table"
    );
    rows[0].garbage = Some(10 * 1024);
    rows[1].garbage = Some(2048);
    report::render(&rows, &[], report::Target::Repository(&bench)).unwrap();
    let readme = fs::read_to_string(d.join("README.md")).unwrap();
    assert!(readme.contains("| churn | 1024 | 2 | 10 | 2 |"), "{readme}");
    assert!(readme.starts_with("x\n") && readme.ends_with("<!-- bench-table:end -->\ny\n"));
    for f in ["throughput.svg", "p999.svg", "p9999.svg", "medians.md"] {
        assert!(bench.join("results").join(f).exists(), "{f}");
    }
}

#[test]
fn render_to_a_directory_leaves_the_repository_alone() {
    let d = scratch("render-to");
    let bench = d.join("bench");
    let readme = "x\n<!-- bench-table:start -->\nold\n<!-- bench-table:end -->\ny\n";
    fs::write(d.join("README.md"), readme).unwrap();
    let p = d.join("old.csv");
    fs::write(&p, OLD).unwrap();
    let rows = report::read_csv(&p).unwrap();
    let out = d.join("elsewhere");
    report::render(&rows, &[], report::Target::Elsewhere(&out)).unwrap();
    assert_eq!(fs::read_to_string(d.join("README.md")).unwrap(), readme);
    assert_eq!(fs::read_dir(bench.join("results")).unwrap().count(), 0);
    let block = fs::read_to_string(out.join("readme-block.md")).unwrap();
    assert!(
        block.contains("| churn | 1024 | 2 | 922 / – / – | 2254 / – / – |"),
        "{block}"
    );
    for f in ["throughput.svg", "p999.svg", "p9999.svg", "medians.md"] {
        assert!(out.join(f).exists(), "{f}");
    }
}
