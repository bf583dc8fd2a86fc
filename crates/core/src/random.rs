//! Randomness comes in through `Random` so tests can be repeatable; production uses
//! the OS source (wasi:random inside Spin).

pub trait Random {
    fn fill(&self, buf: &mut [u8]);

    fn bytes<const N: usize>(&self) -> [u8; N]
    where
        Self: Sized,
    {
        let mut b = [0u8; N];
        self.fill(&mut b);
        b
    }

    /// Uniform integer in `0..n` (n > 0), without modulo bias.
    fn below(&self, n: u32) -> u32 {
        let n = n.max(1);
        let zone = u32::MAX - (u32::MAX % n);
        loop {
            let mut b = [0u8; 4];
            self.fill(&mut b);
            let v = u32::from_le_bytes(b);
            if v < zone {
                return v % n;
            }
        }
    }
}

/// The operating system's CSPRNG.
pub struct OsRandom;

impl Random for OsRandom {
    fn fill(&self, buf: &mut [u8]) {
        // getrandom only fails when the platform has no entropy source at all; a
        // zeroed token would be a security hole, so refuse to continue.
        #[allow(clippy::expect_used)]
        getrandom::fill(buf).expect("no OS randomness available");
    }
}

/// Deterministic bytes for tests (a counter stream, not random at all).
pub struct CountingRandom(pub std::cell::Cell<u8>);

impl Random for CountingRandom {
    fn fill(&self, buf: &mut [u8]) {
        for b in buf {
            let v = self.0.get();
            *b = v;
            self.0.set(v.wrapping_add(1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_stays_in_range() {
        let r = OsRandom;
        for _ in 0..1000 {
            assert!(r.below(3) < 3);
        }
    }

    #[test]
    fn os_random_differs_between_calls() {
        let r = OsRandom;
        let a: [u8; 32] = r.bytes();
        let b: [u8; 32] = r.bytes();
        assert_ne!(a, b);
    }
}
