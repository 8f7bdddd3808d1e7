//! The tally of a scoring run: per verdict precision, recall and exact match; per truth label (each
//! diagnosis code a cause produces, and `healthy`) precision, recall, F1 and accuracy; per cause
//! accuracy; the confusion matrix; and the headline, **macro-F1 over the truth labels**.
//!
//! Every verdict has one vote ([`CaseResult::votes`]), split evenly among the codes it names besides
//! the implied ones; an empty verdict votes `healthy`. A label's true positives are the votes it gets
//! from its own cases, its false positives the votes it gets from other cases, its false negatives
//! the votes its cases give elsewhere (or withhold). So a diagnoser that names every code gives each
//! label a sliver of a vote from every case (precision and recall near zero), one that names nothing
//! finds no fault (recall zero everywhere but `healthy`, whose precision is the share of healthy
//! cases), one that always names the most common cause scores on that label only, and only exactly the
//! right answer scores well on every label.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::score::CaseResult;
use super::truth::HEALTHY;

/// One truth label's scores (one-vs-rest over all cases).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LabelScore {
    /// Cases with this truth.
    pub support: usize,
    /// Of those, answered exactly (the truth, implied codes and nothing else).
    pub exact: usize,
    /// Votes for this label from its own cases.
    pub true_positives: f64,
    /// Votes for this label from cases with another truth.
    pub false_positives: f64,
    /// Votes this label's cases gave elsewhere or withheld.
    pub false_negatives: f64,
    /// `tp / (tp + fp)`, 0 when nothing claimed it.
    pub precision: f64,
    /// `tp / (tp + fn)`.
    pub recall: f64,
    /// The harmonic mean of precision and recall, 0 when both are 0.
    pub f1: f64,
    /// `exact / support`.
    pub accuracy: f64,
}

/// One cause's tally (causes sharing a code, such as the three kinds of bad gateway, apart).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CauseScore {
    /// Cases with this cause.
    pub cases: usize,
    /// Verdicts naming the truth.
    pub correct: usize,
    /// Exact verdicts.
    pub exact: usize,
    /// `exact / cases`.
    pub accuracy: f64,
}

/// The tally of a scoring run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Scorecard {
    /// Cases run.
    pub cases: usize,
    /// The headline: the mean of the truth labels' F1 (see the module documentation).
    pub macro_f1: f64,
    /// Verdicts naming the truth (healthy: empty).
    pub correct: usize,
    /// Correct verdicts naming nothing but the truth and implied codes.
    pub exact: usize,
    /// Cases without a verdict (the lab did not start, the program timed out).
    pub errors: usize,
    /// `correct / cases`.
    pub accuracy: f64,
    /// `exact / cases`.
    pub exact_rate: f64,
    /// The mean of the verdicts' precision.
    pub precision: f64,
    /// The mean of the verdicts' recall.
    pub recall: f64,
    /// Truth label → its scores.
    pub labels: BTreeMap<String, LabelScore>,
    /// Cause (or `healthy`) → its tally.
    pub causes: BTreeMap<String, CauseScore>,
    /// truth → predicted → count.
    pub matrix: BTreeMap<String, BTreeMap<String, usize>>,
    /// Codes named besides the truth and implied codes in correct verdicts, with how often (why a case
    /// is not exact).
    pub extra_codes: BTreeMap<String, usize>,
    /// The results of the cases that missed.
    pub misses: Vec<CaseResult>,
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn share(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        part / whole
    } else {
        0.0
    }
}

impl LabelScore {
    fn finish(&mut self) {
        let tp = self.true_positives;
        self.precision = share(tp, tp + self.false_positives);
        self.recall = share(tp, tp + self.false_negatives);
        let sum = self.precision + self.recall;
        self.f1 = if sum > 0.0 {
            2.0 * self.precision * self.recall / sum
        } else {
            0.0
        };
        self.accuracy = ratio(self.exact, self.support);
    }
}

impl Scorecard {
    /// Tally `results` (in any order: they are taken by case index, so the sums, and a merged score,
    /// come out the same to the last bit).
    pub fn new(results: &[CaseResult]) -> Self {
        let mut card = Scorecard {
            cases: results.len(),
            ..Scorecard::default()
        };
        let mut results: Vec<&CaseResult> = results.iter().collect();
        results.sort_by_key(|r| r.index);
        for r in results.iter().copied() {
            *card
                .matrix
                .entry(r.truth.clone())
                .or_default()
                .entry(r.predicted.clone())
                .or_default() += 1;
            card.correct += usize::from(r.correct);
            card.exact += usize::from(r.exact);
            card.errors += usize::from(r.error.is_some());
            card.precision += r.precision;
            card.recall += r.recall;
            let label = card.labels.entry(r.truth.clone()).or_default();
            label.support += 1;
            label.exact += usize::from(r.exact);
            let own: f64 = r
                .votes()
                .iter()
                .filter(|(c, _)| *c == r.truth)
                .map(|(_, v)| v)
                .sum();
            label.true_positives += own;
            label.false_negatives += 1.0 - own;
            let cause = card
                .causes
                .entry(r.cause.clone().unwrap_or_else(|| HEALTHY.to_owned()))
                .or_default();
            cause.cases += 1;
            cause.correct += usize::from(r.correct);
            cause.exact += usize::from(r.exact);
            if !r.correct {
                card.misses.push(r.clone());
            } else {
                let extra = r
                    .verdict
                    .iter()
                    .filter(|c| **c != r.truth && !r.implied.contains(c));
                for code in extra {
                    *card.extra_codes.entry(code.clone()).or_default() += 1;
                }
            }
        }
        for r in &results {
            for (code, vote) in r.votes().into_iter().filter(|(c, _)| *c != r.truth) {
                // A vote for a code no case has as its truth counts against the case's own label only.
                if let Some(label) = card.labels.get_mut(code) {
                    label.false_positives += vote;
                }
            }
        }
        for label in card.labels.values_mut() {
            label.finish();
        }
        for cause in card.causes.values_mut() {
            cause.accuracy = ratio(cause.exact, cause.cases);
        }
        let n = results.len().max(1) as f64;
        card.precision /= n;
        card.recall /= n;
        card.accuracy = ratio(card.correct, card.cases);
        card.exact_rate = ratio(card.exact, card.cases);
        card.macro_f1 = if card.labels.is_empty() {
            0.0
        } else {
            card.labels.values().map(|l| l.f1).sum::<f64>() / card.labels.len() as f64
        };
        card
    }

    /// Every label that occurs as truth or prediction, sorted.
    pub fn matrix_labels(&self) -> Vec<String> {
        let mut labels: Vec<String> = self.matrix.keys().cloned().collect();
        for row in self.matrix.values() {
            labels.extend(row.keys().cloned());
        }
        labels.sort();
        labels.dedup();
        labels
    }

    /// The headline line: macro-F1, then exact, correct, mean precision and recall.
    pub fn headline(&self) -> String {
        format!(
            "macro-F1 {:.3}; exact {}/{} ({:.1} %), correct {} ({:.1} %), precision {:.3}, recall {:.3}, {} without a verdict",
            self.macro_f1,
            self.exact,
            self.cases,
            self.exact_rate * 100.0,
            self.correct,
            self.accuracy * 100.0,
            self.precision,
            self.recall,
            self.errors
        )
    }

    /// The per-label table: support, accuracy (exact), precision, recall and F1 of each truth label.
    pub fn labels_text(&self) -> String {
        let header = |width: usize| {
            format!(
                "{:width$}  {:>6}  {:>6}  {:>9}  {:>6}  {:>5}",
                "truth", "cases", "exact", "precision", "recall", "F1"
            )
        };
        table(&self.labels, header, |name, width, l| {
            format!(
                "{name:width$}  {:>6}  {:>5.1}%  {:>9.3}  {:>6.3}  {:>5.3}",
                l.support,
                l.accuracy * 100.0,
                l.precision,
                l.recall,
                l.f1
            )
        })
    }

    /// The per-cause table: cases, correct and exact of each injected cause.
    pub fn causes_text(&self) -> String {
        let header = |width: usize| {
            format!(
                "{:width$}  {:>6}  {:>7}  {:>6}",
                "cause", "cases", "correct", "exact"
            )
        };
        table(&self.causes, header, |name, width, c| {
            format!(
                "{name:width$}  {:>6}  {:>7}  {:>5.1}%",
                c.cases,
                c.correct,
                c.accuracy * 100.0
            )
        })
    }

    /// The confusion matrix as a text table: rows are truths, columns predictions (numbered, with a
    /// legend), then per-truth recall.
    pub fn matrix_text(&self) -> String {
        let labels = self.matrix_labels();
        let width = labels.iter().map(String::len).max().unwrap_or(5).max(15);
        let mut out = String::new();
        for (i, label) in labels.iter().enumerate() {
            let _ = writeln!(out, "  [{:>2}] {label}", i + 1);
        }
        let _ = write!(out, "\n{:width$} |", "truth \\ verdict");
        for i in 0..labels.len() {
            let _ = write!(out, "{:>4}", i + 1);
        }
        out.push_str(" | recall\n");
        for (truth, row) in &self.matrix {
            let total: usize = row.values().sum();
            let hit = row.get(truth).copied().unwrap_or(0);
            let _ = write!(out, "{truth:width$} |");
            for label in &labels {
                match row.get(label) {
                    Some(n) => {
                        let _ = write!(out, "{n:>4}");
                    }
                    None => out.push_str("   ."),
                }
            }
            let _ = writeln!(out, " | {hit}/{total}");
        }
        if !self.extra_codes.is_empty() {
            out.push_str("\nalso named in correct verdicts:");
            for (code, n) in &self.extra_codes {
                let _ = write!(out, " {code} ×{n}");
            }
            out.push('\n');
        }
        out
    }
}

/// The whole score as JSON (for CI and `egresslab merge`): the scorecard, every case's result under
/// `results`, and the run's parameters in `extra`.
pub fn json(
    card: &Scorecard,
    results: &[CaseResult],
    extra: serde_json::Value,
) -> serde_json::Value {
    let mut value = serde_json::to_value(card).unwrap_or(serde_json::Value::Null);
    if let Some(map) = value.as_object_mut() {
        if let serde_json::Value::Object(extra) = extra {
            map.extend(extra);
        }
        map.insert(
            "results".to_owned(),
            serde_json::to_value(results).unwrap_or(serde_json::Value::Null),
        );
    }
    value
}

/// A text table of `rows` by name: the first column as wide as the longest name (at least 5), a
/// header line, then one line per row.
fn table<T>(
    rows: &BTreeMap<String, T>,
    header: impl Fn(usize) -> String,
    row: impl Fn(&str, usize, &T) -> String,
) -> String {
    let width = rows.keys().map(String::len).max().unwrap_or(5).max(5);
    let mut out = header(width) + "\n";
    for (name, value) in rows {
        out.push_str(&row(name, width, value));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::generate::Verdict;

    fn result(index: usize, truth: &str, codes: &[&str]) -> CaseResult {
        let verdict = Verdict {
            codes: codes.iter().map(|c| (*c).to_owned()).collect(),
            ..Verdict::default()
        };
        CaseResult::new(index, &format!("c{index}"), None, truth, &[], verdict)
    }

    fn set(truths: &[&str], answer: impl Fn(&str) -> Vec<&'static str>) -> Vec<CaseResult> {
        truths
            .iter()
            .enumerate()
            .map(|(i, t)| result(i, t, &answer(t)))
            .collect()
    }

    const TRUTHS: &[&str] = &[
        "pki.expired",
        "pki.expired",
        "net.tcp.refused",
        "net.tcp.filtered",
        "proxy.denied",
        HEALTHY,
        HEALTHY,
    ];
    const EVERY: &[&str] = &[
        "pki.expired",
        "net.tcp.refused",
        "net.tcp.filtered",
        "proxy.denied",
    ];

    fn perfect(t: &str) -> Vec<&'static str> {
        EVERY.iter().copied().filter(|c| *c == t).collect()
    }

    #[test]
    fn the_matrix_counts_truth_against_prediction() {
        let results = vec![
            result(0, "pki.expired", &["pki.expired"]),
            result(1, "pki.expired", &["net.tcp.filtered", "pki.expired"]),
            result(2, "net.tcp.refused", &["net.tcp.filtered"]),
            result(3, HEALTHY, &[]),
            result(4, HEALTHY, &["proxy.denied"]),
        ];
        let card = Scorecard::new(&results);
        assert_eq!((card.cases, card.correct, card.exact), (5, 3, 2));
        assert_eq!(card.matrix["pki.expired"]["pki.expired"], 2);
        assert_eq!(card.matrix["net.tcp.refused"]["net.tcp.filtered"], 1);
        assert_eq!(card.matrix[HEALTHY]["proxy.denied"], 1);
        assert_eq!(card.misses.len(), 2);
        assert_eq!(card.extra_codes["net.tcp.filtered"], 1);
        let expired = &card.labels["pki.expired"];
        assert_eq!(
            (expired.true_positives, expired.false_positives),
            (1.5, 0.0)
        );
        assert_eq!(expired.accuracy, 0.5);
        let text = card.matrix_text();
        assert!(text.contains("net.tcp.refused"), "{text}");
        assert!(text.contains("1/2"), "{text}");
        assert!(card.labels_text().contains("pki.expired"));
    }

    #[test]
    fn only_the_right_answer_scores_well() {
        let best = Scorecard::new(&set(TRUTHS, perfect));
        assert_eq!(best.macro_f1, 1.0);
        assert_eq!(best.exact, TRUTHS.len());
        let everything = Scorecard::new(&set(TRUTHS, |_| EVERY.to_vec()));
        let nothing = Scorecard::new(&set(TRUTHS, |_| Vec::new()));
        let common = Scorecard::new(&set(TRUTHS, |_| vec!["pki.expired"]));
        assert!(everything.precision < 0.4, "{}", everything.headline());
        assert_eq!(everything.labels[HEALTHY].recall, 0.0);
        assert_eq!(
            everything.labels["pki.expired"].recall, 0.25,
            "a quarter vote"
        );
        assert_eq!(nothing.labels["pki.expired"].recall, 0.0);
        for poor in [&everything, &nothing, &common] {
            assert!(poor.macro_f1 < 0.5, "{}", poor.headline());
        }
        // One right answer more raises the headline.
        let mut one_better = set(TRUTHS, |_| Vec::new());
        one_better[0] = result(0, "pki.expired", &["pki.expired"]);
        assert!(Scorecard::new(&one_better).macro_f1 > nothing.macro_f1);
    }

    #[test]
    fn the_tally_does_not_depend_on_the_order() {
        let mut results = set(TRUTHS, |t| {
            if t == HEALTHY {
                vec![]
            } else {
                vec!["pki.expired"]
            }
        });
        let forward = Scorecard::new(&results);
        results.reverse();
        assert_eq!(Scorecard::new(&results), forward);
    }
}
