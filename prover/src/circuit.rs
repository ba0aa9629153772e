//! A synthetic circuit of chosen size, for tests and benchmarks: a chain of
//! squarings mixed with boolean checks, so that the witness has the small
//! scalars (0 and 1) that real circuits are full of, plus one variable that
//! no constraint uses (identity points in the proving key's queries).

use ark_bn254::Fr;
use ark_ff::Field;
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystemRef, SynthesisError, Variable};
use ark_relations::lc;

/// `steps` constraints: every fourth one checks that a bit is boolean, the
/// others square the previous link of the chain; the last link is the one
/// public input.
#[derive(Clone, Debug)]
pub struct MulChain {
    /// The start of the chain; `None` during key generation.
    pub start: Option<Fr>,
    /// Number of constraints, besides the final equality.
    pub steps: usize,
}

impl MulChain {
    /// The public output of the chain that starts at `start`.
    pub fn output(start: Fr, steps: usize) -> Fr {
        (0..steps)
            .filter(|i| i % 4 != 0)
            .fold(start, |x, _| x.square())
    }
}

impl ConstraintSynthesizer<Fr> for MulChain {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        let out_value = self.start.map(|s| Self::output(s, self.steps));
        let out = cs.new_input_variable(|| out_value.ok_or(SynthesisError::AssignmentMissing))?;
        let mut value = self.start;
        let mut x = cs.new_witness_variable(|| value.ok_or(SynthesisError::AssignmentMissing))?;
        // Unused by every constraint.
        let _unused = cs.new_witness_variable(|| Ok(Fr::from(7u64)))?;
        for i in 0..self.steps {
            if i % 4 == 0 {
                let bit = Fr::from(((i / 4) % 2) as u64);
                let b = cs.new_witness_variable(|| Ok(bit))?;
                cs.enforce_r1cs_constraint(|| lc![b], || lc![b], || lc![b])?;
            } else {
                value = value.map(|v| v.square());
                let y =
                    cs.new_witness_variable(|| value.ok_or(SynthesisError::AssignmentMissing))?;
                cs.enforce_r1cs_constraint(|| lc![x], || lc![x], || lc![y])?;
                x = y;
            }
        }
        cs.enforce_r1cs_constraint(|| lc![x], || lc![Variable::One], || lc![out])?;
        Ok(())
    }
}
