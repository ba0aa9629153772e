//! Setup, prove and verify for each circuit (registry depth 20), with our
//! prover beside stock ark-groth16 on the same keys and witness.

use ark_bn254::Bn254;
use ark_groth16::Groth16;
use ark_snark::SNARK;
use ark_std::rand::{SeedableRng, rngs::StdRng};
use criterion::{Criterion, criterion_group, criterion_main};
use zkr_circuits::{CircuitKind, sample};
use zkr_prover::Backend;

const DEPTH: usize = 20;

fn circuits(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(2026);
    for kind in CircuitKind::ALL {
        let name = match kind.has_depth() {
            true => format!("{}({DEPTH})", kind.name()),
            false => kind.name().to_string(),
        };
        let mut g = c.benchmark_group(name);
        g.sample_size(10);
        let blank = kind.blank(DEPTH).expect("blank circuit");
        g.bench_function("setup", |b| {
            b.iter(|| {
                Groth16::<Bn254>::generate_random_parameters_with_reduction(blank.clone(), &mut rng)
                    .expect("setup")
            })
        });
        let pk = Groth16::<Bn254>::generate_random_parameters_with_reduction(blank, &mut rng)
            .expect("setup");
        let instance = sample::instance(kind, DEPTH, &mut rng).expect("instance");
        let public = instance.public_inputs();
        g.bench_function("prove/zkr-cpu", |b| {
            b.iter(|| {
                zkr_prover::prove(&pk, instance.clone(), &mut rng, Backend::Cpu).expect("prove")
            })
        });
        g.bench_function("prove/arkworks", |b| {
            b.iter(|| Groth16::<Bn254>::prove(&pk, instance.clone(), &mut rng).expect("prove"))
        });
        let proof =
            zkr_prover::prove(&pk, instance.clone(), &mut rng, Backend::Cpu).expect("prove");
        g.bench_function("verify", |b| {
            b.iter(|| assert!(zkr_verifier::verify(&pk.vk, &proof, &public).expect("verify")))
        });
        g.finish();
    }
}

criterion_group!(benches, circuits);
criterion_main!(benches);
