//! Workers on std threads, one per id; a producer routes jobs to them by id with
//! `try_send`, whose errors hand the job back; `set` replaces an id's worker and
//! `delete` ends one. Run: `cargo run --example threads`.

use std::iter;
use std::sync::{Arc, mpsc};
use std::thread::{self, JoinHandle};

use channel_registry::{Registry, TrySendError};

type Reg = Arc<Registry<u32, String>>;

/// A worker that registers `id` (replacing any channel it had); returns its jobs.
fn worker(registry: &Reg, id: u32) -> JoinHandle<Vec<String>> {
    let (registry, (ready, is_ready)) = (registry.clone(), mpsc::channel());
    let handle = thread::spawn(move || {
        let inbox = registry.set(id, 2).expect("capacity 2 is valid");
        ready.send(()).unwrap();
        // Until closed and drained, or "stop" (drops `inbox`; sends then get `Closed`).
        let jobs = iter::from_fn(|| inbox.recv().ok());
        jobs.take_while(|job| job != "stop").collect()
    });
    is_ready.recv().unwrap(); // `id` is registered from here on
    handle
}

/// Routes `job` to `id`, retrying while its inbox is full; other errors hand `job` back.
fn route(registry: &Reg, id: u32, mut job: String) -> Result<(), TrySendError<String>> {
    loop {
        match registry.try_send(&id, job) {
            Err(TrySendError::Full(back)) => job = back, // ours again: retry
            done => return done,
        }
        thread::yield_now();
    }
}

fn main() {
    if channel_registry::__loom_build() {
        return; // a `--cfg loom` build: the registry then runs only inside loom's model
    }
    let registry: Reg = Arc::new(Registry::new());
    let [w1, w2, w3] = [1, 2, 3].map(|id| worker(&registry, id));
    for i in 0..6 {
        route(&registry, 1 + i % 2, format!("job {i}")).unwrap(); // to ids 1 and 2
    }
    let w2_new = worker(&registry, 2); // replaces id 2: the old worker drains, then ends
    route(&registry, 2, "job 6".into()).unwrap(); // into the new channel
    let old2 = w2.join().unwrap();
    println!("id 2 replaced; its old worker got {old2:?}, then the close");
    assert_eq!(old2, ["job 1", "job 3", "job 5"]);

    let unknown = route(&registry, 9, "job 7".into()).unwrap_err();
    println!("job 7 to id 9: {unknown}");
    assert!(matches!(unknown, TrySendError::NoSuchId(job) if job == "job 7"));
    route(&registry, 3, "stop".into()).unwrap();
    assert!(w3.join().unwrap().is_empty());
    let stopped = route(&registry, 3, "job 8".into()).unwrap_err(); // id 3 is still registered
    println!("job 8 to id 3: {stopped}");
    assert!(matches!(stopped, TrySendError::Closed(job) if job == "job 8"));
    for id in [1, 2, 3] {
        assert!(registry.delete(&id)); // closes the channel: its worker drains, then ends
    }
    let (jobs1, jobs2) = (w1.join().unwrap(), w2_new.join().unwrap());
    println!("deleted; worker 1 got {jobs1:?}, id 2's new worker {jobs2:?}");
    assert_eq!(jobs1, ["job 0", "job 2", "job 4"]);
    assert_eq!(jobs2, ["job 6"]);
}
