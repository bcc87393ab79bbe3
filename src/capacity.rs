//! Channel capacities: the limits, the check every new channel passes, and
//! its error.

use std::error::Error;
use std::fmt;

use crate::ring::Ring;

/// The largest capacity a channel may have.
///
/// A channel allocates its whole buffer when it is created, so capacities are
/// bounded to keep a typo from aborting the process on allocation failure.
/// Larger requests, and requests whose buffer would exceed
/// [`MAX_BUFFER_BYTES`], fail with [`CapacityError`].
pub const MAX_CAPACITY: usize = 1 << 20;

/// The largest buffer, in bytes, that one channel may allocate.
pub const MAX_BUFFER_BYTES: usize = 1 << 30;

/// A capacity that passed [`check`]: the only way to build a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Capacity(usize);

impl Capacity {
    pub(crate) fn get(self) -> usize {
        self.0
    }
}

/// Checks a requested capacity for messages of type `T` against
/// [`MAX_CAPACITY`] and, with the ring's own slot size, [`MAX_BUFFER_BYTES`].
pub(crate) fn check<T>(requested: usize) -> Result<Capacity, CapacityError> {
    let fits = requested
        .checked_mul(Ring::<T>::SLOT_BYTES)
        .is_some_and(|bytes| bytes <= MAX_BUFFER_BYTES);
    if requested == 0 || requested > MAX_CAPACITY || !fits {
        return Err(CapacityError::new(requested));
    }
    Ok(Capacity(requested))
}

/// A channel capacity that cannot be served: zero, above
/// [`MAX_CAPACITY`](crate::MAX_CAPACITY), or a buffer above
/// [`MAX_BUFFER_BYTES`](crate::MAX_BUFFER_BYTES).
///
/// # Examples
///
/// ```
/// use channel_registry::{MAX_CAPACITY, Registry};
/// # if channel_registry::__loom_build() { return Ok(()); }
///
/// let registry = Registry::<u64, u8>::new();
/// let error = registry.set(1, 0).unwrap_err();
/// assert_eq!(error.requested(), 0);
/// assert!(registry.set(1, MAX_CAPACITY + 1).is_err());
/// assert!(!registry.contains(&1)); // nothing was created
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct CapacityError {
    requested: usize,
}

impl CapacityError {
    pub(crate) fn new(requested: usize) -> Self {
        CapacityError { requested }
    }

    /// The capacity that was asked for.
    ///
    /// # Examples
    ///
    /// ```
    /// use channel_registry::Registry;
    /// # if channel_registry::__loom_build() { return Ok(()); }
    ///
    /// let registry = Registry::<u64, u8>::new();
    /// assert_eq!(registry.set(1, usize::MAX).unwrap_err().requested(), usize::MAX);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn requested(&self) -> usize {
        self.requested
    }
}

impl fmt::Display for CapacityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.requested == 0 {
            write!(
                f,
                "channel capacity must be at least 1 (rendezvous channels are not supported)"
            )
        } else {
            write!(
                f,
                "channel capacity {} is above the maximum of {} slots or {} buffer bytes",
                self.requested, MAX_CAPACITY, MAX_BUFFER_BYTES
            )
        }
    }
}

impl Error for CapacityError {}

#[cfg(all(test, not(any(loom, shuttle))))]
mod tests {
    use super::*;

    /// The byte limit charges each slot what the ring allocates for it (the
    /// value and a stamp word), and admits a buffer of exactly
    /// `MAX_BUFFER_BYTES`. Checked without allocating: the largest such
    /// buffer is a gigabyte.
    #[test]
    fn the_byte_limit_counts_a_stamp_word_per_slot() {
        // 2,040 + 8 = 2,048 bytes a slot: 2^30 / 2^11 = 2^19 slots fill the
        // limit exactly, and the capacity limit (2^20) does not bind.
        type Big = [u8; 2040];
        let slot = std::mem::size_of::<Big>() + std::mem::size_of::<usize>();
        assert_eq!(Ring::<Big>::SLOT_BYTES, slot);
        let most = MAX_BUFFER_BYTES / slot;
        assert_eq!(most * slot, MAX_BUFFER_BYTES);
        assert!(most < MAX_CAPACITY);
        assert_eq!(check::<Big>(most).map(Capacity::get), Ok(most));
        assert_eq!(check::<Big>(most + 1), Err(CapacityError::new(most + 1)));
        // For a small value the capacity limit binds instead.
        assert!(check::<u8>(MAX_CAPACITY).is_ok());
        assert!(check::<u8>(MAX_CAPACITY + 1).is_err());
        assert!(check::<u8>(0).is_err());
        assert!(check::<u8>(usize::MAX).is_err());
    }
}
