//! Shared inputs for the criterion benchmarks in `benches/`.
#![forbid(unsafe_code)]
