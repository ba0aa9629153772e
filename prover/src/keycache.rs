//! Proving keys checked once, then loaded fast.
//!
//! Reading a key from outside means checking every point (on the curve, in
//! the subgroup), which for a compressed key also means a square root per
//! point: most of the time of a small proof. A key that passed that check is
//! written once more in a fast form (points as the in-memory Montgomery
//! limbs, nothing to recompute or check), together with the SHA-256 of the
//! source file it was checked from and the SHA-256 of the fast form's bytes.
//! The fast form is used only when both hashes match: the source file is
//! byte for byte the one that was checked, and the fast form is byte for
//! byte what the check wrote. Anything else (no cache, a changed source, a
//! damaged or foreign cache) means the full check again, and a new cache.
//!
//! The cache can never make a load fail: a cache that cannot be read or
//! written is reported in [`Loaded`] and otherwise ignored.

use crate::zkey::{Coeff, Matrix, ZkeyProvingKey};
use ark_bn254::{Bn254, Fq, Fq2, Fr, G1Affine, G2Affine};
use ark_ec::AffineRepr;
use ark_ff::{BigInt, Zero};
use ark_groth16::{ProvingKey, VerifyingKey};
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use subtle::ConstantTimeEq;

const MAGIC: &[u8; 8] = b"zkrfast1";
const HEADER: usize = 8 + 8 + 32 + 32;
/// The largest fast form read for a short source (an id rather than a key
/// file).
const MAX_UNSIZED_FAST: u64 = 4 << 30;

/// How a key was loaded.
#[derive(Debug)]
pub enum Loaded {
    /// From the fast form: the source's hash matched the recorded one.
    Fast,
    /// Fully checked from the source; `cache` says whether the fast form
    /// was written for next time (`Err` with the reason if not).
    Checked {
        /// The fast form's path, or why it could not be written.
        cache: Result<PathBuf, String>,
    },
}

/// A key with a fast form.
pub trait FastForm: Sized {
    /// Eight bytes naming the key type, so that one type's cache is never
    /// read as another's.
    const KIND: &'static [u8; 8];
    /// Appends the fast form.
    fn encode(&self, out: &mut Vec<u8>);
    /// Reads the fast form (only ever bytes that [`FastForm::encode`] wrote
    /// for a checked key: the hashes say so). `None` if they are malformed.
    fn decode(r: &mut Reader<'_>) -> Option<Self>;
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The key in `source` (the bytes of the file that `check` reads and fully
/// validates), from the fast form at `cache` if that was written by a check
/// of exactly these bytes; otherwise from `check`, after which the fast
/// form is written to `cache` (through a temporary file and a rename).
pub fn load_or_check<K, E>(
    source: &[u8],
    cache: &Path,
    check: impl FnOnce(&[u8]) -> Result<K, E>,
) -> Result<(K, Loaded), E>
where
    K: FastForm,
{
    // The two hashes at once: they are most of a fast load.
    let (source_hash, cached) = rayon::join(
        || {
            let _span = tracing::debug_span!("key_source_sha256").entered();
            sha256(source)
        },
        || read_cache_file(source.len(), cache),
    );
    if let Some(k) = cached.and_then(|c| decode_fast::<K>(&c, &source_hash)) {
        return Ok((k, Loaded::Fast));
    }
    let key = {
        let _span = tracing::debug_span!("key_check").entered();
        check(source)?
    };
    let cache = write_fast(&key, &source_hash, cache);
    Ok((key, Loaded::Checked { cache }))
}

/// A cache file's bytes and the SHA-256 of its payload.
struct CacheFile {
    bytes: Vec<u8>,
    payload_hash: [u8; 32],
}

fn read_cache_file(source_len: usize, path: &Path) -> Option<CacheFile> {
    let _span = tracing::debug_span!("key_fast_read").entered();
    // A fast form of a key is at most about twice its source (compressed
    // points become two coordinates); matrices are named by a short id.
    // Anything larger than both bounds is not ours.
    let limit = (source_len as u64).saturating_mul(3).max(MAX_UNSIZED_FAST);
    if std::fs::metadata(path).ok()?.len() > limit {
        return None;
    }
    let bytes = std::fs::read(path).ok()?;
    let payload_hash = sha256(bytes.get(HEADER..)?);
    Some(CacheFile {
        bytes,
        payload_hash,
    })
}

fn decode_fast<K: FastForm>(c: &CacheFile, source_hash: &[u8; 32]) -> Option<K> {
    let _span = tracing::debug_span!("key_fast_decode").entered();
    let (head, payload) = c.bytes.split_at_checked(HEADER)?;
    let (magic, rest) = head.split_at(8);
    let (kind, rest) = rest.split_at(8);
    let (recorded_source, recorded_payload) = rest.split_at(32);
    let same = magic.ct_eq(MAGIC)
        & kind.ct_eq(K::KIND)
        & recorded_source.ct_eq(source_hash)
        & recorded_payload.ct_eq(&c.payload_hash);
    if !bool::from(same) {
        return None;
    }
    let mut r = Reader { b: payload };
    let k = K::decode(&mut r)?;
    r.b.is_empty().then_some(k)
}

fn write_fast<K: FastForm>(
    key: &K,
    source_hash: &[u8; 32],
    path: &Path,
) -> Result<PathBuf, String> {
    let _span = tracing::debug_span!("key_fast_write").entered();
    let mut payload = Vec::new();
    key.encode(&mut payload);
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(K::KIND);
    out.extend_from_slice(source_hash);
    out.extend_from_slice(&sha256(&payload));
    out.extend_from_slice(&payload);
    drop(payload);
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    write_private(&tmp, &out)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map(|()| path.to_path_buf())
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("{}: {e}", path.display())
        })
}

/// Writes a new file readable by its owner only, as the key directories
/// of the service are.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Reads a fast form; every read is bounds-checked.
#[derive(Debug)]
pub struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.b.split_at_checked(n)?;
        self.b = rest;
        Some(head)
    }

    pub(crate) fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    pub(crate) fn len(&mut self, item_bytes: usize) -> Option<usize> {
        let n = usize::try_from(self.u64()?).ok()?;
        // Never allocate for more items than the bytes left can hold.
        (n.checked_mul(item_bytes)? <= self.b.len()).then_some(n)
    }

    pub(crate) fn limbs(b: &[u8]) -> BigInt<4> {
        let mut l = [0u64; 4];
        for (x, c) in l.iter_mut().zip(b.chunks_exact(8)) {
            *x = u64::from_le_bytes(c.try_into().unwrap_or_default());
        }
        BigInt(l)
    }

    fn fq(b: &[u8]) -> Fq {
        Fq::new_unchecked(Self::limbs(b))
    }

    fn g1_from(b: &[u8]) -> G1Affine {
        let (x, y) = (Self::fq(&b[..32]), Self::fq(&b[32..64]));
        if x.is_zero() && y.is_zero() {
            G1Affine::zero()
        } else {
            G1Affine::new_unchecked(x, y)
        }
    }

    fn g2_from(b: &[u8]) -> G2Affine {
        let x = Fq2::new(Self::fq(&b[..32]), Self::fq(&b[32..64]));
        let y = Fq2::new(Self::fq(&b[64..96]), Self::fq(&b[96..128]));
        if x.is_zero() && y.is_zero() {
            G2Affine::zero()
        } else {
            G2Affine::new_unchecked(x, y)
        }
    }

    fn g1(&mut self) -> Option<G1Affine> {
        Some(Self::g1_from(self.take(64)?))
    }

    fn g2(&mut self) -> Option<G2Affine> {
        Some(Self::g2_from(self.take(128)?))
    }

    fn g1s(&mut self) -> Option<Vec<G1Affine>> {
        let n = self.len(64)?;
        Some(
            self.take(n * 64)?
                .par_chunks_exact(64)
                .map(Self::g1_from)
                .collect(),
        )
    }

    fn g2s(&mut self) -> Option<Vec<G2Affine>> {
        let n = self.len(128)?;
        Some(
            self.take(n * 128)?
                .par_chunks_exact(128)
                .map(Self::g2_from)
                .collect(),
        )
    }
}

fn put_fq(out: &mut Vec<u8>, x: &Fq) {
    // The Montgomery form as held in memory: read back without a
    // multiplication.
    for l in x.0.0 {
        out.extend_from_slice(&l.to_le_bytes());
    }
}

fn put_g1(out: &mut Vec<u8>, p: &G1Affine) {
    // The identity as (0, 0), which is not on the curve.
    let (x, y) = p.xy().unwrap_or_default();
    put_fq(out, &x);
    put_fq(out, &y);
}

fn put_g2(out: &mut Vec<u8>, p: &G2Affine) {
    let (x, y) = p.xy().unwrap_or_default();
    for c in [x.c0, x.c1, y.c0, y.c1] {
        put_fq(out, &c);
    }
}

pub(crate) fn put_len(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n as u64).to_le_bytes());
}

fn put_g1s(out: &mut Vec<u8>, ps: &[G1Affine]) {
    put_len(out, ps.len());
    out.reserve(ps.len() * 64);
    ps.iter().for_each(|p| put_g1(out, p));
}

fn put_g2s(out: &mut Vec<u8>, ps: &[G2Affine]) {
    put_len(out, ps.len());
    out.reserve(ps.len() * 128);
    ps.iter().for_each(|p| put_g2(out, p));
}

impl FastForm for ProvingKey<Bn254> {
    const KIND: &'static [u8; 8] = b"groth16\0";

    fn encode(&self, out: &mut Vec<u8>) {
        put_g1(out, &self.vk.alpha_g1);
        put_g2(out, &self.vk.beta_g2);
        put_g2(out, &self.vk.gamma_g2);
        put_g2(out, &self.vk.delta_g2);
        put_g1s(out, &self.vk.gamma_abc_g1);
        put_g1(out, &self.beta_g1);
        put_g1(out, &self.delta_g1);
        put_g1s(out, &self.a_query);
        put_g1s(out, &self.b_g1_query);
        put_g2s(out, &self.b_g2_query);
        put_g1s(out, &self.h_query);
        put_g1s(out, &self.l_query);
    }

    fn decode(r: &mut Reader<'_>) -> Option<Self> {
        let vk = VerifyingKey {
            alpha_g1: r.g1()?,
            beta_g2: r.g2()?,
            gamma_g2: r.g2()?,
            delta_g2: r.g2()?,
            gamma_abc_g1: r.g1s()?,
        };
        Some(ProvingKey {
            vk,
            beta_g1: r.g1()?,
            delta_g1: r.g1()?,
            a_query: r.g1s()?,
            b_g1_query: r.g1s()?,
            b_g2_query: r.g2s()?,
            h_query: r.g1s()?,
            l_query: r.g1s()?,
        })
    }
}

const COEFF_BYTES: usize = 1 + 4 + 4 + 32;

impl FastForm for ZkeyProvingKey {
    const KIND: &'static [u8; 8] = b"zkey\0\0\0\0";

    fn encode(&self, out: &mut Vec<u8>) {
        put_len(out, self.n_public);
        put_len(out, self.domain_size);
        put_g1(out, &self.alpha_g1);
        put_g1(out, &self.beta_g1);
        put_g2(out, &self.beta_g2);
        put_g2(out, &self.gamma_g2);
        put_g1(out, &self.delta_g1);
        put_g2(out, &self.delta_g2);
        put_g1s(out, &self.ic);
        put_len(out, self.coeffs.len());
        out.reserve(self.coeffs.len() * COEFF_BYTES);
        for c in &self.coeffs {
            out.push(matches!(c.matrix, Matrix::B) as u8);
            out.extend_from_slice(&c.constraint.to_le_bytes());
            out.extend_from_slice(&c.signal.to_le_bytes());
            for l in c.value.0.0 {
                out.extend_from_slice(&l.to_le_bytes());
            }
        }
        put_g1s(out, &self.a);
        put_g1s(out, &self.b1);
        put_g2s(out, &self.b2);
        put_g1s(out, &self.c);
        put_g1s(out, &self.h);
    }

    fn decode(r: &mut Reader<'_>) -> Option<Self> {
        let n_public = usize::try_from(r.u64()?).ok()?;
        let domain_size = usize::try_from(r.u64()?).ok()?;
        let alpha_g1 = r.g1()?;
        let beta_g1 = r.g1()?;
        let beta_g2 = r.g2()?;
        let gamma_g2 = r.g2()?;
        let delta_g1 = r.g1()?;
        let delta_g2 = r.g2()?;
        let ic = r.g1s()?;
        let n = r.len(COEFF_BYTES)?;
        let coeffs = r
            .take(n * COEFF_BYTES)?
            .par_chunks_exact(COEFF_BYTES)
            .map(|c| {
                let matrix = match c[0] {
                    0 => Matrix::A,
                    1 => Matrix::B,
                    _ => return None,
                };
                Some(Coeff {
                    matrix,
                    constraint: u32::from_le_bytes(c[1..5].try_into().ok()?),
                    signal: u32::from_le_bytes(c[5..9].try_into().ok()?),
                    value: Fr::new_unchecked(Reader::limbs(&c[9..41])),
                })
            })
            .collect::<Option<Vec<_>>>()?;
        let key = ZkeyProvingKey {
            n_public,
            domain_size,
            alpha_g1,
            beta_g1,
            beta_g2,
            gamma_g2,
            delta_g1,
            delta_g2,
            ic,
            coeffs,
            a: r.g1s()?,
            b1: r.g1s()?,
            b2: r.g2s()?,
            c: r.g1s()?,
            h: r.g1s()?,
        };
        // The prover indexes by these; a shape check costs nothing.
        key.check().ok().map(|()| key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::circuit::MulChain;
    use ark_groth16::Groth16;
    use ark_std::rand::{SeedableRng, rngs::StdRng};

    fn key() -> ProvingKey<Bn254> {
        let mut rng = StdRng::seed_from_u64(41);
        Groth16::<Bn254>::generate_random_parameters_with_reduction(
            MulChain {
                start: None,
                steps: 40,
            },
            &mut rng,
        )
        .unwrap()
    }

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("zkr-keycache-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// Stands in for a checking reader: the source is the key's encoding
    /// behind a marker, so that tests can count checks and change sources.
    fn checker(
        pk: &ProvingKey<Bn254>,
        calls: &std::cell::Cell<usize>,
    ) -> impl Fn(&[u8]) -> Result<ProvingKey<Bn254>, String> {
        move |src: &[u8]| {
            calls.set(calls.get() + 1);
            if src.starts_with(b"good") {
                Ok(pk.clone())
            } else {
                Err("refused by the check".into())
            }
        }
    }

    #[test]
    fn checks_once_then_loads_the_same_key_fast() {
        let pk = key();
        let d = dir("once");
        let cache = d.join("pk.fast");
        let calls = std::cell::Cell::new(0);
        let (k1, how) = load_or_check(b"good key 1", &cache, checker(&pk, &calls)).unwrap();
        assert!(matches!(how, Loaded::Checked { cache: Ok(_) }), "{how:?}");
        assert_eq!(k1, pk);
        let (k2, how) = load_or_check(b"good key 1", &cache, checker(&pk, &calls)).unwrap();
        assert!(matches!(how, Loaded::Fast), "{how:?}");
        assert_eq!(k2, pk);
        assert_eq!(calls.get(), 1);
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn a_changed_source_is_checked_again() {
        let pk = key();
        let d = dir("changed");
        let cache = d.join("pk.fast");
        let calls = std::cell::Cell::new(0);
        load_or_check(b"good key 1", &cache, checker(&pk, &calls)).unwrap();
        // Another source, even one the check refuses, never gets the cache.
        let refused = load_or_check(b"bad key", &cache, checker(&pk, &calls));
        assert_eq!(refused.unwrap_err(), "refused by the check");
        let (_, how) = load_or_check(b"good key 2", &cache, checker(&pk, &calls)).unwrap();
        assert!(matches!(how, Loaded::Checked { .. }));
        assert_eq!(calls.get(), 3);
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn a_damaged_cache_is_never_used() {
        let pk = key();
        let d = dir("damaged");
        let cache = d.join("pk.fast");
        let calls = std::cell::Cell::new(0);
        load_or_check(b"good key", &cache, checker(&pk, &calls)).unwrap();
        let good = std::fs::read(&cache).unwrap();
        // A flipped bit in the header or in any point, or a truncated file.
        for at in [0, 20, 50, HEADER + 5, good.len() - 1] {
            let mut bad = good.clone();
            bad[at] ^= 1;
            std::fs::write(&cache, &bad).unwrap();
            let (k, how) = load_or_check(b"good key", &cache, checker(&pk, &calls)).unwrap();
            assert!(matches!(how, Loaded::Checked { .. }), "bit at {at}");
            assert_eq!(k, pk);
        }
        std::fs::write(&cache, &good[..good.len() - 64]).unwrap();
        let (_, how) = load_or_check(b"good key", &cache, checker(&pk, &calls)).unwrap();
        assert!(matches!(how, Loaded::Checked { .. }));
        assert_eq!(calls.get(), 7);
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn a_zkey_cache_is_not_read_as_a_groth16_key() {
        let pk = key();
        let d = dir("kind");
        let cache = d.join("pk.fast");
        let calls = std::cell::Cell::new(0);
        load_or_check(b"good key", &cache, checker(&pk, &calls)).unwrap();
        let mut bytes = std::fs::read(&cache).unwrap();
        bytes[8..16].copy_from_slice(ZkeyProvingKey::KIND);
        std::fs::write(&cache, &bytes).unwrap();
        let (_, how) = load_or_check(b"good key", &cache, checker(&pk, &calls)).unwrap();
        assert!(matches!(how, Loaded::Checked { .. }));
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn an_unwritable_cache_is_reported_not_fatal() {
        let pk = key();
        let calls = std::cell::Cell::new(0);
        let cache = Path::new("/nonexistent-zkr-dir/pk.fast");
        let (k, how) = load_or_check(b"good key", cache, checker(&pk, &calls)).unwrap();
        assert_eq!(k, pk);
        assert!(matches!(how, Loaded::Checked { cache: Err(_) }));
    }

    #[test]
    fn identity_points_round_trip() {
        let pk = key();
        assert!(pk.a_query.iter().any(|p| p.is_zero()));
        assert!(pk.b_g2_query.iter().any(|p| p.is_zero()));
        let mut out = Vec::new();
        pk.encode(&mut out);
        let mut r = Reader { b: &out };
        assert_eq!(ProvingKey::<Bn254>::decode(&mut r), Some(pk));
        assert!(r.b.is_empty());
    }
}
