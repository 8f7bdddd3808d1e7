//! Judging generated cases: run them in parallel (bounded), compare each verdict with the ground truth
//! (precision and recall over codes, exact match), and shrink a miss to a minimal topology. The tally
//! is [`super::scorecard`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use proptest::strategy::ValueTree;
use serde::{Deserialize, Serialize};

use super::case::{Case, Cause};
use super::render::expected_wait_ms;
use super::run::{judge_scenario, Judge, Verdict};
use super::truth::{implied, truth, HEALTHY};
use super::{load_case, Generated};

/// One case's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseResult {
    /// The case number in its seed's run (what `--partition` splits on).
    pub index: usize,
    /// Scenario id.
    pub id: String,
    /// The injected cause (its [`Cause::name`]), `None` for a healthy case.
    pub cause: Option<String>,
    /// The ground truth (a code or `healthy`).
    pub truth: String,
    /// Codes the cause implies in this topology: naming them is allowed, not required.
    pub implied: Vec<String>,
    /// The error-level codes the judge gave.
    pub verdict: Vec<String>,
    /// The label the confusion matrix counts: the truth when the verdict names it, `healthy` when the
    /// verdict is empty, `error` when there was no verdict, else the verdict's first code that is neither
    /// the truth nor implied (or its first code).
    pub predicted: String,
    /// The verdict names the truth (healthy: the verdict is empty).
    pub correct: bool,
    /// Correct and naming nothing but the truth and implied codes.
    pub exact: bool,
    /// Share of the verdict's codes that are the truth or implied (1 for an empty verdict, 0 when there
    /// was no verdict).
    pub precision: f64,
    /// Whether the truth was found, as 0 or 1 (a healthy case: 1 unless there was no verdict).
    pub recall: f64,
    /// Why there was no verdict.
    pub error: Option<String>,
    /// Wall-clock time, milliseconds.
    pub elapsed_ms: u64,
}

impl CaseResult {
    /// Compare `verdict` with the ground truth of case `index`: its `truth` and the codes it `implied`.
    pub fn new(
        index: usize,
        id: &str,
        cause: Option<Cause>,
        truth: &str,
        implied: &[&str],
        verdict: Verdict,
    ) -> Self {
        let healthy = truth == HEALTHY;
        let allowed = |code: &str| code == truth || implied.contains(&code);
        let codes = &verdict.codes;
        let named_truth = codes.iter().any(|c| c == truth);
        let (correct, predicted, precision, recall) = if verdict.error.is_some() {
            (false, "error".to_owned(), 0.0, 0.0)
        } else if codes.is_empty() {
            (
                healthy,
                HEALTHY.to_owned(),
                1.0,
                if healthy { 1.0 } else { 0.0 },
            )
        } else {
            let right = codes.iter().filter(|c| allowed(c)).count();
            let predicted = if named_truth {
                truth.to_owned()
            } else {
                codes
                    .iter()
                    .find(|c| !allowed(c))
                    .unwrap_or(&codes[0])
                    .clone()
            };
            let recall = if named_truth { 1.0 } else { 0.0 };
            (
                named_truth,
                predicted,
                right as f64 / codes.len() as f64,
                recall,
            )
        };
        CaseResult {
            index,
            id: id.to_owned(),
            cause: cause.map(Cause::name),
            truth: truth.to_owned(),
            implied: implied.iter().map(|c| (*c).to_owned()).collect(),
            exact: correct && codes.iter().all(|c| allowed(c)),
            verdict: verdict.codes,
            predicted,
            correct,
            precision,
            recall,
            error: verdict.error,
            elapsed_ms: u64::try_from(verdict.elapsed.as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// The verdict's one vote, split evenly among the codes it names besides implied ones: an empty
    /// verdict votes `healthy`, a verdict naming k such codes gives each 1/k, one without a verdict (or
    /// naming only implied codes) votes for nothing.
    pub fn votes(&self) -> Vec<(&str, f64)> {
        if self.error.is_some() {
            return Vec::new();
        }
        if self.verdict.is_empty() {
            return vec![(HEALTHY, 1.0)];
        }
        let named: Vec<&str> = self
            .verdict
            .iter()
            .map(String::as_str)
            .filter(|c| !self.implied.iter().any(|i| i == c))
            .collect();
        let share = 1.0 / named.len().max(1) as f64;
        named.into_iter().map(|c| (c, share)).collect()
    }
}

/// Judge one case (rendered, loaded, run); `index` is its number in the seed's run.
pub async fn judge_case(
    index: usize,
    case: &Case,
    id: &str,
    origin: &str,
    judge: Judge<'_>,
) -> CaseResult {
    let verdict = match load_case(case, id, origin) {
        Ok(scenario) => judge_scenario(&scenario, judge).await,
        Err(error) => Verdict {
            error: Some(format!("{error}: {:?}", std::error::Error::source(&error))),
            ..Verdict::default()
        },
    };
    CaseResult::new(index, id, case.cause, truth(case), &implied(case), verdict)
}

/// One case to judge, owned, so that it can cross to a worker thread (a [`Generated`] holds its value
/// tree, which cannot).
#[derive(Debug, Clone)]
struct Work {
    index: usize,
    case: Case,
    id: String,
    origin: String,
}

impl Work {
    fn of(g: &Generated) -> Work {
        Work {
            index: g.index,
            case: g.case.clone(),
            id: g.id.clone(),
            origin: g.origin(),
        }
    }
}

/// Judge the cases `next` hands out, `jobs` at a time, on the current task.
async fn judge_all(
    next: impl Iterator<Item = Work>,
    judge: Judge<'_>,
    jobs: usize,
    progress: &(dyn Fn(&CaseResult) + Sync),
) -> Vec<CaseResult> {
    futures_util::stream::iter(next)
        .map(|w| async move {
            let result = judge_case(w.index, &w.case, &w.id, &w.origin, judge).await;
            progress(&result);
            result
        })
        .buffer_unordered(jobs.max(1))
        .collect()
        .await
}

/// Judge every case, `jobs` at a time, on the current task; results keep the cases' order.
/// `progress` is called after each.
pub async fn run_cases(
    cases: &[Generated],
    judge: Judge<'_>,
    jobs: usize,
    progress: &(dyn Fn(&CaseResult) + Sync),
) -> Vec<CaseResult> {
    // The checks' futures are not Send: cases run concurrently on this task, `jobs` at a time.
    let mut results = judge_all(cases.iter().map(Work::of), judge, jobs, progress).await;
    results.sort_by_key(|r| r.index);
    results
}

/// Judge every case from `threads` threads, `jobs` at a time in all. The checks' futures are not Send,
/// so each thread drives its share on itself (`Handle::block_on`), while the labs' servers run on
/// the worker threads of one multi-threaded runtime, where a busy judge cannot hold them up. The
/// threads take the next case as they finish one, so a slow case holds up no other. Results keep the
/// cases' order. Fails only when the runtime cannot be built.
pub fn run_cases_parallel(
    cases: &[Generated],
    judge: Judge<'_>,
    jobs: usize,
    threads: usize,
    progress: &(dyn Fn(&CaseResult) + Sync),
) -> std::io::Result<Vec<CaseResult>> {
    let mut work: Vec<Work> = cases.iter().map(Work::of).collect();
    // Longest waits first (stable, so equal waits keep the cases' order): the tail of the run is
    // then made of quick cases that spread over the free slots.
    work.sort_by_key(|w| std::cmp::Reverse(expected_wait_ms(w.case.cause)));
    let threads = threads.clamp(1, work.len().max(1));
    let per_thread = jobs.max(1).div_ceil(threads);
    let runtime = tokio::runtime::Runtime::new()?;
    let handle = runtime.handle();
    let cursor = AtomicUsize::new(0);
    let next = || {
        std::iter::from_fn(|| {
            let i = cursor.fetch_add(1, Ordering::Relaxed);
            work.get(i).cloned()
        })
    };
    let shares: Vec<Option<Vec<CaseResult>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| handle.block_on(judge_all(next(), judge, per_thread, progress)))
            })
            .collect();
        handles.into_iter().map(|h| h.join().ok()).collect()
    });
    let mut results = Vec::with_capacity(work.len());
    for share in shares {
        results.extend(share.ok_or_else(|| std::io::Error::other("a scoring thread panicked"))?);
    }
    results.sort_by_key(|r| r.index);
    Ok(results)
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
    let mut best_result = judge_case(generated.index, &best, &id, &origin, judge).await;
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
            Some(judge_case(generated.index, &candidate, &id, &origin, judge).await)
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
    fn a_verdict_is_scored_by_precision_and_recall_over_codes() {
        let one = |truth: &str, implied: &[&str], codes: &[&str]| {
            CaseResult::new(0, "x", None, truth, implied, verdict(codes))
        };
        let r = one("pki.expired", &[], &["pki.expired"]);
        assert!(r.correct && r.exact);
        assert_eq!((r.precision, r.recall), (1.0, 1.0));
        let r = one("pki.expired", &[], &["pki.expired", "net.tcp.filtered"]);
        assert!(r.correct && !r.exact);
        assert_eq!((r.precision, r.recall), (0.5, 1.0));
        let r = one(
            "proxy.unreachable",
            &["app.unreachable"],
            &["app.unreachable", "proxy.unreachable"],
        );
        assert!(r.exact, "an implied code is no false positive");
        assert_eq!(r.votes(), vec![("proxy.unreachable", 1.0)]);
        let r = one("pki.expired", &[], &["pki.expired", "net.tcp.filtered"]);
        assert_eq!(
            r.votes(),
            vec![("pki.expired", 0.5), ("net.tcp.filtered", 0.5)]
        );
        let r = one("pki.expired", &[], &[]);
        assert!(!r.correct);
        assert_eq!(r.votes(), vec![(HEALTHY, 1.0)]);
        assert_eq!(
            (r.precision, r.recall, r.predicted.as_str()),
            (1.0, 0.0, HEALTHY)
        );
        let r = one(HEALTHY, &[], &["net.tcp.refused"]);
        assert!(!r.correct);
        assert_eq!(
            (r.precision, r.predicted.as_str()),
            (0.0, "net.tcp.refused")
        );
        let r = one(HEALTHY, &[], &[]);
        assert!(r.correct && r.exact);
        let failed = CaseResult::new(
            0,
            "x",
            None,
            HEALTHY,
            &[],
            Verdict {
                error: Some("timed out".into()),
                ..Verdict::default()
            },
        );
        assert!(!failed.correct && failed.votes().is_empty());
        assert_eq!((failed.precision, failed.recall), (0.0, 0.0));
    }
}
