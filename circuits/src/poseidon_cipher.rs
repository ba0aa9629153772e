//! The Poseidon duplex-sponge cipher of zk-kit's `poseidon-cipher` (the
//! one MACI uses), bit for bit: circomlib's Poseidon permutation of width 4,
//! a key of two field elements (an ECDH shared point's coordinates) and a
//! nonce below 2^128.
//!
//! The state starts as `(0, k0, k1, nonce + n * 2^128)` for a message of n
//! elements. The message is padded with zeros to a multiple of three; for
//! each block of three the state is permuted, the block is added to
//! elements 1..3, and those three sums are the ciphertext block (and stay in
//! the state). A last permutation gives the tag, its element 1. The
//! ciphertext has `3 * ceil(n / 3) + 1` elements, the tag last.
//!
//! Unlike zk-kit's `poseidonDecrypt`, [`decrypt`] checks the padding for
//! every length (zk-kit checks it only above three elements) and the
//! ciphertext's length.

use crate::error::{Error, Result};
use crate::poseidon::permute;
use ark_bn254::Fr;
use ark_ff::{AdditiveGroup, Field};

/// The nonce bound: the nonce and the length share one field element
/// (`nonce + n * 2^128`), so a nonce must stay below 2^128 for distinct
/// (nonce, length) pairs to give distinct initial states.
pub const NONCE_BITS: usize = 128;

/// The ciphertext length for a message of `n` elements.
pub fn ciphertext_len(n: usize) -> usize {
    3 * n.div_ceil(3) + 1
}

fn two_128() -> Fr {
    Fr::from(2u64).pow([NONCE_BITS as u64])
}

fn initial_state(key: (Fr, Fr), nonce: u128, n: usize) -> [Fr; 4] {
    [
        Fr::ZERO,
        key.0,
        key.1,
        Fr::from(nonce) + Fr::from(n as u64) * two_128(),
    ]
}

fn permute4(state: &[Fr; 4]) -> [Fr; 4] {
    match permute(state) {
        Ok(v) => [v[0], v[1], v[2], v[3]],
        // Width 4 is one of the widths light-poseidon ships; no other is used.
        Err(e) => unreachable!("poseidon width 4: {e}"),
    }
}

/// Encrypts `message` under `key` and `nonce`. The nonce is a `u128`, so
/// the 2^128 bound holds by type.
pub fn encrypt(message: &[Fr], key: (Fr, Fr), nonce: u128) -> Vec<Fr> {
    let mut state = initial_state(key, nonce, message.len());
    let mut out = Vec::with_capacity(ciphertext_len(message.len()));
    for block in message.chunks(3) {
        state = permute4(&state);
        for (j, s) in state[1..].iter_mut().enumerate() {
            *s += block.get(j).copied().unwrap_or(Fr::ZERO);
            out.push(*s);
        }
    }
    state = permute4(&state);
    out.push(state[1]);
    out
}

/// Decrypts a ciphertext of a message of `n` elements, checking its length,
/// the zero padding and the tag. Errors say which check failed; none
/// carries plaintext.
pub fn decrypt(ciphertext: &[Fr], key: (Fr, Fr), nonce: u128, n: usize) -> Result<Vec<Fr>> {
    if ciphertext.len() != ciphertext_len(n) {
        return Err(Error::Decrypt(format!(
            "ciphertext of {} elements for a message of {n} (expected {})",
            ciphertext.len(),
            ciphertext_len(n)
        )));
    }
    let (blocks, tag) = ciphertext.split_at(ciphertext.len() - 1);
    let mut state = initial_state(key, nonce, n);
    let mut message = Vec::with_capacity(blocks.len());
    for block in blocks.chunks(3) {
        state = permute4(&state);
        for (s, c) in state[1..].iter_mut().zip(block) {
            message.push(*c - *s);
            *s = *c;
        }
    }
    if message[n..].iter().any(|m| *m != Fr::ZERO) {
        return Err(Error::Decrypt("padding is not zero".into()));
    }
    state = permute4(&state);
    if state[1] != tag[0] {
        return Err(Error::Decrypt("authentication tag does not match".into()));
    }
    message.truncate(n);
    Ok(message)
}

/// Reads a nonce given as a field element, refusing one >= 2^128.
pub fn nonce_from_fr(nonce: &Fr) -> Result<u128> {
    let n: num_bigint::BigUint = (*nonce).into();
    u128::try_from(n).map_err(|_| Error::Decrypt("nonce must be < 2^128".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key() -> (Fr, Fr) {
        (Fr::from(123u64), Fr::from(456u64))
    }

    #[test]
    fn lengths() {
        assert_eq!(ciphertext_len(0), 1);
        assert_eq!(ciphertext_len(1), 4);
        assert_eq!(ciphertext_len(3), 4);
        assert_eq!(ciphertext_len(4), 7);
        assert_eq!(ciphertext_len(9), 10);
        assert_eq!(encrypt(&[Fr::ONE; 9], key(), 7).len(), 10);
    }

    #[test]
    fn padding_is_checked_for_every_length() {
        // A ciphertext whose padding decrypts to non-zero: encrypt three
        // elements and claim the message had fewer. The tag is still right
        // (the length is in the initial state, so re-encrypt with the shorter
        // length's state), so only the padding check can refuse it.
        for n in [1usize, 2, 4, 5, 7, 8] {
            let full = n.div_ceil(3) * 3;
            let msg: Vec<Fr> = (1..=full as u64).map(Fr::from).collect();
            let honest = encrypt(&msg[..n], key(), 9);
            assert!(decrypt(&honest, key(), 9, n).is_ok());
            // Same initial state as an n-element message, non-zero padding.
            let mut state = initial_state(key(), 9, n);
            let mut forged = Vec::new();
            for block in msg.chunks(3) {
                state = permute4(&state);
                for (j, s) in state[1..].iter_mut().enumerate() {
                    *s += block[j];
                    forged.push(*s);
                }
            }
            state = permute4(&state);
            forged.push(state[1]);
            let err = decrypt(&forged, key(), 9, n).unwrap_err().to_string();
            assert!(err.contains("padding"), "n = {n}: {err}");
        }
    }

    #[test]
    fn tampering_is_refused() {
        let msg: Vec<Fr> = (1..=9u64).map(Fr::from).collect();
        let c = encrypt(&msg, key(), 5);
        for i in 0..c.len() {
            let mut bad = c.clone();
            bad[i] += Fr::ONE;
            assert!(decrypt(&bad, key(), 5, 9).is_err(), "element {i}");
        }
        assert!(decrypt(&c, (key().0, key().1 + Fr::ONE), 5, 9).is_err());
        assert!(decrypt(&c, key(), 6, 9).is_err());
        assert!(decrypt(&c, key(), 5, 8).is_err());
        assert!(decrypt(&c[..9], key(), 5, 9).is_err());
    }

    #[test]
    fn nonce_bound() {
        assert_eq!(nonce_from_fr(&Fr::from(u128::MAX)).unwrap(), u128::MAX);
        assert!(nonce_from_fr(&two_128()).is_err());
        assert!(nonce_from_fr(&-Fr::ONE).is_err());
    }

    proptest! {
        #[test]
        fn decrypt_inverts_encrypt(
            msg in proptest::collection::vec(any::<u64>(), 0..13),
            k0 in any::<u64>(), k1 in any::<u64>(), nonce in any::<u128>(),
        ) {
            let msg: Vec<Fr> = msg.into_iter().map(Fr::from).collect();
            let c = encrypt(&msg, (Fr::from(k0), Fr::from(k1)), nonce);
            prop_assert_eq!(decrypt(&c, (Fr::from(k0), Fr::from(k1)), nonce, msg.len()).unwrap(), msg);
        }
    }
}
