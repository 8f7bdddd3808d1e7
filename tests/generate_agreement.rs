//! The built-in checks agree with the ground truth on generated scenarios, every cause included (the
//! generator has no set it leaves out).
//!
//! Cases come from the proptest strategies with a deterministic ChaCha runner (`EGRESSLAB_GEN_SEED`,
//! default 1) and run in parallel labs. `PROPTEST_CASES` sets how many (default 250, about 30 s in a debug
//! build); the long run is `PROPTEST_CASES=2000 cargo test --test generate_agreement`. A disagreement is
//! shrunk with its value tree and printed as a scenario file that `egresslab run FILE` replays. "Agree"
//! is "correct" (the verdict names the truth); exactness per cause is tests/generate_causes.rs.

use egresslab::scenario::generate::{
    generate, render, run_cases_parallel, shrink, CaseResult, GenOptions, Judge,
};

fn env_number(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn the_builtin_checks_agree_with_the_ground_truth() {
    let cases = env_number("PROPTEST_CASES", 250) as usize;
    let seed = env_number("EGRESSLAB_GEN_SEED", 1);
    let mut generated = generate(seed, cases, GenOptions::default()).expect("generates");
    let results = run_cases_parallel(&generated, Judge::Builtin, 6, 2, &|_: &CaseResult| {})
        .expect("the scoring threads start");
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    assert_eq!(results.len(), cases);
    let misses: Vec<CaseResult> = results.into_iter().filter(|r| !r.correct).collect();
    let mut report = String::new();
    for miss in misses.iter().take(3) {
        let case = generated
            .iter_mut()
            .find(|g| g.id == miss.id)
            .expect("the missed case");
        let (minimal, result) = runtime.block_on(shrink(case, Judge::Builtin, 48));
        report.push_str(&format!(
            "\n{} truth {} got {:?} {:?}; shrunk (got {:?}):\n{}\n",
            miss.id,
            miss.truth,
            miss.verdict,
            miss.error,
            result.verdict,
            render(
                &minimal,
                &format!("{}-min", miss.id),
                "shrunk by generate_agreement"
            )
        ));
    }
    assert!(
        misses.is_empty(),
        "{} of {cases} generated scenarios (seed {seed}) disagree with their ground truth: {:?}{report}",
        misses.len(),
        misses
            .iter()
            .map(|m| format!("{}: {} → {:?}", m.id, m.truth, m.verdict))
            .collect::<Vec<_>>()
    );
}
