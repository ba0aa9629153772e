//! Confidential records: envelope encryption of receipts, the versioned key
//! store and the key-encryption-key providers (DESIGN §6).
#![forbid(unsafe_code)]
