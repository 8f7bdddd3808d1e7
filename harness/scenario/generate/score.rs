//! Scoring: run generated cases in parallel (bounded), compare each verdict with the ground truth,
//! tally a confusion matrix by diagnosis code, and shrink a miss to a minimal topology.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt;
use proptest::strategy::ValueTree;
use serde::Serialize;

use super::case::Case;
use super::run::{judge_scenario, Judge, Verdict};
use super::truth::{truth, HEALTHY};
use super::{load_case, Generated};

/// One case's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    /// Scenario id.
    pub id: String,
    /// The ground truth (a code or `healthy`).
    pub truth: String,
    /// The error-level codes the judge gave.
    pub verdict: Vec<String>,
    /// The label the confusion matrix counts: the truth when the verdict names it, `healthy` when the
    /// verdict is empty, `error` when there was no verdict, else the verdict's first code.
    pub predicted: String,
    /// The verdict names the truth (healthy: the verdict is empty).
    pub correct: bool,
    /// Correct and naming nothing else.
    pub exact: bool,
    /// Why there was no verdict.
    pub error: Option<String>,
    /// Wall-clock time, milliseconds.
    pub elapsed_ms: u64,
}

impl CaseResult {
    /// Compare `verdict` with `truth`.
    pub fn new(id: &str, truth: &str, verdict: Verdict) -> Self {
        let (correct, predicted) = if verdict.error.is_some() {
            (false, "error".to_owned())
        } else if truth == HEALTHY {
            let predicted = verdict.codes.first().cloned().unwrap_or(HEALTHY.to_owned());
            (verdict.codes.is_empty(), predicted)
        } else if verdict.codes.iter().any(|c| c == truth) {
            (true, truth.to_owned())
        } else {
            let predicted = verdict.codes.first().cloned().unwrap_or(HEALTHY.to_owned());
            (false, predicted)
        };
        CaseResult {
            id: id.to_owned(),
            truth: truth.to_owned(),
            exact: correct && verdict.codes.len() <= 1,
            verdict: verdict.codes,
            predicted,
            correct,
            error: verdict.error,
            elapsed_ms: u64::try_from(verdict.elapsed.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

/// Judge one case (rendered, loaded, run).
pub async fn judge_case(case: &Case, id: &str, origin: &str, judge: Judge<'_>) -> CaseResult {
    let verdict = match load_case(case, id, origin) {
        Ok(scenario) => judge_scenario(&scenario, judge).await,
        Err(error) => Verdict {
            error: Some(format!("{error}: {:?}", std::error::Error::source(&error))),
            ..Verdict::default()
        },
    };
    CaseResult::new(id, truth(case), verdict)
}

/// Judge every case, `jobs` at a time; results keep the cases' order. `progress` is called after each.
pub async fn run_cases(
    cases: &[Generated],
    judge: Judge<'_>,
    jobs: usize,
    progress: &(dyn Fn(&CaseResult) + Sync),
) -> Vec<CaseResult> {
    // The checks' futures are not Send: cases run concurrently on this task, `jobs` at a time.
    let mut results: Vec<(usize, CaseResult)> = futures_util::stream::iter(cases.iter())
        .map(|g| async move {
            let result = judge_case(&g.case, &g.id, &g.origin(), judge).await;
            progress(&result);
            (g.index, result)
        })
        .buffer_unordered(jobs.max(1))
        .collect()
        .await;
    results.sort_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, r)| r).collect()
}

/// Shrink a missed case with its value tree (proptest's simplify/complicate walk), judging each
/// candidate; returns the smallest case that still misses with the same ground truth (so the root
/// cause stays and the decoys go) and its result. At most `max_steps` runs.
pub async fn shrink(
    generated: &mut Generated,
    judge: Judge<'_>,
    max_steps: usize,
) -> (Case, CaseResult) {
    let id = format!("{}-min", generated.id);
    let origin = format!("{}, shrunk", generated.origin());
    let mut best = generated.case.clone();
    let mut best_result = judge_case(&best, &id, &origin, judge).await;
    if best_result.correct {
        // It passed on a second run: nothing reproducible to shrink.
        return (best, best_result);
    }
    let tree = &mut generated.tree;
    let mut advanced = tree.simplify();
    let mut steps = 0;
    while advanced && steps < max_steps {
        steps += 1;
        let candidate = tree.current();
        let same_cause = truth(&candidate) == best_result.truth;
        let result = if same_cause {
            Some(judge_case(&candidate, &id, &origin, judge).await)
        } else {
            None
        };
        let Some(result) = result.filter(|r| !r.correct) else {
            advanced = tree.complicate();
            continue;
        };
        if result.correct {
            advanced = tree.complicate();
        } else {
            best = candidate;
            best_result = result;
            advanced = tree.simplify();
        }
    }
    (best, best_result)
}

/// The tally of a scoring run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Scorecard {
    /// Cases run.
    pub cases: usize,
    /// Verdicts naming the truth.
    pub correct: usize,
    /// Correct verdicts naming nothing else.
    pub exact: usize,
    /// `correct / cases`.
    pub accuracy: f64,
    /// truth → predicted → count.
    pub matrix: BTreeMap<String, BTreeMap<String, usize>>,
    /// Codes named besides the truth in correct verdicts, with how often (why a case is not exact).
    pub extra_codes: BTreeMap<String, usize>,
    /// The results of the cases that missed.
    pub misses: Vec<CaseResult>,
}

impl Scorecard {
    /// Tally `results`.
    pub fn new(results: &[CaseResult]) -> Self {
        let mut card = Scorecard {
            cases: results.len(),
            ..Scorecard::default()
        };
        for r in results {
            *card
                .matrix
                .entry(r.truth.clone())
                .or_default()
                .entry(r.predicted.clone())
                .or_default() += 1;
            card.correct += usize::from(r.correct);
            card.exact += usize::from(r.exact);
            if !r.correct {
                card.misses.push(r.clone());
            } else {
                for code in r.verdict.iter().filter(|c| **c != r.truth) {
                    *card.extra_codes.entry(code.clone()).or_default() += 1;
                }
            }
        }
        card.accuracy = if results.is_empty() {
            0.0
        } else {
            card.correct as f64 / results.len() as f64
        };
        card
    }

    /// Every label that occurs as truth or prediction, sorted.
    pub fn labels(&self) -> Vec<String> {
        let mut labels: Vec<String> = self.matrix.keys().cloned().collect();
        for row in self.matrix.values() {
            labels.extend(row.keys().cloned());
        }
        labels.sort();
        labels.dedup();
        labels
    }

    /// The confusion matrix as a text table: rows are truths, columns predictions (numbered, with a
    /// legend), then per-truth recall.
    pub fn matrix_text(&self) -> String {
        let labels = self.labels();
        let width = labels.iter().map(String::len).max().unwrap_or(5).max(5);
        let mut out = String::new();
        for (i, label) in labels.iter().enumerate() {
            out.push_str(&format!("  [{:>2}] {label}\n", i + 1));
        }
        out.push_str(&format!("\n{:width$} |", "truth \\ verdict"));
        for i in 0..labels.len() {
            out.push_str(&format!("{:>4}", i + 1));
        }
        out.push_str(" | recall\n");
        for truth in self.matrix.keys() {
            let row = &self.matrix[truth];
            let total: usize = row.values().sum();
            let hit = row.get(truth).copied().unwrap_or(0);
            out.push_str(&format!("{truth:width$} |"));
            for label in &labels {
                match row.get(label) {
                    Some(n) => out.push_str(&format!("{n:>4}")),
                    None => out.push_str("   ."),
                }
            }
            out.push_str(&format!(" | {hit}/{total}\n"));
        }
        if !self.extra_codes.is_empty() {
            out.push_str("\nalso named in correct verdicts:");
            for (code, n) in &self.extra_codes {
                out.push_str(&format!(" {code} ×{n}"));
            }
            out.push('\n');
        }
        out
    }
}

/// The whole score as JSON (for CI): the scorecard plus the run's parameters.
pub fn json(card: &Scorecard, extra: serde_json::Value) -> serde_json::Value {
    let mut value = serde_json::to_value(card).unwrap_or(serde_json::Value::Null);
    if let (Some(map), serde_json::Value::Object(extra)) = (value.as_object_mut(), extra) {
        map.extend(extra);
    }
    value
}

/// The default time-out of one external program run.
pub const EXEC_TIMEOUT: Duration = Duration::from_secs(30);

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(codes: &[&str]) -> Verdict {
        Verdict {
            codes: codes.iter().map(|c| (*c).to_owned()).collect(),
            ..Verdict::default()
        }
    }

    #[test]
    fn the_matrix_counts_truth_against_prediction() {
        let results = vec![
            CaseResult::new("a", "pki.expired", verdict(&["pki.expired"])),
            CaseResult::new(
                "b",
                "pki.expired",
                verdict(&["net.tcp.filtered", "pki.expired"]),
            ),
            CaseResult::new("c", "net.tcp.refused", verdict(&["net.tcp.filtered"])),
            CaseResult::new("d", HEALTHY, verdict(&[])),
            CaseResult::new("e", HEALTHY, verdict(&["proxy.denied"])),
        ];
        let card = Scorecard::new(&results);
        assert_eq!((card.cases, card.correct, card.exact), (5, 3, 2));
        assert_eq!(card.matrix["pki.expired"]["pki.expired"], 2);
        assert_eq!(card.matrix["net.tcp.refused"]["net.tcp.filtered"], 1);
        assert_eq!(card.matrix[HEALTHY]["proxy.denied"], 1);
        assert_eq!(card.misses.len(), 2);
        assert_eq!(card.extra_codes["net.tcp.filtered"], 1);
        let text = card.matrix_text();
        assert!(text.contains("net.tcp.refused"), "{text}");
        assert!(text.contains("1/2"), "{text}");
    }
}
