//! The receipt circuits of DESIGN §5 and the hash and registry they use.
#![forbid(unsafe_code)]
