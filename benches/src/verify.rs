//! Verification of many proofs: our batch
//! ([`zkr_verifier::verify_batch`], one random linear combination) against
//! one `Groth16::verify_with_processed_vk` per proof, same prepared key, same
//! proofs.

use crate::{CaseResult, Error, Result, mem, time_pair};
use ark_bn254::{Bn254, Fr};
use ark_groth16::{Groth16, PreparedVerifyingKey, Proof};
use ark_snark::SNARK;
use std::hint::black_box;
use zkr_verifier::BatchItem;

/// Measures verifying `proofs` (all valid, all under `pvk`) as one batch
/// against one at a time. Before timing, checks that both accept every one.
pub fn run(
    case: &str,
    pvk: &PreparedVerifyingKey<Bn254>,
    proofs: &[(Proof<Bn254>, Vec<Fr>)],
    runs: usize,
) -> Result<CaseResult> {
    let items: Vec<BatchItem<'_>> = proofs
        .iter()
        .map(|(proof, public)| BatchItem {
            pvk,
            proof,
            public_inputs: public,
        })
        .collect();
    let batch = || zkr_verifier::verify_batch(&items);
    let one_by_one = || -> Result<Vec<bool>> {
        proofs
            .iter()
            .map(|(proof, public)| {
                Groth16::<Bn254>::verify_with_processed_vk(pvk, public, proof)
                    .map_err(|e| Error::Arkworks(e.to_string()))
            })
            .collect()
    };
    let ours = batch().map_err(|e| Error::Verify(e.to_string()))?;
    let theirs = one_by_one()?;
    if ours != theirs || ours.iter().any(|ok| !ok) {
        return Err(Error::Mismatch(format!("verify/{case}")));
    }
    let (ours_ms, arkworks_ms) = time_pair(
        runs,
        || {
            black_box(batch().ok());
        },
        || {
            black_box(one_by_one().ok());
        },
    );
    let (_, ours_peak) = mem::with_peak(|| black_box(batch().ok()));
    let (_, ark_peak) = mem::with_peak(|| black_box(one_by_one().ok()));
    Ok(CaseResult {
        case: format!("verify/{case}"),
        n: proofs.len(),
        backend: "cpu".into(),
        ours_ms,
        arkworks_ms,
        speedup: arkworks_ms / ours_ms,
        ours_peak_rss_kib: ours_peak,
        arkworks_peak_rss_kib: ark_peak,
    })
}
