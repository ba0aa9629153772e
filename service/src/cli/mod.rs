//! The `zkr` command line: one module per command; `run` dispatches and maps
//! errors to exit codes (2 for bad input, 1 for a failed check or an
//! operation that could not complete).

pub mod audit;
#[cfg(feature = "bench")]
pub mod bench;
pub mod demo;
pub mod export;
pub mod export_r1cs;
pub mod export_solidity;
pub mod export_vk;
pub mod hash;
pub mod import_zkey;
pub mod loadgen;
pub mod prove;
pub mod prove_zkey;
pub mod registry;
pub mod service;
pub mod setup;
pub mod verify;
pub mod verify_batch;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// zk-receipts: confidential receipts with zero-knowledge proofs (Groth16 over BN254).
#[derive(Debug, Parser)]
#[command(name = "zkr", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate proving and verifying keys for a circuit (single-party: development only).
    Setup(setup::SetupArgs),
    /// Prove an input with keys from `zkr setup`; writes snarkjs proof.json and public.json.
    Prove(prove::ProveArgs),
    /// Verify a snarkjs proof: exit 0 valid, 1 invalid, 2 malformed input.
    Verify(verify::VerifyArgs),
    /// Hash field elements.
    Hash(hash::HashArgs),
    /// Registry (Poseidon Merkle tree) tools.
    Registry(registry::RegistryArgs),
    /// Run setup, prove and verify of the receipt circuit in a temporary directory.
    Demo(demo::DemoArgs),
    /// Measure our MSM and prover beside arkworks on the same inputs.
    #[cfg(feature = "bench")]
    Bench(bench::BenchArgs),
    /// Run the HTTP service (and, unless `--workers 0`, prover workers).
    Serve(service::ServeArgs),
    /// Run only prover workers, on the configuration of `zkr serve`.
    Worker(service::WorkerArgs),
    /// Load a `zkr serve` on this machine with proof jobs or verifications
    /// and report throughput, latency, errors and lost jobs (loopback only).
    Loadgen(loadgen::LoadgenArgs),
    /// API tokens.
    Token(service::TokenArgs),
    /// The audit log.
    Audit(audit::AuditArgs),
    /// Write a circuit or key in another tool's format: circom .r1cs, a
    /// Solidity verifier, a verifier call's arguments, a .zkey's
    /// verification_key.json.
    Export(export::ExportArgs),
    /// Prove with a snarkjs .zkey and a circom .wtns (rapidsnark's arguments).
    ProveZkey(prove_zkey::ProveZkeyArgs),
    /// Turn a snarkjs ceremony's .zkey for one of our circuits into a key directory.
    ImportZkey(import_zkey::ImportZkeyArgs),
}

/// A command's failure, with the exit code it maps to.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The input (arguments, files) is malformed or does not satisfy the statement: exit 2.
    #[error("{0}")]
    Input(String),
    /// An operation could not complete: exit 1.
    #[error("{0}")]
    Failed(String),
    /// A well-formed proof that does not verify: exit 1, reported as a
    /// verdict rather than an error.
    #[error("{0}")]
    Rejected(String),
}

impl CliError {
    /// The process exit code.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Self::Input(_) => ExitCode::from(2),
            Self::Failed(_) | Self::Rejected(_) => ExitCode::from(1),
        }
    }
}

impl From<zkr_circuits::Error> for CliError {
    fn from(e: zkr_circuits::Error) -> Self {
        Self::Input(e.to_string())
    }
}

impl From<zkr_artifacts::Error> for CliError {
    fn from(e: zkr_artifacts::Error) -> Self {
        match e {
            zkr_artifacts::Error::Input(m) => Self::Input(m),
            zkr_artifacts::Error::Failed(m) => Self::Failed(m),
        }
    }
}

impl From<zkr_verifier::Error> for CliError {
    fn from(e: zkr_verifier::Error) -> Self {
        Self::Input(e.to_string())
    }
}

impl CliError {
    /// The line printed on stderr.
    pub fn report(&self) -> String {
        match self {
            Self::Rejected(m) => m.clone(),
            Self::Input(m) | Self::Failed(m) => format!("error: {m}"),
        }
    }
}

/// Result of a command.
pub type CliResult<T = ()> = Result<T, CliError>;

/// Runs the parsed command.
pub fn run(cli: Cli) -> CliResult {
    match cli.command {
        Command::Setup(a) => setup::run(&a),
        Command::Prove(a) => prove::run(&a),
        Command::Verify(a) => verify::run(&a),
        Command::Hash(a) => hash::run(&a),
        Command::Registry(a) => registry::run(&a),
        Command::Demo(a) => demo::run(&a),
        #[cfg(feature = "bench")]
        Command::Bench(a) => bench::run(&a),
        Command::Serve(a) => service(service::serve(a)),
        Command::Worker(a) => service(service::worker(a)),
        Command::Loadgen(a) => loadgen::run(&a),
        Command::Token(a) => token(&a),
        Command::Audit(a) => audit::run(&a),
        Command::Export(a) => export::run(&a),
        Command::ProveZkey(a) => prove_zkey::run(&a),
        Command::ImportZkey(a) => import_zkey::run(&a),
    }
}

pub(crate) fn service<T>(r: zkr_server::Result<T>) -> CliResult<T> {
    r.map_err(|e| {
        if service::is_input_error(&e) {
            CliError::Input(e.to_string())
        } else {
            CliError::Failed(e.to_string())
        }
    })
}

fn token(a: &service::TokenArgs) -> CliResult {
    println!("{}", service(service::token(a))?);
    Ok(())
}

/// A spinner on stderr for a step that may take more than a second; hidden
/// when stderr is not a terminal.
pub(crate) fn spinner(msg: &str) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new_spinner();
    pb.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    pb.set_message(msg.to_string());
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb
}
