//! Scenario benches: the checks' run time against a running lab (a healthy scenario and one whose
//! port 443 is filtered), one scenario end to end, and the whole built-in catalog as `egresslab run`
//! runs it, and loading a generated scenario of 20 000 endpoints (loading is linear: a quadratic step
//! once made 8 000 endpoints take 13 s). In test mode (`cargo test --all-targets`, no `--bench`) the
//! catalog bench runs a handful of scenarios once so the suite stays quick.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use egresslab::check;
use egresslab::lab::Lab;
use egresslab::scenario::prepare::prepare;
use egresslab::scenario::runner::run_scenario;
use egresslab::scenario::{load_str, Catalog, Expanded};
use futures_util::StreamExt;

fn scenario(id: &str) -> Expanded {
    Catalog::get(id)
        .unwrap_or_else(|| panic!("{id} is in the catalog"))
        .load()
        .expect("scenario loads")
}

fn checks(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut group = c.benchmark_group("checks");
    group.sample_size(10);
    for id in ["tls-healthy", "proxy-healthy", "port-443-filtered"] {
        let scenario = scenario(id);
        let lab = runtime
            .block_on(Lab::start(scenario.plan.clone()))
            .expect("lab");
        let prepared = prepare(&lab, &scenario).expect("prepared");
        group.bench_function(id, |b| {
            b.to_async(&runtime)
                .iter(|| check::run(&prepared.config, &prepared.probes))
        });
        runtime.block_on(lab.shutdown());
    }
    group.bench_function("tls-healthy end to end (lab, checks, verdict)", |b| {
        let scenario = scenario("tls-healthy");
        b.to_async(&runtime).iter(|| async {
            let outcome = run_scenario(&scenario, None, Duration::from_secs(30)).await;
            assert!(outcome.passed(), "{:?}", outcome.problems);
        })
    });
    group.finish();
}

/// Run `scenarios` as `egresslab run` does: `jobs` at a time on one task.
async fn run_all(scenarios: &[Expanded], jobs: usize) -> usize {
    futures_util::stream::iter(scenarios)
        .map(|scenario| run_scenario(scenario, None, Duration::from_secs(30)))
        .buffer_unordered(jobs)
        .filter(|outcome| std::future::ready(outcome.passed()))
        .count()
        .await
}

fn catalog(c: &mut Criterion) {
    let full = std::env::args().any(|arg| arg == "--bench");
    let mut scenarios = Catalog::load_all().expect("catalog");
    if !full {
        scenarios.truncate(4);
    }
    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get() * 2);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut group = c.benchmark_group("catalog");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(60));
    let name = format!("{} scenarios, {jobs} at a time", scenarios.len());
    group.bench_function(name, |b| {
        b.to_async(&runtime).iter(|| run_all(&scenarios, jobs))
    });
    group.finish();
}

/// A scenario file with `count` TLS endpoints, each with its own name and host.
fn many_endpoints(count: usize) -> String {
    let mut text = String::from("[scenario]\nname = \"many\"\nsummary = \"s\"\nseed = \"s\"\n\n");
    for i in 0..count {
        text.push_str(&format!(
            "[[endpoint]]\nname = \"e{i}\"\nhosts = [\"h{i}.egresslab.test\"]\nport = 443\n\
             tls = {{ profile = \"valid\" }}\n\n"
        ));
    }
    text.push_str("[client]\nprobes = [{ url = \"https://h0.egresslab.test/\" }]\n\n");
    text.push_str("[expect]\nhealthy = true\n");
    text
}

fn loading(c: &mut Criterion) {
    let mut group = c.benchmark_group("loading");
    group.sample_size(10);
    let count = 20_000;
    let text = many_endpoints(count);
    group.bench_function(format!("{count} endpoints"), |b| {
        b.iter(|| {
            let loaded = load_str("many.toml", &text).expect("loads");
            assert_eq!(loaded.plan.endpoints.len(), count);
        })
    });
    group.finish();
}

criterion_group!(benches, checks, catalog, loading);
criterion_main!(benches);
