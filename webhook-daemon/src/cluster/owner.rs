//! Shard ownership: leases, the consumers of owned shards, and moving
//! stored events into local mailboxes.
//!
//! Every third of a lease, a replica
//! 1. writes its heartbeat to `<prefix>_replicas` (an entry that expires
//!    with the lease) and counts the live replicas, which gives its fair
//!    share, `ceil(shards / live)`;
//! 2. renews each lease it holds with an `update` expecting the revision
//!    of its last renewal; a renewal that fails means the lease expired and
//!    may be someone else's: the shard's consumer stops at once;
//! 3. takes free shards (`create`, which succeeds only if the shard's
//!    lease is absent, deleted or expired) up to its share;
//! 4. gives back shards beyond its share (a replica joined): stops the
//!    consumer, then deletes the lease.
//!
//! A dead replica's leases expire after [`ClusterConfig::lease`]; the
//! survivors take its shards within a third of a lease after that. What it
//! had been delivered and not acknowledged is delivered again after
//! [`ClusterConfig::ack_wait`] to the new owner: at least once.
//!
//! The owner of a shard pulls its events from the durable consumer
//! `shard-<n>` (one per shard, shared by whoever owns the shard) and moves
//! each into the local mailbox of the generation it was accepted for,
//! creating the local instance from the table when it has none. An event
//! whose generation has been replaced or deleted before it reached a
//! mailbox is handled at once by a retired-generation worker (counted in
//! `webhook_cluster_retired_events_total`): nothing is dropped. Workers ack
//! each event after its handler ran.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, kv};
use futures_util::StreamExt as _;
use tokio_util::sync::CancellationToken;

use super::{Cluster, Delivery, GENERATION_HEADER};
use crate::state::State;

/// A shard this replica holds.
struct Held {
    /// The lease entry's revision at the last renewal.
    revision: u64,
    stop: CancellationToken,
    consumer: tokio::task::JoinHandle<()>,
}

/// Spawns the lease loop; it ends, giving its shards back, once `stop` is
/// cancelled.
pub(crate) fn start(
    state: &Arc<State>,
    cluster: Arc<Cluster>,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let state = Arc::clone(state);
    tokio::spawn(async move {
        let mut held: BTreeMap<u32, Held> = BTreeMap::new();
        let watcher = tokio::spawn(watch_table(Arc::clone(&state), Arc::clone(&cluster)));
        let period = cluster.config.lease / 3;
        loop {
            round(&state, &cluster, &mut held).await;
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(period) => {}
            }
        }
        for (shard, shard_held) in std::mem::take(&mut held) {
            release(&state, &cluster, shard, shard_held).await;
        }
        let _ = cluster.replicas.delete(&cluster.config.replica).await;
        watcher.abort();
        tracing::info!("cluster: gave back every shard");
    })
}

/// One round of the lease loop (see the module docs).
async fn round(state: &Arc<State>, cluster: &Arc<Cluster>, held: &mut BTreeMap<u32, Held>) {
    let config = &cluster.config;
    let metrics = &cluster.metrics;
    if let Err(e) = cluster.replicas.put(&config.replica, "up".into()).await {
        tracing::warn!(error = %e, "cluster: heartbeat failed");
    }
    let live = live_replicas(cluster).await.max(1);
    let share = config.shards.div_ceil(live) as usize;

    let shards: Vec<u32> = held.keys().copied().collect();
    for shard in shards {
        let revision = held[&shard].revision;
        let renewed = cluster
            .leases
            .update(shard.to_string(), config.replica.clone().into(), revision)
            .await;
        match renewed {
            Ok(revision) => {
                if let Some(h) = held.get_mut(&shard) {
                    h.revision = revision;
                }
                metrics.lease_renewals.fetch_add(1, Relaxed);
            }
            Err(e) => {
                tracing::warn!(shard, error = %e, "cluster: lost the lease of a shard");
                metrics.leases_lost.fetch_add(1, Relaxed);
                if let Some(h) = held.remove(&shard) {
                    stop_consumer(state, cluster, shard, h).await;
                }
            }
        }
    }

    for shard in 0..config.shards {
        if held.len() >= share {
            break;
        }
        if held.contains_key(&shard) {
            continue;
        }
        match cluster
            .leases
            .create(shard.to_string(), config.replica.clone().into())
            .await
        {
            Ok(revision) => {
                tracing::info!(shard, "cluster: took a shard");
                metrics.leases_acquired.fetch_add(1, Relaxed);
                let stop = CancellationToken::new();
                let consumer = tokio::spawn(consume(
                    Arc::clone(state),
                    Arc::clone(cluster),
                    shard,
                    stop.clone(),
                ));
                held.insert(
                    shard,
                    Held {
                        revision,
                        stop,
                        consumer,
                    },
                );
            }
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {}
            Err(e) => tracing::warn!(shard, error = %e, "cluster: cannot take a shard"),
        }
    }

    while held.len() > share {
        let Some((shard, h)) = held.pop_last() else {
            break;
        };
        release(state, cluster, shard, h).await;
    }
    metrics.owned_shards.store(held.len() as u64, Relaxed);
}

/// Stops a shard's consumer and deletes its lease, so another replica can
/// take it at once.
async fn release(state: &Arc<State>, cluster: &Arc<Cluster>, shard: u32, held: Held) {
    let revision = held.revision;
    stop_consumer(state, cluster, shard, held).await;
    match cluster
        .leases
        .delete_expect_revision(shard.to_string(), Some(revision))
        .await
    {
        Ok(()) => {
            cluster.metrics.leases_released.fetch_add(1, Relaxed);
            tracing::info!(shard, "cluster: gave a shard back");
        }
        Err(e) => tracing::warn!(shard, error = %e, "cluster: cannot give a shard back"),
    }
}

/// Stops pulling the shard's events and deletes its local instances: their
/// workers handle and ack what their mailboxes hold, then exit.
async fn stop_consumer(state: &Arc<State>, cluster: &Arc<Cluster>, shard: u32, held: Held) {
    held.stop.cancel();
    let _ = held.consumer.await;
    let local: Vec<u64> = state
        .registry
        .ids()
        .filter(|&id| cluster.shard_of(id) == shard)
        .collect();
    for id in local {
        state.registry.delete(&id);
    }
}

/// Replicas whose heartbeat has not expired (1 if they cannot be counted
/// now: this replica then aims at every shard until the next round).
async fn live_replicas(cluster: &Cluster) -> u32 {
    match super::present_keys(&cluster.replicas).await {
        Ok(keys) => u32::try_from(keys.len()).unwrap_or(u32::MAX),
        Err(e) => {
            tracing::warn!(error = %e, "cluster: cannot count the live replicas");
            1
        }
    }
}

/// Pulls the shard's events until `stop`. The pull is made again whenever
/// it ends or fails (the server restarted, a heartbeat was missed): the
/// durable consumer keeps its place, so nothing is skipped.
async fn consume(state: Arc<State>, cluster: Arc<Cluster>, shard: u32, stop: CancellationToken) {
    let name = format!("shard-{shard}");
    let config = pull::Config {
        durable_name: Some(name.clone()),
        filter_subject: format!("{}.events.{shard}.*", cluster.config.prefix),
        ack_policy: jetstream::consumer::AckPolicy::Explicit,
        ack_wait: cluster.config.ack_wait,
        max_ack_pending: 4096,
        ..Default::default()
    };
    loop {
        let messages = async {
            let consumer = cluster
                .events
                .get_or_create_consumer(&name, config.clone())
                .await
                .map_err(|e| e.to_string())?;
            consumer
                .stream()
                .max_messages_per_batch(64)
                .heartbeat(Duration::from_secs(1))
                .expires(Duration::from_secs(2))
                .messages()
                .await
                .map_err(|e| e.to_string())
        };
        let made = tokio::select! {
            () = stop.cancelled() => return,
            made = messages => made,
        };
        match made {
            Ok(mut messages) => loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    next = messages.next() => match next {
                        Some(Ok(message)) => deliver(&state, &cluster, message).await,
                        Some(Err(e)) => {
                            tracing::warn!(shard, error = %e, "cluster: pulling events; pulling again");
                            break;
                        }
                        None => break,
                    },
                }
            },
            Err(e) => {
                tracing::warn!(shard, error = %e, "cluster: cannot consume a shard; trying again")
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
}

/// Moves one stored event into the local mailbox of its generation, or to
/// a retired-generation worker.
async fn deliver(state: &Arc<State>, cluster: &Arc<Cluster>, message: jetstream::Message) {
    let (sequence, delivered) = match message.info() {
        Ok(info) => (info.stream_sequence, info.delivered),
        Err(_) => (0, 1),
    };
    if delivered > 1 {
        cluster.metrics.redeliveries.fetch_add(1, Relaxed);
    }
    let id = message
        .subject
        .rsplit('.')
        .next()
        .and_then(|id| id.parse::<u64>().ok());
    let generation = message
        .headers
        .as_ref()
        .and_then(|h| h.get(GENERATION_HEADER))
        .and_then(|g| g.as_str().parse::<u64>().ok());
    let (Some(id), Some(generation)) = (id, generation) else {
        tracing::warn!(subject = %message.subject, "cluster: an event without id or generation; dropped");
        let _ = message.ack().await;
        return;
    };
    let delivery = Delivery {
        sequence,
        message,
        cluster: Arc::clone(cluster),
    };
    let local = state.registry.with_state(&id, |i| i.generation);
    if local != Some(generation) && local.is_none_or(|g| g < generation) {
        // This replica has no instance of that generation yet: the table
        // says whether it is still current.
        match cluster.get(id).await {
            Ok(Some((entry, _))) if entry.generation == generation => {
                state
                    .set_local_instance(id, entry.capacity, generation)
                    .await;
            }
            Ok(_) => {}
            Err(e) => {
                // Not acked: delivered again after the ack wait.
                tracing::warn!(id, error = %e, "cluster: cannot read the table; event left for redelivery");
                return;
            }
        }
    }
    state.deliver(id, generation, delivery).await;
}

/// Follows the table: deletes and replaces reach the local instances of
/// this replica's shards (absent ones are created when an event needs them).
async fn watch_table(state: Arc<State>, cluster: Arc<Cluster>) {
    let mut watch = match cluster.instances.watch_all().await {
        Ok(watch) => watch,
        Err(e) => {
            tracing::error!(error = %e, "cluster: cannot watch the instance table");
            return;
        }
    };
    while let Some(entry) = watch.next().await {
        let Ok(entry) = entry else { continue };
        let Ok(id) = entry.key.parse::<u64>() else {
            continue;
        };
        let Some(local) = state.registry.with_state(&id, |i| i.generation) else {
            continue;
        };
        match entry.operation {
            kv::Operation::Put if entry.revision > local => {
                if let Ok(stored) = serde_json::from_slice::<super::Stored>(&entry.value) {
                    state
                        .set_local_instance(id, stored.capacity, entry.revision)
                        .await;
                }
            }
            // A delete newer than the local generation (the local instance
            // may come from a later `PUT` read before this entry arrived).
            kv::Operation::Delete | kv::Operation::Purge if entry.revision > local => {
                state.registry.delete(&id);
            }
            kv::Operation::Delete | kv::Operation::Purge => {}
            kv::Operation::Put => {}
        }
    }
}
