//! `Scenario::check` under shuttle: random and PCT schedules, from a fixed
//! list of seeds plus one fresh seed per process, printed so that a failure
//! can be replayed.
//!
//! Environment:
//! * `SHUTTLE_ITERATIONS`: schedules per scheduler and seed (default: the
//!   caller's);
//! * `SHUTTLE_SEEDS`: comma-separated seeds (default `1,2,3`);
//! * `SHUTTLE_FRESH=0`: no fresh seed (the run is then reproducible);
//! * `SHUTTLE_PCT_DEPTH`: PCT's bug depth (default 3);
//! * `SHUTTLE_REPLAY=<schedule> SHUTTLE_SCENARIO=<name>`: replay one failing
//!   schedule that shuttle printed, for the scenario of that name.

use std::sync::OnceLock;
use std::time::Instant;

use shuttle::scheduler::{PctScheduler, RandomScheduler};
use shuttle::{Config, Runner};

use crate::{Bound, Scenario};

/// The seeds of this process: the fixed list, then the fresh one.
pub fn seeds() -> &'static [u64] {
    static SEEDS: OnceLock<Vec<u64>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let mut seeds: Vec<u64> = std::env::var("SHUTTLE_SEEDS")
            .unwrap_or_else(|_| "1,2,3".into())
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                s.trim()
                    .parse()
                    .expect("SHUTTLE_SEEDS: comma-separated u64s")
            })
            .collect();
        if std::env::var("SHUTTLE_FRESH").map_or(true, |v| v != "0") {
            let fresh = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            println!(
                "shuttle fresh seed: {fresh} (replay with SHUTTLE_SEEDS={fresh} SHUTTLE_FRESH=0)"
            );
            seeds.push(fresh);
        }
        seeds
    })
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config() -> Config {
    let mut config = Config::new();
    // The linearizability search runs on the main simulated thread.
    config.stack_size = 1 << 20;
    // The per-execution epoch collector is a shuttle `lazy_static`, dropped
    // at the end of each execution on purpose: silence the warning.
    config.silence_warnings = true;
    config
}

/// Runs `f` for `iterations` schedules (or `SHUTTLE_ITERATIONS`) under PCT
/// and under the random scheduler, for every seed; panics on the first
/// failing execution, after shuttle has printed its schedule.
pub fn explore(name: &str, iterations: usize, f: impl Fn() + Send + Sync + Clone + 'static) {
    if let Ok(schedule) = std::env::var("SHUTTLE_REPLAY") {
        if std::env::var("SHUTTLE_SCENARIO").is_ok_and(|s| s == name) {
            shuttle::replay(f, &schedule);
        }
        return;
    }
    let iterations = env_usize("SHUTTLE_ITERATIONS", iterations);
    let depth = env_usize("SHUTTLE_PCT_DEPTH", 3);
    for &seed in seeds() {
        for scheduler in ["pct", "random"] {
            let started = Instant::now();
            let label = format!("shuttle scenario={name} scheduler={scheduler} seed={seed}");
            // Say which run failed before shuttle's panic unwinds through here.
            let guard = Announce(&label);
            let runs = match scheduler {
                "pct" => Runner::new(
                    PctScheduler::new_from_seed(seed, depth, iterations),
                    config(),
                )
                .run(f.clone()),
                _ => Runner::new(RandomScheduler::new_from_seed(seed, iterations), config())
                    .run(f.clone()),
            };
            std::mem::forget(guard);
            println!(
                "{label} iterations={runs} secs={:.2}",
                started.elapsed().as_secs_f64()
            );
        }
    }
    println!("shuttle outcomes so far: {:?}", super::outcomes());
}

/// Prints its label if dropped while panicking.
struct Announce<'a>(&'a str);

impl Drop for Announce<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "FAILED in {} (SHUTTLE_SEEDS and the schedule above replay it)",
                self.0
            );
        }
    }
}

/// Iterations per scheduler and seed for the named scenarios that the loom
/// suite also runs.
const NAMED_ITERATIONS: usize = 300;

impl Scenario {
    /// Runs the scenario under shuttle and checks it (module docs). The
    /// bound is loom's; shuttle is bounded by iterations.
    pub fn check(self, _bound: Bound) {
        let order: Vec<usize> = (0..self.threads.len()).collect();
        let name = self.name;
        explore(name, NAMED_ITERATIONS, move || self.run_once(&order));
    }
}
