//! Generated scenarios: proptest strategies compose topologies with exactly one known root cause (or
//! none), so diagnostic logic can be scored on cases it was not written against.
//!
//! [`strategy`] builds a [`Case`] from parts, [`truth`] derives the diagnosis it must produce from the
//! construction alone, [`render`] writes it as a scenario file, [`run`] judges it with the built-in
//! checks or an external program, [`score`] compares each verdict with the truth and shrinks misses to
//! a minimal topology, and [`scorecard`] tallies precision, recall, macro-F1 and the confusion matrix.
//! See docs/generated-scenarios.md.

pub mod case;
pub mod render;
pub mod run;
pub mod score;
pub mod scorecard;
pub mod strategy;
pub mod truth;

pub use case::{Case, Cause, ClientPath, Decoy};
pub use render::render;
pub use run::{judge_scenario, Judge, Verdict};
pub use score::{run_cases, run_cases_parallel, shrink, CaseResult};
pub use scorecard::{CauseScore, LabelScore, Scorecard};
pub use strategy::{case_strategy, GenOptions, CAUSES, PATHS};
pub use truth::{implied, truth, truth_codes, HEALTHY};

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use super::error::ScenarioError;
use super::expand::Expanded;
use super::load::load_str;
use super::partition::Partition;

/// Why cases could not be generated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GenerateError {
    /// The strategy rejected every attempt.
    #[error("case {index}: the strategy produced no value: {reason}")]
    Strategy {
        /// The case number.
        index: usize,
        /// proptest's reason.
        reason: String,
    },
    /// A generated file did not load (a generator bug).
    #[error("case {id}: the generated scenario does not load")]
    Load {
        /// The case id.
        id: String,
        /// The loader's error.
        #[source]
        source: Box<ScenarioError>,
    },
}

/// One generated scenario with the value tree it came from, so a miss can be shrunk.
pub struct Generated {
    /// Its position in the run.
    pub index: usize,
    /// The scenario id (`gen-S-NNNN`).
    pub id: String,
    /// The seed it was generated from.
    pub seed: u64,
    /// The parts.
    pub case: Case,
    /// proptest's value tree of the case.
    pub tree: Box<dyn ValueTree<Value = Case>>,
}

impl std::fmt::Debug for Generated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generated")
            .field("id", &self.id)
            .field("case", &self.case)
            .finish_non_exhaustive()
    }
}

impl Generated {
    /// The scenario file text.
    pub fn text(&self) -> String {
        render(&self.case, &self.id, &self.origin())
    }

    /// Where the case came from, for the file header.
    pub fn origin(&self) -> String {
        format!(
            "egresslab generate --seed {} case {}",
            self.seed, self.index
        )
    }

    /// The ground truth.
    pub fn truth(&self) -> &'static str {
        truth(&self.case)
    }

    /// The scenario, loaded through the ordinary loader.
    pub fn load(&self) -> Result<Expanded, GenerateError> {
        load_case(&self.case, &self.id, &self.origin())
    }
}

/// Render `case` and load it through [`load_str`], as `egresslab run` would load the file.
pub fn load_case(case: &Case, id: &str, origin: &str) -> Result<Expanded, GenerateError> {
    let text = render(case, id, origin);
    load_str(&format!("{id}.toml"), &text).map_err(|source| GenerateError::Load {
        id: id.to_owned(),
        source: Box::new(source),
    })
}

/// A proptest runner whose random numbers follow from `seed` alone (ChaCha).
pub fn seeded_runner(seed: u64) -> TestRunner {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
    )
}

/// The id of case `index` of `seed`.
pub fn case_id(seed: u64, index: usize) -> String {
    format!("gen-{seed}-{index:04}")
}

/// Generate `count` cases from `seed`: the same seed and options always give the same cases.
pub fn generate(
    seed: u64,
    count: usize,
    options: GenOptions,
) -> Result<Vec<Generated>, GenerateError> {
    generate_part(seed, count, options, Partition::WHOLE)
}

/// The cases of `partition` among the `count` cases of `seed`: every case is drawn (the random numbers
/// run in sequence), only the partition's are kept, with their index in the whole run.
pub fn generate_part(
    seed: u64,
    count: usize,
    options: GenOptions,
    partition: Partition,
) -> Result<Vec<Generated>, GenerateError> {
    let strategy = case_strategy(options);
    let mut runner = seeded_runner(seed);
    let mut cases = Vec::with_capacity(count / partition.count + 1);
    for index in 0..count {
        let tree = strategy
            .new_tree(&mut runner)
            .map_err(|reason| GenerateError::Strategy {
                index,
                reason: reason.to_string(),
            })?;
        if partition.takes_case(index) {
            cases.push(Generated {
                index,
                id: case_id(seed, index),
                seed,
                case: tree.current(),
                tree,
            });
        }
    }
    Ok(cases)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_cases() {
        let a = generate(7, 20, GenOptions::default()).expect("generates");
        let b = generate(7, 20, GenOptions::default()).expect("generates");
        let c = generate(8, 20, GenOptions::default()).expect("generates");
        let cases = |v: &[Generated]| v.iter().map(|g| g.case.clone()).collect::<Vec<_>>();
        assert_eq!(cases(&a), cases(&b));
        assert_ne!(cases(&a), cases(&c));
    }

    #[test]
    fn partitions_are_the_whole_run_split_by_index() {
        let whole = generate(5, 30, GenOptions::default()).expect("generates");
        let mut parts: Vec<(usize, Case)> = (1..=4)
            .flat_map(|k| {
                let p = Partition::new(k, 4).expect("partition");
                generate_part(5, 30, GenOptions::default(), p).expect("generates")
            })
            .map(|g| (g.index, g.case))
            .collect();
        parts.sort_by_key(|(i, _)| *i);
        let whole: Vec<(usize, Case)> = whole.into_iter().map(|g| (g.index, g.case)).collect();
        assert_eq!(parts, whole);
    }

    #[test]
    fn every_cause_and_path_is_generated_by_default() {
        let cases = generate(1, 2000, GenOptions::default()).expect("generates");
        for cause in CAUSES {
            assert!(
                cases.iter().any(|g| g.case.cause == Some(*cause)),
                "{cause:?} never drawn in 2000 cases"
            );
        }
        for path in PATHS {
            assert!(cases.iter().any(|g| g.case.path == *path), "{path:?}");
        }
    }

    #[test]
    fn every_generated_case_is_a_loadable_scenario_with_its_truth() {
        let options = GenOptions { max_decoys: 6 };
        for generated in generate(3, 300, options).expect("generates") {
            let scenario = generated
                .load()
                .unwrap_or_else(|e| panic!("{e:?}\n{}", generated.text()));
            let truth = generated.truth();
            if truth == HEALTHY {
                assert!(scenario.expect.healthy);
            } else {
                assert_eq!(scenario.expect.diagnoses, vec![truth]);
            }
        }
    }
}
