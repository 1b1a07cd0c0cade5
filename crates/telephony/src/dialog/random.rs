//! Caller-provided randomness for tags, branches, Call-IDs, nonces and cnonces, so the
//! protocol cores stay deterministic under test.

/// A source of random 64-bit words. The shell passes a cryptographically seeded one; tests
/// pass [`SplitMix64`] with a fixed seed.
pub trait Random {
    /// The next random word.
    fn next_u64(&mut self) -> u64;

    /// `n` random lower-case hex digits.
    fn hex(&mut self, n: usize) -> String {
        let mut s = String::with_capacity(n + 16);
        while s.len() < n {
            s.push_str(&format!("{:016x}", self.next_u64()));
        }
        s.truncate(n);
        s
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): a small deterministic generator. Not
/// cryptographic: seed it from the OS in production or pass another [`Random`].
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl Random for SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl<R: Random + ?Sized> Random for &mut R {
    fn next_u64(&mut self) -> u64 {
        (**self).next_u64()
    }
}

impl<R: Random + ?Sized> Random for Box<R> {
    fn next_u64(&mut self) -> u64 {
        (**self).next_u64()
    }
}
