//! Field elements and integers as they travel on the wire: decimal strings,
//! as snarkjs writes them, and 32-byte big-endian byte strings.

use crate::error::{Result, invalid};
use ark_bn254::Fr;
use ark_ff::{BigInteger, PrimeField};
use num_bigint::BigUint;

/// The longest decimal string accepted for a field element. The modulus has
/// 77 digits; anything longer is refused before it is parsed.
const MAX_DECIMAL_DIGITS: usize = 78;

/// Parses a canonical decimal field element: ASCII digits only, no sign, no
/// leading zeros (except "0" itself), and a value below the BN254 scalar
/// modulus r. `what` names the input in the error.
pub fn parse_fr_named(s: &str, what: &str) -> Result<Fr> {
    let n = parse_decimal(s, what)?;
    let modulus: BigUint = Fr::MODULUS.into();
    if n >= modulus {
        return Err(invalid(what, "not a canonical field element (must be < r)"));
    }
    Ok(Fr::from(n))
}

/// Parses a canonical decimal field element (see [`parse_fr_named`]).
pub fn parse_fr(s: &str) -> Result<Fr> {
    parse_fr_named(s, "field element")
}

/// Writes a field element as a decimal string.
pub fn fr_to_decimal(x: &Fr) -> String {
    let n: BigUint = (*x).into();
    n.to_str_radix(10)
}

/// Parses a decimal integer below 2^64.
pub fn parse_u64(s: &str, what: &str) -> Result<u64> {
    let n = parse_decimal(s, what)?;
    u64::try_from(n).map_err(|_| invalid(what, "must be < 2^64"))
}

/// Parses a decimal integer below 2^128.
pub fn parse_u128(s: &str, what: &str) -> Result<u128> {
    let n = parse_decimal(s, what)?;
    u128::try_from(n).map_err(|_| invalid(what, "must be < 2^128"))
}

fn parse_decimal(s: &str, what: &str) -> Result<BigUint> {
    if s.is_empty() {
        return Err(invalid(what, "empty; expected a decimal string"));
    }
    if s.len() > MAX_DECIMAL_DIGITS {
        return Err(invalid(what, "too long for a field element"));
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(what, "expected decimal digits only"));
    }
    if s.len() > 1 && s.starts_with('0') {
        return Err(invalid(what, "leading zeros are not canonical"));
    }
    BigUint::parse_bytes(s.as_bytes(), 10).ok_or_else(|| invalid(what, "not a decimal number"))
}

/// A field element as 32 bytes, big-endian (DESIGN §2, for AAD and signatures).
pub fn fr_to_be_bytes(x: &Fr) -> [u8; 32] {
    let bytes = x.into_bigint().to_bytes_be();
    let mut out = [0u8; 32];
    out[32 - bytes.len()..].copy_from_slice(&bytes);
    out
}

/// Reads a 32-byte big-endian field element, refusing values >= r.
pub fn fr_from_be_bytes(bytes: &[u8; 32]) -> Result<Fr> {
    let n = BigUint::from_bytes_be(bytes);
    let modulus: BigUint = Fr::MODULUS.into();
    if n >= modulus {
        return Err(invalid(
            "field element",
            "not a canonical field element (must be < r)",
        ));
    }
    Ok(Fr::from(n))
}

/// Maps arbitrary bytes (for example a job UUID) into Fr: SHA-free, by
/// reduction of the big-endian integer modulo r. Callers that need a
/// collision-resistant map hash first.
pub fn fr_from_bytes_mod_order(bytes: &[u8]) -> Fr {
    Fr::from_be_bytes_mod_order(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ff::Field;

    #[test]
    fn decimal_round_trip_and_canonical_checks() {
        let p_minus_1 = -Fr::ONE;
        let s = fr_to_decimal(&p_minus_1);
        assert_eq!(
            s,
            "21888242871839275222246405745257275088548364400416034343698204186575808495616"
        );
        assert_eq!(parse_fr(&s).unwrap(), p_minus_1);
        // r itself is not canonical
        assert!(
            parse_fr(
                "21888242871839275222246405745257275088548364400416034343698204186575808495617"
            )
            .is_err()
        );
        for bad in [
            "",
            "-1",
            "+1",
            "01",
            "1.0",
            "0x10",
            " 1",
            "1 ",
            &"9".repeat(79),
        ] {
            assert!(parse_fr(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(parse_fr("0").unwrap(), Fr::from(0u64));
    }

    #[test]
    fn integer_bounds() {
        assert_eq!(parse_u64("18446744073709551615", "x").unwrap(), u64::MAX);
        assert!(parse_u64("18446744073709551616", "x").is_err());
        assert_eq!(parse_u128(&u128::MAX.to_string(), "x").unwrap(), u128::MAX);
        assert!(parse_u128("340282366920938463463374607431768211456", "x").is_err());
    }

    #[test]
    fn bytes_round_trip() {
        let x = -Fr::ONE;
        let b = fr_to_be_bytes(&x);
        assert_eq!(b[0], 0x30);
        assert_eq!(fr_from_be_bytes(&b).unwrap(), x);
        assert!(fr_from_be_bytes(&[0xff; 32]).is_err());
    }
}
