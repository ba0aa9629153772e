//! The body of every fuzz target, shared by the cargo-fuzz binaries in
//! `fuzz_targets/` and the stable-toolchain smoke run in
//! `service/tests/fuzz_smoke.rs`, so that both exercise the same code.
//! A body may panic only on a bug: every parser must answer Ok or Err.

/// `proof.json` (snarkjs).
pub fn snarkjs_proof(data: &[u8]) {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = zkr_verifier::snarkjs::parse_proof(s, "proof.json");
    }
}

/// `verification_key.json` (snarkjs).
pub fn snarkjs_vk(data: &[u8]) {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = zkr_verifier::snarkjs::parse_vk(s, "verification_key.json");
    }
}

/// `public.json` (snarkjs).
pub fn public_inputs(data: &[u8]) {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = zkr_verifier::snarkjs::parse_public(s, "public.json");
    }
}

/// arkworks binary proofs and keys.
pub fn binary_keys(data: &[u8]) {
    let _ = zkr_verifier::binary::proof_from_bytes(data, "proof.bin");
    let _ = zkr_verifier::binary::verifying_key_from_bytes(data, "verifying_key.bin");
    let _ = zkr_verifier::binary::proving_key_from_bytes(data, "proving_key.bin");
}

/// `input.json` of each circuit.
pub fn input_json(data: &[u8]) {
    if let Ok(s) = std::str::from_utf8(data) {
        for kind in zkr_circuits::CircuitKind::ALL {
            // A small depth keeps tree building cheap per input.
            let _ = zkr_circuits::input::circuit_from_json(kind, 4, s);
        }
    }
}

/// The encrypted-record envelope.
pub fn envelope(data: &[u8]) {
    let _ = zkr_keys::Envelope::from_bytes(data);
}

/// snarkjs `.zkey`: what is read is written back and read again unchanged.
pub fn zkey(data: &[u8]) {
    if let Ok(z) = zkr_circom::zkey::read(data, "f.zkey") {
        let again = zkr_circom::zkey::write(&z).expect("a key that was read is writable");
        assert_eq!(zkr_circom::zkey::read(&again, "f.zkey").as_ref(), Ok(&z));
    }
}

/// circom `.wtns`, with the same round trip.
pub fn wtns(data: &[u8]) {
    if let Ok(w) = zkr_circom::wtns::read(data, "f.wtns") {
        let again = zkr_circom::wtns::write(&w).expect("a witness that was read is writable");
        assert_eq!(zkr_circom::wtns::read(&again, "f.wtns").as_ref(), Ok(&w));
    }
}

/// circom `.r1cs`, with the same round trip.
pub fn r1cs(data: &[u8]) {
    if let Ok(r) = zkr_circom::r1cs::read(data, "f.r1cs") {
        let again =
            zkr_circom::r1cs::write(&r).expect("a constraint system that was read is writable");
        assert_eq!(zkr_circom::r1cs::read(&again, "f.r1cs").as_ref(), Ok(&r));
    }
}

/// A target's body.
pub type Body = fn(&[u8]);

/// Every target by its cargo-fuzz name.
#[allow(dead_code)]
pub const TARGETS: &[(&str, Body)] = &[
    ("snarkjs_proof", snarkjs_proof),
    ("snarkjs_vk", snarkjs_vk),
    ("public_inputs", public_inputs),
    ("binary_keys", binary_keys),
    ("input_json", input_json),
    ("envelope", envelope),
    ("zkey", zkey),
    ("wtns", wtns),
    ("r1cs", r1cs),
];
