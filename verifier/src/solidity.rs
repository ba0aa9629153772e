//! A Solidity Groth16 verifier for one verifying key, on the EIP-196/197
//! precompiles (ecAdd 0x06, ecMul 0x07, ecPairing 0x08), and the arguments
//! of a call to it.
//!
//! The contract keeps snarkjs's ABI, `verifyProof(uint[2] _pA, uint[2][2]
//! _pB, uint[2] _pC, uint[N] _pubSignals) returns (bool)`, with G2
//! coordinates in EIP-197 order (imaginary part first), so that contracts
//! written against a snarkjs verifier work unchanged. It answers `false`
//! (never reverts) for a public input `>= r` (which the precompiles would
//! otherwise reduce, making a second encoding of the same input valid) and
//! for a proof coordinate `>= q`.
//!
//! The body is straight-line assembly: the key is in constants, and the 24
//! words of the pairing check are laid out in memory once, with the
//! public-input accumulator `vk_x` kept in its own slot of that layout so
//! that nothing is copied before the pairing call.

use crate::error::{Error, Result};
use ark_bn254::{Bn254, Fq, Fr, G1Affine, G2Affine};
use ark_ec::AffineRepr;
use ark_ff::{PrimeField, Zero};
use ark_groth16::{Proof, VerifyingKey};
use num_bigint::BigUint;
use std::fmt::Write;

fn dec<F: PrimeField>(x: &F) -> String {
    let n: BigUint = x.into_bigint().into();
    n.to_str_radix(10)
}

fn hex32<F: PrimeField>(x: &F) -> String {
    let n: BigUint = x.into_bigint().into();
    format!("\"0x{:0>64}\"", n.to_str_radix(16))
}

/// Affine coordinates of a G1 point; the point at infinity is (0, 0) for the
/// precompiles.
fn g1_xy(p: &G1Affine) -> (Fq, Fq) {
    p.xy().unwrap_or((Fq::zero(), Fq::zero()))
}

/// G2 coordinates in EIP-197 order: `[x_im, x_re, y_im, y_re]`; the point at
/// infinity is all zeros.
fn g2_words(p: &G2Affine) -> [Fq; 4] {
    match p.xy() {
        Some((x, y)) => [x.c1, x.c0, y.c1, y.c0],
        None => [Fq::zero(); 4],
    }
}

// Byte offsets of the pairing input: four pairs of (G1, G2), 6 words each.
const NEG_A: usize = 0;
const B: usize = 64;
const ALPHA: usize = 192;
const BETA: usize = 256;
const VK_X: usize = 384;
const GAMMA: usize = 448;
const C: usize = 576;
const DELTA: usize = 640;
const PAIRING_INPUT_BYTES: usize = 768;

/// Writes the verifier contract for `vk`. `Err` for a key without public
/// inputs (Solidity has no zero-length `uint[0]` parameter).
pub fn verifier_contract(vk: &VerifyingKey<Bn254>) -> Result<String> {
    let n = vk.gamma_abc_g1.len().saturating_sub(1);
    if n == 0 {
        return Err(Error::Mismatch(
            "a Solidity verifier needs at least one public input".into(),
        ));
    }
    let q: BigUint = Fq::MODULUS.into();
    let r: BigUint = Fr::MODULUS.into();
    let mut s = String::new();
    // `write!` into a String cannot fail; the results are ignored with `let _`.
    let _ = write!(
        s,
        "\
// SPDX-License-Identifier: Apache-2.0
// Groth16 verifier over BN254 for one verifying key ({n} public inputs),
// written by `zkr export solidity`. ABI as snarkjs's exported verifiers:
// G2 coordinates in EIP-197 order (imaginary part first). Answers false for
// a public input >= r or a proof coordinate >= q.
pragma solidity >=0.8.4 <0.9.0;

contract Groth16Verifier {{
    // Scalar field order: public inputs must be below it.
    uint256 constant R = {r};
    // Base field order: proof coordinates must be below it.
    uint256 constant Q = {q};

"
    );
    let (ax, ay) = g1_xy(&vk.alpha_g1);
    let _ = writeln!(s, "    uint256 constant ALPHA_X = {};", dec(&ax));
    let _ = writeln!(s, "    uint256 constant ALPHA_Y = {};", dec(&ay));
    for (name, p) in [
        ("BETA", &vk.beta_g2),
        ("GAMMA", &vk.gamma_g2),
        ("DELTA", &vk.delta_g2),
    ] {
        let w = g2_words(p);
        for (part, v) in ["X_IM", "X_RE", "Y_IM", "Y_RE"].iter().zip(w) {
            let _ = writeln!(s, "    uint256 constant {name}_{part} = {};", dec(&v));
        }
    }
    for (i, p) in vk.gamma_abc_g1.iter().enumerate() {
        let (x, y) = g1_xy(p);
        let _ = writeln!(s, "    uint256 constant IC{i}_X = {};", dec(&x));
        let _ = writeln!(s, "    uint256 constant IC{i}_Y = {};", dec(&y));
    }

    let _ = write!(
        s,
        "
    /// True when the proof is valid for the public inputs.
    function verifyProof(
        uint256[2] calldata _pA,
        uint256[2][2] calldata _pB,
        uint256[2] calldata _pC,
        uint256[{n}] calldata _pubSignals
    ) external view returns (bool) {{
        assembly {{
            // Coordinates must be canonical (< q), inputs below r.
            let ok := lt(calldataload(_pA), Q)
            ok := and(ok, lt(calldataload(add(_pA, 32)), Q))
            ok := and(ok, lt(calldataload(_pB), Q))
            ok := and(ok, lt(calldataload(add(_pB, 32)), Q))
            ok := and(ok, lt(calldataload(add(_pB, 64)), Q))
            ok := and(ok, lt(calldataload(add(_pB, 96)), Q))
            ok := and(ok, lt(calldataload(_pC), Q))
            ok := and(ok, lt(calldataload(add(_pC, 32)), Q))
"
    );
    for i in 0..n {
        let _ = writeln!(
            s,
            "            ok := and(ok, lt(calldataload(add(_pubSignals, {})), R))",
            32 * i
        );
    }
    let _ = write!(
        s,
        "            if iszero(ok) {{
                mstore(0, 0)
                return(0, 32)
            }}

            // Pairing input, 24 words from 0:
            //   -A, B | alpha, beta | vk_x, gamma | C, delta
            // vk_x = IC0 + sum(input_i * IC(i+1)) accumulates in its slot
            // ({VK_X}); each product is made in the gamma slot after it and
            // added from there.
            mstore({VK_X}, IC0_X)
            mstore({}, IC0_Y)
",
        VK_X + 32
    );
    for i in 0..n {
        let _ = write!(
            s,
            "            mstore({GAMMA}, IC{j}_X)
            mstore({}, IC{j}_Y)
            mstore({}, calldataload(add(_pubSignals, {})))
            ok := and(ok, staticcall(gas(), 7, {GAMMA}, 96, {GAMMA}, 64))
            ok := and(ok, staticcall(gas(), 6, {VK_X}, 128, {VK_X}, 64))
",
            GAMMA + 32,
            GAMMA + 64,
            32 * i,
            j = i + 1,
        );
    }
    let _ = write!(
        s,
        "
            mstore({NEG_A}, calldataload(_pA))
            mstore({}, mod(sub(Q, calldataload(add(_pA, 32))), Q))
            calldatacopy({B}, _pB, 128)
            mstore({ALPHA}, ALPHA_X)
            mstore({}, ALPHA_Y)
            mstore({BETA}, BETA_X_IM)
            mstore({}, BETA_X_RE)
            mstore({}, BETA_Y_IM)
            mstore({}, BETA_Y_RE)
            mstore({GAMMA}, GAMMA_X_IM)
            mstore({}, GAMMA_X_RE)
            mstore({}, GAMMA_Y_IM)
            mstore({}, GAMMA_Y_RE)
            calldatacopy({C}, _pC, 64)
            mstore({DELTA}, DELTA_X_IM)
            mstore({}, DELTA_X_RE)
            mstore({}, DELTA_Y_IM)
            mstore({}, DELTA_Y_RE)

            // e(-A, B) e(alpha, beta) e(vk_x, gamma) e(C, delta) == 1
            ok := and(ok, staticcall(gas(), 8, 0, {PAIRING_INPUT_BYTES}, 0, 32))
            mstore(0, and(ok, mload(0)))
            return(0, 32)
        }}
    }}
}}
",
        NEG_A + 32,
        ALPHA + 32,
        BETA + 32,
        BETA + 64,
        BETA + 96,
        GAMMA + 32,
        GAMMA + 64,
        GAMMA + 96,
        DELTA + 32,
        DELTA + 64,
        DELTA + 96,
    );
    Ok(s)
}

/// The arguments of `verifyProof` for `proof` and `public_inputs`, as
/// `snarkjs zkey export soliditycalldata` prints them: four JSON arrays of
/// 0x-prefixed 32-byte hex words, separated by commas, B in EIP-197 order.
pub fn calldata(proof: &Proof<Bn254>, public_inputs: &[Fr]) -> String {
    let (ax, ay) = g1_xy(&proof.a);
    let [bxi, bxr, byi, byr] = g2_words(&proof.b);
    let (cx, cy) = g1_xy(&proof.c);
    let inputs: Vec<String> = public_inputs.iter().map(hex32).collect();
    format!(
        "[{}, {}],[[{}, {}],[{}, {}]],[{}, {}],[{}]",
        hex32(&ax),
        hex32(&ay),
        hex32(&bxi),
        hex32(&bxr),
        hex32(&byi),
        hex32(&byr),
        hex32(&cx),
        hex32(&cy),
        inputs.join(",")
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use ark_bn254::G2Affine;
    use ark_ff::One;

    #[test]
    fn g2_words_put_the_imaginary_part_first() {
        let g = G2Affine::generator();
        let (x, y) = g.xy().unwrap();
        assert_eq!(g2_words(&g), [x.c1, x.c0, y.c1, y.c0]);
        assert_eq!(g2_words(&G2Affine::zero()), [Fq::zero(); 4]);
    }

    #[test]
    fn hex_words_are_padded_to_32_bytes() {
        assert_eq!(hex32(&Fr::one()), format!("\"0x{}1\"", "0".repeat(63)));
        let minus_one = -Fr::one();
        let h = hex32(&minus_one);
        assert_eq!(h.len(), 2 + 2 + 64);
        assert!(h.starts_with("\"0x30644e72e131a029b85045b68181585d2833e848"));
    }
}
