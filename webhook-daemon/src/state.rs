//! Instances: the registry, each instance's counters, and the worker tasks.
//!
//! Each instance is one generation of an id's channel, created by a `PUT`
//! with its counters as the generation's state (`Registry::set_with`). So
//! there is one map: `GET /instances/{id}` reads the id's current
//! generation and its counters from the registry, a `PUT` learns from
//! `set_with` whether it created or replaced, and a worker reaches its own
//! counters through its receiver. A replaced or deleted instance's counters
//! live as long as its worker, which drains its mailbox and exits.

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use bytes::Bytes;
use channel_registry::{CapacityError, Receiver, Registry};
use futures_util::FutureExt as _;
use tokio_util::task::TaskTracker;

use crate::budget::{Budget, Charge};
use crate::metrics::Metrics;
use crate::{Config, EventHandler, Summary};

/// A buffered event: its body, and the bytes it holds of
/// [`Config::max_buffered_bytes`] until its handler has run.
#[derive(Debug)]
pub(crate) struct Event {
    pub(crate) body: Bytes,
    pub(crate) charge: Charge,
    /// Cluster mode: the stored event to acknowledge once handled (boxed:
    /// a mailbox slot pays 8 bytes for it, in either mode).
    pub(crate) delivery: Option<Box<crate::cluster::Delivery>>,
}

impl Event {
    /// What a mailbox slot of events allocates (see `MAILBOX_SLOT_BYTES`):
    /// the event and the channel's 8-byte stamp, rounded to the event's
    /// alignment.
    pub(crate) const SLOT_BYTES: usize = {
        let align = std::mem::align_of::<Event>();
        (std::mem::size_of::<Event>() + 8).div_ceil(align) * align
    };
}

/// One instance's state: the generation's number and its worker's counters.
#[derive(Debug, Default)]
pub(crate) struct Instance {
    /// Numbers the `PUT`s of the whole daemon, so clients can tell a
    /// replaced instance from the one they created.
    pub(crate) generation: u64,
    /// Events this instance's worker has finished processing.
    pub(crate) processed: AtomicU64,
    /// Events whose handler panicked (the worker carries on).
    pub(crate) failed: AtomicU64,
}

/// Why a `PUT` was refused.
#[derive(Debug)]
pub(crate) enum SetError {
    Capacity(CapacityError),
    /// The capacity does not fit in what is left of the slot budget.
    NoSlots,
}

/// What a `PUT` did.
#[derive(Debug)]
pub(crate) struct SetOutcome {
    pub(crate) created: bool,
    pub(crate) generation: u64,
    /// The generation this `PUT` replaced, if it replaced one.
    pub(crate) replaced: Option<u64>,
    pub(crate) capacity: usize,
}

/// The daemon's shared state.
pub(crate) struct State {
    pub(crate) config: Config,
    pub(crate) registry: Registry<u64, Event, Instance>,
    pub(crate) metrics: Metrics,
    /// Bytes of buffered event bodies ([`Config::max_buffered_bytes`]).
    pub(crate) bytes: Arc<Budget>,
    /// Mailbox slots of all generations ([`Config::max_mailbox_slots`]).
    pub(crate) slots: Arc<Budget>,
    /// Set when shutdown begins: `/readyz` answers 503 from then on.
    pub(crate) draining: AtomicBool,
    /// Numbers the accepted events (the `event_id` of a 202).
    events: AtomicU64,
    /// Cluster mode: this replica's handles, set before serving.
    pub(crate) cluster: std::sync::OnceLock<Arc<crate::cluster::Cluster>>,
    handler: EventHandler,
    workers: TaskTracker,
    generations: AtomicU64,
    started: Instant,
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("State")
            .field("config", &self.config)
            .field("instances", &self.registry.len())
            .field("workers", &self.workers.len())
            .finish_non_exhaustive()
    }
}

impl State {
    pub(crate) fn new(config: Config, handler: EventHandler) -> Self {
        State {
            registry: Registry::new(),
            metrics: Metrics::default(),
            bytes: Budget::new("bytes", config.max_buffered_bytes),
            slots: Budget::new("slots", config.max_mailbox_slots),
            draining: AtomicBool::new(false),
            events: AtomicU64::new(0),
            cluster: std::sync::OnceLock::new(),
            handler,
            workers: TaskTracker::new(),
            generations: AtomicU64::new(0),
            started: Instant::now(),
            config,
        }
    }

    /// `PUT /instances/{id}`: creates or replaces the instance and spawns
    /// its worker. Must be called inside a tokio runtime.
    pub(crate) fn set_instance(
        self: &Arc<Self>,
        id: u64,
        capacity: usize,
    ) -> Result<SetOutcome, SetError> {
        let slots = self.slots.charge(capacity).ok_or(SetError::NoSlots)?;
        let generation = self.generations.fetch_add(1, Relaxed) + 1;
        let outcome = self.install(id, capacity, generation, slots)?;
        let counter = if outcome.created {
            &self.metrics.created
        } else {
            &self.metrics.replaced
        };
        counter.fetch_add(1, Relaxed);
        Ok(outcome)
    }

    /// Installs generation `generation` of `id` with its worker.
    fn install(
        self: &Arc<Self>,
        id: u64,
        capacity: usize,
        generation: u64,
        slots: Charge,
    ) -> Result<SetOutcome, SetError> {
        let instance = Instance {
            generation,
            ..Instance::default()
        };
        let created = self
            .registry
            .set_with(id, capacity, instance)
            .map_err(|refused| SetError::Capacity(refused.error))?;
        let replaced = created.replaced.as_ref().map(|old| old.state().generation);
        let capacity = created.receiver.capacity();
        let worker = Worker {
            state: Arc::clone(self),
            id,
            rx: created.receiver,
            _slots: slots,
        };
        self.workers.spawn(worker.run());
        Ok(SetOutcome {
            created: replaced.is_none(),
            generation,
            replaced,
            capacity,
        })
    }

    /// Cluster mode, on the owner of the id's shard: makes `generation`
    /// (the table's, `capacity`) the local instance of `id`, unless the
    /// local one is already as new. Waits for room in the slot budget.
    pub(crate) async fn set_local_instance(
        self: &Arc<Self>,
        id: u64,
        capacity: usize,
        generation: u64,
    ) {
        let slots = loop {
            if let Some(slots) = self.slots.charge(capacity) {
                break slots;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        // Two deliveries, or a delivery and the table's watcher, may race
        // to install one generation: the registry's `register`-like check
        // is the generation comparison here, and a lost race only replaces
        // an equal generation by an equal one.
        let current = self.registry.with_state(&id, |i| i.generation);
        if current.is_some_and(|g| g >= generation) {
            return;
        }
        if let Err(e) = self.install(id, capacity, generation, slots) {
            tracing::warn!(id, generation, error = ?e, "cluster: cannot install an instance");
        }
    }

    /// Cluster mode: moves a stored event into the local mailbox of
    /// `generation`, or, if that generation is no longer the local one, to
    /// a retired-generation worker. Waits for room in the byte budget and
    /// in the mailbox.
    pub(crate) async fn deliver(
        self: &Arc<Self>,
        id: u64,
        generation: u64,
        delivery: crate::cluster::Delivery,
    ) {
        let body = delivery.message.payload.clone();
        let charge = loop {
            if let Some(charge) = self.bytes.charge(body.len()) {
                break charge;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let event = Event {
            body,
            charge,
            delivery: Some(Box::new(delivery)),
        };
        let event = match self.registry.sender(&id) {
            Some(mailbox) if mailbox.state().generation == generation => {
                match mailbox.send_async(event).await {
                    Ok(()) => return,
                    // Replaced or deleted while the event waited.
                    Err(refused) => refused.into_inner(),
                }
            }
            _ => event,
        };
        let state = Arc::clone(self);
        self.workers.spawn(async move {
            let Event { body, delivery, .. } = event;
            let handled = AssertUnwindSafe((state.handler)(id, body))
                .catch_unwind()
                .await;
            let total = if handled.is_ok() {
                &state.metrics.processed
            } else {
                &state.metrics.failed
            };
            total.fetch_add(1, Relaxed);
            if let Some(delivery) = delivery {
                delivery
                    .cluster
                    .metrics
                    .retired_events
                    .fetch_add(1, Relaxed);
                (*delivery).finish().await;
            }
        });
    }

    /// An accepted event's body as a buffered event, with its event id,
    /// if the byte budget has room for it.
    pub(crate) fn event(&self, body: Bytes) -> Option<(u64, Event)> {
        let charge = self.bytes.charge(body.len())?;
        let id = self.events.fetch_add(1, Relaxed) + 1;
        let event = Event {
            body,
            charge,
            delivery: None,
        };
        Some((id, event))
    }

    /// `DELETE /instances/{id}`.
    pub(crate) fn delete_instance(&self, id: u64) -> bool {
        let deleted = self.registry.delete(&id);
        if deleted {
            self.metrics.deleted.fetch_add(1, Relaxed);
        }
        deleted
    }

    /// Events buffered in the mailboxes of the registered instances.
    pub(crate) fn buffered(&self) -> usize {
        self.registry
            .ids()
            .filter_map(|id| self.registry.sender(&id))
            .map(|mailbox| mailbox.len())
            .sum()
    }

    /// A snapshot of the counters.
    pub(crate) fn stats(&self) -> crate::Stats {
        let m = &self.metrics;
        crate::Stats {
            instances: self.registry.len(),
            created: m.created.load(Relaxed),
            replaced: m.replaced.load(Relaxed),
            deleted: m.deleted.load(Relaxed),
            accepted: m.sends(crate::SendOutcome::Accepted),
            processed: m.processed.load(Relaxed),
            requests: m.requests(),
        }
    }

    /// After the HTTP server has stopped: closes every instance, lets the
    /// workers drain their mailboxes, waits for them, and sums up.
    pub(crate) async fn drain(&self) -> Summary {
        let buffered_at_shutdown = self.buffered();
        // No request handler runs any more, so nothing re-creates an id.
        let closed_at_shutdown = self.registry.delete_in(..) as u64;
        self.workers.close();
        self.workers.wait().await;
        let stats = self.stats();
        let m = &self.metrics;
        Summary {
            uptime: self.started.elapsed(),
            requests: stats.requests,
            created: stats.created,
            replaced: stats.replaced,
            deleted: stats.deleted,
            closed_at_shutdown,
            buffered_at_shutdown,
            accepted: stats.accepted,
            processed: stats.processed,
            failed: m.failed.load(Relaxed),
            rejected_full: m.sends(crate::SendOutcome::Full) + m.sends(crate::SendOutcome::Timeout),
            not_found: m.sends(crate::SendOutcome::NoSuchId),
            gone: m.sends(crate::SendOutcome::Gone),
            closed: m.sends(crate::SendOutcome::Closed),
            instances_left: self.registry.len() + self.workers.len(),
            cluster: self.cluster.get().is_some(),
        }
    }
}

/// An instance's worker: receives until its channel is closed and drained.
struct Worker {
    state: Arc<State>,
    id: u64,
    rx: Receiver<Event, Instance>,
    /// The mailbox's slots of [`Config::max_mailbox_slots`]: held until
    /// the worker has drained its closed mailbox and exits. The buffer is
    /// freed through the registry's reclamation soon after, once no
    /// thread can still reach the retired generation (a few retired
    /// mailboxes per runtime thread may wait for that: see
    /// `channel_registry::reclaim`).
    _slots: Charge,
}

impl Worker {
    async fn run(self) {
        let (rx, metrics) = (&self.rx, &self.state.metrics);
        while let Ok(event) = rx.recv_async().await {
            // A panicking handler costs its event, not the instance: were
            // the worker to die, its receiver would be dropped and the id
            // would refuse every event until replaced.
            let Event {
                body,
                charge,
                delivery,
            } = event;
            let handled = AssertUnwindSafe((self.state.handler)(self.id, body))
                .catch_unwind()
                .await;
            // The event's bytes count until its handler returned.
            drop(charge);
            if let Some(delivery) = delivery {
                (*delivery).finish().await;
            }
            let (mine, total) = match handled {
                Ok(()) => (&rx.state().processed, &metrics.processed),
                Err(_panic) => (&rx.state().failed, &metrics.failed),
            };
            mine.fetch_add(1, Relaxed);
            total.fetch_add(1, Relaxed);
        }
    }
}
