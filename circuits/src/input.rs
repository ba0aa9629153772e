//! `input.json`: the prover's inputs for each circuit, every number a decimal
//! string. Reading an input checks the statement natively first, so that an
//! input that cannot be proved is refused with the failed condition named,
//! before any proving work.
//!
//! - range: `{"value","blind","min","max"}`
//! - membership: `{"secret","scope","members":[...]}` or
//!   `{"secret","scope","path_elements":[...],"path_indices":[...]}`
//! - receipt: `{"receipt":{...},"amount_min","amount_max","miners":[...]}`
//!   or the same with `path_elements`/`path_indices` instead of `miners`
//! - disclosure: `{"receipt":{...},"disclose":["amount",...]}`

use crate::circuits::{
    AnyCircuit, CircuitKind, DisclosureCircuit, MembershipCircuit, RangeCircuit, ReceiptCircuit,
};
use crate::error::{Error, Result};
use crate::field::{parse_fr_named, parse_u128};
use crate::merkle::{MerklePath, MerkleTree};
use crate::poseidon::h1;
use crate::receipt::{Receipt, ReceiptJson};
use ark_bn254::Fr;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RangeInput {
    value: String,
    blind: String,
    min: String,
    max: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MembershipInput {
    secret: String,
    scope: String,
    #[serde(default)]
    members: Option<Vec<String>>,
    #[serde(default)]
    path_elements: Option<Vec<String>>,
    #[serde(default)]
    path_indices: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceiptInput {
    receipt: ReceiptJson,
    amount_min: String,
    amount_max: String,
    #[serde(default)]
    miners: Option<Vec<String>>,
    #[serde(default)]
    path_elements: Option<Vec<String>>,
    #[serde(default)]
    path_indices: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DisclosureInput {
    receipt: ReceiptJson,
    disclose: Vec<String>,
}

fn parse_json<'a, T: Deserialize<'a>>(json: &'a str) -> Result<T> {
    serde_json::from_str(json).map_err(|e| Error::Input(e.to_string()))
}

/// Reads `input.json` for `kind` at registry depth `depth` (ignored by
/// circuits without a registry) and builds the circuit with its witness.
pub fn circuit_from_json(kind: CircuitKind, depth: usize, json: &str) -> Result<AnyCircuit> {
    Ok(match kind {
        CircuitKind::Range => {
            let i: RangeInput = parse_json(json)?;
            AnyCircuit::Range(RangeCircuit::new(
                parse_u128(&i.value, "value")?,
                parse_fr_named(&i.blind, "blind")?,
                parse_u128(&i.min, "min")?,
                parse_u128(&i.max, "max")?,
            )?)
        }
        CircuitKind::Membership => {
            let i: MembershipInput = parse_json(json)?;
            let secret = parse_fr_named(&i.secret, "secret")?;
            let scope = parse_fr_named(&i.scope, "scope")?;
            let path = path_for(
                depth,
                h1(secret),
                "H1(secret)",
                "members",
                i.members,
                i.path_elements,
                i.path_indices,
            )?;
            AnyCircuit::Membership(MembershipCircuit::new(secret, scope, &path)?)
        }
        CircuitKind::Receipt => {
            let i: ReceiptInput = parse_json(json)?;
            let receipt = Receipt::try_from(&i.receipt)?;
            let amount_min = parse_u128(&i.amount_min, "amount_min")?;
            let amount_max = parse_u128(&i.amount_max, "amount_max")?;
            let path = path_for(
                depth,
                receipt.miner_id,
                "receipt.miner_id",
                "miners",
                i.miners,
                i.path_elements,
                i.path_indices,
            )?;
            AnyCircuit::Receipt(ReceiptCircuit::new(
                &receipt, amount_min, amount_max, &path,
            )?)
        }
        CircuitKind::Disclosure => {
            let i: DisclosureInput = parse_json(json)?;
            let receipt = Receipt::try_from(&i.receipt)?;
            AnyCircuit::Disclosure(DisclosureCircuit::new(&receipt, &i.disclose)?)
        }
    })
}

/// The path of `leaf`, either from a member list (the tree is built here) or
/// given explicitly.
fn path_for(
    depth: usize,
    leaf: Fr,
    leaf_name: &str,
    list_name: &str,
    members: Option<Vec<String>>,
    elements: Option<Vec<String>>,
    indices: Option<Vec<String>>,
) -> Result<MerklePath> {
    if leaf == Fr::from(0u64) {
        return Err(Error::InvalidValue {
            field: leaf_name.into(),
            reason: "is 0, the empty leaf; identities are non-zero".into(),
        });
    }
    match (members, elements, indices) {
        (Some(members), None, None) => {
            let capacity = MerkleTree::new(depth)?.capacity();
            if members.len() as u128 > u128::from(capacity) {
                return Err(Error::Input(format!(
                    "{list_name}: {} members do not fit a tree of depth {depth}",
                    members.len()
                )));
            }
            let mut leaves = Vec::with_capacity(members.len());
            for (k, m) in members.iter().enumerate() {
                let member = parse_fr_named(m, &format!("{list_name}[{k}]"))?;
                if member == Fr::from(0u64) {
                    return Err(Error::InvalidValue {
                        field: format!("{list_name}[{k}]"),
                        reason: "is 0, the empty leaf; identities are non-zero".into(),
                    });
                }
                leaves.push(member);
            }
            let tree = MerkleTree::from_leaves(depth, &leaves)?;
            let index = tree
                .index_of(&leaf)
                .ok_or_else(|| Error::Unsatisfied(format!("{leaf_name} is not in {list_name}")))?;
            tree.path(index)
        }
        (None, Some(elements), Some(indices)) => {
            if elements.len() != depth || indices.len() != depth {
                return Err(Error::Input(format!(
                    "path_elements and path_indices must have {depth} entries (the keys' depth), got {} and {}",
                    elements.len(),
                    indices.len()
                )));
            }
            let elements = elements
                .iter()
                .enumerate()
                .map(|(k, e)| parse_fr_named(e, &format!("path_elements[{k}]")))
                .collect::<Result<Vec<_>>>()?;
            let indices = indices
                .iter()
                .enumerate()
                .map(|(k, b)| match b.as_str() {
                    "0" => Ok(false),
                    "1" => Ok(true),
                    _ => Err(Error::InvalidValue {
                        field: format!("path_indices[{k}]"),
                        reason: "must be \"0\" or \"1\"".into(),
                    }),
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(MerklePath { elements, indices })
        }
        _ => Err(Error::Input(format!(
            "give either {list_name} or both path_elements and path_indices"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::fr_to_decimal;

    fn receipt_json(miner_id: &str, miners: &str) -> String {
        format!(
            r#"{{"receipt":{{"job_id":"1","client_id":"2","miner_id":"{miner_id}","units":"4","unit_price":"5","amount":"20","fee":"1","timestamp":"6","salt":"7"}},"amount_min":"1","amount_max":"100","miners":{miners}}}"#
        )
    }

    #[test]
    fn a_zero_identity_is_refused_by_name() {
        let e = circuit_from_json(CircuitKind::Receipt, 4, &receipt_json("0", r#"["5"]"#))
            .err()
            .unwrap();
        assert!(
            e.to_string()
                .contains("receipt.miner_id: is 0, the empty leaf"),
            "{e}"
        );
        let e = circuit_from_json(CircuitKind::Receipt, 4, &receipt_json("5", r#"["5","0"]"#))
            .err()
            .unwrap();
        assert!(e.to_string().contains("miners[1]: is 0"), "{e}");
        // An explicit path to an empty slot does not help a zero miner_id.
        let zeros: Vec<String> = crate::merkle::zeros(4)[..4]
            .iter()
            .map(fr_to_decimal)
            .collect();
        let explicit = format!(
            r#"{{"receipt":{{"job_id":"1","client_id":"2","miner_id":"0","units":"4","unit_price":"5","amount":"20","fee":"1","timestamp":"6","salt":"7"}},"amount_min":"1","amount_max":"100","path_elements":{},"path_indices":["0","0","0","0"]}}"#,
            serde_json::to_string(&zeros).unwrap()
        );
        let e = circuit_from_json(CircuitKind::Receipt, 4, &explicit)
            .err()
            .unwrap();
        assert!(e.to_string().contains("is 0"), "{e}");
        let e = circuit_from_json(
            CircuitKind::Membership,
            4,
            r#"{"secret":"3","scope":"1","members":["0"]}"#,
        )
        .err()
        .unwrap();
        assert!(e.to_string().contains("members[0]: is 0"), "{e}");
        // A non-zero miner in the list is accepted.
        assert!(circuit_from_json(CircuitKind::Receipt, 4, &receipt_json("5", r#"["5"]"#)).is_ok());
    }
}
