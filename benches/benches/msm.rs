//! Criterion: G1 MSM, ours (CPU backend) against arkworks, same inputs.

use ark_bn254::G1Projective;
use ark_ec::VariableBaseMSM;
use ark_ff::PrimeField;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use zkr_benches::inputs;

fn msm(c: &mut Criterion) {
    let mut group = c.benchmark_group("msm_g1");
    group.sample_size(10);
    for k in [12u32, 16] {
        let n = 1usize << k;
        let bases = inputs::g1_points(n, 1);
        let scalars = inputs::scalars(n, 2);
        let big: Vec<_> = scalars.iter().map(|s| s.into_bigint()).collect();
        group.bench_with_input(BenchmarkId::new("ours_cpu", k), &k, |b, _| {
            b.iter(|| zkr_gpu::cpu::msm(black_box(&bases), black_box(&big)))
        });
        group.bench_with_input(BenchmarkId::new("arkworks", k), &k, |b, _| {
            b.iter(|| G1Projective::msm(black_box(&bases), black_box(&scalars)))
        });
    }
    group.finish();
}

criterion_group!(benches, msm);
criterion_main!(benches);
