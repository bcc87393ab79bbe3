//! `just bench-instr`: instructions per operation under callgrind, for this
//! crate and every peer; figures that do not drift with machine load.
//!
//! `instr` (no flags) runs itself under `valgrind --tool=callgrind` for each
//! implementation and operation, twice: N and 2N operations after the same
//! set-up (1,024 registered ids), and prints (I(2N) − I(N)) / N, so set-up,
//! process start and teardown cancel out. `instr --impl NAME --op OP --n N`
//! is one such run. Ops: `send_full` (lookup + try_send into a full channel,
//! as in the workloads), `send_recv`, `set` (over a live id), `delete_set`.

use std::hint::black_box;
use std::process::Command;

use channel_registry_bench::{Fixture, IMPLS, Impl, XorShift64Star, dispatch};

const KEYS: usize = 1024;
const OPS: [&str; 4] = ["send_full", "send_recv", "set", "delete_set"];

fn run<I: Impl>(op: &str, n: u64) {
    let mut f = Fixture::<I>::new(KEYS);
    if op == "send_full" {
        f.fill();
    }
    let mut r = XorShift64Star::new(7);
    for _ in 0..n {
        let id = black_box(r.next_u64() % KEYS as u64);
        match op {
            "send_full" => f.op_send(id),
            "send_recv" => {
                black_box(f.op_send_recv(id));
            }
            "set" => f.op_set(id),
            "delete_set" => f.op_delete_set(id),
            other => panic!("unknown op {other}"),
        }
    }
}

fn instructions(imp: &str, op: &str, n: u64) -> u64 {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("valgrind")
        .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
        .arg(&exe)
        .args(["--impl", imp, "--op", op, "--n", &n.to_string()])
        .output()
        .expect("valgrind (apt-get install valgrind)");
    let err = String::from_utf8_lossy(&out.stderr);
    err.lines()
        .find_map(|l| {
            let (_, rest) = l.split_once("Collected :")?;
            rest.trim().replace(',', "").parse().ok()
        })
        .unwrap_or_else(|| panic!("no callgrind total in:\n{err}"))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let get = |f: &str| {
        args.iter()
            .position(|a| a == f)
            .map(|i| args[i + 1].clone())
    };
    if let (Some(imp), Some(op)) = (get("--impl"), get("--op")) {
        let n: u64 = get("--n").map_or(10_000, |s| s.parse().unwrap());
        dispatch!(imp.as_str(), I => run::<I>(&op, n));
        return;
    }
    let n: u64 = get("--n").map_or(20_000, |s| s.parse().unwrap());
    let impls: Vec<String> = get("--impls").map_or_else(
        || IMPLS.iter().map(|s| s.to_string()).collect(),
        |s| s.split(',').map(str::to_string).collect(),
    );
    let mut table = format!(
        "Instructions per op (callgrind, (I(2N) - I(N)) / N, N = {n}, {KEYS} ids)\n\n| impl |"
    );
    for op in OPS {
        table.push_str(&format!(" {op} |"));
    }
    table.push_str("\n|---|---|---|---|---|\n");
    print!("{table}");
    for imp in &impls {
        let mut row = format!("| {imp} |");
        for op in OPS {
            let a = instructions(imp, op, n);
            let b = instructions(imp, op, 2 * n);
            row.push_str(&format!(" {:.0} |", (b as f64 - a as f64) / n as f64));
        }
        println!("{row}");
        table.push_str(&row);
        table.push('\n');
    }
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("results/instructions.md");
    std::fs::write(&out, table).expect("write results/instructions.md");
    println!("wrote {}", out.display());
}
