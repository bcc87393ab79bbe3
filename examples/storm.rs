//! The Go daemon's storm, on the registry: many threads creating, deleting and
//! messaging a few hundred instances at once (the pattern that killed the Go
//! daemon with `fatal error: concurrent map writes`), with every message
//! accounted for at the end.
//!
//! ```text
//! cargo run --release --example storm -- [--seconds S] [--threads T] [--ids K]
//! ```
//!
//! Exits non-zero if any accepted message was not received, or received twice.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use channel_registry::{Receiver, Registry, TryRecvError, TrySendError};

#[derive(Default)]
struct Counts {
    sets: AtomicU64,
    deletes: AtomicU64,
    deletes_absent: AtomicU64,
    sent: AtomicU64,
    sent_sum: AtomicU64,
    full: AtomicU64,
    no_such_id: AtomicU64,
    closed: AtomicU64,
    handle_sends: AtomicU64,
    received: AtomicU64,
    received_sum: AtomicU64,
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} takes a number, got {v:?}"))
        })
        .unwrap_or(default)
}

/// A message's fingerprint for the checksum (so duplicates and losses do not
/// cancel out as easily as in a plain sum).
fn mix(x: u64) -> u64 {
    let x = (x ^ (x >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^ (x >> 29)
}

fn main() {
    let seconds = arg("--seconds", 3);
    let threads = arg("--threads", 8);
    let ids = arg("--ids", 256);
    println!(
        "storm: {threads} threads set/delete/send on {ids} ids for {seconds}s (capacity 5, as make(chan string, 5))"
    );

    let registry = Arc::new(Registry::<u64, u64>::new());
    let counts = Arc::new(Counts::default());
    let stop = Arc::new(AtomicBool::new(false));

    // Receivers go to two drainer threads, which receive until each channel
    // reports closed-and-drained.
    let mut drain_tx = Vec::new();
    let mut drainers = Vec::new();
    for _ in 0..2 {
        let (tx, rx) = mpsc::channel::<Receiver<u64>>();
        drain_tx.push(tx);
        let counts = counts.clone();
        drainers.push(thread::spawn(move || drain(rx, &counts)));
    }

    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (registry, counts, stop) = (registry.clone(), counts.clone(), stop.clone());
            let drain_tx = drain_tx[t as usize % 2].clone();
            thread::spawn(move || {
                let mut rng = t.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                let mut seq = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let id = rng % ids;
                    let msg = (t << 40) | seq;
                    seq += 1;
                    match (rng >> 32) % 10 {
                        0 | 1 => {
                            let rx = registry.set(id, 5).expect("capacity 5 is valid");
                            counts.sets.fetch_add(1, Ordering::Relaxed);
                            drain_tx.send(rx).expect("drainer alive");
                        }
                        2 | 3 => {
                            if registry.delete(&id) {
                                counts.deletes.fetch_add(1, Ordering::Relaxed);
                            } else {
                                counts.deletes_absent.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        4 => {
                            if let Some(handle) = registry.sender(&id) {
                                counts.handle_sends.fetch_add(1, Ordering::Relaxed);
                                account(&counts, msg, handle.try_send(msg));
                            }
                        }
                        _ => account(&counts, msg, registry.try_send(&id, msg)),
                    }
                }
            })
        })
        .collect();

    let progress = thread::spawn({
        let (counts, stop) = (counts.clone(), stop.clone());
        move || {
            while !stop.load(Ordering::Relaxed) {
                thread::sleep(Duration::from_millis(500));
                eprint!(
                    "\r  {:>5.1}s  sets {:>9}  deletes {:>9}  sends ok {:>10}  received {:>10}",
                    started.elapsed().as_secs_f64(),
                    counts.sets.load(Ordering::Relaxed),
                    counts.deletes.load(Ordering::Relaxed),
                    counts.sent.load(Ordering::Relaxed),
                    counts.received.load(Ordering::Relaxed)
                );
            }
            eprintln!();
        }
    });

    thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("worker panicked");
    }
    let storm_secs = started.elapsed().as_secs_f64();
    // Close everything that is still registered, so the drainers finish.
    let live = registry.len();
    for id in 0..ids {
        registry.delete(&id);
    }
    drop(drain_tx);
    for d in drainers {
        d.join().expect("drainer panicked");
    }
    progress.join().expect("progress thread panicked");

    let c = |x: &AtomicU64| x.load(Ordering::Relaxed);
    let ops = c(&counts.sets)
        + c(&counts.deletes)
        + c(&counts.deletes_absent)
        + c(&counts.sent)
        + c(&counts.full)
        + c(&counts.no_such_id)
        + c(&counts.closed);
    println!(
        "ran {storm_secs:.1}s: {ops} operations ({:.0} ops/s)",
        ops as f64 / storm_secs
    );
    println!(
        "  set {:>12}   delete {:>12} (+{} on absent ids)   live at the end {live}",
        c(&counts.sets),
        c(&counts.deletes),
        c(&counts.deletes_absent)
    );
    println!(
        "  sends accepted {:>12} ({} through handles)   full {}   no such id {}   closed {}",
        c(&counts.sent),
        c(&counts.handle_sends),
        c(&counts.full),
        c(&counts.no_such_id),
        c(&counts.closed)
    );
    println!("  messages received {:>9}", c(&counts.received));
    let lost_or_dup =
        c(&counts.sent) != c(&counts.received) || c(&counts.sent_sum) != c(&counts.received_sum);
    if lost_or_dup {
        println!("FAILED: accepted and received messages differ");
        std::process::exit(1);
    }
    println!(
        "nothing lost: every accepted message was received exactly once (count and checksum match)"
    );
}

fn account(counts: &Counts, msg: u64, result: Result<(), TrySendError<u64>>) {
    let back = match result {
        Ok(()) => {
            counts.sent.fetch_add(1, Ordering::Relaxed);
            counts.sent_sum.fetch_add(mix(msg), Ordering::Relaxed);
            return;
        }
        Err(TrySendError::Full(m)) => {
            counts.full.fetch_add(1, Ordering::Relaxed);
            m
        }
        Err(TrySendError::NoSuchId(m)) => {
            counts.no_such_id.fetch_add(1, Ordering::Relaxed);
            m
        }
        Err(TrySendError::Closed(m)) => {
            counts.closed.fetch_add(1, Ordering::Relaxed);
            m
        }
    };
    assert_eq!(back, msg, "a failed send hands back its own message");
}

fn drain(incoming: mpsc::Receiver<Receiver<u64>>, counts: &Counts) {
    let mut open: Vec<Receiver<u64>> = Vec::new();
    let mut senders_gone = false;
    loop {
        loop {
            match incoming.try_recv() {
                Ok(rx) => open.push(rx),
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    senders_gone = true;
                    break;
                }
            }
        }
        let mut progressed = false;
        open.retain(|rx| {
            loop {
                match rx.try_recv() {
                    Ok(msg) => {
                        progressed = true;
                        counts.received.fetch_add(1, Ordering::Relaxed);
                        counts.received_sum.fetch_add(mix(msg), Ordering::Relaxed);
                    }
                    Err(TryRecvError::Empty) => break true,
                    Err(TryRecvError::Closed) => break false,
                }
            }
        });
        if senders_gone && open.is_empty() {
            return;
        }
        if !progressed {
            thread::yield_now();
        }
    }
}
