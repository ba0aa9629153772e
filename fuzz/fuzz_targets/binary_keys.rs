#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = zkr_verifier::binary::proof_from_bytes(data, "proof.bin");
    let _ = zkr_verifier::binary::verifying_key_from_bytes(data, "verifying_key.bin");
    let _ = zkr_verifier::binary::proving_key_from_bytes(data, "proving_key.bin");
});
