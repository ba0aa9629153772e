//! The four statements of DESIGN §5, and one enum over them so that setup,
//! proving and verification can be driven by the circuit's name.

pub mod disclosure;
pub mod membership;
pub mod range;
pub mod receipt;

pub use disclosure::DisclosureCircuit;
pub use membership::MembershipCircuit;
pub use range::RangeCircuit;
pub use receipt::ReceiptCircuit;

use crate::error::{Error, Result};
use ark_bn254::Fr;
use ark_relations::gr1cs::{
    ConstraintSynthesizer, ConstraintSystem, ConstraintSystemRef, SynthesisError,
};

/// The default registry depth (DESIGN §3).
pub const DEFAULT_DEPTH: usize = 20;

/// Which statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CircuitKind {
    /// `range`.
    Range,
    /// `membership(D)`.
    Membership,
    /// `receipt(D)`.
    Receipt,
    /// `disclosure`.
    Disclosure,
}

impl CircuitKind {
    /// All circuits.
    pub const ALL: [CircuitKind; 4] = [
        Self::Range,
        Self::Membership,
        Self::Receipt,
        Self::Disclosure,
    ];

    /// The circuit's name as used on the command line and in `circuit.json`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Range => "range",
            Self::Membership => "membership",
            Self::Receipt => "receipt",
            Self::Disclosure => "disclosure",
        }
    }

    /// Parses a circuit name.
    pub fn from_name(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| {
                Error::Input(format!(
                    "unknown circuit {name:?}; expected range, membership, receipt or disclosure"
                ))
            })
    }

    /// Whether the circuit has a registry depth parameter.
    pub fn has_depth(self) -> bool {
        matches!(self, Self::Membership | Self::Receipt)
    }

    /// The public inputs' names, in `public.json` order.
    pub fn public_input_names(self) -> Vec<&'static str> {
        match self {
            Self::Range => range::PUBLIC_INPUTS.to_vec(),
            Self::Membership => membership::PUBLIC_INPUTS.to_vec(),
            Self::Receipt => receipt::PUBLIC_INPUTS.to_vec(),
            Self::Disclosure => disclosure::PUBLIC_INPUTS.to_vec(),
        }
    }

    /// The index in `public.json` of the registry root the circuit proves
    /// membership against: `root` of `membership`, `registry_root` of
    /// `receipt`; `None` for the circuits without a registry.
    pub fn registry_root_input(self) -> Option<usize> {
        match self {
            Self::Membership => Some(0),
            Self::Receipt => Some(1),
            Self::Range | Self::Disclosure => None,
        }
    }

    /// A circuit with placeholder values, of the right shape for setup.
    pub fn blank(self, depth: usize) -> Result<AnyCircuit> {
        Ok(match self {
            Self::Range => AnyCircuit::Range(RangeCircuit::blank()),
            Self::Membership => {
                AnyCircuit::Membership(MembershipCircuit::blank(check_depth(depth)?))
            }
            Self::Receipt => AnyCircuit::Receipt(ReceiptCircuit::blank(check_depth(depth)?)),
            Self::Disclosure => AnyCircuit::Disclosure(DisclosureCircuit::blank()),
        })
    }
}

fn check_depth(depth: usize) -> Result<usize> {
    if depth == 0 || depth > crate::merkle::MAX_DEPTH {
        return Err(Error::Input(format!(
            "depth {depth} not in 1..={}",
            crate::merkle::MAX_DEPTH
        )));
    }
    Ok(depth)
}

/// Any of the four circuits, with its witness.
#[derive(Clone, Debug)]
pub enum AnyCircuit {
    /// See [`RangeCircuit`].
    Range(RangeCircuit),
    /// See [`MembershipCircuit`].
    Membership(MembershipCircuit),
    /// See [`ReceiptCircuit`].
    Receipt(ReceiptCircuit),
    /// See [`DisclosureCircuit`].
    Disclosure(DisclosureCircuit),
}

impl AnyCircuit {
    /// Which circuit this is.
    pub fn kind(&self) -> CircuitKind {
        match self {
            Self::Range(_) => CircuitKind::Range,
            Self::Membership(_) => CircuitKind::Membership,
            Self::Receipt(_) => CircuitKind::Receipt,
            Self::Disclosure(_) => CircuitKind::Disclosure,
        }
    }

    /// The registry depth, for the circuits that have one.
    pub fn depth(&self) -> Option<usize> {
        match self {
            Self::Membership(c) => Some(c.depth),
            Self::Receipt(c) => Some(c.depth),
            _ => None,
        }
    }

    /// The public inputs in `public.json` order.
    pub fn public_inputs(&self) -> Vec<Fr> {
        match self {
            Self::Range(c) => c.public_inputs(),
            Self::Membership(c) => c.public_inputs(),
            Self::Receipt(c) => c.public_inputs(),
            Self::Disclosure(c) => c.public_inputs(),
        }
    }

    /// Synthesizes the circuit into a fresh constraint system and reports
    /// whether the witness satisfies it, and the number of constraints.
    pub fn check(&self) -> Result<(bool, usize)> {
        let cs = ConstraintSystem::<Fr>::new_ref();
        self.clone().generate_constraints(cs.clone())?;
        cs.finalize();
        Ok((cs.is_satisfied()?, cs.num_constraints()))
    }

    /// The number of constraints (synthesized in setup mode).
    pub fn num_constraints(&self) -> Result<usize> {
        let cs = ConstraintSystem::<Fr>::new_ref();
        cs.set_mode(ark_relations::gr1cs::SynthesisMode::Setup);
        self.clone().generate_constraints(cs.clone())?;
        cs.finalize();
        Ok(cs.num_constraints())
    }
}

impl ConstraintSynthesizer<Fr> for AnyCircuit {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        match self {
            Self::Range(c) => c.generate_constraints(cs),
            Self::Membership(c) => c.generate_constraints(cs),
            Self::Receipt(c) => c.generate_constraints(cs),
            Self::Disclosure(c) => c.generate_constraints(cs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_root_input_names_the_root() {
        for kind in CircuitKind::ALL {
            let names = kind.public_input_names();
            match kind.registry_root_input() {
                Some(i) => assert!(names[i].ends_with("root"), "{}", kind.name()),
                None => assert!(!names.iter().any(|n| n.contains("root"))),
            }
            assert_eq!(kind.registry_root_input().is_some(), kind.has_depth());
        }
    }
}
