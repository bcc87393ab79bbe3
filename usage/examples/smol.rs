//! On smol: the pattern of `tokio.rs` with two other tools. Consumer tasks collect
//! their `Receiver` as a `Stream`; producers send through cached `Sender` handles,
//! which skip the lookup and fail with `Closed` once their id is replaced or deleted.
//! Run: `cargo run -p channel-registry-usage --example smol`

use std::sync::Arc;
use std::time::Duration;

use channel_registry::{Registry, SendError};
use smol::{Task, Timer, stream::StreamExt};

/// Sets (or replaces) `id`; a task collects its jobs until the channel is closed and drained.
fn consumer(registry: &Registry<u32, u32>, id: u32) -> Task<Vec<u32>> {
    let inbox = registry.set(id, 2).expect("capacity 2 is valid");
    smol::spawn(inbox.collect())
}

/// Sends jobs `p * 1000 + i` to ids `i % 3` by handle; returns the jobs sent, handles refetched.
async fn produce(registry: Arc<Registry<u32, u32>>, p: u32) -> (Vec<u32>, usize) {
    let mut handles = [0, 1, 2].map(|id| registry.sender(&id));
    let (mut sent, mut refetched) = (Vec::new(), 0);
    for (id, job) in (0..300).map(|i| (i % 3, p * 1000 + i)) {
        let mut msg = job;
        while let Some(handle) = &handles[id as usize] {
            match handle.send_async(msg).await {
                Ok(()) => {
                    sent.push(job);
                    break;
                }
                Err(SendError::Closed(back)) => msg = back, // replaced or deleted: fetch anew
                Err(SendError::NoSuchId(_)) => unreachable!("never from a handle"),
            }
            handles[id as usize] = registry.sender(&id); // `None` once deleted: the job is back
            refetched += 1;
        }
        if job % 10 == 9 {
            Timer::after(Duration::from_millis(1)).await; // bursts of 10: inboxes fill up
        }
    }
    (sent, refetched)
}

fn main() {
    smol::block_on(async {
        let registry = Arc::new(Registry::new());
        let mut tasks: Vec<_> = (0..3).map(|id| consumer(&registry, id)).collect();
        let producers = [0, 1].map(|p| smol::spawn(produce(registry.clone(), p)));
        Timer::after(Duration::from_millis(10)).await;
        tasks.push(consumer(&registry, 1)); // replaces id 1: its old task drains, then ends
        Timer::after(Duration::from_millis(10)).await;
        assert!(registry.delete(&2)); // its task drains and ends; handles to 2 get `Closed`
        let (mut sent, mut received, mut refetched) = (Vec::new(), Vec::new(), 0);
        for producer in producers {
            let (jobs, r) = producer.await;
            sent.extend(jobs);
            refetched += r;
        }
        assert!(registry.delete(&0) && registry.delete(&1)); // shutdown: the tasks end
        for task in tasks {
            received.extend(task.await);
        }
        sent.sort_unstable();
        received.sort_unstable();
        assert_eq!(received, sent, "every job sent is received exactly once");
        let (n, back) = (sent.len(), 600 - sent.len());
        println!("{n} jobs received once each, {back} handed back ({refetched} handles refetched)");
    });
}
