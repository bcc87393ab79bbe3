//! Cluster mode: replicas of the daemon sharing one NATS JetStream server.
//!
//! What must agree across replicas lives in JetStream; each replica's
//! registry stays the fast local path of the shards it owns.
//!
//! * **The instance table** is the key-value bucket `<prefix>_instances`:
//!   key = the id, value = `{"capacity": n}`, and an instance's generation
//!   *is* its entry's revision (the stream sequence JetStream gave the
//!   write). A `PUT` is a `create` (the id is absent) or an `update`
//!   expecting the revision it read; a `DELETE` is a delete expecting the
//!   revision it read. Each is one stream write checked against the key's
//!   last revision, so it is linearizable per id across replicas: the
//!   linearization point of a `PUT` or `DELETE` is JetStream storing that
//!   write, and a `GET` or a list reads the bucket's last value.
//! * **Events** go to the stream `<prefix>_events`, subject
//!   `<prefix>.events.<shard>.<id>`. A `POST` reads the id's entry (404 if
//!   absent), publishes the body with the entry's revision in a header, and
//!   answers 202 only once JetStream acknowledged storing it: a 202 is
//!   durable. The stream keeps at most [`ClusterConfig::backlog`] events per
//!   subject and refuses more (discard-new per subject): that refusal is the
//!   429.
//! * **Ownership** (`owner.rs`): ids map to [`ClusterConfig::shards`] shards;
//!   each shard is leased by one replica through the bucket `<prefix>_leases`
//!   (entries expire after [`ClusterConfig::lease`] unless renewed). The
//!   owner of a shard pulls its events through the durable consumer
//!   `shard-<n>`, moves each into the instance's local mailbox, and acks it
//!   after the handler ran: delivery is at least once across failover.
//!
//! The buckets are created as plain streams (the layout of a key-value
//! bucket) rather than with `create_key_value`, whose answer `async-nats`
//! 0.51 cannot parse from a 2.9 server.

mod owner;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, kv, stream};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::state::State;

/// The header JetStream's key-value layout marks deletions with.
const KV_OPERATION: &str = "KV-Operation";

/// How long a listing waits for its next entry before it gives up (503).
const LIST_READ_TIMEOUT: Duration = Duration::from_secs(2);

/// Where and how a replica joins its cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// The NATS server (`nats://127.0.0.1:4222`).
    pub url: String,
    /// The prefix of every bucket, stream and subject: replicas with the
    /// same prefix form one cluster.
    pub prefix: String,
    /// This replica's name, unique in the cluster.
    pub replica: String,
    /// How many shards the ids map to. Every replica must agree.
    pub shards: u32,
    /// How long a shard's lease lives unless renewed; renewed every third
    /// of it. A dead owner's shards move within about 4/3 of it.
    pub lease: Duration,
    /// How long an event delivered to an owner may stay unacknowledged
    /// before JetStream delivers it again (to whichever replica owns the
    /// shard then).
    pub ack_wait: Duration,
    /// The most events stored and not yet handled per instance: a `POST`
    /// beyond is answered 429.
    pub backlog: i64,
    /// If set, each handled event's id is published on this core NATS
    /// subject before it is acknowledged (for tests and audits).
    pub audit_subject: Option<String>,
}

impl ClusterConfig {
    /// A config for `url` with the defaults: prefix `webhook`, a random
    /// replica name, 16 shards, a 3 s lease, a 10 s ack wait, a backlog of
    /// 1,024 events per instance.
    pub fn new(url: impl Into<String>) -> Self {
        ClusterConfig {
            url: url.into(),
            prefix: "webhook".into(),
            replica: format!(
                "replica-{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_nanos())
            ),
            shards: 16,
            lease: Duration::from_secs(3),
            ack_wait: Duration::from_secs(10),
            backlog: 1024,
            audit_subject: None,
        }
    }
}

/// An instance's entry in the table.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Stored {
    capacity: usize,
}

/// An instance as the table holds it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TableEntry {
    pub(crate) generation: u64,
    pub(crate) capacity: usize,
}

/// What a `PUT` did to the table.
#[derive(Debug)]
pub(crate) struct Put {
    pub(crate) generation: u64,
    pub(crate) replaced: Option<u64>,
}

/// Why a cluster `POST` was not answered 202.
#[derive(Debug)]
pub(crate) enum PostError {
    NoSuchId,
    /// The instance's stored backlog is full.
    Full,
    /// JetStream did not store the event (the message says why).
    Unavailable(String),
}

/// Counters of the cluster's own work (rendered in `/metrics`).
#[derive(Debug, Default)]
pub(crate) struct ClusterMetrics {
    pub(crate) owned_shards: AtomicU64,
    pub(crate) lease_renewals: AtomicU64,
    pub(crate) leases_acquired: AtomicU64,
    pub(crate) leases_lost: AtomicU64,
    pub(crate) leases_released: AtomicU64,
    pub(crate) redeliveries: AtomicU64,
    pub(crate) retired_events: AtomicU64,
    pub(crate) ack_failures: AtomicU64,
}

impl ClusterMetrics {
    /// The Prometheus text of the cluster's counters.
    pub(crate) fn render(&self) -> String {
        let rows: [(&str, &str, &str, &AtomicU64); 8] = [
            (
                "webhook_cluster_owned_shards",
                "gauge",
                "Shards this replica owns now.",
                &self.owned_shards,
            ),
            (
                "webhook_cluster_lease_renewals_total",
                "counter",
                "Shard leases renewed.",
                &self.lease_renewals,
            ),
            (
                "webhook_cluster_leases_acquired_total",
                "counter",
                "Shards taken.",
                &self.leases_acquired,
            ),
            (
                "webhook_cluster_leases_lost_total",
                "counter",
                "Leases that expired before their renewal.",
                &self.leases_lost,
            ),
            (
                "webhook_cluster_leases_released_total",
                "counter",
                "Shards given back (rebalance or shutdown).",
                &self.leases_released,
            ),
            (
                "webhook_cluster_redeliveries_total",
                "counter",
                "Events delivered to this replica more than once: possible duplicates.",
                &self.redeliveries,
            ),
            (
                "webhook_cluster_retired_events_total",
                "counter",
                "Events handled for a generation replaced or deleted before they reached its mailbox.",
                &self.retired_events,
            ),
            (
                "webhook_cluster_ack_failures_total",
                "counter",
                "Acks that failed (the event is delivered again).",
                &self.ack_failures,
            ),
        ];
        let mut out = String::new();
        for (name, kind, help, value) in rows {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}\n",
                value.load(Relaxed)
            ));
        }
        out
    }
}

/// A replica's handles on the cluster.
pub(crate) struct Cluster {
    pub(crate) config: ClusterConfig,
    pub(crate) client: async_nats::Client,
    pub(crate) js: jetstream::Context,
    pub(crate) instances: kv::Store,
    pub(crate) leases: kv::Store,
    pub(crate) replicas: kv::Store,
    pub(crate) events: stream::Stream,
    pub(crate) metrics: ClusterMetrics,
    published: AtomicU64,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("config", &self.config)
            .field("metrics", &self.metrics)
            .finish_non_exhaustive()
    }
}

/// The header carrying the generation an event was accepted for.
pub(crate) const GENERATION_HEADER: &str = "Webhook-Generation";

impl Cluster {
    /// Connects and creates the buckets and the stream if they are absent.
    pub(crate) async fn connect(config: ClusterConfig) -> Result<Arc<Cluster>, String> {
        let fail = |what: &str, e: &dyn std::fmt::Display| format!("NATS: {what}: {e}");
        let client = async_nats::ConnectOptions::new()
            .name(config.replica.clone())
            .connect(config.url.as_str())
            .await
            .map_err(|e| fail(&format!("cannot connect to {}", config.url), &e))?;
        let js = jetstream::new(client.clone());
        let p = &config.prefix;
        let instances = bucket(&js, &format!("{p}_instances"), Duration::ZERO)
            .await
            .map_err(|e| fail("instance table", &e))?;
        let leases = bucket(&js, &format!("{p}_leases"), config.lease)
            .await
            .map_err(|e| fail("lease bucket", &e))?;
        let replicas = bucket(&js, &format!("{p}_replicas"), config.lease)
            .await
            .map_err(|e| fail("replica bucket", &e))?;
        let events = js
            .get_or_create_stream(stream::Config {
                name: format!("{p}_events"),
                subjects: vec![format!("{p}.events.*.*")],
                max_messages_per_subject: config.backlog,
                discard: stream::DiscardPolicy::New,
                discard_new_per_subject: true,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| fail("event stream", &e))?;
        Ok(Arc::new(Cluster {
            config,
            client,
            js,
            instances,
            leases,
            replicas,
            events,
            metrics: ClusterMetrics::default(),
            published: AtomicU64::new(0),
        }))
    }

    /// The shard of an id (every replica computes the same).
    pub(crate) fn shard_of(&self, id: u64) -> u32 {
        // A fixed mix (splitmix64's finalizer), not a seeded hash: every
        // replica and every restart must agree.
        let mut z = id.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z % u64::from(self.config.shards)) as u32
    }

    fn subject(&self, id: u64) -> String {
        format!("{}.events.{}.{id}", self.config.prefix, self.shard_of(id))
    }

    /// The id's current entry, if it has one.
    pub(crate) async fn get(&self, id: u64) -> Result<Option<(TableEntry, u64)>, String> {
        let entry = self
            .instances
            .entry(id.to_string())
            .await
            .map_err(|e| format!("NATS: reading instance {id}: {e}"))?;
        Ok(entry.and_then(|e| {
            if e.operation != kv::Operation::Put {
                return None;
            }
            let stored: Stored = serde_json::from_slice(&e.value).ok()?;
            let found = TableEntry {
                generation: e.revision,
                capacity: stored.capacity,
            };
            Some((found, e.revision))
        }))
    }

    /// `PUT`: creates the id's entry, or replaces the one it read.
    pub(crate) async fn put(&self, id: u64, capacity: usize) -> Result<Put, String> {
        let value = Bytes::from(serde_json::to_vec(&Stored { capacity }).expect("plain struct"));
        let key = id.to_string();
        loop {
            match self.get(id).await? {
                None => match self.instances.create(&key, value.clone()).await {
                    Ok(generation) => {
                        return Ok(Put {
                            generation,
                            replaced: None,
                        });
                    }
                    Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => continue,
                    Err(e) => return Err(format!("NATS: creating instance {id}: {e}")),
                },
                Some((_, revision)) => {
                    // The negative control `unchecked_put` (a feature used
                    // only by scripts/cluster-negative.sh) writes without
                    // the revision check: two racing replaces then both
                    // report replacing the same generation, which the
                    // cross-replica linearizability test must catch.
                    #[cfg(not(feature = "negative-unchecked-put"))]
                    let written = self.instances.update(&key, value.clone(), revision).await;
                    #[cfg(feature = "negative-unchecked-put")]
                    let written =
                        self.instances.put(&key, value.clone()).await.map_err(|e| {
                            kv::UpdateError::with_source(kv::UpdateErrorKind::Other, e)
                        });
                    match written {
                        Ok(generation) => {
                            return Ok(Put {
                                generation,
                                replaced: Some(revision),
                            });
                        }
                        Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => continue,
                        Err(e) => return Err(format!("NATS: replacing instance {id}: {e}")),
                    }
                }
            }
        }
    }

    /// `DELETE`: removes the entry it read; `false` if there was none.
    pub(crate) async fn delete(&self, id: u64) -> Result<bool, String> {
        let key = id.to_string();
        loop {
            let Some((_, revision)) = self.get(id).await? else {
                return Ok(false);
            };
            match self
                .instances
                .delete_expect_revision(&key, Some(revision))
                .await
            {
                Ok(()) => return Ok(true),
                Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => continue,
                Err(e) => return Err(format!("NATS: deleting instance {id}: {e}")),
            }
        }
    }

    /// The ids in the table within `[from, to]`, ascending.
    pub(crate) async fn ids(&self, from: u64, to: u64) -> Result<Vec<u64>, String> {
        let keys = present_keys(&self.instances)
            .await
            .map_err(|e| format!("NATS: listing instances: {e}"))?;
        let mut ids: Vec<u64> = keys
            .iter()
            .filter_map(|key| key.parse::<u64>().ok())
            .filter(|id| (from..=to).contains(id))
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// `POST`: stores the event for the id's current generation; its
    /// stream sequence is the event id.
    pub(crate) async fn post(&self, id: u64, body: Bytes) -> Result<u64, PostError> {
        let Some((entry, _)) = self.get(id).await.map_err(PostError::Unavailable)? else {
            return Err(PostError::NoSuchId);
        };
        let mut headers = HeaderMap::new();
        headers.insert(GENERATION_HEADER, entry.generation.to_string().as_str());
        // Deduplicates a publish that the client library retried.
        let n = self.published.fetch_add(1, Relaxed);
        let msg_id = format!("{}-{n}", self.config.replica);
        headers.insert(async_nats::header::NATS_MESSAGE_ID, msg_id.as_str());
        let ack = self
            .js
            .publish_with_headers(self.subject(id), headers, body)
            .await
            .map_err(|e| PostError::Unavailable(format!("NATS: publishing: {e}")))?
            .await;
        match ack {
            Ok(ack) => Ok(ack.sequence),
            Err(e) if e.to_string().contains("maximum messages per subject") => {
                Err(PostError::Full)
            }
            Err(e) => Err(PostError::Unavailable(format!(
                "NATS: storing the event: {e}"
            ))),
        }
    }
}

/// A key-value bucket, created as its stream if absent.
async fn bucket(js: &jetstream::Context, name: &str, ttl: Duration) -> Result<kv::Store, String> {
    js.get_or_create_stream(stream::Config {
        name: format!("KV_{name}"),
        subjects: vec![format!("$KV.{name}.>")],
        max_messages_per_subject: 1,
        max_age: ttl,
        discard: stream::DiscardPolicy::New,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await
    .map_err(|e| e.to_string())?;
    js.get_key_value(name).await.map_err(|e| e.to_string())
}

/// The keys of `bucket` whose last entry is a value (not a deletion).
///
/// Not `kv::Store::keys`: it ends on a pending count that concurrent
/// writes make stale, and then waits for the consumer's idle heartbeat
/// (seconds; under the demo's load, lists took up to 30 s and lease rounds
/// that counted live replicas stalled). Here reading stops at the first of
/// two signs that every key was seen: an entry delivered with nothing
/// pending after it (the server's count at delivery, so an entry that
/// expired before its turn is not waited for), or as many entries read as
/// were pending when the consumer was created (an entry replaced meanwhile
/// is removed from the stream and its replacement, appended after it, is
/// read in its place; so writes that never pause cannot keep it reading).
pub(crate) async fn present_keys(bucket: &kv::Store) -> Result<Vec<String>, String> {
    use async_nats::jetstream::consumer::{DeliverPolicy, pull};
    use futures_util::StreamExt as _;
    let consumer = bucket
        .stream
        .create_consumer(pull::OrderedConfig {
            filter_subject: format!("{}>", bucket.prefix),
            headers_only: true,
            deliver_policy: DeliverPolicy::LastPerSubject,
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    let total = consumer.cached_info().num_pending;
    let mut entries = consumer.messages().await.map_err(|e| e.to_string())?;
    // Key -> whether its last entry read is a value.
    let mut present = std::collections::BTreeMap::new();
    for _ in 0..total {
        let entry = match tokio::time::timeout(LIST_READ_TIMEOUT, entries.next()).await {
            Ok(Some(Ok(entry))) => entry,
            Ok(Some(Err(e))) => return Err(e.to_string()),
            Ok(None) | Err(_) => return Err("the listing stalled".into()),
        };
        let Some(key) = entry.subject.strip_prefix(bucket.prefix.as_str()) else {
            continue;
        };
        let key = key.to_owned();
        let deleted = entry
            .headers
            .as_ref()
            .and_then(|h| h.get(KV_OPERATION))
            .is_some_and(|op| matches!(op.as_str(), "DEL" | "PURGE"));
        present.insert(key, !deleted);
        if entry.info().is_ok_and(|info| info.pending == 0) {
            break;
        }
    }
    Ok(present
        .into_iter()
        .filter_map(|(key, here)| here.then_some(key))
        .collect())
}

/// Starts this replica's part of the cluster: the lease loop and, for the
/// shards it comes to own, their consumers. Cancelling `stop` gives every
/// shard back; the returned task ends then.
pub(crate) fn attach(
    state: &Arc<State>,
    cluster: Arc<Cluster>,
    stop: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<()> {
    owner::start(state, cluster, stop)
}

/// Where a stored event came from: acknowledged to JetStream once its
/// handler ran.
pub(crate) struct Delivery {
    pub(crate) sequence: u64,
    pub(crate) message: jetstream::Message,
    pub(crate) cluster: Arc<Cluster>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("sequence", &self.sequence)
            .field("subject", &self.message.subject)
            .finish_non_exhaustive()
    }
}

impl Delivery {
    /// After the handler ran: reports the event on the audit subject, if
    /// one is set, then acknowledges it.
    pub(crate) async fn finish(self) {
        let cluster = &self.cluster;
        if let Some(subject) = &cluster.config.audit_subject {
            let _ = cluster
                .client
                .publish(subject.clone(), self.sequence.to_string().into())
                .await;
        }
        if let Err(e) = self.message.ack().await {
            cluster.metrics.ack_failures.fetch_add(1, Relaxed);
            tracing::warn!(error = %e, "cluster: ack failed; the event will be delivered again");
        }
    }
}
