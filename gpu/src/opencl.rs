//! The OpenCL backend (feature `opencl`): BN254 G1 bucket accumulation on
//! the device, bucket and window sums on the host. See `gpu/OPENCL.md`.
//!
//! `opencl3` loads `libOpenCL` at run time, so a binary built with this
//! feature still starts on a machine without OpenCL: opening the device is
//! then an `Err` and the caller uses the CPU.

use crate::cpu::{digit, num_windows, signed_offset, window_size};
use crate::{Error, MsmBackend, Result, Scalar, check_lengths};
use ark_bn254::{Fq, G1Affine, G1Projective};
use ark_ec::AffineRepr;
use ark_ff::{AdditiveGroup, BigInt, BigInteger, Field, PrimeField, Zero};
use opencl3::command_queue::CommandQueue;
use opencl3::context::Context;
use opencl3::device::{CL_DEVICE_TYPE_ALL, Device};
use opencl3::kernel::{ExecuteKernel, Kernel};
use opencl3::memory::{Buffer, CL_MEM_COPY_HOST_PTR, CL_MEM_READ_ONLY, CL_MEM_WRITE_ONLY};
use opencl3::platform::get_platforms;
use opencl3::program::Program;
use opencl3::types::{CL_BLOCKING, cl_uint, cl_ulong};
use std::ffi::c_void;
use std::ptr;
use std::sync::{Arc, Mutex, OnceLock};

const SOURCE: &str = include_str!("cl/msm.cl");

/// Limbs per affine point and per Jacobian point on the device.
const AFFINE_LIMBS: usize = 8;
const JACOBIAN_LIMBS: usize = 12;

/// An OpenCL device as enumerated: its name and type, read without
/// opening it, and the device once opened.
pub struct Listed {
    /// The device's name.
    pub name: String,
    /// A CPU device (such as POCL's).
    pub is_cpu: bool,
    device: Device,
    opened: OnceLock<std::result::Result<Arc<OpenClMsm>, String>>,
}

impl Listed {
    /// The device with the MSM program built, opened on first use; a
    /// failure is remembered.
    pub fn open(&self) -> Result<Arc<OpenClMsm>> {
        self.opened
            .get_or_init(|| {
                OpenClMsm::open(self).map(Arc::new).map_err(|e| match e {
                    Error::NoDevice(why) => why,
                    other => other.to_string(),
                })
            })
            .clone()
            .map_err(Error::NoDevice)
    }
}

/// An OpenCL device with the MSM program built for it.
pub struct OpenClMsm {
    device_name: String,
    /// A CPU device (POCL): correct, but slower than the CPU backend.
    is_cpu: bool,
    /// Points per chunk, from the device's memory.
    chunk_points: usize,
    context: Context,
    queue: CommandQueue,
    // `Kernel` is `Send` but not `Sync`: its arguments are per object.
    kernel: Mutex<Kernel>,
}

impl std::fmt::Debug for OpenClMsm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenClMsm")
            .field("device", &self.device_name)
            .field("is_cpu", &self.is_cpu)
            .field("chunk_points", &self.chunk_points)
            .finish()
    }
}

fn cl_err(what: &str) -> impl Fn(opencl3::error_codes::ClError) -> Error + '_ {
    move |e| Error::OpenCl(format!("{what}: {e}"))
}

/// `-Q^-1 mod 2^64` by Newton iteration.
fn mont_inv(q0: u64) -> u64 {
    let mut inv = 1u64;
    for _ in 0..6 {
        inv = inv.wrapping_mul(2u64.wrapping_sub(q0.wrapping_mul(inv)));
    }
    inv.wrapping_neg()
}

fn build_options() -> String {
    let q = Fq::MODULUS.0;
    let one = Fq::ONE.0.0;
    format!(
        "-cl-std=CL1.2 -DQ0={}UL -DQ1={}UL -DQ2={}UL -DQ3={}UL -DQINV={}UL -DR0={}UL -DR1={}UL -DR2={}UL -DR3={}UL",
        q[0],
        q[1],
        q[2],
        q[3],
        mont_inv(q[0]),
        one[0],
        one[1],
        one[2],
        one[3]
    )
}

impl OpenClMsm {
    /// The first device that opens, in [`OpenClMsm::all`]'s order.
    pub fn shared() -> Result<Arc<Self>> {
        Self::first(|_| true)
    }

    /// The first device that `wanted` accepts and that opens; devices it
    /// refuses are never opened (no program is built for them).
    pub fn first(wanted: impl Fn(&Listed) -> bool) -> Result<Arc<Self>> {
        let mut why = None;
        for d in Self::all().iter().filter(|d| wanted(d)) {
            match d.open() {
                Ok(d) => return Ok(d),
                Err(e) => why = why.or(Some(e)),
            }
        }
        Err(why.unwrap_or_else(|| Error::NoDevice("no OpenCL device on any platform".into())))
    }

    /// The device at `index` in [`OpenClMsm::all`], opened.
    pub fn nth(index: usize) -> Result<Arc<Self>> {
        match Self::all().get(index) {
            Some(d) => d
                .open()
                .map_err(|e| Error::NoDevice(format!("device {index}: {e}"))),
            None => Err(Error::NoDevice(format!(
                "there is no OpenCL device {index} (this machine has {})",
                Self::all().len()
            ))),
        }
    }

    /// Every device of every platform, in the order the platforms list
    /// them. Enumeration happens once per process (POCL 3.1 races when
    /// several threads enumerate devices at once); each device is opened
    /// (its program built) the first time it is used, and only then. No
    /// platform at all is an empty list.
    pub fn all() -> &'static [Listed] {
        static DEVICES: OnceLock<Vec<Listed>> = OnceLock::new();
        DEVICES.get_or_init(|| {
            let platforms = match get_platforms() {
                Ok(p) => p,
                Err(e) => {
                    tracing::debug!(error = %e, "no OpenCL platform");
                    return Vec::new();
                }
            };
            platforms
                .iter()
                .flat_map(|p| p.get_devices(CL_DEVICE_TYPE_ALL).unwrap_or_default())
                .map(|id| {
                    let device = Device::new(id);
                    Listed {
                        name: device.name().unwrap_or_else(|_| "unknown".into()),
                        is_cpu: device
                            .dev_type()
                            .is_ok_and(|t| t & opencl3::device::CL_DEVICE_TYPE_CPU != 0),
                        device,
                        opened: OnceLock::new(),
                    }
                })
                .collect()
        })
    }

    fn open(listed: &Listed) -> Result<Self> {
        let device = &listed.device;
        let device_name = listed.name.clone();
        let is_cpu = listed.is_cpu;
        let max_alloc = device
            .max_mem_alloc_size()
            .map_err(cl_err("device memory"))?;
        let global = device.global_mem_size().map_err(cl_err("device memory"))?;
        let context = Context::from_device(device).map_err(cl_err("context"))?;
        #[allow(deprecated)] // clCreateCommandQueue: POCL and older drivers lack the 2.0 call
        let queue = CommandQueue::create_default(&context, 0).map_err(cl_err("queue"))?;
        let program = Program::create_and_build_from_source(&context, SOURCE, &build_options())
            .map_err(|log| Error::OpenCl(format!("build: {log}")))?;
        let kernel = Kernel::create(&program, "bucket_sum").map_err(cl_err("kernel"))?;
        // A quarter of the global memory for one chunk, and no buffer over
        // the allocation limit: bases take 64 bytes a point, entries 4 bytes
        // a point and window (at most 130 windows, for c = 2).
        let budget = (global / 4).min(max_alloc) as usize;
        let chunk_points = (budget / (AFFINE_LIMBS * 8 + 4 * 32)).clamp(1 << 10, 1 << 26);
        tracing::info!(device = %device_name, chunk_points, "OpenCL MSM device ready");
        Ok(Self {
            device_name,
            is_cpu,
            chunk_points,
            context,
            queue,
            kernel: Mutex::new(kernel),
        })
    }

    /// The device's name.
    pub fn device_name(&self) -> &str {
        &self.device_name
    }

    /// Whether the device is a CPU (such as POCL's), which `Backend::Auto`
    /// does not use: the CPU backend is faster on the same cores.
    pub fn is_cpu(&self) -> bool {
        self.is_cpu
    }

    /// G1 MSM with at most `max_chunk` points per device run.
    pub fn msm_g1_chunked(
        &self,
        bases: &[G1Affine],
        scalars: &[Scalar],
        max_chunk: usize,
    ) -> Result<G1Projective> {
        check_lengths(bases.len(), scalars.len())?;
        let max_chunk = max_chunk.max(1);
        let mut total = G1Projective::zero();
        for (b, s) in bases.chunks(max_chunk).zip(scalars.chunks(max_chunk)) {
            total += self.run_chunk(b, s)?;
        }
        Ok(total)
    }

    fn run_chunk(&self, bases: &[G1Affine], scalars: &[Scalar]) -> Result<G1Projective> {
        // Zero scalars and identity points contribute nothing.
        let live: Vec<usize> = (0..bases.len())
            .filter(|&i| !scalars[i].is_zero() && !bases[i].is_zero())
            .collect();
        if live.is_empty() {
            return Ok(G1Projective::zero());
        }
        let num_bits = <ark_bn254::Fr as PrimeField>::MODULUS_BIT_SIZE as usize;
        let c = window_size(live.len(), num_bits);
        let windows = num_windows(num_bits, c);
        let k = signed_offset(c, windows);
        let per_window = 1usize << (c - 1);
        let total_buckets = windows * per_window;

        // Counting sort of (point, sign) by (window, bucket).
        let digits: Vec<i32> = live
            .iter()
            .flat_map(|&i| (0..windows).map(move |w| (i, w)))
            .map(|(i, w)| digit(scalars[i].as_ref(), &k, w, c))
            .collect();
        let mut offsets = vec![0u32; total_buckets + 1];
        for (j, d) in digits.iter().enumerate() {
            if *d != 0 {
                let w = j % windows;
                offsets[w * per_window + d.unsigned_abs() as usize] += 1;
            }
        }
        for g in 0..total_buckets {
            offsets[g + 1] += offsets[g];
        }
        let mut fill = offsets.clone();
        let mut entries = vec![0u32; offsets[total_buckets] as usize];
        for (j, d) in digits.iter().enumerate() {
            if *d != 0 {
                let (p, w) = (j / windows, j % windows);
                let g = w * per_window + d.unsigned_abs() as usize - 1;
                entries[fill[g] as usize] = ((p as u32) << 1) | u32::from(*d < 0);
                fill[g] += 1;
            }
        }
        drop(digits);
        let mut points: Vec<cl_ulong> = Vec::with_capacity(live.len() * AFFINE_LIMBS);
        for &i in &live {
            points.extend_from_slice(&bases[i].x.0.0);
            points.extend_from_slice(&bases[i].y.0.0);
        }

        let sums = self.bucket_sums(&mut points, &mut entries, &mut offsets, total_buckets)?;

        // Host side: sum_b (b + 1) * bucket_b per window, then the windows.
        let mut result = G1Projective::zero();
        for w in (0..windows).rev() {
            for _ in 0..c {
                result.double_in_place();
            }
            let mut running = G1Projective::zero();
            let mut window = G1Projective::zero();
            for b in (0..per_window).rev() {
                let o = &sums[(w * per_window + b) * JACOBIAN_LIMBS..][..JACOBIAN_LIMBS];
                let limbs =
                    |i: usize| Fq::new_unchecked(BigInt([o[i], o[i + 1], o[i + 2], o[i + 3]]));
                let z = limbs(8);
                if !z.is_zero() {
                    running += G1Projective::new_unchecked(limbs(0), limbs(4), z);
                }
                window += running;
            }
            result += window;
        }
        Ok(result)
    }

    /// Uploads one chunk, runs the kernel, reads the bucket sums back.
    #[allow(unsafe_code)] // the OpenCL buffer, argument and enqueue calls
    fn bucket_sums(
        &self,
        points: &mut [cl_ulong],
        entries: &mut [cl_uint],
        offsets: &mut [cl_uint],
        total_buckets: usize,
    ) -> Result<Vec<cl_ulong>> {
        // An empty buffer is invalid in OpenCL; the kernel never reads it.
        let mut spare = [0u32];
        let entries: &mut [cl_uint] = if entries.is_empty() {
            &mut spare
        } else {
            entries
        };
        let mut out = vec![0 as cl_ulong; total_buckets * JACOBIAN_LIMBS];
        let kernel = self
            .kernel
            .lock()
            .map_err(|_| Error::OpenCl("kernel lock poisoned".into()))?;
        // SAFETY: each buffer is created with CL_MEM_COPY_HOST_PTR from a live
        // slice of exactly `len` elements of the buffer's type, which OpenCL
        // copies before returning; `out` has `total_buckets * 12` limbs,
        // which is what the kernel writes for `total_buckets` work-items (it
        // returns early past that); the kernel's arguments match its
        // signature in msm.cl in order and type; the read is blocking, so
        // `out` is filled when the call returns and the buffers outlive it.
        unsafe {
            let bases_buf = Buffer::<cl_ulong>::create(
                &self.context,
                CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                points.len(),
                points.as_mut_ptr().cast::<c_void>(),
            )
            .map_err(cl_err("bases buffer"))?;
            let entries_buf = Buffer::<cl_uint>::create(
                &self.context,
                CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                entries.len(),
                entries.as_mut_ptr().cast::<c_void>(),
            )
            .map_err(cl_err("entries buffer"))?;
            let offsets_buf = Buffer::<cl_uint>::create(
                &self.context,
                CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                offsets.len(),
                offsets.as_mut_ptr().cast::<c_void>(),
            )
            .map_err(cl_err("offsets buffer"))?;
            let out_buf = Buffer::<cl_ulong>::create(
                &self.context,
                CL_MEM_WRITE_ONLY,
                out.len(),
                ptr::null_mut(),
            )
            .map_err(cl_err("output buffer"))?;
            let n = total_buckets as cl_uint;
            let event = ExecuteKernel::new(&kernel)
                .set_arg(&bases_buf)
                .set_arg(&entries_buf)
                .set_arg(&offsets_buf)
                .set_arg(&out_buf)
                .set_arg(&n)
                .set_global_work_size(total_buckets)
                .enqueue_nd_range(&self.queue)
                .map_err(cl_err("kernel launch"))?;
            self.queue
                .enqueue_read_buffer(&out_buf, CL_BLOCKING, 0, &mut out, &[event.get()])
                .map_err(cl_err("read back"))?;
        }
        Ok(out)
    }
}

impl MsmBackend for OpenClMsm {
    fn name(&self) -> &'static str {
        "opencl"
    }

    fn msm_g1(&self, bases: &[G1Affine], scalars: &[Scalar]) -> Result<G1Projective> {
        self.msm_g1_chunked(bases, scalars, self.chunk_points)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu;
    use ark_bn254::Fr;
    use ark_ec::{CurveGroup, PrimeGroup};
    use ark_ff::AdditiveGroup;
    use ark_ff::UniformRand;
    use ark_std::rand::{SeedableRng, rngs::StdRng};
    use proptest::prelude::*;

    /// Tells that the running test (libtest names its thread after it)
    /// did not run, in a line `cargo test` shows: libtest captures
    /// `eprintln!` of a passing test, not writes to the stderr handle.
    fn skip(reason: &str) {
        use std::io::Write;
        let thread = std::thread::current();
        let test = thread.name().unwrap_or("a test");
        let _ = writeln!(std::io::stderr(), "SKIP {test}: {reason}");
    }

    /// The device, or `None` (with a visible message) when there is none,
    /// unless `ZKR_REQUIRE_OPENCL=1`, which turns a missing device into a
    /// failure.
    fn device() -> Option<Arc<OpenClMsm>> {
        match OpenClMsm::shared() {
            Ok(d) => Some(d),
            Err(e) => {
                if std::env::var("ZKR_REQUIRE_OPENCL").is_ok_and(|v| v == "1") {
                    panic!("ZKR_REQUIRE_OPENCL=1 but no OpenCL device: {e}");
                }
                skip(&format!("{e}; set ZKR_REQUIRE_OPENCL=1 to fail instead"));
                None
            }
        }
    }

    fn points(n: usize, rng: &mut StdRng) -> Vec<G1Affine> {
        let v: Vec<G1Projective> = (0..n).map(|_| G1Projective::rand(rng)).collect();
        G1Projective::normalize_batch(&v)
    }

    fn check(d: &OpenClMsm, bases: &[G1Affine], scalars: &[Fr]) {
        let big: Vec<Scalar> = scalars.iter().map(|s| s.into_bigint()).collect();
        assert_eq!(d.msm_g1(bases, &big).unwrap(), cpu::msm(bases, &big));
    }

    #[test]
    fn montgomery_constant() {
        let q0 = Fq::MODULUS.0[0];
        assert_eq!(q0.wrapping_mul(mont_inv(q0)), u64::MAX);
    }

    #[test]
    fn opencl_equals_cpu_on_edge_cases() {
        let Some(d) = device() else { return };
        let mut rng = StdRng::seed_from_u64(21);
        let p = points(300, &mut rng);
        let minus_one = -Fr::from(1u64);
        for n in [0usize, 1, 2, 3, 257, 300] {
            let s: Vec<Fr> = (0..n).map(|_| Fr::rand(&mut rng)).collect();
            check(&d, &p[..n], &s);
            check(&d, &p[..n], &vec![Fr::zero(); n]);
            check(&d, &p[..n], &vec![minus_one; n]);
            check(&d, &vec![G1Affine::identity(); n], &s);
            check(&d, &vec![p[0]; n], &s);
            check(&d, &vec![p[0]; n], &vec![Fr::from(5u64); n]);
        }
        // P, -P and P again in one bucket: cancellation and doubling on the device.
        let mut pts = Vec::new();
        for q in &p[..20] {
            pts.extend([*q, -*q, *q, *q]);
        }
        check(&d, &pts, &vec![Fr::from(3u64); pts.len()]);
        let g = G1Affine::generator();
        assert_eq!(
            d.msm_g1(&[g], &[Fr::from(2u64).into_bigint()]).unwrap(),
            G1Projective::generator().double()
        );
    }

    #[test]
    fn opencl_equals_cpu_in_chunks() {
        let Some(d) = device() else { return };
        let mut rng = StdRng::seed_from_u64(22);
        let p = points(2000, &mut rng);
        let s: Vec<Scalar> = (0..2000)
            .map(|_| Fr::rand(&mut rng).into_bigint())
            .collect();
        let want = cpu::msm(&p, &s);
        for chunk in [1usize, 333, 2000] {
            assert_eq!(
                d.msm_g1_chunked(&p, &s, chunk).unwrap(),
                want,
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn selection_uses_the_device() {
        let Some(d) = device() else { return };
        let auto = crate::select(crate::Backend::Auto).unwrap();
        let want = if d.is_cpu() {
            crate::Ran::Cpu
        } else {
            crate::Ran::OpenCl
        };
        assert_eq!(auto.preferred(), want);
        let m = crate::select(crate::Backend::OpenCl).unwrap();
        assert_eq!(m.preferred(), crate::Ran::OpenCl);
        let g = G1Affine::generator();
        let (r, ran) = m.msm_g1_ran(&[g], &[Fr::from(1u64).into_bigint()]).unwrap();
        assert_eq!((r, ran), (G1Projective::from(g), crate::Ran::OpenCl));
        // The first device is device 0, listed under its name, and chosen by
        // its index as well.
        let listed = crate::devices();
        assert_eq!(listed[0].backend, crate::Backend::OpenClDevice(0));
        assert_eq!(listed[0].name, d.device_name());
        assert_eq!(listed[0].is_cpu, d.is_cpu());
        let nth = crate::select(crate::Backend::OpenClDevice(0)).unwrap();
        let two = Fr::from(2u64).into_bigint();
        assert_eq!(
            nth.msm_g1_ran(&[g], &[two]).unwrap(),
            (G1Projective::from(g).double(), crate::Ran::OpenCl)
        );
        let past = u32::try_from(OpenClMsm::all().len()).unwrap();
        assert_eq!(listed.len(), OpenClMsm::all().len());
        assert!(crate::select(crate::Backend::OpenClDevice(past)).is_err());
    }

    fn scalar_strategy() -> impl Strategy<Value = Fr> {
        prop_oneof![
            Just(Fr::zero()),
            Just(Fr::from(1u64)),
            Just(-Fr::from(1u64)),
            any::<u64>().prop_map(Fr::from),
            any::<[u8; 32]>().prop_map(|b| Fr::from_le_bytes_mod_order(&b)),
            any::<[u8; 32]>().prop_map(|b| Fr::from_le_bytes_mod_order(&b)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        #[test]
        fn opencl_equals_cpu(
            seed in any::<u64>(),
            scalars in proptest::collection::vec(scalar_strategy(), 0..40),
            identity_every in 0usize..6,
        ) {
            let Some(d) = device() else { return Ok(()) };
            let mut rng = StdRng::seed_from_u64(seed);
            let mut p = points(scalars.len(), &mut rng);
            for (i, q) in p.iter_mut().enumerate() {
                if identity_every > 0 && i % identity_every == 0 {
                    *q = G1Affine::identity();
                }
            }
            check(&d, &p, &scalars);
        }
    }
}
