//! The sequential model of the contract, and the vocabulary of operations
//! it answers.
//!
//! The registry maps each id to at most one *current generation*: the
//! channel created by one successful `set` or `register`. A generation is a
//! FIFO queue with a capacity and a closed flag.
//!
//! - `set` closes the id's current generation, if any, and installs a new
//!   one; `register` installs one only if the id has none; `delete` closes
//!   and removes the current one.
//! - A routed send goes into the id's current generation (`NoSuchId` if
//!   there is none); a handle send goes into the generation that was
//!   current when `sender` returned the handle. Either is `Closed` if that
//!   generation is closed, `Full` (or `Timeout`, or waits) if its queue is
//!   full, and is otherwise accepted at the back of the queue.
//! - Receives pop from the front; a receive reports `Closed` only when the
//!   generation is closed *and* empty; otherwise an empty queue is `Empty`
//!   (or `Timeout`, or waits).
//! - Dropping a receiver closes its generation and drops what it buffered.
//! - Each generation carries a state; here the state *is* the generation's
//!   label (a checker gives `set_with` the label as the state). A state read
//!   by id returns the current generation's, and a `set` that replaces says
//!   which generation it replaced.
//!
//! Generations and handles are named by *labels* that the caller chooses:
//! the checker that records a history knows which receiver or handle each
//! operation used, and names it. A label names one generation (one
//! receiver) or one handle for the whole history.

use std::collections::{BTreeMap, VecDeque};

/// An id of the registry.
pub type Id = u64;
/// A message. Messages must be unique within a history: the model tells
/// them apart by value.
pub type Msg = u64;
/// A caller's name for a generation (its receiver) or for a handle.
pub type Label = u64;

/// How an operation behaves when it cannot complete at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Wait {
    /// `try_send`, `try_recv`: returns `Full` or `Empty`.
    No,
    /// `send_timeout`, `recv_timeout`: returns `Timeout` once its deadline
    /// passes.
    Timeout,
    /// Blocking or async without deadline: returns only when it can
    /// complete, or when the generation closes.
    Forever,
    /// An async operation polled once and dropped if pending: like
    /// `Forever`, but it may also end [`Out::Cancelled`] without effect.
    Once,
}

/// One operation of the contract. Fields: `id` an id, `cap` a capacity,
/// `msg` the message sent, `rx` the label of a receiver (its generation),
/// `handle` the label of a handle, `wait` how it waits.
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// `set(id, cap)`, whose receiver is named `rx`.
    Set { id: Id, cap: usize, rx: Label },
    /// `register(id, cap)`, whose receiver (if it installs) is named `rx`.
    Register { id: Id, cap: usize, rx: Label },
    /// `delete(&id)`.
    Delete(Id),
    /// `contains(&id)`.
    Contains(Id),
    /// `with_state(&id, ..)`: the state of `id`'s current generation.
    State(Id),
    /// `len()`.
    Len,
    /// `ids()`, iterated to its end. Not an atomic snapshot: the model
    /// accepts any [`Out::Listed`] (single-threaded checkers compare the
    /// listing with [`Model::ids`] themselves).
    Ids,
    /// A routed send of `msg` to `id`.
    Send { id: Id, msg: Msg, wait: Wait },
    /// `sender(&id)`, whose handle (if any) is named `handle`.
    Sender { id: Id, handle: Label },
    /// A send of `msg` through handle `handle`.
    HandleSend { handle: Label, msg: Msg, wait: Wait },
    /// A receive on receiver `rx`.
    Recv { rx: Label, wait: Wait },
    /// Receiver `rx` dropped.
    DropRx(Label),
}

/// What an operation returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Out {
    /// `set` or `register` installed a generation.
    Installed,
    /// `set_with` installed a generation, replacing the one named by this
    /// label, or creating the id (`None`).
    Replaced(Option<Label>),
    /// A state read: the label of the generation whose state it read, or
    /// `None` (no such id).
    State(Option<Label>),
    /// `register` found the id occupied.
    Occupied,
    /// `delete` or `contains`.
    Bool(bool),
    /// `len`.
    Len(usize),
    /// `ids` ran (see [`Op::Ids`]).
    Listed,
    /// `sender`: a handle, or none (no such id).
    Handle(bool),
    /// A send was accepted.
    Sent,
    /// A send was accepted into the generation named by this label (a
    /// checker that learns where each message went, from the receiver that
    /// got it, says so).
    SentInto(Label),
    /// A routed send found no current generation.
    NoSuchId,
    /// A send found its generation closed.
    Closed,
    /// A non-waiting send found the queue full.
    Full,
    /// A send with a deadline found the queue full until the deadline.
    Timeout,
    /// A receive got this message.
    Msg(Msg),
    /// A non-waiting receive found the queue empty and the generation open.
    Empty,
    /// A receive found the generation closed and empty.
    RxClosed,
    /// A receive with a deadline found the queue empty until the deadline.
    RxTimeout,
    /// `DropRx` done.
    Dropped,
    /// A [`Wait::Once`] operation was pending after its one poll and was
    /// dropped: no effect.
    Cancelled,
}

/// One generation: the channel one `set` or `register` created.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct Generation {
    /// The id it was created under.
    pub id: Id,
    /// Its capacity.
    pub cap: usize,
    /// What it buffers, front first.
    pub queue: VecDeque<Msg>,
    /// Retired (replaced or deleted) or its receiver dropped.
    pub closed: bool,
    /// Its receiver was dropped (a closed generation whose receiver is
    /// still held can be drained).
    pub receiver_dropped: bool,
}

/// The state of the whole registry, as the contract describes it. Two
/// states are equal when every id, generation and handle is, whatever the
/// order in which they came about (the linearizability search memoizes on
/// it).
#[derive(Clone, Debug, Default, Hash, PartialEq, Eq)]
pub struct Model {
    current: BTreeMap<Id, Label>,
    gens: BTreeMap<Label, Generation>,
    handles: BTreeMap<Label, Label>,
}

impl Model {
    /// The empty registry.
    pub fn new() -> Self {
        Model::default()
    }

    /// The label of `id`'s current generation.
    pub fn current(&self, id: Id) -> Option<Label> {
        self.current.get(&id).copied()
    }

    /// The generation named `rx`.
    pub fn generation(&self, rx: Label) -> Option<&Generation> {
        self.gens.get(&rx)
    }

    /// Every generation ever created, by label.
    pub fn generations(&self) -> impl Iterator<Item = (Label, &Generation)> {
        self.gens.iter().map(|(l, g)| (*l, g))
    }

    /// The generation that handle `handle` sends into.
    pub fn handle(&self, handle: Label) -> Option<Label> {
        self.handles.get(&handle).copied()
    }

    /// The ids that exist, in order.
    pub fn ids(&self) -> impl Iterator<Item = Id> + '_ {
        self.current.keys().copied()
    }

    /// Every message buffered, in any generation.
    pub fn buffered(&self) -> impl Iterator<Item = Msg> + '_ {
        self.gens.values().flat_map(|g| g.queue.iter().copied())
    }

    /// Forgets handle `handle` (dropped): nothing else changes.
    pub fn drop_handle(&mut self, handle: Label) {
        self.handles.remove(&handle);
    }

    /// Closes every generation, keeping their queues: the registry was
    /// dropped.
    pub fn drop_registry(&mut self) {
        self.current.clear();
        for g in self.gens.values_mut() {
            g.closed = true;
        }
    }

    /// Whether `op` can return `out` here; if so, applies it. A cancelled
    /// [`Wait::Once`] operation never took effect, so it is explained
    /// anywhere (its pending poll is not an answer, such as "empty" or
    /// "full", that the model must confirm: a poll can count a slot that
    /// another thread has claimed and not finished as empty or full).
    /// [`Out::SentInto`] must name the generation the send went into.
    pub fn explains(&mut self, op: Op, out: Out) -> bool {
        match out {
            Out::Cancelled => matches!(
                op,
                Op::Send {
                    wait: Wait::Once,
                    ..
                } | Op::HandleSend {
                    wait: Wait::Once,
                    ..
                } | Op::Recv {
                    wait: Wait::Once,
                    ..
                }
            ),
            Out::SentInto(into) => {
                self.destination(op) == Some(into) && self.step(op) == Some(Out::Sent)
            }
            Out::Replaced(old) => match op {
                Op::Set { id, .. } => {
                    self.current(id) == old && self.step(op) == Some(Out::Installed)
                }
                _ => false,
            },
            out => self.step(op) == Some(out),
        }
    }

    /// The result of `op`, applied; `None` if it would wait here, or names
    /// a receiver or handle that does not exist, or installs under a label
    /// already used.
    pub fn step(&mut self, op: Op) -> Option<Out> {
        match op {
            Op::Set { id, cap, rx } => self.install(id, cap, rx).then_some(Out::Installed),
            Op::Register { id, cap, rx } => {
                if self.current.contains_key(&id) {
                    Some(Out::Occupied)
                } else {
                    self.install(id, cap, rx).then_some(Out::Installed)
                }
            }
            Op::Delete(id) => Some(Out::Bool(match self.current.remove(&id) {
                Some(g) => {
                    self.gens.get_mut(&g).expect("a current generation").closed = true;
                    true
                }
                None => false,
            })),
            Op::Contains(id) => Some(Out::Bool(self.current.contains_key(&id))),
            Op::State(id) => Some(Out::State(self.current(id))),
            Op::Len => Some(Out::Len(self.current.len())),
            Op::Ids => Some(Out::Listed),
            Op::Send { id, msg, wait } => match self.current.get(&id) {
                None => Some(Out::NoSuchId),
                Some(&g) => self.push(g, msg, wait),
            },
            Op::Sender { id, handle } => match self.current.get(&id) {
                None => Some(Out::Handle(false)),
                Some(&g) => {
                    if self.handles.insert(handle, g).is_some() {
                        return None;
                    }
                    Some(Out::Handle(true))
                }
            },
            Op::HandleSend { handle, msg, wait } => {
                let g = *self.handles.get(&handle)?;
                self.push(g, msg, wait)
            }
            Op::Recv { rx, wait } => {
                let g = self.gens.get_mut(&rx)?;
                if g.receiver_dropped {
                    return None;
                }
                match g.queue.pop_front() {
                    Some(m) => Some(Out::Msg(m)),
                    None if g.closed => Some(Out::RxClosed),
                    None => match wait {
                        Wait::No => Some(Out::Empty),
                        Wait::Timeout => Some(Out::RxTimeout),
                        Wait::Forever | Wait::Once => None,
                    },
                }
            }
            Op::DropRx(rx) => {
                let g = self.gens.get_mut(&rx)?;
                if g.receiver_dropped {
                    return None;
                }
                g.closed = true;
                g.receiver_dropped = true;
                g.queue.clear();
                Some(Out::Dropped)
            }
        }
    }

    /// The generation a send would go into, if it names one.
    pub fn destination(&self, op: Op) -> Option<Label> {
        match op {
            Op::Send { id, .. } => self.current(id),
            Op::HandleSend { handle, .. } => self.handle(handle),
            _ => None,
        }
    }

    fn install(&mut self, id: Id, cap: usize, rx: Label) -> bool {
        if self.gens.contains_key(&rx) {
            return false;
        }
        self.gens.insert(
            rx,
            Generation {
                id,
                cap,
                queue: VecDeque::new(),
                closed: false,
                receiver_dropped: false,
            },
        );
        if let Some(old) = self.current.insert(id, rx) {
            self.gens
                .get_mut(&old)
                .expect("a current generation")
                .closed = true;
        }
        true
    }

    fn push(&mut self, g: Label, msg: Msg, wait: Wait) -> Option<Out> {
        let g = self.gens.get_mut(&g).expect("a generation");
        if g.closed {
            Some(Out::Closed)
        } else if g.queue.len() >= g.cap {
            match wait {
                Wait::No => Some(Out::Full),
                Wait::Timeout => Some(Out::Timeout),
                Wait::Forever | Wait::Once => None,
            }
        } else {
            g.queue.push_back(msg);
            Some(Out::Sent)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Model, Op, Out, Wait};

    #[test]
    fn set_replaces_and_closes_the_old_generation() {
        let mut m = Model::new();
        assert_eq!(
            m.step(Op::Set {
                id: 1,
                cap: 1,
                rx: 10
            }),
            Some(Out::Installed)
        );
        let send = |msg| Op::Send {
            id: 1,
            msg,
            wait: Wait::No,
        };
        assert_eq!(m.step(Op::State(1)), Some(Out::State(Some(10))));
        assert!(!m.clone().explains(
            Op::Set {
                id: 1,
                cap: 1,
                rx: 12
            },
            Out::Replaced(None)
        ));
        assert_eq!(m.step(send(100)), Some(Out::Sent));
        assert_eq!(m.step(send(101)), Some(Out::Full));
        assert_eq!(
            m.step(Op::Sender { id: 1, handle: 5 }),
            Some(Out::Handle(true))
        );
        assert_eq!(
            m.step(Op::Set {
                id: 1,
                cap: 1,
                rx: 11
            }),
            Some(Out::Installed)
        );
        assert!(m.explains(send(102), Out::SentInto(11)));
        assert_eq!(m.step(Op::State(1)), Some(Out::State(Some(11))));
        let h = Op::HandleSend {
            handle: 5,
            msg: 103,
            wait: Wait::Forever,
        };
        assert_eq!(m.step(h), Some(Out::Closed));
        let recv = |rx| Op::Recv { rx, wait: Wait::No };
        assert_eq!(m.step(recv(10)), Some(Out::Msg(100)));
        assert_eq!(m.step(recv(10)), Some(Out::RxClosed));
        assert_eq!(m.step(recv(11)), Some(Out::Msg(102)));
        assert_eq!(m.step(recv(11)), Some(Out::Empty));
        assert_eq!(
            m.step(Op::Recv {
                rx: 11,
                wait: Wait::Forever
            }),
            None
        );
        // A replacing set names the generation it replaced; a deleted id has
        // no state.
        assert!(m.explains(
            Op::Set {
                id: 1,
                cap: 1,
                rx: 12
            },
            Out::Replaced(Some(11))
        ));
        assert_eq!(m.step(Op::Delete(1)), Some(Out::Bool(true)));
        assert_eq!(m.step(Op::State(1)), Some(Out::State(None)));
        // A label names one generation for the whole history.
        assert_eq!(
            m.step(Op::Set {
                id: 2,
                cap: 1,
                rx: 10
            }),
            None
        );
    }

    #[test]
    fn register_delete_and_dropped_receivers() {
        let mut m = Model::new();
        assert_eq!(
            m.step(Op::Register {
                id: 1,
                cap: 2,
                rx: 1
            }),
            Some(Out::Installed)
        );
        assert_eq!(
            m.step(Op::Register {
                id: 1,
                cap: 2,
                rx: 2
            }),
            Some(Out::Occupied)
        );
        assert_eq!(m.step(Op::Len), Some(Out::Len(1)));
        assert!(m.explains(
            Op::Send {
                id: 1,
                msg: 7,
                wait: Wait::Once
            },
            Out::Cancelled
        ));
        assert!(!m.explains(
            Op::Send {
                id: 1,
                msg: 7,
                wait: Wait::No
            },
            Out::Cancelled
        ));
        assert_eq!(
            m.step(Op::Send {
                id: 1,
                msg: 8,
                wait: Wait::Timeout
            }),
            Some(Out::Sent)
        );
        assert_eq!(m.step(Op::DropRx(1)), Some(Out::Dropped));
        assert_eq!(m.buffered().count(), 0);
        assert_eq!(m.step(Op::Contains(1)), Some(Out::Bool(true)));
        assert_eq!(
            m.step(Op::Send {
                id: 1,
                msg: 9,
                wait: Wait::No
            }),
            Some(Out::Closed)
        );
        assert_eq!(m.step(Op::Delete(1)), Some(Out::Bool(true)));
        assert_eq!(m.step(Op::Delete(1)), Some(Out::Bool(false)));
        assert_eq!(
            m.step(Op::Send {
                id: 1,
                msg: 10,
                wait: Wait::No
            }),
            Some(Out::NoSuchId)
        );
        assert_eq!(
            m.step(Op::Sender { id: 1, handle: 3 }),
            Some(Out::Handle(false))
        );
        assert_eq!(m.ids().count(), 0);
    }
}
