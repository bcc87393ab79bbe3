//! On tokio: a task per id receives with `recv_async`; producer tasks send with
//! `try_send` and, when the inbox is full, wait for space with `send_async`. Id 1
//! is replaced and id 2 deleted meanwhile: every job is received once or handed back.
//! Run: `cargo run -p channel-registry-usage --example tokio`

use std::sync::Arc;

use channel_registry::{Registry, TrySendError};
use tokio::task::JoinHandle;
use tokio::time::{Duration, sleep};

/// Sets (or replaces) `id`; a task receives until the channel is closed and drained.
fn consumer(registry: &Registry<u32, u32>, id: u32) -> JoinHandle<Vec<u32>> {
    let inbox = registry.set(id, 2).expect("capacity 2 is valid");
    tokio::spawn(async move {
        let mut jobs = Vec::new();
        while let Ok(job) = inbox.recv_async().await {
            jobs.push(job);
        }
        jobs
    })
}

/// Sends jobs `p * 1000 + i` to ids `i % 3`; returns the jobs sent and how many waited.
async fn produce(registry: Arc<Registry<u32, u32>>, p: u32) -> (Vec<u32>, usize) {
    let (mut sent, mut waited) = (Vec::new(), 0);
    for (id, job) in (0..300).map(|i| (i % 3, p * 1000 + i)) {
        let mut result = registry.try_send(&id, job);
        if let Err(TrySendError::Full(job)) = result {
            waited += 1; // the job came back: wait for space instead
            result = registry.send_async(&id, job).await.map_err(Into::into);
        }
        match result {
            Ok(()) => sent.push(job),
            Err(TrySendError::NoSuchId(_job)) => assert_eq!(id, 2), // deleted: the job is back
            Err(error) => unreachable!("{error}: no receiver is dropped while registered"),
        }
        if job % 10 == 9 {
            sleep(Duration::from_millis(1)).await; // bursts of 10: inboxes fill up
        }
    }
    (sent, waited)
}

#[tokio::main]
async fn main() {
    let registry = Arc::new(Registry::new());
    let mut tasks: Vec<_> = (0..3).map(|id| consumer(&registry, id)).collect();
    let producers = [0, 1].map(|p| tokio::spawn(produce(registry.clone(), p)));
    sleep(Duration::from_millis(10)).await;
    tasks.push(consumer(&registry, 1)); // replaces id 1: its old task drains, then ends
    sleep(Duration::from_millis(10)).await;
    assert!(registry.delete(&2)); // its task drains and ends; later sends to 2 come back
    let (mut sent, mut received, mut waited) = (Vec::new(), Vec::new(), 0);
    for producer in producers {
        let (jobs, w) = producer.await.unwrap();
        sent.extend(jobs);
        waited += w;
    }
    assert!(registry.delete(&0) && registry.delete(&1)); // shutdown: the tasks drain and end
    for task in tasks {
        received.extend(task.await.unwrap());
    }
    sent.sort_unstable();
    received.sort_unstable();
    assert_eq!(received, sent, "every job sent is received exactly once");
    let (n, back) = (sent.len(), 600 - sent.len());
    println!("{n} jobs received once each ({waited} waited for space), {back} handed back");
}
