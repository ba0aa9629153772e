//! The fuzz targets on the stable toolchain: each body of `fuzz/bodies.rs`
//! is fed seed files (real snarkjs/circom files and JSON) and mutations of
//! them (bit flips, boundary bytes and u32s, truncation, insertion,
//! splicing) plus random bytes, for `ZKR_FUZZ_SECONDS` seconds per target
//! (default 0.3). A panic is a finding: the input is written to
//! `target/fuzz-smoke-<target>.bin` and the test fails. Coverage-guided runs
//! use cargo-fuzz on the same bodies (see fuzz/README.md).
#![allow(clippy::unwrap_used)]

#[path = "../../fuzz/bodies.rs"]
mod bodies;

use ark_std::rand::{Rng, SeedableRng, rngs::StdRng};
use std::time::{Duration, Instant};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../circom/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let proof = fixture("tiny_proof.json");
    let vk = fixture("tiny_vk.json");
    let mut s = match target {
        "zkey" => vec![fixture("tiny.zkey")],
        "wtns" => vec![fixture("tiny.wtns")],
        "r1cs" => vec![fixture("tiny.r1cs")],
        "snarkjs_proof" => vec![proof],
        "snarkjs_vk" => vec![vk],
        "public_inputs" => vec![fixture("tiny_public.json")],
        "binary_keys" => {
            let p = zkr_verifier::snarkjs::parse_proof(std::str::from_utf8(&proof).unwrap(), "p")
                .unwrap();
            let k =
                zkr_verifier::snarkjs::parse_vk(std::str::from_utf8(&vk).unwrap(), "v").unwrap();
            vec![
                zkr_verifier::binary::proof_to_bytes(&p),
                zkr_verifier::binary::verifying_key_to_bytes(&k),
            ]
        }
        "input_json" => vec![
            br#"{"value":"50","blind":"7","min":"10","max":"100"}"#.to_vec(),
            br#"{"secret":"5","scope":"2026","members":["1","2"]}"#.to_vec(),
        ],
        _ => vec![],
    };
    s.push(Vec::new());
    s
}

fn mutate(rng: &mut StdRng, input: &mut Vec<u8>, pool: &[Vec<u8>]) {
    for _ in 0..rng.gen_range(1..4) {
        let len = input.len();
        match rng.gen_range(0..7) {
            0 if len > 0 => {
                let i = rng.gen_range(0..len);
                input[i] ^= 1 << rng.gen_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.gen_range(0..len);
                input[i] = [0, 1, 0x7f, 0x80, 0xff, b'"', b'0', b'-'][rng.gen_range(0..8)];
            }
            2 if len >= 4 => {
                let i = rng.gen_range(0..=len - 4);
                let v: u32 = [0, 1, 2, 0x7fff_ffff, u32::MAX, len as u32][rng.gen_range(0..6)];
                input[i..i + 4].copy_from_slice(&v.to_le_bytes());
            }
            3 if len > 0 => input.truncate(rng.gen_range(0..len)),
            4 => {
                let i = rng.gen_range(0..=len);
                let n = rng.gen_range(1..64);
                let bytes: Vec<u8> = (0..n).map(|_| rng.r#gen::<u8>()).collect();
                input.splice(i..i, bytes);
            }
            5 if !pool.is_empty() => {
                let other = &pool[rng.gen_range(0..pool.len())];
                if !other.is_empty() {
                    let a = rng.gen_range(0..other.len());
                    let b = rng.gen_range(a..=other.len());
                    let i = rng.gen_range(0..=len);
                    input.splice(i..i, other[a..b].iter().copied());
                }
            }
            _ => {
                let n = rng.gen_range(0..256);
                *input = (0..n).map(|_| rng.r#gen::<u8>()).collect();
            }
        }
    }
}

#[test]
fn every_fuzz_target_survives_mutated_seeds() {
    let secs: f64 = std::env::var("ZKR_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.3);
    let seed: u64 = std::env::var("ZKR_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        });
    eprintln!("fuzz smoke: {secs} s per target, ZKR_FUZZ_SEED={seed}");
    for (name, body) in bodies::TARGETS {
        let pool = seeds(name);
        let mut rng = StdRng::seed_from_u64(seed ^ name.len() as u64);
        let end = Instant::now() + Duration::from_secs_f64(secs);
        let mut runs = 0u64;
        for s in &pool {
            body(s);
        }
        while Instant::now() < end {
            let mut input = pool[rng.gen_range(0..pool.len())].clone();
            mutate(&mut rng, &mut input, &pool);
            let caught = std::panic::catch_unwind(|| body(&input));
            if caught.is_err() {
                let path = format!(
                    "{}/../target/fuzz-smoke-{name}.bin",
                    env!("CARGO_MANIFEST_DIR")
                );
                let _ = std::fs::write(&path, &input);
                panic!("fuzz target {name} panicked; input saved to {path}");
            }
            runs += 1;
        }
        eprintln!("fuzz smoke: {name}: {runs} inputs");
    }
}
