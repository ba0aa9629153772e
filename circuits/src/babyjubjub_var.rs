//! BabyJubJub in R1CS: the in-circuit twin of [`crate::babyjubjub`].
//!
//! Every sum uses the complete twisted Edwards law (6 constraints for two
//! variable points, 5 for a doubling). Its denominators are non-zero for
//! every pair of points on the curve, so a quotient is a witness `q` with
//! `q * den = num`, unique once the inputs are on the curve. The operations
//! therefore require their inputs to be constrained on the curve: a point
//! from outside goes through [`PointVar::enforce_valid`] (or at least
//! [`PointVar::enforce_on_curve`]) first; points computed from such points
//! stay on it.
//!
//! Scalars are little-endian [`Boolean`]s, already constrained to be bits.
//! The multiplications compute `(sum of b_i * 2^i) * P` for whatever
//! integer the bits spell, so a scalar at or above `l` gives the same point
//! as its residue modulo `l`. Where "the scalar is not 0" matters, check the
//! result instead ([`PointVar::enforce_not_identity`]): `r*P` for `P` of
//! order `l` is the identity exactly when `r = 0 mod l`, which also catches
//! a scalar equal to `l`. [`enforce_scalar_below_l`] is there for a
//! statement that needs the canonical scalar itself.

use crate::babyjubjub::{A, BASE8, D, Point, subgroup_order};
use crate::merkle_var::enforce_nonzero;
use ark_bn254::Fr;
use ark_ff::{AdditiveGroup, Field};
use ark_r1cs_std::{fields::fp::FpVar, prelude::*};
use ark_relations::gr1cs::{ConstraintSystemRef, SynthesisError};
use num_bigint::BigUint;

/// A point whose coordinates are circuit variables (or constants).
#[derive(Clone, Debug)]
pub struct PointVar {
    /// The x coordinate.
    pub x: FpVar<Fr>,
    /// The y coordinate.
    pub y: FpVar<Fr>,
}

/// `num / den` as a witness `q` with one constraint `q * den = num`, or a
/// constant when both are constants. The caller guarantees `den != 0`.
fn quotient(num: &FpVar<Fr>, den: &FpVar<Fr>) -> Result<FpVar<Fr>, SynthesisError> {
    let cs = num.cs().or(den.cs());
    if cs.is_none() {
        let inv = den.value()?.inverse().unwrap_or(Fr::ZERO);
        return Ok(FpVar::Constant(num.value()? * inv));
    }
    let q = FpVar::new_witness(cs, || {
        Ok(num.value()? * den.value()?.inverse().unwrap_or(Fr::ZERO))
    })?;
    q.mul_equals(den, num)?;
    Ok(q)
}

impl PointVar {
    /// A constant point (no variables, no constraints).
    pub fn constant(p: Point) -> Self {
        Self {
            x: FpVar::Constant(p.x),
            y: FpVar::Constant(p.y),
        }
    }

    /// Allocates a point as a witness, unchecked.
    pub fn new_witness(
        cs: ConstraintSystemRef<Fr>,
        p: impl FnOnce() -> Result<Point, SynthesisError>,
    ) -> Result<Self, SynthesisError> {
        let p = p();
        let (px, py) = (p.as_ref().map(|p| p.x), p.as_ref().map(|p| p.y));
        Ok(Self {
            x: FpVar::new_witness(cs.clone(), || px.map_err(|e| *e))?,
            y: FpVar::new_witness(cs, || py.map_err(|e| *e))?,
        })
    }

    /// Allocates a point as two public inputs (x then y), unchecked.
    pub fn new_input(
        cs: ConstraintSystemRef<Fr>,
        p: impl FnOnce() -> Result<Point, SynthesisError>,
    ) -> Result<Self, SynthesisError> {
        let p = p();
        let (px, py) = (p.as_ref().map(|p| p.x), p.as_ref().map(|p| p.y));
        Ok(Self {
            x: FpVar::new_input(cs.clone(), || px.map_err(|e| *e))?,
            y: FpVar::new_input(cs, || py.map_err(|e| *e))?,
        })
    }

    /// The point's value, when assigned.
    pub fn value(&self) -> Result<Point, SynthesisError> {
        Ok(Point {
            x: self.x.value()?,
            y: self.y.value()?,
        })
    }

    /// The complete sum: 6 constraints for two variable points, fewer when
    /// a coordinate is constant.
    pub fn add(&self, other: &Self) -> Result<Self, SynthesisError> {
        let beta = &self.x * &other.y;
        let gamma = &self.y * &other.x;
        let delta = (&self.y - &self.x * A) * (&other.x + &other.y);
        let dtau = &beta * &gamma * D;
        let one = FpVar::Constant(Fr::ONE);
        let x = quotient(&(&beta + &gamma), &(&one + &dtau))?;
        let y = quotient(&(delta + &beta * A - &gamma), &(&one - &dtau))?;
        Ok(Self { x, y })
    }

    /// `2*P`: 5 constraints. `a*x^2 + y^2 = 1 + d*x^2*y^2` on the curve, so
    /// the denominators are those of the complete sum `P + P`.
    pub fn double(&self) -> Result<Self, SynthesisError> {
        let (x, y) = self.double_parts()?;
        Ok(Self {
            x: quotient(&x.0, &x.1)?,
            y: quotient(&y.0, &y.1)?,
        })
    }

    /// The numerators and denominators of `2*P`'s coordinates.
    #[allow(clippy::type_complexity)]
    fn double_parts(
        &self,
    ) -> Result<((FpVar<Fr>, FpVar<Fr>), (FpVar<Fr>, FpVar<Fr>)), SynthesisError> {
        let xx = self.x.square()?;
        let yy = self.y.square()?;
        let xy = &self.x * &self.y;
        let axx = &xx * A;
        let x = (xy.double()?, &axx + &yy);
        let y = (&yy - &axx, FpVar::Constant(Fr::from(2u64)) - &axx - &yy);
        Ok((x, y))
    }

    /// Enforces `self = 2*q` with 5 constraints and no new variables for the
    /// result.
    fn enforce_double_of(&self, q: &Self) -> Result<(), SynthesisError> {
        let (x, y) = q.double_parts()?;
        self.x.mul_equals(&x.1, &x.0)?;
        self.y.mul_equals(&y.1, &y.0)
    }

    /// `bit ? a : b`, one constraint per coordinate.
    pub fn select(bit: &Boolean<Fr>, a: &Self, b: &Self) -> Result<Self, SynthesisError> {
        Ok(Self {
            x: bit.select(&a.x, &b.x)?,
            y: bit.select(&a.y, &b.y)?,
        })
    }

    /// Enforces `a*x^2 + y^2 = 1 + d*x^2*y^2`: 3 constraints.
    pub fn enforce_on_curve(&self) -> Result<(), SynthesisError> {
        let xx = self.x.square()?;
        let yy = self.y.square()?;
        let rhs = &xx * A + &yy - Fr::ONE;
        (&xx * D).mul_equals(&yy, &rhs)
    }

    /// Enforces that the point is in the subgroup of order `l` (and so on
    /// the curve): 18 constraints.
    ///
    /// The prover supplies `Q`, constrained on the curve, and the circuit
    /// checks `self = 8*Q` with complete doublings. This is sound because
    /// the curve has `8*l` points: for any `Q` on it, `l*(8*Q) = (8*l)*Q` is
    /// the identity (the order of a point divides the group's order). And it
    /// is complete: a point `P` of the subgroup is `8*Q` for
    /// `Q = (8^-1 mod l)*P`. (Constraining `Q` on the curve is what makes
    /// this hold: without it the doubling formulas would accept other
    /// field pairs.)
    pub fn enforce_in_subgroup(&self) -> Result<(), SynthesisError> {
        let cs = self.x.cs().or(self.y.cs());
        if cs.is_none() {
            let p = self.value()?;
            return if p.is_on_curve() && p.is_in_subgroup() {
                Ok(())
            } else {
                Err(SynthesisError::Unsatisfiable)
            };
        }
        let q = Self::new_witness(cs, || {
            let inv8 = BigUint::from(8u32).modinv(subgroup_order());
            let inv8 = inv8.ok_or(SynthesisError::Unsatisfiable)?;
            Ok(self.value()?.mul(&inv8))
        })?;
        self.enforce_eight_times(&q)
    }

    /// Enforces `self = 8*q` and that `q` is on the curve (the core of
    /// [`PointVar::enforce_in_subgroup`], with the prover's `q` given).
    pub fn enforce_eight_times(&self, q: &Self) -> Result<(), SynthesisError> {
        q.enforce_on_curve()?;
        let q4 = q.double()?.double()?;
        self.enforce_double_of(&q4)
    }

    /// Enforces that a point of the subgroup is not the identity: 1
    /// constraint, `x != 0`. In a group of odd order the only point with
    /// x = 0 is the identity (`(0, -1)` has order 2).
    pub fn enforce_not_identity(&self) -> Result<(), SynthesisError> {
        enforce_nonzero(&self.x)
    }

    /// The check for a point from outside: in the prime-order subgroup (so
    /// on the curve) and not the identity, 19 constraints. Coordinates in a
    /// circuit are field elements, so they are canonical by construction;
    /// the native readers refuse a coordinate >= r.
    pub fn enforce_valid(&self) -> Result<(), SynthesisError> {
        self.enforce_in_subgroup()?;
        self.enforce_not_identity()
    }

    /// `k*P` for a point constrained on the curve, from the scalar's
    /// little-endian bits: windows of two bits over the table
    /// `(O, P, 2P, 3P)`, two doublings and one complete sum per window,
    /// about 11 constraints per bit.
    pub fn scalar_mul(&self, bits: &[Boolean<Fr>]) -> Result<Self, SynthesisError> {
        let double = self.double()?;
        let table = [
            Self::constant(Point::IDENTITY),
            self.clone(),
            double.clone(),
            double.add(self)?,
        ];
        let mut windows = bits.chunks(2).rev();
        let Some(top) = windows.next() else {
            return Ok(Self::constant(Point::IDENTITY));
        };
        let mut acc = select4(top, &table)?;
        for w in windows {
            acc = acc.double()?.double()?.add(&select4(w, &table)?)?;
        }
        Ok(acc)
    }

    /// `k*Base8` from the scalar's little-endian bits: windows of three bits
    /// over constant tables `(v * 8^j * Base8)_v`, about 3 constraints per
    /// bit.
    pub fn mul_base8(bits: &[Boolean<Fr>]) -> Result<Self, SynthesisError> {
        let mut acc: Option<Self> = None;
        let mut base = BASE8;
        for w in bits.chunks(3) {
            let mut table = [Point::IDENTITY; 8];
            for v in 1..8 {
                table[v] = table[v - 1].add(&base);
            }
            base = table[7].add(&base);
            let sel = select8_const(w, &table)?;
            acc = Some(match acc {
                None => sel,
                Some(a) => a.add(&sel)?,
            });
        }
        Ok(acc.unwrap_or_else(|| Self::constant(Point::IDENTITY)))
    }
}

fn bit(w: &[Boolean<Fr>], i: usize) -> Boolean<Fr> {
    w.get(i).cloned().unwrap_or(Boolean::FALSE)
}

/// The table entry picked by up to two bits, over variable entries:
/// a two-level multiplexer, at most 6 constraints.
fn select4(w: &[Boolean<Fr>], t: &[PointVar; 4]) -> Result<PointVar, SynthesisError> {
    let (b0, b1) = (bit(w, 0), bit(w, 1));
    let lo = PointVar::select(&b0, &t[1], &t[0])?;
    let hi = PointVar::select(&b0, &t[3], &t[2])?;
    PointVar::select(&b1, &hi, &lo)
}

/// The constant table entry picked by up to three bits: the entries for
/// `b2 = 0` and `b2 = 1` are linear in `(1, b0, b1, b0*b1)`, so one product
/// and one multiplexer per coordinate, 3 constraints.
fn select8_const(w: &[Boolean<Fr>], t: &[Point; 8]) -> Result<PointVar, SynthesisError> {
    let (b0, b1, b2) = (bit(w, 0), bit(w, 1), bit(w, 2));
    let f0 = FpVar::from(b0.clone());
    let f1 = FpVar::from(b1.clone());
    let f01 = FpVar::from(b0 & b1);
    let lookup = |c: [Fr; 4]| -> FpVar<Fr> {
        FpVar::Constant(c[0])
            + &f0 * (c[1] - c[0])
            + &f1 * (c[2] - c[0])
            + &f01 * (c[3] - c[2] - c[1] + c[0])
    };
    let coord = |f: fn(&Point) -> Fr| -> Result<FpVar<Fr>, SynthesisError> {
        let lo = lookup([f(&t[0]), f(&t[1]), f(&t[2]), f(&t[3])]);
        let hi = lookup([f(&t[4]), f(&t[5]), f(&t[6]), f(&t[7])]);
        b2.select(&hi, &lo)
    };
    Ok(PointVar {
        x: coord(|p| p.x)?,
        y: coord(|p| p.y)?,
    })
}

/// Enforces that little-endian scalar bits spell an integer below `l`.
pub fn enforce_scalar_below_l(bits: &[Boolean<Fr>]) -> Result<(), SynthesisError> {
    let l_minus_1 = subgroup_order() - 1u32;
    Boolean::enforce_smaller_or_equal_than_le(bits, l_minus_1.to_u64_digits()).map(|_| ())
}
