//! The `zkr` binary.
#![forbid(unsafe_code)]

use clap::Parser;
use std::io::IsTerminal;
use std::process::ExitCode;

/// Warnings from everything, plus the service's own lines: one per request
/// (target `zkr::server::access`), start and shutdown (the `zkr_server`
/// crate); `ZKR_LOG` replaces it.
const DEFAULT_LOG_FILTER: &str = "warn,zkr::server=info,zkr_server=info";

fn main() -> ExitCode {
    // Colour only for a person at a terminal: a file, a pipe or a log
    // collector gets plain text. NO_COLOR (no-color.org) turns it off too.
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ZKR_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER)),
        )
        .init();
    let cli = zkr::cli::Cli::parse();
    match zkr::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}", e.report());
            e.exit_code()
        }
    }
}
