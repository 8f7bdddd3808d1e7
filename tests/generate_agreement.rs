//! The built-in checks agree with the ground truth on generated scenarios.
//!
//! Cases come from the proptest strategies with a deterministic ChaCha runner (`EGRESSLAB_GEN_SEED`,
//! default 1) and run in parallel labs. `PROPTEST_CASES` sets how many (default 250, about 30 s in a debug
//! build); the long run is `PROPTEST_CASES=2000 cargo test --test generate_agreement`. A disagreement is
//! shrunk with its value tree and printed as a scenario file that `egresslab run FILE` replays.

use egresslab::scenario::generate::{
    generate, render, run_cases, shrink, CaseResult, GenOptions, Judge,
};

fn env_number(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "current_thread")]
async fn the_builtin_checks_agree_with_the_ground_truth() {
    let cases = env_number("PROPTEST_CASES", 250) as usize;
    let seed = env_number("EGRESSLAB_GEN_SEED", 1);
    let mut generated = generate(seed, cases, GenOptions::default()).expect("generates");
    let results = run_cases(&generated, Judge::Builtin, 4, &|_: &CaseResult| {}).await;
    assert_eq!(results.len(), cases);
    let misses: Vec<CaseResult> = results.into_iter().filter(|r| !r.correct).collect();
    let mut report = String::new();
    for miss in misses.iter().take(3) {
        let case = generated
            .iter_mut()
            .find(|g| g.id == miss.id)
            .expect("the missed case");
        let (minimal, result) = shrink(case, Judge::Builtin, 48).await;
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
