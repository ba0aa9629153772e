#![no_main]
use libfuzzer_sys::fuzz_target;
use zkr_circuits::CircuitKind;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        for kind in CircuitKind::ALL {
            // A small depth keeps tree building cheap per input.
            let _ = zkr_circuits::input::circuit_from_json(kind, 4, s);
        }
    }
});
