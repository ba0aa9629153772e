//! Writes a `.zkey` for a circom `.r1cs` from a single-party setup (a
//! random trapdoor, see `zkr_circom::devsetup`), for benchmarks only:
//! `cargo run --release -p zkr-circom --example dev_zkey -- c.r1cs c.zkey`

use ark_std::rand::rngs::OsRng;
use zkr_circom::{Zkey, devsetup, r1cs, zkey};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        return Err("usage: dev_zkey circuit.r1cs out.zkey".into());
    };
    let r = r1cs::read(&std::fs::read(input)?, input)?;
    let key = devsetup::setup(&r, &devsetup::Trapdoor::random(&mut OsRng))?;
    let bytes = zkey::write(&Zkey {
        key,
        contributions: None,
    })?;
    std::fs::write(output, bytes)?;
    eprintln!("wrote {output} (single-party setup: for benchmarks only)");
    Ok(())
}
