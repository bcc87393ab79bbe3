//! Records histories from real threads on the real registry (its point
//! index at full size, with migrations every dozen creations, the real
//! crossbeam-skiplist and crossbeam-epoch, not the model checkers'
//! stand-ins).
//!
//! Times come from one shared counter, bumped with a SeqCst `fetch_add`
//! just before each call and just after it returns. If an operation's
//! response value is below another's invocation value, the first really
//! returned before the second was invoked, which is all the checker needs.
//! The counter adds a shared RMW around every operation; on this x86 machine
//! that is no more ordering than the registry's own RMWs give.
//!
//! Which generation an accepted send went into is not returned by the API;
//! it is recovered from where the message came out: a receive on a known
//! generation during the run, or the drain of every receiver at the end
//! (each of its `try_recv`s an event, the last one's `Empty` or `Closed`
//! included). A message that came out nowhere is recorded as lost, one that
//! came out twice fails the recording.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

use channel_registry::{Receiver, Registry, Sender, TryRecvError, TrySendError};
use spec::XorShift64Star;
use spec::model::{Label, Op, Out, Wait};

use crate::history::{Event, LOST, MsgId};

/// The shape of a recorded history.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub threads: usize,
    pub ops_per_thread: usize,
    pub ids: u64,
    /// Capacities are drawn from `1..=max_cap`: small, so `Full` is common.
    pub max_cap: usize,
}

struct Shared {
    registry: Registry<u64, MsgId, Label>,
    clock: AtomicU64,
    next_gen: AtomicU32,
    next_handle: AtomicU32,
    /// Threads that reached the start line; they spin until all have, so
    /// that they start within nanoseconds of each other (a `Barrier` wakes
    /// them one by one through the kernel, microseconds apart, which is
    /// longer than a whole history).
    ready: AtomicUsize,
}

impl Shared {
    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::SeqCst)
    }
}

/// What one thread holds and records.
struct Worker {
    thread: usize,
    rng: XorShift64Star,
    events: Vec<Event>,
    receivers: Vec<(u64, Label, Receiver<MsgId, Label>)>,
    handles: Vec<(u64, Label, Sender<MsgId, Label>)>,
    next_msg: MsgId,
}

impl Worker {
    fn msg(&mut self) -> MsgId {
        self.next_msg += 1;
        ((self.thread as u64) << 32) | self.next_msg
    }

    fn op(&mut self, sh: &Shared, shape: &Shape) {
        let id = self.rng.below(shape.ids);
        let roll = self.rng.below(100);
        let (op, inv, out, res, event_id) = match roll {
            0..=16 => {
                let cap = 1 + self.rng.below(shape.max_cap as u64) as usize;
                let generation = Label::from(sh.next_gen.fetch_add(1, Ordering::Relaxed));
                let register = roll >= 12;
                // Each generation's state is its label: a `set_with` reports
                // which generation it replaced, and `with_state` which one
                // it read.
                let inv = sh.tick();
                let r = if register {
                    sh.registry
                        .register_with(id, cap, generation)
                        .map(|rx| (rx, Out::Installed))
                        .ok()
                } else {
                    let created = sh.registry.set_with(id, cap, generation).ok();
                    created.map(|c| {
                        let replaced = c.replaced.map(|old| *old.state());
                        (c.receiver, Out::Replaced(replaced))
                    })
                };
                let res = sh.tick();
                let out = match r {
                    Some((rx, out)) => {
                        self.receivers.push((id, generation, rx));
                        out
                    }
                    None if register => Out::Occupied,
                    None => panic!("set({id}, {cap}) refused a valid capacity"),
                };
                let rx = generation;
                let op = if register {
                    Op::Register { id, cap, rx }
                } else {
                    Op::Set { id, cap, rx }
                };
                (op, inv, out, res, id)
            }
            17..=26 => {
                let inv = sh.tick();
                let b = sh.registry.delete(&id);
                (Op::Delete(id), inv, Out::Bool(b), sh.tick(), id)
            }
            27..=29 => {
                let inv = sh.tick();
                let b = sh.registry.contains(&id);
                (Op::Contains(id), inv, Out::Bool(b), sh.tick(), id)
            }
            30..=31 => {
                let inv = sh.tick();
                let state = sh.registry.with_state(&id, |s| *s);
                (Op::State(id), inv, Out::State(state), sh.tick(), id)
            }
            32..=66 => {
                let msg = self.msg();
                let inv = sh.tick();
                let r = sh.registry.try_send(&id, msg);
                let res = sh.tick();
                let op = Op::Send {
                    id,
                    msg,
                    wait: Wait::No,
                };
                (op, inv, send_out(r, msg), res, id)
            }
            67..=71 => {
                let handle = Label::from(sh.next_handle.fetch_add(1, Ordering::Relaxed));
                let inv = sh.tick();
                let h = sh.registry.sender(&id);
                let res = sh.tick();
                let out = Out::Handle(h.is_some());
                if let Some(h) = h {
                    self.handles.push((id, handle, h));
                }
                (Op::Sender { id, handle }, inv, out, res, id)
            }
            72..=84 if !self.handles.is_empty() => {
                let k = self.rng.below(self.handles.len() as u64) as usize;
                let msg = self.msg();
                let (hid, handle) = (self.handles[k].0, self.handles[k].1);
                let inv = sh.tick();
                let r = self.handles[k].2.try_send(msg);
                let res = sh.tick();
                let op = Op::HandleSend {
                    handle,
                    msg,
                    wait: Wait::No,
                };
                (op, inv, send_out(r, msg), res, hid)
            }
            _ if !self.receivers.is_empty() => {
                let k = self.rng.below(self.receivers.len() as u64) as usize;
                let (rid, generation) = (self.receivers[k].0, self.receivers[k].1);
                let inv = sh.tick();
                let r = self.receivers[k].2.try_recv();
                let res = sh.tick();
                let op = Op::Recv {
                    rx: generation,
                    wait: Wait::No,
                };
                (op, inv, recv_out(r), res, rid)
            }
            _ => {
                let inv = sh.tick();
                let b = sh.registry.contains(&id);
                (Op::Contains(id), inv, Out::Bool(b), sh.tick(), id)
            }
        };
        self.events.push(Event {
            id: event_id,
            thread: self.thread,
            op,
            out,
            inv,
            res,
        });
    }
}

fn send_out(r: Result<(), TrySendError<MsgId>>, msg: MsgId) -> Out {
    match r {
        Ok(()) => Out::Sent, // resolved after the drain
        Err(e) => {
            let (out, back) = match e {
                TrySendError::NoSuchId(m) => (Out::NoSuchId, m),
                TrySendError::Full(m) => (Out::Full, m),
                TrySendError::Closed(m) => (Out::Closed, m),
            };
            assert_eq!(back, msg, "a failed send handed back another message");
            out
        }
    }
}

fn recv_out(r: Result<MsgId, TryRecvError>) -> Out {
    match r {
        Ok(m) => Out::Msg(m),
        Err(TryRecvError::Empty) => Out::Empty,
        Err(TryRecvError::Closed) => Out::RxClosed,
    }
}

/// Runs one history on a fresh registry and returns its events, every
/// accepted send resolved to the generation it came out of, and how many
/// of them the threads ran (the rest are the final drains).
pub fn record(shape: Shape, seed: u64) -> (Vec<Event>, usize) {
    // Every other history takes each deleted id's node and key out at once.
    // With the default policy a delete of one of these few ids keeps its
    // node and the re-creation reuses it, so the point index never leaves a
    // tombstone and never migrates, and the migration's negative controls
    // went uncaught; past the kept nodes' bound a production registry takes
    // this path too.
    let registry = if seed % 2 == 1 {
        Registry::new().__keep_deleted_keys(None)
    } else {
        Registry::new()
    };
    let shared = Arc::new(Shared {
        registry,
        clock: AtomicU64::new(0),
        next_gen: AtomicU32::new(0),
        next_handle: AtomicU32::new(0),
        ready: AtomicUsize::new(0),
    });
    let workers: Vec<Worker> = std::thread::scope(|s| {
        let joins: Vec<_> = (0..shape.threads)
            .map(|t| {
                let sh = Arc::clone(&shared);
                s.spawn(move || {
                    let mut w = Worker {
                        thread: t,
                        // The state the histories have always been drawn from.
                        rng: XorShift64Star::new(
                            seed.wrapping_mul(31)
                                .wrapping_add(t as u64 + 1)
                                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                                | 1,
                        ),
                        events: Vec::with_capacity(shape.ops_per_thread),
                        receivers: Vec::new(),
                        handles: Vec::new(),
                        next_msg: 0,
                    };
                    sh.ready.fetch_add(1, Ordering::SeqCst);
                    while sh.ready.load(Ordering::SeqCst) < shape.threads {
                        std::thread::yield_now();
                    }
                    for _ in 0..shape.ops_per_thread {
                        w.op(&sh, &shape);
                    }
                    w
                })
            })
            .collect();
        joins.into_iter().map(|j| j.join().unwrap()).collect()
    });

    // Every thread is done: drain what is left in each generation, in
    // order, each `try_recv` an event, up to the first that finds nothing.
    let mut events = Vec::new();
    let mut drains = Vec::new();
    let mut ran = 0;
    for w in workers {
        ran += w.events.len();
        events.extend(w.events);
        for (id, generation, rx) in &w.receivers {
            loop {
                let inv = shared.tick();
                let out = recv_out(rx.try_recv());
                drains.push(Event {
                    id: *id,
                    thread: w.thread,
                    op: Op::Recv {
                        rx: *generation,
                        wait: Wait::No,
                    },
                    out,
                    inv,
                    res: shared.tick(),
                });
                if !matches!(out, Out::Msg(_)) {
                    break;
                }
            }
        }
    }
    events.extend(drains);
    if let Err(duplicate) = resolve_sends(&mut events) {
        panic!("seed {seed}: {duplicate}");
    }
    (events, ran)
}

/// Fills in the generation of every accepted send from where its message
/// came out (`LOST` if nowhere). A message that came out twice is an error
/// (a duplicate).
pub fn resolve_sends(events: &mut [Event]) -> Result<(), String> {
    let mut came_out: HashMap<MsgId, Label> = HashMap::new();
    for e in events.iter() {
        if let (Op::Recv { rx, .. }, Out::Msg(m)) = (e.op, e.out) {
            if let Some(first) = came_out.insert(m, rx) {
                return Err(format!(
                    "message {m:#x} came out twice (generations {first} and {rx})"
                ));
            }
        }
    }
    for e in events.iter_mut() {
        if let (Op::Send { msg, .. } | Op::HandleSend { msg, .. }, Out::Sent) = (e.op, e.out) {
            e.out = Out::SentInto(came_out.get(&msg).copied().unwrap_or(LOST));
        }
    }
    Ok(())
}
