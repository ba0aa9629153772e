// BN254 G1 bucket accumulation.
//
// Field elements of Fq are four 64-bit limbs, little-endian, in Montgomery
// form with R = 2^256 (the representation arkworks keeps in memory, so
// points go to and from the device without conversion). The host defines
// Q0..Q3 (the modulus), QINV (-Q^-1 mod 2^64) and R0..R3 (R mod Q, the
// Montgomery form of 1) when it builds the program.
//
// One work-item sums the points of one bucket of one window, in Jacobian
// coordinates with mixed additions; the host sums the buckets of each window
// and combines the windows.

typedef struct { ulong l[4]; } fq;
typedef struct { fq x, y; } affine;
typedef struct { fq x, y, z; } jacobian;

__constant ulong Q[4] = { Q0, Q1, Q2, Q3 };

inline fq fq_zero(void) { fq r; r.l[0] = 0; r.l[1] = 0; r.l[2] = 0; r.l[3] = 0; return r; }
inline fq fq_one(void) { fq r; r.l[0] = R0; r.l[1] = R1; r.l[2] = R2; r.l[3] = R3; return r; }

inline bool fq_is_zero(fq a) { return (a.l[0] | a.l[1] | a.l[2] | a.l[3]) == 0; }

inline bool fq_eq(fq a, fq b) {
  return a.l[0] == b.l[0] && a.l[1] == b.l[1] && a.l[2] == b.l[2] && a.l[3] == b.l[3];
}

// a >= Q
inline bool fq_ge_q(fq a) {
  for (int i = 3; i >= 0; i--) {
    if (a.l[i] > Q[i]) return true;
    if (a.l[i] < Q[i]) return false;
  }
  return true;
}

inline fq fq_sub_q(fq a) {
  ulong borrow = 0;
  for (int i = 0; i < 4; i++) {
    ulong d = a.l[i] - Q[i];
    ulong b1 = a.l[i] < Q[i];
    ulong d2 = d - borrow;
    ulong b2 = d < borrow;
    a.l[i] = d2;
    borrow = b1 | b2;
  }
  return a;
}

// Q < 2^254, so a + b never leaves 256 bits.
inline fq fq_add(fq a, fq b) {
  ulong carry = 0;
  fq r;
  for (int i = 0; i < 4; i++) {
    ulong s = a.l[i] + b.l[i];
    ulong c1 = s < a.l[i];
    ulong s2 = s + carry;
    ulong c2 = s2 < s;
    r.l[i] = s2;
    carry = c1 | c2;
  }
  return fq_ge_q(r) ? fq_sub_q(r) : r;
}

inline fq fq_sub(fq a, fq b) {
  ulong borrow = 0;
  fq r;
  for (int i = 0; i < 4; i++) {
    ulong d = a.l[i] - b.l[i];
    ulong b1 = a.l[i] < b.l[i];
    ulong d2 = d - borrow;
    ulong b2 = d < borrow;
    r.l[i] = d2;
    borrow = b1 | b2;
  }
  if (borrow) {
    ulong carry = 0;
    for (int i = 0; i < 4; i++) {
      ulong s = r.l[i] + Q[i];
      ulong c1 = s < r.l[i];
      ulong s2 = s + carry;
      ulong c2 = s2 < s;
      r.l[i] = s2;
      carry = c1 | c2;
    }
  }
  return r;
}

inline fq fq_neg(fq a) { return fq_is_zero(a) ? a : fq_sub(fq_zero(), a); }
inline fq fq_double(fq a) { return fq_add(a, a); }

// Montgomery product a * b / 2^256 mod Q (CIOS).
inline fq fq_mul(fq a, fq b) {
  ulong t[6] = { 0, 0, 0, 0, 0, 0 };
  for (int i = 0; i < 4; i++) {
    ulong c = 0;
    for (int j = 0; j < 4; j++) {
      ulong lo = a.l[j] * b.l[i];
      ulong hi = mul_hi(a.l[j], b.l[i]);
      lo += t[j];
      hi += lo < t[j];
      lo += c;
      hi += lo < c;
      t[j] = lo;
      c = hi;
    }
    t[4] += c;
    t[5] = t[4] < c;
    ulong m = t[0] * QINV;
    ulong lo = m * Q[0];
    ulong hi = mul_hi(m, Q[0]);
    lo += t[0];
    hi += lo < t[0];
    c = hi;
    for (int j = 1; j < 4; j++) {
      lo = m * Q[j];
      hi = mul_hi(m, Q[j]);
      lo += t[j];
      hi += lo < t[j];
      lo += c;
      hi += lo < c;
      t[j - 1] = lo;
      c = hi;
    }
    t[3] = t[4] + c;
    t[4] = t[5] + (t[3] < c);
  }
  fq r;
  r.l[0] = t[0]; r.l[1] = t[1]; r.l[2] = t[2]; r.l[3] = t[3];
  return fq_ge_q(r) ? fq_sub_q(r) : r;
}

inline fq fq_sqr(fq a) { return fq_mul(a, a); }

inline jacobian jac_zero(void) {
  jacobian r; r.x = fq_one(); r.y = fq_one(); r.z = fq_zero(); return r;
}

// dbl-2009-l (a = 0)
inline jacobian jac_double(jacobian p) {
  if (fq_is_zero(p.z)) return p;
  fq a = fq_sqr(p.x);
  fq b = fq_sqr(p.y);
  fq c = fq_sqr(b);
  fq d = fq_double(fq_sub(fq_sub(fq_sqr(fq_add(p.x, b)), a), c));
  fq e = fq_add(fq_double(a), a);
  fq f = fq_sqr(e);
  jacobian r;
  r.x = fq_sub(f, fq_double(d));
  fq c8 = fq_double(fq_double(fq_double(c)));
  r.y = fq_sub(fq_mul(e, fq_sub(d, r.x)), c8);
  r.z = fq_double(fq_mul(p.y, p.z));
  return r;
}

// madd-2007-bl: p + q with q affine, not the identity.
inline jacobian jac_add_affine(jacobian p, affine q) {
  if (fq_is_zero(p.z)) {
    jacobian r; r.x = q.x; r.y = q.y; r.z = fq_one(); return r;
  }
  fq z1z1 = fq_sqr(p.z);
  fq u2 = fq_mul(q.x, z1z1);
  fq s2 = fq_mul(q.y, fq_mul(p.z, z1z1));
  fq h = fq_sub(u2, p.x);
  fq rr = fq_double(fq_sub(s2, p.y));
  if (fq_is_zero(h)) {
    return fq_is_zero(rr) ? jac_double(p) : jac_zero();
  }
  fq hh = fq_sqr(h);
  fq i = fq_double(fq_double(hh));
  fq j = fq_mul(h, i);
  fq v = fq_mul(p.x, i);
  jacobian r;
  r.x = fq_sub(fq_sub(fq_sqr(rr), j), fq_double(v));
  r.y = fq_sub(fq_mul(rr, fq_sub(v, r.x)), fq_double(fq_mul(p.y, j)));
  r.z = fq_sub(fq_sub(fq_sqr(fq_add(p.z, h)), z1z1), hh);
  return r;
}

// bases: 8 limbs per point (x then y). entries: (point << 1) | negate, grouped
// by bucket; offsets[g] .. offsets[g + 1] are bucket g's entries, where
// g = window * buckets_per_window + bucket. out: 12 limbs per bucket (x, y, z).
__kernel void bucket_sum(__global const ulong *bases,
                         __global const uint *entries,
                         __global const uint *offsets,
                         __global ulong *out,
                         uint total_buckets) {
  uint g = get_global_id(0);
  if (g >= total_buckets) return;
  jacobian acc = jac_zero();
  uint end = offsets[g + 1];
  for (uint e = offsets[g]; e < end; e++) {
    uint v = entries[e];
    __global const ulong *p = bases + (ulong)(v >> 1) * 8;
    affine q;
    for (int i = 0; i < 4; i++) { q.x.l[i] = p[i]; q.y.l[i] = p[4 + i]; }
    if (v & 1) q.y = fq_neg(q.y);
    acc = jac_add_affine(acc, q);
  }
  __global ulong *o = out + (ulong)g * 12;
  for (int i = 0; i < 4; i++) {
    o[i] = acc.x.l[i];
    o[4 + i] = acc.y.l[i];
    o[8 + i] = acc.z.l[i];
  }
}
