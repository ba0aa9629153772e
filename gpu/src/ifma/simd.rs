//! The AVX-512 intrinsics of the lane code: the CPU's, or with the cargo
//! feature `ifma-emulated` portable functions of the same meaning, so that
//! the lane arithmetic and bucket code can be tested on a CPU without
//! AVX-512 IFMA (slowly; never for production).

#[cfg(not(feature = "ifma-emulated"))]
pub(crate) use core::arch::x86_64::{
    __m512i, __mmask8, _MM_HINT_T0, _mm_prefetch, _mm512_add_epi64, _mm512_and_si512,
    _mm512_cmpeq_epi64_mask, _mm512_cmplt_epi64_mask, _mm512_i64gather_epi64,
    _mm512_i64scatter_epi64, _mm512_madd52hi_epu64, _mm512_madd52lo_epu64, _mm512_mask_blend_epi64,
    _mm512_or_si512, _mm512_set_epi64, _mm512_set1_epi64, _mm512_setzero_si512, _mm512_srai_epi64,
    _mm512_srli_epi64, _mm512_storeu_si512, _mm512_sub_epi64,
};

#[cfg(feature = "ifma-emulated")]
pub(crate) use emulated::*;

/// Each function does what Intel's documentation says the intrinsic of the
/// same name does, lane by lane on eight `u64`.
#[cfg(feature = "ifma-emulated")]
#[allow(non_camel_case_types, non_upper_case_globals)]
mod emulated {
    /// Eight 64-bit lanes.
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct __m512i(pub(crate) [u64; 8]);
    /// One bit per lane.
    pub(crate) type __mmask8 = u8;
    pub(crate) const _MM_HINT_T0: i32 = 3;

    fn map(a: __m512i, f: impl Fn(u64) -> u64) -> __m512i {
        __m512i(a.0.map(f))
    }
    fn zip(a: __m512i, b: __m512i, f: impl Fn(u64, u64) -> u64) -> __m512i {
        __m512i(core::array::from_fn(|l| f(a.0[l], b.0[l])))
    }
    fn mask(a: __m512i, b: __m512i, f: impl Fn(u64, u64) -> bool) -> __mmask8 {
        (0..8).fold(0, |m, l| m | (u8::from(f(a.0[l], b.0[l])) << l))
    }
    const LOW52: u64 = (1 << 52) - 1;

    pub(crate) fn _mm512_add_epi64(a: __m512i, b: __m512i) -> __m512i {
        zip(a, b, u64::wrapping_add)
    }
    pub(crate) fn _mm512_sub_epi64(a: __m512i, b: __m512i) -> __m512i {
        zip(a, b, u64::wrapping_sub)
    }
    pub(crate) fn _mm512_and_si512(a: __m512i, b: __m512i) -> __m512i {
        zip(a, b, |x, y| x & y)
    }
    pub(crate) fn _mm512_or_si512(a: __m512i, b: __m512i) -> __m512i {
        zip(a, b, |x, y| x | y)
    }
    pub(crate) fn _mm512_cmpeq_epi64_mask(a: __m512i, b: __m512i) -> __mmask8 {
        mask(a, b, |x, y| x == y)
    }
    pub(crate) fn _mm512_cmplt_epi64_mask(a: __m512i, b: __m512i) -> __mmask8 {
        mask(a, b, |x, y| (x as i64) < (y as i64))
    }
    /// `a + low 52 bits of (b[51:0] c[51:0])`.
    pub(crate) fn _mm512_madd52lo_epu64(a: __m512i, b: __m512i, c: __m512i) -> __m512i {
        __m512i(core::array::from_fn(|l| {
            let p = u128::from(b.0[l] & LOW52) * u128::from(c.0[l] & LOW52);
            a.0[l].wrapping_add(p as u64 & LOW52)
        }))
    }
    /// `a + bits 103:52 of (b[51:0] c[51:0])`.
    pub(crate) fn _mm512_madd52hi_epu64(a: __m512i, b: __m512i, c: __m512i) -> __m512i {
        __m512i(core::array::from_fn(|l| {
            let p = u128::from(b.0[l] & LOW52) * u128::from(c.0[l] & LOW52);
            a.0[l].wrapping_add((p >> 52) as u64)
        }))
    }
    /// Lane `l` from `b` where bit `l` of `k` is set, else from `a`.
    pub(crate) fn _mm512_mask_blend_epi64(k: __mmask8, a: __m512i, b: __m512i) -> __m512i {
        __m512i(core::array::from_fn(|l| {
            if k >> l & 1 == 1 { b.0[l] } else { a.0[l] }
        }))
    }
    pub(crate) fn _mm512_set1_epi64(a: i64) -> __m512i {
        __m512i([a as u64; 8])
    }
    /// Lane 0 is the last argument.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn _mm512_set_epi64(
        e7: i64,
        e6: i64,
        e5: i64,
        e4: i64,
        e3: i64,
        e2: i64,
        e1: i64,
        e0: i64,
    ) -> __m512i {
        __m512i([e0, e1, e2, e3, e4, e5, e6, e7].map(|v| v as u64))
    }
    pub(crate) fn _mm512_setzero_si512() -> __m512i {
        __m512i([0; 8])
    }
    pub(crate) fn _mm512_srai_epi64<const IMM8: u32>(a: __m512i) -> __m512i {
        map(a, |x| ((x as i64) >> IMM8) as u64)
    }
    pub(crate) fn _mm512_srli_epi64<const IMM8: u32>(a: __m512i) -> __m512i {
        map(a, |x| x >> IMM8)
    }
    /// # Safety
    /// `p` is valid for writing 64 bytes.
    pub(crate) unsafe fn _mm512_storeu_si512(p: *mut __m512i, a: __m512i) {
        // SAFETY: by the caller; the write is unaligned.
        unsafe { p.cast::<[u64; 8]>().write_unaligned(a.0) }
    }
    /// Lane `l` reads the `i64` at byte `SCALE * offsets[l]` from `base`.
    ///
    /// # Safety
    /// Every address read is valid.
    pub(crate) unsafe fn _mm512_i64gather_epi64<const SCALE: i32>(
        offsets: __m512i,
        base: *const i64,
    ) -> __m512i {
        __m512i(core::array::from_fn(|l| {
            let at = base
                .cast::<u8>()
                .wrapping_offset(offsets.0[l] as isize * SCALE as isize);
            // SAFETY: by the caller.
            unsafe { at.cast::<i64>().read_unaligned() as u64 }
        }))
    }
    /// Lane `l` writes `v[l]` at byte `SCALE * offsets[l]` from `base`.
    ///
    /// # Safety
    /// Every address written is valid.
    pub(crate) unsafe fn _mm512_i64scatter_epi64<const SCALE: i32>(
        base: *mut i64,
        offsets: __m512i,
        v: __m512i,
    ) {
        for l in 0..8 {
            let at = base
                .cast::<u8>()
                .wrapping_offset(offsets.0[l] as isize * SCALE as isize);
            // SAFETY: by the caller.
            unsafe { at.cast::<i64>().write_unaligned(v.0[l] as i64) }
        }
    }
    /// A hint; nothing to do here.
    ///
    /// # Safety
    /// None needed (the intrinsic's signature is kept).
    pub(crate) unsafe fn _mm_prefetch<const STRATEGY: i32>(_p: *const i8) {}
}
