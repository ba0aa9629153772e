//! The `zkr` command line and service.
#![forbid(unsafe_code)]

pub mod cli;
