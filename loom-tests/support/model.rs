//! The sequential model of the contract that every loom and shuttle
//! scenario is checked against: ids map to channel *generations*; a
//! generation is a FIFO queue with a capacity and a closed flag.

use std::collections::{BTreeMap, VecDeque};

use super::{Op, Out, Rx, Scenario};

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct Gen {
    queue: VecDeque<u32>,
    closed: bool,
}

/// The state of the whole registry, as the contract describes it.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct Model {
    cap: usize,
    ids: BTreeMap<u64, usize>,
    gens: Vec<Gen>,
    rx: BTreeMap<Rx, usize>,
    handles: Vec<usize>,
}

impl Model {
    /// The state after the scenario's set-up.
    pub fn new(s: &Scenario) -> Self {
        let mut m = Model {
            cap: s.cap,
            ids: BTreeMap::new(),
            gens: Vec::new(),
            rx: BTreeMap::new(),
            handles: Vec::new(),
        };
        for (n, (id, msgs)) in s.initial.iter().enumerate() {
            let g = m.new_gen(*id);
            m.gens[g].queue.extend(msgs);
            m.rx.insert(Rx::Initial(n), g);
        }
        for id in &s.handles {
            m.handles.push(m.ids[id]);
        }
        m
    }

    fn new_gen(&mut self, id: u64) -> usize {
        let g = self.gens.len();
        self.gens.push(Gen {
            queue: VecDeque::new(),
            closed: false,
        });
        if let Some(old) = self.ids.insert(id, g) {
            self.gens[old].closed = true;
        }
        g
    }

    /// A send into generation `g`: `Sent`, `Closed`, or `full` when there
    /// is no room (`None` for a send that waits for room).
    fn push(&mut self, g: usize, m: u32, full: Option<Out>) -> Option<Out> {
        let generation = &mut self.gens[g];
        if generation.closed {
            Some(Out::Closed(m))
        } else if generation.queue.len() >= self.cap {
            full
        } else {
            generation.queue.push_back(m);
            Some(Out::Sent)
        }
    }

    /// A routed send to `id`.
    fn route(&mut self, id: u64, m: u32, full: Option<Out>) -> Option<Out> {
        match self.ids.get(&id) {
            None => Some(Out::NoSuchId(m)),
            Some(&g) => self.push(g, m, full),
        }
    }

    /// Whether `op`, issued as receiver `name`, can return `out` here, and
    /// if so applies it. A cancelled `*Once` operation (pending after its
    /// one poll, then dropped) never took effect: it is explained anywhere.
    /// Its pending poll is not an answer ("empty", "full") that the model
    /// must confirm: a poll counts a slot that another thread has claimed
    /// and not finished as empty or full (`crate::chan`).
    pub fn explains(&mut self, name: Rx, op: Op, out: Out) -> bool {
        if out == Out::Cancelled {
            return matches!(op, Op::RecvAsyncOnce(_) | Op::SendAsyncOnce(..));
        }
        self.step(name, op) == Some(out)
    }

    /// The result of `op` issued as receiver `name` (for the receivers that
    /// `set` and `register` return), or `None` if it would wait here.
    pub fn step(&mut self, name: Rx, op: Op) -> Option<Out> {
        match op {
            Op::Set(id) => {
                let g = self.new_gen(id);
                self.rx.insert(name, g);
                Some(Out::NewRx)
            }
            Op::Register(id) => {
                if self.ids.contains_key(&id) {
                    Some(Out::Occupied)
                } else {
                    let g = self.new_gen(id);
                    self.rx.insert(name, g);
                    Some(Out::NewRx)
                }
            }
            Op::Delete(id) => Some(Out::Bool(match self.ids.remove(&id) {
                Some(g) => {
                    self.gens[g].closed = true;
                    true
                }
                None => false,
            })),
            Op::Contains(id) => Some(Out::Bool(self.ids.contains_key(&id))),
            Op::Ids => Some(Out::Listed),
            Op::TrySend(id, m) => self.route(id, m, Some(Out::Full(m))),
            Op::SendTimeout(id, m) => self.route(id, m, Some(Out::Timeout(m))),
            Op::SendAsync(id, m) | Op::SendBlocking(id, m) | Op::SendAsyncOnce(id, m) => {
                self.route(id, m, None)
            }
            Op::HandleSend(h, m) => self.push(self.handles[h], m, Some(Out::Full(m))),
            Op::HandleSendAsync(h, m) | Op::HandleSendBlocking(h, m) => {
                self.push(self.handles[h], m, None)
            }
            Op::TryRecv(rx)
            | Op::Recv(rx)
            | Op::RecvAsync(rx)
            | Op::RecvTimeout(rx)
            | Op::RecvAsyncOnce(rx) => {
                let generation = &mut self.gens[self.rx[&rx]];
                match generation.queue.pop_front() {
                    Some(m) => Some(Out::Msg(m)),
                    None if generation.closed => Some(Out::RxClosed),
                    None => match op {
                        Op::TryRecv(_) => Some(Out::Empty),
                        Op::RecvTimeout(_) => Some(Out::RxTimeout),
                        _ => None,
                    },
                }
            }
            Op::DropRx(rx) => {
                let generation = &mut self.gens[self.rx[&rx]];
                generation.closed = true;
                generation.queue.clear();
                Some(Out::Dropped)
            }
        }
    }
}
