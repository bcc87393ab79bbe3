//! What a history is: one event per operation, in the spec's vocabulary
//! (`spec::model`), with the id it concerns and its invocation and response
//! times on a shared logical clock.

use std::fmt;

use spec::model::{Label, Op, Out};

/// A message: unique within a history.
pub type MsgId = u64;

/// The label of an accepted send whose message never came out of any
/// receiver: no generation has it, so the model explains no such send.
pub const LOST: Label = Label::MAX;

/// One completed operation on one id. Receivers are labelled by their
/// generation's number, handles by theirs (both numbered by the recorder).
#[derive(Clone, PartialEq, Eq)]
pub struct Event {
    pub id: u64,
    pub thread: usize,
    pub op: Op,
    /// What it returned. An accepted send is `Out::Sent` when recorded and
    /// `Out::SentInto(generation)` once the recorder knows where its
    /// message came out (`LOST` if nowhere).
    pub out: Out,
    /// Clock value taken just before the call.
    pub inv: u64,
    /// Clock value taken just after it returned; `inv < res`.
    pub res: u64,
}

impl Event {
    /// The event as the search takes it (`index` is unused in real time).
    pub fn spec(&self) -> spec::linearize::Event {
        spec::linearize::Event {
            thread: self.thread,
            index: 0,
            op: self.op,
            out: self.out,
            inv: self.inv,
            res: self.res,
        }
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{:>4}..{:>4}] t{} id {}: {:?} -> {:?}",
            self.inv, self.res, self.thread, self.id, self.op, self.out
        )
    }
}
