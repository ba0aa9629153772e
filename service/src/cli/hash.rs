//! `zkr hash poseidon`: circomlib's Poseidon of decimal field elements.

use super::CliResult;
use clap::{Args, Subcommand};
use zkr_circuits::field::{fr_to_decimal, parse_fr_named};

/// Arguments of `zkr hash`.
#[derive(Debug, Args)]
pub struct HashArgs {
    /// The hash.
    #[command(subcommand)]
    pub hash: HashCommand,
}

/// The hashes.
#[derive(Debug, Subcommand)]
pub enum HashCommand {
    /// circomlib's Poseidon(n) of 1 to 12 decimal field elements; prints the decimal hash.
    Poseidon {
        /// The inputs, decimal, each < r.
        #[arg(required = true, allow_hyphen_values = true)]
        inputs: Vec<String>,
    },
}

/// Runs `zkr hash`.
pub fn run(a: &HashArgs) -> CliResult {
    match &a.hash {
        HashCommand::Poseidon { inputs } => {
            let xs = inputs
                .iter()
                .enumerate()
                .map(|(i, s)| parse_fr_named(s, &format!("input {}", i + 1)))
                .collect::<Result<Vec<_>, _>>()?;
            println!("{}", fr_to_decimal(&zkr_circuits::poseidon::hash(&xs)?));
            Ok(())
        }
    }
}
