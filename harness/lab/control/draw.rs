//! Reproducible chance: which connections a toxic touches (its toxicity) and each chunk's jitter,
//! drawn from the control API's seed so that a run replays.
//!
//! Hand-written on purpose: the draws must be a pure function of (seed, link, connection, toxic),
//! stable across platforms and crate versions, which a tiny SplitMix64 over FNV-1a hashes gives in a
//! few lines; a general random crate's generators make no such promise of stability.

/// FNV-1a over `text`, for mixing names into a draw.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// One SplitMix64 step.
fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn unit(bits: u64) -> f64 {
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// Whether `toxic` acts on connection number `connection` of `link`, given its toxicity.
pub fn touches(seed: u64, link: &str, connection: u64, toxic: &str, toxicity: f64) -> bool {
    if toxicity >= 1.0 {
        return true;
    }
    let bits = splitmix(seed ^ fnv1a(link) ^ splitmix(connection) ^ fnv1a(toxic).rotate_left(17));
    unit(bits) < toxicity
}

/// A stream of draws for one direction of one connection (each chunk's jitter, slice sizes).
#[derive(Debug, Clone)]
pub struct Draws(u64);

impl Draws {
    /// The draws of connection `connection` of `link`, in `direction`.
    pub fn new(seed: u64, link: &str, connection: u64, direction: &str) -> Draws {
        Draws(seed ^ fnv1a(link) ^ splitmix(connection) ^ fnv1a(direction))
    }

    /// A whole number from `-spread` to `spread`, each equally likely.
    pub fn around(&mut self, spread: u64) -> i64 {
        if spread == 0 {
            return 0;
        }
        self.0 = splitmix(self.0);
        let span = spread.saturating_mul(2).saturating_add(1);
        (self.0 % span) as i64 - spread as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn about_half_touched_and_the_same_half_again() {
        let first: Vec<bool> = (0..200)
            .map(|c| touches(7, "app", c, "reset", 0.5))
            .collect();
        let again: Vec<bool> = (0..200)
            .map(|c| touches(7, "app", c, "reset", 0.5))
            .collect();
        let other: Vec<bool> = (0..200)
            .map(|c| touches(8, "app", c, "reset", 0.5))
            .collect();
        let count = first.iter().filter(|t| **t).count();
        assert!((80..=120).contains(&count), "{count} of 200");
        assert_eq!(first, again);
        assert_ne!(first, other);
    }

    #[test]
    fn jitter_stays_within_its_spread() {
        let mut draws = Draws::new(1, "app", 0, "downstream");
        let values: Vec<i64> = (0..1000).map(|_| draws.around(10)).collect();
        assert!(values.iter().all(|v| (-10..=10).contains(v)));
        assert!(values.contains(&-10) && values.contains(&10));
    }
}
