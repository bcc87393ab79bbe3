//! What a history is: one event per operation, with its invocation and
//! response times on a shared logical clock, the call and what it returned.

use std::fmt;

/// A channel generation: the channel created by one successful `set` or
/// `register`, numbered by the recorder.
pub type Gen = u32;
/// A `Sender` handle obtained from `sender(&id)`, numbered by the recorder.
pub type HandleId = u32;
/// A message: unique within a history.
pub type MsgId = u64;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    Set {
        cap: usize,
    },
    Register {
        cap: usize,
    },
    Delete,
    Contains,
    /// Routed `try_send(&id, msg)`.
    TrySend {
        msg: MsgId,
    },
    /// `sender(&id)`.
    GetSender,
    /// `try_send` on a handle.
    HandleSend {
        handle: HandleId,
        msg: MsgId,
    },
    /// `try_recv` on a generation's receiver.
    Recv {
        generation: Gen,
    },
    /// After every thread finished: what is left in a generation, in order.
    Drain {
        generation: Gen,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ret {
    Installed(Gen),
    Occupied,
    Bool(bool),
    /// A send was accepted, into the generation whose receiver later got the
    /// message (`None`: no receiver ever got it, i.e. it was lost). Filled in
    /// by the recorder once every receiver has been drained.
    SentInto(Option<Gen>),
    Full,
    NoSuchId,
    Closed,
    Handle(Option<HandleId>),
    Received(MsgId),
    Empty,
    RecvClosed,
    Drained(Vec<MsgId>),
}

/// One completed operation on one id.
#[derive(Clone, PartialEq, Eq)]
pub struct Event {
    pub id: u64,
    pub thread: usize,
    pub call: Call,
    pub ret: Ret,
    /// Clock value taken just before the call.
    pub inv: u64,
    /// Clock value taken just after it returned; `inv < res`.
    pub res: u64,
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{:>4}..{:>4}] t{} id {}: {:?} -> {:?}",
            self.inv, self.res, self.thread, self.id, self.call, self.ret
        )
    }
}
