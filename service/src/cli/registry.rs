//! `zkr registry`: registry (Poseidon Merkle tree) tools.

use super::{CliError, CliResult};
use ark_bn254::Fr;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use zkr_circuits::{
    circuits::DEFAULT_DEPTH,
    field::{fr_to_decimal, parse_fr_named},
    merkle::MerkleTree,
};
use zkr_verifier::binary;

/// Arguments of `zkr registry`.
#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// The registry command.
    #[command(subcommand)]
    pub command: RegistryCommand,
}

/// Registry commands.
#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Print the root of the tree of the given members (one decimal id a line, in insertion order).
    Root {
        /// Tree depth.
        #[arg(long, default_value_t = DEFAULT_DEPTH)]
        depth: usize,
        /// File with one decimal identity commitment a line; blank lines are skipped.
        #[arg(long)]
        members: PathBuf,
    },
}

/// Runs `zkr registry`.
pub fn run(a: &RegistryArgs) -> CliResult {
    match &a.command {
        RegistryCommand::Root { depth, members } => {
            let text = binary::read_text_bounded(members, 1 << 30)?;
            let capacity = MerkleTree::new(*depth)?.capacity();
            let mut ids = Vec::new();
            for (n, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() {
                    continue;
                }
                let at = format!("{}: line {}", members.display(), n + 1);
                let id = parse_fr_named(line, &at)?;
                if id == Fr::from(0u64) {
                    return Err(CliError::Input(format!(
                        "{at}: 0 is the empty leaf, not an identity; identities are non-zero"
                    )));
                }
                if ids.len() as u64 == capacity {
                    return Err(CliError::Input(format!(
                        "{at}: a tree of depth {depth} is full ({capacity} members)"
                    )));
                }
                ids.push(id);
            }
            let tree = MerkleTree::from_leaves(*depth, &ids)?;
            println!("{}", fr_to_decimal(&tree.root()));
            Ok(())
        }
    }
}
