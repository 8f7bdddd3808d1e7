//! Minting cost per key type, with a cached factory (CAs exist) and a fresh one (CAs created
//! first), and the TLS-interception fast path.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use egresslab_certs::{CaRole, Factory, Profile};

const KEY_TYPES: &[(&str, Profile)] = &[
    ("ecdsa-p256", Profile::Valid),
    ("ecdsa-p384", Profile::Sha384),
    ("rsa-2048", Profile::Sha512Rsa),
];

fn hosts() -> Vec<String> {
    vec!["tenant.msappproxy.net".to_string()]
}

fn mint(c: &mut Criterion) {
    let cached = Factory::ephemeral().expect("factory");
    let mut group = c.benchmark_group("mint");
    group.sample_size(10);
    for (name, profile) in KEY_TYPES {
        // Warm the profile's intermediate so the cached case measures the leaf alone.
        cached.mint(*profile, &hosts()).expect("mint");
        group.bench_with_input(BenchmarkId::new("cached-ca", name), profile, |b, p| {
            b.iter(|| cached.mint(*p, &hosts()).expect("mint"))
        });
        group.bench_with_input(BenchmarkId::new("fresh-ca", name), profile, |b, p| {
            b.iter(|| {
                let factory = Factory::ephemeral().expect("factory");
                factory.mint(*p, &hosts()).expect("mint")
            })
        });
    }
    group.finish();
}

fn interception(c: &mut Criterion) {
    let cached = Factory::ephemeral().expect("factory");
    let mut group = c.benchmark_group("interception-leaf");
    group.bench_function("cached-ca", |b| {
        let ca = cached.authority(CaRole::Inspection);
        b.iter(|| ca.issue_server_leaf("www.example.org").expect("leaf"))
    });
    group.bench_function("fresh-ca", |b| {
        b.iter(|| {
            let factory = Factory::ephemeral().expect("factory");
            factory
                .authority(CaRole::Inspection)
                .issue_server_leaf("www.example.org")
                .expect("leaf")
        })
    });
    group.finish();
}

criterion_group!(benches, mint, interception);
criterion_main!(benches);
