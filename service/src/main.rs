//! The `zkr` binary.
#![forbid(unsafe_code)]

fn main() {}
