//! Deterministic shards of a run (`--partition K/N`): N CI jobs, each given its own K, together run every
//! scenario or generated case exactly once, and `egresslab merge` joins their outputs.
//!
//! Catalog scenarios are split by a stable hash of their id (FNV-1a, 64 bit), so adding a scenario moves
//! no other one between shards; generated cases by their index (`index mod N`), which spreads every cause
//! evenly because the generator draws causes independently per case.

use std::fmt;
use std::str::FromStr;

/// Why a `K/N` text is not a partition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PartitionError {
    /// Not of the form `K/N`.
    #[error("partition {text:?}: expected K/N with 1 <= K <= N, for example 2/4")]
    Syntax {
        /// What was given.
        text: String,
    },
    /// `K` is 0 or larger than `N`, or `N` is 0.
    #[error("partition {text:?}: K must be between 1 and N (N at least 1)")]
    Range {
        /// What was given.
        text: String,
    },
}

/// Shard `index` (1-based) of `count` shards.
///
/// ```
/// use egresslab::scenario::partition::Partition;
/// let p: Partition = "2/4".parse().unwrap();
/// assert!(p.takes_case(1) && p.takes_case(5) && !p.takes_case(2));
/// let all: usize = (1..=4)
///     .map(|k| Partition::new(k, 4).unwrap())
///     .filter(|p| p.takes_id("proxy-down"))
///     .count();
/// assert_eq!(all, 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Partition {
    /// K, from 1.
    pub index: usize,
    /// N.
    pub count: usize,
}

impl Partition {
    /// The whole run as one shard (`1/1`).
    pub const WHOLE: Partition = Partition { index: 1, count: 1 };

    /// Shard `index` of `count`, checked.
    pub fn new(index: usize, count: usize) -> Result<Partition, PartitionError> {
        if count == 0 || index == 0 || index > count {
            return Err(PartitionError::Range {
                text: format!("{index}/{count}"),
            });
        }
        Ok(Partition { index, count })
    }

    /// Whether generated case number `case` (from 0) belongs to this shard.
    pub fn takes_case(self, case: usize) -> bool {
        case % self.count == self.index - 1
    }

    /// Whether the scenario with this id belongs to this shard.
    pub fn takes_id(self, id: &str) -> bool {
        let shard = fnv1a(id.as_bytes()) % self.count as u64;
        shard == (self.index - 1) as u64
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Partition {
    type Err = PartitionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let syntax = || PartitionError::Syntax {
            text: text.to_owned(),
        };
        let (k, n) = text.trim().split_once('/').ok_or_else(syntax)?;
        let k: usize = k.trim().parse().map_err(|_| syntax())?;
        let n: usize = n.trim().parse().map_err(|_| syntax())?;
        Partition::new(k, n).map_err(|_| PartitionError::Range {
            text: text.to_owned(),
        })
    }
}

/// FNV-1a, 64 bit: a hash that is the same on every machine and every Rust version.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_case_and_id_falls_in_exactly_one_shard() {
        for n in 1..=7 {
            let shards: Vec<Partition> = (1..=n).map(|k| Partition::new(k, n).unwrap()).collect();
            for case in 0..100 {
                assert_eq!(shards.iter().filter(|p| p.takes_case(case)).count(), 1);
                let id = format!("scenario-{case}");
                assert_eq!(shards.iter().filter(|p| p.takes_id(&id)).count(), 1);
            }
        }
    }

    #[test]
    fn the_hash_is_fixed() {
        // FNV-1a's published test vector: a changed hash would move scenarios between shards.
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn bad_partitions_are_refused_with_what_is_expected() {
        for bad in ["", "3", "a/4", "0/4", "5/4", "1/0", "1/4/2"] {
            let err = bad.parse::<Partition>().unwrap_err();
            assert!(err.to_string().contains("K"), "{bad}: {err}");
        }
        assert_eq!(
            " 2 / 4 ".parse::<Partition>(),
            Ok(Partition::new(2, 4).unwrap())
        );
        assert_eq!(Partition::new(3, 4).unwrap().to_string(), "3/4");
    }
}
