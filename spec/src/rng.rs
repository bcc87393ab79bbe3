//! The seeded generator.

/// xorshift64* (Vigna, 2016): small, fast and seedable; enough to pick
/// operations, not for anything that needs real randomness.
///
/// ```
/// use spec::XorShift64Star;
///
/// let mut a = XorShift64Star::new(1);
/// let mut b = XorShift64Star::new(1);
/// assert_eq!(a.next_u64(), b.next_u64());
/// assert!(a.below(10) < 10);
/// ```
#[derive(Clone, Debug)]
pub struct XorShift64Star(u64);

impl XorShift64Star {
    /// The generator whose state is `seed` (0, which xorshift cannot leave,
    /// becomes 1). The benchmark's workload spec seeds worker `i` with
    /// `new(i + 1)`.
    pub fn new(seed: u64) -> Self {
        XorShift64Star(seed.max(1))
    }

    /// A generator for stream `stream` (a thread or worker number) of the
    /// run seeded with `seed`: both mixed by splitmix64, so that nearby
    /// seeds and streams start far apart.
    ///
    /// ```
    /// use spec::XorShift64Star;
    ///
    /// let mut a = XorShift64Star::for_stream(7, 1);
    /// let mut b = XorShift64Star::for_stream(7, 2);
    /// assert_ne!(a.next_u64(), b.next_u64());
    /// ```
    pub fn for_stream(seed: u64, stream: u64) -> Self {
        let mut z = seed ^ stream.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        XorShift64Star((z ^ (z >> 31)) | 1)
    }

    /// The next value.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// `next_u64() % n`, as the workload spec draws ids and operations (the
    /// modulo bias is below 2^-43 for `n` up to 2^20).
    ///
    /// # Panics
    ///
    /// If `n` is 0.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

#[cfg(test)]
mod tests {
    use super::XorShift64Star;

    #[test]
    fn the_workload_spec_sequence_is_kept() {
        // Worker 0 of every benchmark run draws from `new(1)`; these are
        // the first values of xorshift64* from state 1.
        let mut r = XorShift64Star::new(1);
        assert_eq!(r.next_u64(), 5_180_492_295_206_395_165);
        assert_eq!(r.next_u64(), 12_380_297_144_915_551_517);
        assert_eq!(
            XorShift64Star::new(0).next_u64(),
            XorShift64Star::new(1).next_u64()
        );
    }

    #[test]
    fn below_stays_below_and_covers() {
        let mut r = XorShift64Star::for_stream(3, 0);
        let mut seen = [0u32; 7];
        for _ in 0..7_000 {
            seen[r.below(7) as usize] += 1;
        }
        assert!(seen.iter().all(|&n| (800..1_200).contains(&n)), "{seen:?}");
    }
}
