//! The receipt of DESIGN §4: nine fields, hashed with `H9` in field order.

use crate::error::{Error, Result};
use crate::field::{fr_to_decimal, parse_fr_named, parse_u64, parse_u128};
use crate::poseidon::hash_fixed;
use ark_bn254::Fr;
use serde::{Deserialize, Serialize};

/// The receipt's field names in hash order (index i).
pub const FIELD_NAMES: [&str; 9] = [
    "job_id",
    "client_id",
    "miner_id",
    "units",
    "unit_price",
    "amount",
    "fee",
    "timestamp",
    "salt",
];

/// The index of a field by name, for the fields that may be disclosed
/// (every field but `salt`).
pub fn disclosable_index(name: &str) -> Option<usize> {
    FIELD_NAMES[..8].iter().position(|f| *f == name)
}

/// A receipt with typed fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// A job UUID hashed into Fr.
    pub job_id: Fr,
    /// The client's identity commitment.
    pub client_id: Fr,
    /// The miner's identity commitment.
    pub miner_id: Fr,
    /// Metered units.
    pub units: u64,
    /// Smallest currency unit per unit.
    pub unit_price: u64,
    /// `units * unit_price`.
    pub amount: u128,
    /// The coordinator's fee, at most `amount`.
    pub fee: u64,
    /// Unix seconds.
    pub timestamp: u64,
    /// Random, never disclosed.
    pub salt: Fr,
}

impl Receipt {
    /// The nine fields as field elements, in hash order.
    pub fn fields(&self) -> [Fr; 9] {
        [
            self.job_id,
            self.client_id,
            self.miner_id,
            Fr::from(self.units),
            Fr::from(self.unit_price),
            Fr::from(self.amount),
            Fr::from(self.fee),
            Fr::from(self.timestamp),
            self.salt,
        ]
    }

    /// `receipt_hash = H9(field_0, ..., field_8)`.
    pub fn hash(&self) -> Fr {
        hash_fixed(&self.fields())
    }

    /// Checks the receipt's internal consistency: `amount = units *
    /// unit_price` and `fee <= amount`.
    pub fn check(&self) -> Result<()> {
        let product = u128::from(self.units) * u128::from(self.unit_price);
        if self.amount != product {
            return Err(Error::Unsatisfied(format!(
                "amount != units * unit_price ({} != {} * {})",
                self.amount, self.units, self.unit_price
            )));
        }
        if u128::from(self.fee) > self.amount {
            return Err(Error::Unsatisfied(format!(
                "fee > amount ({} > {})",
                self.fee, self.amount
            )));
        }
        Ok(())
    }
}

/// The JSON form of a receipt: every number a decimal string.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptJson {
    /// See [`Receipt::job_id`].
    pub job_id: String,
    /// See [`Receipt::client_id`].
    pub client_id: String,
    /// See [`Receipt::miner_id`].
    pub miner_id: String,
    /// See [`Receipt::units`].
    pub units: String,
    /// See [`Receipt::unit_price`].
    pub unit_price: String,
    /// See [`Receipt::amount`].
    pub amount: String,
    /// See [`Receipt::fee`].
    pub fee: String,
    /// See [`Receipt::timestamp`].
    pub timestamp: String,
    /// See [`Receipt::salt`].
    pub salt: String,
}

impl TryFrom<&ReceiptJson> for Receipt {
    type Error = Error;
    fn try_from(j: &ReceiptJson) -> Result<Self> {
        Ok(Self {
            job_id: parse_fr_named(&j.job_id, "receipt.job_id")?,
            client_id: parse_fr_named(&j.client_id, "receipt.client_id")?,
            miner_id: parse_fr_named(&j.miner_id, "receipt.miner_id")?,
            units: parse_u64(&j.units, "receipt.units")?,
            unit_price: parse_u64(&j.unit_price, "receipt.unit_price")?,
            amount: parse_u128(&j.amount, "receipt.amount")?,
            fee: parse_u64(&j.fee, "receipt.fee")?,
            timestamp: parse_u64(&j.timestamp, "receipt.timestamp")?,
            salt: parse_fr_named(&j.salt, "receipt.salt")?,
        })
    }
}

impl From<&Receipt> for ReceiptJson {
    fn from(r: &Receipt) -> Self {
        Self {
            job_id: fr_to_decimal(&r.job_id),
            client_id: fr_to_decimal(&r.client_id),
            miner_id: fr_to_decimal(&r.miner_id),
            units: r.units.to_string(),
            unit_price: r.unit_price.to_string(),
            amount: r.amount.to_string(),
            fee: r.fee.to_string(),
            timestamp: r.timestamp.to_string(),
            salt: fr_to_decimal(&r.salt),
        }
    }
}
