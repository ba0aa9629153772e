//! circom's constraint system file `.r1cs` (magic `r1cs`, version 1):
//! section 1 the header (field, wire counts, label count, constraint
//! count), section 2 the constraints (three linear combinations each, as
//! `u32` term count then `u32 wire, value` terms), section 3 the wire-to-label
//! map (one `u64` per wire).
//!
//! Wires are numbered as circom does: 0 is the constant one, then the public
//! outputs, the public inputs, the private inputs and the internal signals.
//! arkworks numbers its variables the same way (the constant, the instance
//! variables, then the witness), so our circuits export with the identity
//! map: their public inputs become circom public inputs in `public.json`
//! order.

use crate::binfile::{BinFile, Format, MAX_HEADER_BYTES, Reader, Writer, put_u32, to_u32};
use crate::error::{Error, Result, malformed};
use crate::field::{N8, Prime, check_prime, put_fr, r_bytes, read_fr};
use ark_bn254::Fr;
use ark_ff::Zero;
use ark_relations::gr1cs::{ConstraintSystemRef, R1CS_PREDICATE_LABEL};
use std::path::Path;
use zkr_prover::zkey::{Coeff, Matrix};

const MAGIC: &[u8; 4] = b"r1cs";
const VERSION: u32 = 1;
/// The largest `.r1cs` read from disk.
pub const MAX_FILE_BYTES: u64 = 4 << 30;
const FORMAT: Format = Format {
    magic: MAGIC,
    version: VERSION,
    sections: &[(1, "header"), (2, "constraints"), (3, "wire-to-label")],
    unknown: "is not supported (custom gates are PLONK-only)",
    max_file_bytes: MAX_FILE_BYTES,
};

/// A linear combination: `(wire, coefficient)` terms, each wire at most once,
/// no zero coefficient.
pub type Lc = Vec<(u32, Fr)>;

/// One constraint `a * b = c`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Constraint {
    /// Left factor.
    pub a: Lc,
    /// Right factor.
    pub b: Lc,
    /// Product.
    pub c: Lc,
}

/// A constraint system in circom's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct R1cs {
    /// Number of wires, the constant one included.
    pub n_wires: usize,
    /// Public outputs (wires `1..=n_outputs`).
    pub n_outputs: usize,
    /// Public inputs (after the outputs).
    pub n_pub_inputs: usize,
    /// Private inputs (after the public inputs).
    pub n_prv_inputs: usize,
    /// Number of labels (signals before optimisation).
    pub n_labels: u64,
    /// The constraints.
    pub constraints: Vec<Constraint>,
    /// For each wire, its label.
    pub wire_to_label: Vec<u64>,
}

impl R1cs {
    /// Public signals: outputs and public inputs (`nPublic` in snarkjs).
    pub fn n_public(&self) -> usize {
        self.n_outputs + self.n_pub_inputs
    }

    /// The size of the Groth16 evaluation domain snarkjs picks: the smallest
    /// power of two above the constraints plus one row per public signal and
    /// the constant.
    pub fn domain_size(&self) -> usize {
        (self.constraints.len() + self.n_public() + 1).next_power_of_two()
    }

    /// The A and B matrices as a `.zkey` lists them, with the rows that bind
    /// the constant and the public signals (`A = 1` at row `constraints + i`,
    /// column `i`), sorted by `(constraint, matrix, signal)`.
    pub fn zkey_coeffs(&self) -> Vec<Coeff> {
        let mut out = Vec::new();
        for (row, c) in self.constraints.iter().enumerate() {
            for (matrix, lc) in [(Matrix::A, &c.a), (Matrix::B, &c.b)] {
                out.extend(lc.iter().map(|(signal, value)| Coeff {
                    matrix,
                    constraint: row as u32,
                    signal: *signal,
                    value: *value,
                }));
            }
        }
        let m = self.constraints.len();
        out.extend((0..=self.n_public()).map(|i| Coeff {
            matrix: Matrix::A,
            constraint: (m + i) as u32,
            signal: i as u32,
            value: Fr::from(1u64),
        }));
        sort_coeffs(&mut out);
        out
    }

    /// Whether `w` (circom's wire order) satisfies every constraint.
    pub fn is_satisfied(&self, w: &[Fr]) -> bool {
        let eval = |lc: &Lc| -> Option<Fr> {
            lc.iter()
                .map(|(i, v)| w.get(*i as usize).map(|x| *x * v))
                .sum()
        };
        w.len() == self.n_wires
            && self.constraints.iter().all(|c| {
                matches!((eval(&c.a), eval(&c.b), eval(&c.c)),
                    (Some(a), Some(b), Some(c)) if a * b == c)
            })
    }

    /// The constraint system of a finalized arkworks circuit: instance
    /// variables become public inputs, witness variables private signals.
    pub fn from_constraint_system(cs: &ConstraintSystemRef<Fr>) -> Result<Self> {
        let matrices = cs
            .to_matrices()
            .map_err(|e| Error::Mismatch(format!("constraint system: {e}")))?;
        let m = matrices
            .get(R1CS_PREDICATE_LABEL)
            .filter(|m| m.len() == 3)
            .ok_or_else(|| Error::Mismatch("constraint system: not an R1CS".into()))?;
        let n_inst = cs.num_instance_variables();
        let n_wires = n_inst + cs.num_witness_variables();
        to_u32(n_wires, "wire count")?;
        let lc = |row: &[(Fr, usize)]| -> Lc {
            let mut t: Lc = row.iter().map(|(v, i)| (*i as u32, *v)).collect();
            t.sort_by_key(|(i, _)| *i);
            let mut merged: Lc = Vec::with_capacity(t.len());
            for (i, v) in t {
                match merged.last_mut() {
                    Some((j, w)) if *j == i => *w += v,
                    _ => merged.push((i, v)),
                }
            }
            merged.retain(|(_, v)| !v.is_zero());
            merged
        };
        let constraints = (0..cs.num_constraints())
            .map(|r| Constraint {
                a: lc(&m[0][r]),
                b: lc(&m[1][r]),
                c: lc(&m[2][r]),
            })
            .collect();
        Ok(Self {
            n_wires,
            n_outputs: 0,
            n_pub_inputs: n_inst - 1,
            n_prv_inputs: 0,
            n_labels: n_wires as u64,
            constraints,
            wire_to_label: (0..n_wires as u64).collect(),
        })
    }
}

/// Sorts `.zkey` coefficients by `(constraint, matrix, signal)`, the order
/// in which two lists of the same matrices compare equal.
pub fn sort_coeffs(c: &mut [Coeff]) {
    c.sort_unstable_by_key(|c| (c.constraint, c.matrix, c.signal));
}

fn read_lc(r: &mut Reader<'_>, n_wires: usize, what: &str) -> Result<Lc> {
    let n = r.usize()?;
    // each term takes 36 bytes: a count beyond that is a lie, caught before
    // allocating
    if n > r.remaining() / (4 + N8) {
        return Err(r.err(format!("{what}: {n} terms, more than the section holds")));
    }
    let mut lc = Vec::with_capacity(n);
    for _ in 0..n {
        let wire = r.u32()?;
        if wire as usize >= n_wires {
            return Err(r.err(format!("{what}: wire {wire} >= {n_wires} wires")));
        }
        lc.push((wire, read_fr(r, what)?));
    }
    let mut wires: Vec<u32> = lc.iter().map(|(w, _)| *w).collect();
    wires.sort_unstable();
    if wires.windows(2).any(|p| p[0] == p[1]) {
        return Err(r.err(format!("{what}: a wire appears twice")));
    }
    Ok(lc)
}

/// Reads and validates a `.r1cs` over BN254's scalar field. Custom gates
/// (sections 4 and 5, PLONK only) are refused.
pub fn read(data: &[u8], file: &str) -> Result<R1cs> {
    read_from(&BinFile::parse(data, &FORMAT, file)?)
}

/// [`read`] of the file at `path`, a section at a time: a regular file of
/// at most [`MAX_FILE_BYTES`], whose section sizes are checked against its
/// size and its header before the sections are read.
pub fn read_file(path: &Path) -> Result<R1cs> {
    let file = path.display().to_string();
    read_from(&BinFile::open(path, &FORMAT, &file)?)
}

fn read_from(bin: &BinFile<'_>) -> Result<R1cs> {
    bin.expect_at_most(1, "header", MAX_HEADER_BYTES)?;
    let header = bin.section(1, "header")?;
    let mut h = header.reader();
    check_prime(&mut h, Prime::Scalar)?;
    let n_wires = h.usize()?;
    let n_outputs = h.usize()?;
    let n_pub_inputs = h.usize()?;
    let n_prv_inputs = h.usize()?;
    let n_labels = h.u64()?;
    let n_constraints = h.usize()?;
    h.finish()?;
    let named = n_outputs
        .checked_add(n_pub_inputs)
        .and_then(|x| x.checked_add(n_prv_inputs))
        .and_then(|x| x.checked_add(1));
    if named.is_none_or(|x| x > n_wires) {
        return Err(h.err(format!(
            "{n_wires} wires cannot hold the constant, {n_outputs} outputs, \
             {n_pub_inputs} public and {n_prv_inputs} private inputs"
        )));
    }
    // Both sizes before either section is read.
    bin.expect_len(
        3,
        "wire-to-label",
        Some(n_wires as u64 * 8),
        &format!("{n_wires} wires"),
    )?;
    // three empty combinations (three term counts) is the least a
    // constraint takes
    if (n_constraints as u64) * 12 > bin.len(2, "constraints")? {
        return Err(malformed(
            bin.file(),
            "constraints",
            format!("{n_constraints} constraints, more than the section holds"),
        ));
    }

    let section = bin.section(3, "wire-to-label")?;
    let mut map = section.reader();
    let mut wire_to_label = Vec::with_capacity(n_wires);
    for i in 0..n_wires {
        let l = map.u64()?;
        if l >= n_labels {
            return Err(map.err(format!("wire {i}: label {l} >= {n_labels} labels")));
        }
        wire_to_label.push(l);
    }
    drop(section);

    let section = bin.section(2, "constraints")?;
    let mut c = section.reader();
    let mut constraints = Vec::with_capacity(n_constraints);
    for i in 0..n_constraints {
        let what = format!("constraint {i}");
        constraints.push(Constraint {
            a: read_lc(&mut c, n_wires, &what)?,
            b: read_lc(&mut c, n_wires, &what)?,
            c: read_lc(&mut c, n_wires, &what)?,
        });
    }
    c.finish()?;
    Ok(R1cs {
        n_wires,
        n_outputs,
        n_pub_inputs,
        n_prv_inputs,
        n_labels,
        constraints,
        wire_to_label,
    })
}

/// Writes a `.r1cs`.
pub fn write(r: &R1cs) -> Result<Vec<u8>> {
    let mut h = Vec::new();
    put_u32(&mut h, N8 as u32);
    h.extend_from_slice(&r_bytes());
    for (v, what) in [
        (r.n_wires, "wire count"),
        (r.n_outputs, "output count"),
        (r.n_pub_inputs, "public input count"),
        (r.n_prv_inputs, "private input count"),
    ] {
        put_u32(&mut h, to_u32(v, what)?);
    }
    h.extend_from_slice(&r.n_labels.to_le_bytes());
    put_u32(&mut h, to_u32(r.constraints.len(), "constraint count")?);
    let mut c = Vec::new();
    for k in &r.constraints {
        for lc in [&k.a, &k.b, &k.c] {
            put_u32(&mut c, to_u32(lc.len(), "term count")?);
            for (wire, v) in lc {
                put_u32(&mut c, *wire);
                put_fr(&mut c, v);
            }
        }
    }
    let mut m = Vec::with_capacity(r.wire_to_label.len() * 8);
    for l in &r.wire_to_label {
        m.extend_from_slice(&l.to_le_bytes());
    }
    let mut w = Writer::new(MAGIC, VERSION, 3);
    w.section(1, &h);
    w.section(2, &c);
    w.section(3, &m);
    Ok(w.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> R1cs {
        let one = Fr::from(1u64);
        // out = x * x * x with out public: wires 0 one, 1 out, 2 x, 3 x^2
        R1cs {
            n_wires: 4,
            n_outputs: 1,
            n_pub_inputs: 0,
            n_prv_inputs: 1,
            n_labels: 5,
            constraints: vec![
                Constraint {
                    a: vec![(2, one)],
                    b: vec![(2, one)],
                    c: vec![(3, one)],
                },
                Constraint {
                    a: vec![(3, one)],
                    b: vec![(2, one)],
                    c: vec![(1, one)],
                },
            ],
            wire_to_label: vec![0, 1, 2, 4],
        }
    }

    fn section(b: &[u8]) -> &'static str {
        match read(b, "c.r1cs") {
            Err(Error::Malformed { section, .. }) => section,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn round_trip_and_satisfaction() {
        let r = sample();
        let back = read(&write(&r).unwrap(), "c.r1cs").unwrap();
        assert_eq!(back, r);
        let x = Fr::from(3u64);
        let w = [Fr::from(1u64), x * x * x, x, x * x];
        assert!(r.is_satisfied(&w));
        assert!(!r.is_satisfied(&[w[0], w[1] + w[0], w[2], w[3]]));
        assert_eq!(r.domain_size(), 4);
        assert_eq!(r.zkey_coeffs().len(), 4 + 2);
    }

    #[test]
    fn refuses_malformed() {
        let good = write(&sample()).unwrap();
        for n in 0..good.len() {
            assert!(read(&good[..n], "c.r1cs").is_err());
        }
        let hdr = 12 + 12; // file header, then section 1's id and length
        // another prime: the header check shared with .wtns and .zkey
        let mut b = good.clone();
        b[hdr + 4] ^= 1;
        assert_eq!(section(&b), "header");
        // wire count too small for the named signals
        let mut b = good.clone();
        b[hdr + 36] = 1;
        assert_eq!(section(&b), "header");
        // a constraint that names a wire out of range
        let c0 = hdr + 64 + 12 + 4;
        let mut b = good.clone();
        b[c0] = 9;
        assert_eq!(section(&b), "constraints");
        // a coefficient >= r
        let mut b = good.clone();
        b[c0 + 4..c0 + 36].copy_from_slice(&r_bytes());
        assert_eq!(section(&b), "constraints");
        // a huge term count is caught before any allocation
        let mut b = good.clone();
        b[c0 - 4..c0].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(section(&b), "constraints");
        // a label out of range
        let mut b = good.clone();
        let n = b.len();
        b[n - 8] = 200;
        assert_eq!(section(&b), "wire-to-label");
        // a repeated wire in one combination
        let mut r = sample();
        r.constraints[1].c = vec![(1, Fr::from(1u64)), (1, Fr::from(2u64))];
        assert_eq!(section(&write(&r).unwrap()), "constraints");
    }
}
