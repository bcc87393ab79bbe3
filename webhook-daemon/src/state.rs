//! Instances: the registry, the side table of per-instance statistics, and
//! the worker tasks.
//!
//! # The side table, and why it needs no lock
//!
//! The registry maps an id to a channel; it holds no per-instance data. The
//! `GET /instances/{id}` statistics (processed count) live in a second
//! lock-free map, `instances: SkipMap<u64, Arc<Instance>>`, where an
//! [`Instance`] owns the channel's [`Receiver`] and its counters. The hot
//! path (`POST .../events`) never touches it: it is the registry alone.
//!
//! The two maps are written by different calls, so a `PUT` racing with
//! another `PUT` of the same id could leave the table describing the older
//! channel. Three rules keep the table equal to the registry whenever no
//! `PUT`/`DELETE` of that id is in flight:
//!
//! 1. A `PUT` calls `set`, then inserts its entry with
//!    `SkipMap::compare_insert`, replacing the existing entry only if that
//!    entry's channel is closed (`Receiver::is_closed`). The registry closes a
//!    replaced channel before `set` returns, so an entry whose channel is
//!    still open belongs to a `set` that came *after* ours: we must not
//!    displace it. `compare_insert` checks the node it then unlinks, so two
//!    racing inserts cannot both win against the same stale entry.
//! 2. A `PUT` spawns the worker only after its insert, and the worker removes
//!    the entry when it exits, only if the entry is still its own
//!    (`Arc::ptr_eq`, then `Entry::remove` on that very node). So a deleted
//!    instance's entry disappears once its mailbox is drained, and a newer
//!    entry is never removed by an older worker.
//! 3. `DELETE` touches only the registry: its worker cleans up (rule 2).
//!
//! Between a `set` and its insert the table may briefly lag; `GET` retries
//! for that window (see `api::get_instance`).

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use bytes::Bytes;
use channel_registry::{CapacityError, Receiver, RegisterError, Registry};
use crossbeam_skiplist::SkipMap;
use futures_util::FutureExt as _;
use tokio_util::task::TaskTracker;

use crate::metrics::Metrics;
use crate::{Config, EventHandler, Summary};

/// One instance: one generation of an id's channel, with its worker's counters.
pub(crate) struct Instance {
    pub(crate) id: u64,
    /// Numbers the `PUT`s of the whole daemon, so clients can tell a
    /// replaced instance from the one they created.
    pub(crate) generation: u64,
    pub(crate) rx: Receiver<Bytes>,
    /// Events this instance's worker has finished processing.
    pub(crate) processed: AtomicU64,
    /// Events whose handler panicked (the worker carries on).
    pub(crate) failed: AtomicU64,
}

impl fmt::Debug for Instance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Instance")
            .field("id", &self.id)
            .field("generation", &self.generation)
            .field("depth", &self.rx.len())
            .field("capacity", &self.rx.capacity())
            .field("processed", &self.processed.load(Relaxed))
            .field("failed", &self.failed.load(Relaxed))
            .finish()
    }
}

/// What a `PUT` did.
#[derive(Debug)]
pub(crate) struct SetOutcome {
    pub(crate) created: bool,
    pub(crate) instance: Arc<Instance>,
}

/// The daemon's shared state.
pub(crate) struct State {
    pub(crate) config: Config,
    pub(crate) registry: Registry<u64, Bytes>,
    pub(crate) instances: SkipMap<u64, Arc<Instance>>,
    pub(crate) metrics: Metrics,
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
            config,
            registry: Registry::new(),
            instances: SkipMap::new(),
            metrics: Metrics::default(),
            handler,
            workers: TaskTracker::new(),
            generations: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    /// `PUT /instances/{id}`: creates or replaces the instance and spawns
    /// its worker. Must be called inside a tokio runtime.
    pub(crate) fn set_instance(
        self: &Arc<Self>,
        id: u64,
        capacity: usize,
    ) -> Result<SetOutcome, CapacityError> {
        // `register` first so the answer can say whether this PUT created
        // the id; if it is taken, `set` replaces (and closes) the old channel.
        // A DELETE between the two makes the `set` a creation that we report
        // as a replacement: the previous instance is gone either way.
        let (rx, created) = match self.registry.register(id, capacity) {
            Ok(rx) => (rx, true),
            Err(RegisterError::Occupied) => (self.registry.set(id, capacity)?, false),
            Err(RegisterError::Capacity(e)) => return Err(e),
        };
        let instance = Arc::new(Instance {
            id,
            generation: self.generations.fetch_add(1, Relaxed) + 1,
            rx,
            processed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        });
        self.publish(&instance);
        // Rule 2: the worker starts after the insert, so its cleanup follows it.
        let worker = Worker {
            state: Arc::clone(self),
            instance: Arc::clone(&instance),
        };
        self.workers.spawn(worker.run());
        let counter = if created {
            &self.metrics.created
        } else {
            &self.metrics.replaced
        };
        counter.fetch_add(1, Relaxed);
        Ok(SetOutcome { created, instance })
    }

    /// Rule 1 of the module docs: puts `instance` in the side table unless
    /// the entry there is a newer, still open channel of the same id.
    fn publish(&self, instance: &Arc<Instance>) {
        self.instances
            .compare_insert(instance.id, Arc::clone(instance), |old| old.rx.is_closed());
    }

    /// `DELETE /instances/{id}`.
    pub(crate) fn delete_instance(&self, id: u64) -> bool {
        let deleted = self.registry.delete(&id);
        if deleted {
            self.metrics.deleted.fetch_add(1, Relaxed);
        }
        deleted
    }

    /// Events buffered in the mailboxes of the instances in the side table.
    pub(crate) fn buffered(&self) -> usize {
        self.instances.iter().map(|e| e.value().rx.len()).sum()
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
        let ids: Vec<u64> = self.registry.ids().collect();
        let mut closed_at_shutdown = 0;
        for id in ids {
            if self.registry.delete(&id) {
                closed_at_shutdown += 1;
            }
        }
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
            instances_left: self.instances.len(),
        }
    }
}

/// An instance's worker: receives until its channel is closed and drained.
struct Worker {
    state: Arc<State>,
    instance: Arc<Instance>,
}

impl Worker {
    async fn run(self) {
        let (instance, metrics) = (&self.instance, &self.state.metrics);
        while let Ok(event) = instance.rx.recv_async().await {
            // A panicking handler costs its event, not the instance: were
            // the worker to die, its receiver would stay alive in the side
            // table (and in the skip list until the epoch advances) and the
            // mailbox would fill up for good.
            let handled = AssertUnwindSafe((self.state.handler)(instance.id, event))
                .catch_unwind()
                .await;
            let (mine, total) = match handled {
                Ok(()) => (&instance.processed, &metrics.processed),
                Err(_panic) => (&instance.failed, &metrics.failed),
            };
            mine.fetch_add(1, Relaxed);
            total.fetch_add(1, Relaxed);
        }
        // Closed and drained: `Drop` removes the table entry.
    }
}

impl Drop for Worker {
    /// Rule 2 of the module docs.
    fn drop(&mut self) {
        if let Some(entry) = self.state.instances.get(&self.instance.id) {
            if Arc::ptr_eq(entry.value(), &self.instance) {
                entry.remove();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> Arc<State> {
        let handler: EventHandler = Arc::new(|_, _| Box::pin(async {}));
        Arc::new(State::new(Config::default(), handler))
    }

    fn instance(id: u64, generation: u64, rx: Receiver<Bytes>) -> Arc<Instance> {
        Arc::new(Instance {
            id,
            generation,
            rx,
            processed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        })
    }

    fn current_generation(state: &State, id: u64) -> Option<u64> {
        state.instances.get(&id).map(|e| e.value().generation)
    }

    /// Two PUTs of one id whose inserts land in the opposite order of their
    /// `set`s: the table must end with the newer one.
    #[test]
    fn a_late_insert_of_an_older_instance_does_not_displace_the_newer() {
        let state = state();
        let a = instance(7, 1, state.registry.set(7, 2).expect("set"));
        let b = instance(7, 2, state.registry.set(7, 2).expect("set")); // closes a
        state.publish(&b);
        state.publish(&a);
        assert_eq!(current_generation(&state, 7), Some(2));

        // In set order, the newer one displaces the closed older one.
        let state2 = super::tests::state();
        let c = instance(7, 1, state2.registry.set(7, 2).expect("set"));
        state2.publish(&c);
        let d = instance(7, 2, state2.registry.set(7, 2).expect("set"));
        state2.publish(&d);
        assert_eq!(current_generation(&state2, 7), Some(2));
    }

    /// An older worker that exits removes its own entry only.
    #[test]
    fn an_exiting_worker_removes_only_its_own_entry() {
        let state = state();
        let a = instance(3, 1, state.registry.set(3, 2).expect("set"));
        state.publish(&a);
        let b = instance(3, 2, state.registry.set(3, 2).expect("set"));
        state.publish(&b);
        drop(Worker {
            state: Arc::clone(&state),
            instance: Arc::clone(&a),
        });
        assert_eq!(current_generation(&state, 3), Some(2));

        assert!(state.registry.delete(&3));
        drop(Worker {
            state: Arc::clone(&state),
            instance: Arc::clone(&b),
        });
        assert_eq!(current_generation(&state, 3), None);
    }
}
