//! A linearizability checker for the history of one id, in the style of
//! Wing & Gong (1993) with Lowe's memoization (2017): search for a total order
//! of the events that respects real time (an event that returned before
//! another was invoked comes first) and in which every event's result is what
//! the sequential specification returns. The registry is a map of
//! independent ids, and linearizability is local (Herlihy & Wing), so each
//! id's sub-history is checked on its own.
//!
//! The sequential specification of one id is the contract in the crate docs:
//! the id holds at most one *current* generation; `set` closes the current
//! one and installs a new one; `register` installs only if there is none;
//! `delete` closes and removes it; a routed send goes into the current
//! generation (`NoSuchId` if none, `Full` if its buffer is full); a handle
//! send goes into the generation the handle was bound to when `sender`
//! returned, and fails `Closed` once that generation is retired; receives pop
//! in FIFO order and report `Closed` only when the generation is closed and
//! empty; what is left at the end is exactly what was accepted and not
//! received.

use std::collections::{BTreeMap, HashSet, VecDeque};

use crate::history::{Call, Event, Gen, HandleId, MsgId, Ret};

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct GenState {
    cap: usize,
    queue: VecDeque<MsgId>,
    closed: bool,
}

/// The sequential state of one id.
#[derive(Clone, Debug, Default, Hash, PartialEq, Eq)]
struct State {
    current: Option<Gen>,
    gens: BTreeMap<Gen, GenState>,
    handles: BTreeMap<HandleId, Gen>,
}

impl State {
    fn install(&mut self, generation: Gen, cap: usize) -> Option<()> {
        if self.gens.contains_key(&generation) {
            return None;
        }
        self.retire();
        self.gens.insert(
            generation,
            GenState {
                cap,
                queue: VecDeque::new(),
                closed: false,
            },
        );
        self.current = Some(generation);
        Some(())
    }

    fn retire(&mut self) {
        if let Some(old) = self.current.take() {
            self.gens.get_mut(&old).expect("current generation").closed = true;
        }
    }

    /// The outcome of a send into `generation`, pushing `msg` if it is accepted.
    fn send(&mut self, generation: Gen, msg: MsgId, ret: &Ret) -> Option<()> {
        let g = self.gens.get_mut(&generation)?;
        let accepted = !g.closed && g.queue.len() < g.cap;
        match ret {
            Ret::SentInto(Some(into)) if *into == generation && accepted => {
                g.queue.push_back(msg);
                Some(())
            }
            Ret::Full if !g.closed && g.queue.len() >= g.cap => Some(()),
            Ret::Closed if g.closed => Some(()),
            _ => None,
        }
    }

    /// The state after `e`, or `None` if the specification cannot return
    /// `e.ret` from this state.
    fn apply(&self, e: &Event) -> Option<State> {
        let mut s = self.clone();
        match (&e.call, &e.ret) {
            (Call::Set { cap }, Ret::Installed(generation)) => s.install(*generation, *cap)?,
            (Call::Register { cap }, Ret::Installed(generation)) if s.current.is_none() => {
                s.install(*generation, *cap)?
            }
            (Call::Register { .. }, Ret::Occupied) if s.current.is_some() => {}
            (Call::Delete, Ret::Bool(b)) if *b == s.current.is_some() => s.retire(),
            (Call::Contains, Ret::Bool(b)) if *b == s.current.is_some() => {}
            (Call::TrySend { .. }, Ret::NoSuchId) if s.current.is_none() => {}
            (Call::TrySend { msg }, ret) => {
                let generation = s.current?;
                s.send(generation, *msg, ret)?;
            }
            (Call::GetSender, Ret::Handle(None)) if s.current.is_none() => {}
            (Call::GetSender, Ret::Handle(Some(h))) => {
                let generation = s.current?;
                if s.handles.insert(*h, generation).is_some() {
                    return None;
                }
            }
            (Call::HandleSend { handle, msg }, ret) => {
                let generation = *s.handles.get(handle)?;
                s.send(generation, *msg, ret)?;
            }
            (Call::Recv { generation }, ret) => {
                let g = s.gens.get_mut(generation)?;
                match ret {
                    Ret::Received(m) if g.queue.front() == Some(m) => {
                        g.queue.pop_front();
                    }
                    Ret::Empty if g.queue.is_empty() && !g.closed => {}
                    Ret::RecvClosed if g.queue.is_empty() && g.closed => {}
                    _ => return None,
                }
            }
            (Call::Drain { generation }, Ret::Drained(left)) => {
                let g = s.gens.get_mut(generation)?;
                if !g.queue.iter().eq(left.iter()) {
                    return None;
                }
                g.queue.clear();
            }
            _ => return None,
        }
        Some(s)
    }
}

/// Why a history is not linearizable (for the failure message).
#[derive(Debug)]
pub struct NotLinearizable {
    /// The longest prefix of a linearization the search found.
    pub longest_prefix: Vec<Event>,
    /// The events that could not be placed after it.
    pub stuck: Vec<Event>,
}

/// Statistics of one check.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub events: usize,
    /// Search states visited (after memoization).
    pub states: usize,
}

/// Checks one id's events; on success returns a witness order (indices into
/// `events`).
pub fn check(events: &[Event]) -> Result<(Vec<usize>, Stats), NotLinearizable> {
    let mut search = Search {
        events,
        done: vec![false; events.len()],
        order: Vec::with_capacity(events.len()),
        best: Vec::new(),
        seen: HashSet::new(),
        states: 0,
    };
    if search.run(State::default()) {
        let stats = Stats {
            events: events.len(),
            states: search.states,
        };
        Ok((search.order, stats))
    } else {
        let placed: HashSet<usize> = search.best.iter().copied().collect();
        Err(NotLinearizable {
            longest_prefix: search.best.iter().map(|&i| events[i].clone()).collect(),
            stuck: (0..events.len())
                .filter(|i| !placed.contains(i))
                .map(|i| events[i].clone())
                .collect(),
        })
    }
}

struct Search<'a> {
    events: &'a [Event],
    done: Vec<bool>,
    order: Vec<usize>,
    best: Vec<usize>,
    /// Lowe's memo: (which events are linearized, state) pairs already
    /// explored without success.
    seen: HashSet<(Vec<bool>, State)>,
    states: usize,
}

impl Search<'_> {
    fn run(&mut self, state: State) -> bool {
        self.states += 1;
        if self.order.len() > self.best.len() {
            self.best = self.order.clone();
        }
        if self.order.len() == self.events.len() {
            return true;
        }
        // An event may come next only if no pending event returned before it
        // was invoked.
        let first_response = (0..self.events.len())
            .filter(|&i| !self.done[i])
            .map(|i| self.events[i].res)
            .min()
            .expect("some event is pending");
        for i in 0..self.events.len() {
            if self.done[i] || self.events[i].inv > first_response {
                continue;
            }
            let Some(next) = state.apply(&self.events[i]) else {
                continue;
            };
            self.done[i] = true;
            if self.seen.insert((self.done.clone(), next.clone())) {
                self.order.push(i);
                if self.run(next) {
                    return true;
                }
                self.order.pop();
            }
            self.done[i] = false;
        }
        false
    }
}
