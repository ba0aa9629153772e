//! Seeing a proof's phases and stopping a proof between them.
//!
//! The prover tells a [`ProveObserver`] when each [`Phase`] starts and ends
//! and asks it, before each phase, whether to go on. A job queue uses this to
//! cancel a proof that nobody wants any more (the proof stops at the next
//! phase boundary with [`crate::Error::Aborted`]), a benchmark to time the
//! phases. Every phase is also a `prove_phase` tracing span.
//!
//! Phases that run at the same time (the G2 MSM beside the G1 MSMs) call the
//! observer from different threads, hence `Sync`. The observer `()` does
//! nothing and is what the plain entry points pass: its calls inline away.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};

/// A step of a Groth16 proof, in the order the prover starts them (the G2
/// MSM runs beside the G1 MSMs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    /// Witness generation: the circuit computes its assignment (no matrices).
    Synthesis,
    /// The A, B and C rows evaluated at the assignment.
    Constraints,
    /// Inverse FFTs of the row evaluations (to coefficients).
    Ifft,
    /// Forward FFTs on the coset (where the vanishing polynomial is a
    /// non-zero constant), and the quotient there.
    CosetFft,
    /// Inverse FFT of the quotient on the coset (to H's coefficients);
    /// absent for `.zkey` keys, whose H points take coset evaluations.
    CosetIfft,
    /// The H (quotient) MSM in G1.
    MsmH,
    /// The L (private wires' C-term) MSM in G1.
    MsmL,
    /// The A MSM in G1.
    MsmA,
    /// The B MSM in G1 (skipped when `r = 0`, as arkworks does).
    MsmB1,
    /// The B MSM in G2.
    MsmB2,
}

impl Phase {
    /// Every phase, in start order.
    pub const ALL: [Phase; 10] = [
        Phase::Synthesis,
        Phase::Constraints,
        Phase::Ifft,
        Phase::CosetFft,
        Phase::CosetIfft,
        Phase::MsmH,
        Phase::MsmL,
        Phase::MsmA,
        Phase::MsmB1,
        Phase::MsmB2,
    ];

    /// A short stable name (tracing field, benchmark JSON).
    pub fn name(self) -> &'static str {
        match self {
            Phase::Synthesis => "synthesis",
            Phase::Constraints => "constraints",
            Phase::Ifft => "ifft",
            Phase::CosetFft => "coset_fft",
            Phase::CosetIfft => "coset_ifft",
            Phase::MsmH => "msm_h",
            Phase::MsmL => "msm_l",
            Phase::MsmA => "msm_a",
            Phase::MsmB1 => "msm_b_g1",
            Phase::MsmB2 => "msm_b_g2",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Told when each phase of a proof starts and ends; may stop the proof
/// before a phase starts.
pub trait ProveObserver: Sync {
    /// Called before `phase` starts. `Break` stops the proof: it returns
    /// [`crate::Error::Aborted`] naming this phase, and no later phase runs
    /// (a phase already running beside it, the G2 MSM, runs to its end).
    fn begin(&self, phase: Phase) -> ControlFlow<()> {
        let _ = phase;
        ControlFlow::Continue(())
    }

    /// Called when `phase` has finished (not when it failed).
    fn end(&self, phase: Phase) {
        let _ = phase;
    }
}

/// Observes nothing, never stops.
impl ProveObserver for () {}

/// A cancellation flag: the proof stops before the next phase once it is set.
impl ProveObserver for AtomicBool {
    fn begin(&self, _phase: Phase) -> ControlFlow<()> {
        if self.load(Ordering::Acquire) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

impl<O: ProveObserver + ?Sized> ProveObserver for &O {
    fn begin(&self, phase: Phase) -> ControlFlow<()> {
        (**self).begin(phase)
    }

    fn end(&self, phase: Phase) {
        (**self).end(phase);
    }
}

/// Runs `f` as `phase`: asks `obs` first, wraps it in a tracing span, and
/// reports the end.
pub(crate) fn run<O, T>(
    obs: &O,
    phase: Phase,
    f: impl FnOnce() -> crate::Result<T>,
) -> crate::Result<T>
where
    O: ProveObserver + ?Sized,
{
    if obs.begin(phase).is_break() {
        return Err(crate::Error::Aborted { phase });
    }
    let out = {
        let _span = tracing::debug_span!("prove_phase", phase = phase.name()).entered();
        f()?
    };
    obs.end(phase);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::circuit::MulChain;
    use crate::{Backend, Error, Prepared, prove_observed};
    use ark_bn254::{Bn254, Fr};
    use ark_ff::UniformRand;
    use ark_groth16::{Groth16, ProvingKey};
    use ark_std::rand::{SeedableRng, rngs::StdRng};
    use std::sync::Mutex;

    /// Records begun and ended phases; stops before `stop_at`.
    #[derive(Default)]
    struct Recorder {
        stop_at: Option<Phase>,
        begun: Mutex<Vec<Phase>>,
        ended: Mutex<Vec<Phase>>,
    }

    impl ProveObserver for Recorder {
        fn begin(&self, phase: Phase) -> ControlFlow<()> {
            self.begun.lock().unwrap().push(phase);
            if self.stop_at == Some(phase) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        }

        fn end(&self, phase: Phase) {
            self.ended.lock().unwrap().push(phase);
        }
    }

    fn key(steps: usize, rng: &mut StdRng) -> (ProvingKey<Bn254>, Prepared, MulChain) {
        let blank = MulChain { start: None, steps };
        let pk = Groth16::<Bn254>::generate_random_parameters_with_reduction(blank.clone(), rng)
            .unwrap();
        let circuit = MulChain {
            start: Some(Fr::from(3u64)),
            steps,
        };
        (pk, Prepared::new(blank).unwrap(), circuit)
    }

    /// The G1 phases run one after another; the G2 MSM runs beside the
    /// G1 MSMs, so it may or may not have run when a G1 MSM is refused.
    const SEQUENCE: [Phase; 9] = [
        Phase::Synthesis,
        Phase::Constraints,
        Phase::Ifft,
        Phase::CosetFft,
        Phase::CosetIfft,
        Phase::MsmH,
        Phase::MsmL,
        Phase::MsmA,
        Phase::MsmB1,
    ];

    #[test]
    fn abort_stops_the_proof_before_the_chosen_phase() {
        let mut rng = StdRng::seed_from_u64(31);
        let (pk, prepared, circuit) = key(100, &mut rng);
        let (r, s) = (Fr::rand(&mut rng), Fr::rand(&mut rng));
        for stop in Phase::ALL {
            for cached in [true, false] {
                let obs = Recorder {
                    stop_at: Some(stop),
                    ..Recorder::default()
                };
                let got = if cached {
                    prepared.prove_observed(&pk, circuit.clone(), r, s, Backend::Cpu, &obs)
                } else {
                    prove_observed(&pk, circuit.clone(), r, s, Backend::Cpu, &obs)
                };
                assert!(
                    matches!(got, Err(Error::Aborted { phase }) if phase == stop),
                    "stop at {stop}: {got:?}"
                );
                let ended: Vec<Phase> = obs
                    .ended
                    .into_inner()
                    .unwrap()
                    .into_iter()
                    .filter(|p| *p != Phase::MsmB2)
                    .collect();
                let before: Vec<Phase> = SEQUENCE
                    .iter()
                    .copied()
                    .take_while(|p| *p != stop)
                    .collect();
                if stop == Phase::MsmB2 {
                    // G1 runs on beside it; nothing after the proof's end.
                    assert!(ended.iter().all(|p| SEQUENCE.contains(p)));
                } else {
                    assert_eq!(ended, before, "stop at {stop}");
                    let begun = obs.begun.into_inner().unwrap();
                    assert!(!begun.iter().any(|p| SEQUENCE.iter().position(|q| q == p)
                        > SEQUENCE.iter().position(|q| *q == stop)));
                }
            }
        }
    }

    #[test]
    fn observed_proof_equals_ark_groth16_and_sees_every_phase() {
        let mut rng = StdRng::seed_from_u64(32);
        let (pk, prepared, circuit) = key(300, &mut rng);
        for (r, s) in [
            (Fr::rand(&mut rng), Fr::rand(&mut rng)),
            (Fr::from(0u64), Fr::from(9u64)),
        ] {
            let obs = Recorder::default();
            let ours = prepared
                .prove_observed(&pk, circuit.clone(), r, s, Backend::Cpu, &obs)
                .unwrap();
            let theirs =
                Groth16::<Bn254>::create_proof_with_reduction(circuit.clone(), &pk, r, s).unwrap();
            assert_eq!(ours.proof, theirs);
            let mut ended = obs.ended.into_inner().unwrap();
            ended.sort();
            let expected: Vec<Phase> = Phase::ALL
                .into_iter()
                // arkworks skips the B MSM in G1 when r = 0; so do we.
                .filter(|p| *p != Phase::MsmB1 || r != Fr::from(0u64))
                .collect();
            assert_eq!(ended, expected);
        }
    }

    #[test]
    fn a_set_flag_stops_the_proof_and_a_clear_one_does_not() {
        let mut rng = StdRng::seed_from_u64(33);
        let (pk, prepared, circuit) = key(50, &mut rng);
        let (r, s) = (Fr::rand(&mut rng), Fr::rand(&mut rng));
        let flag = AtomicBool::new(false);
        let ours = prepared
            .prove_observed(&pk, circuit.clone(), r, s, Backend::Cpu, &flag)
            .unwrap();
        let theirs =
            Groth16::<Bn254>::create_proof_with_reduction(circuit.clone(), &pk, r, s).unwrap();
        assert_eq!(ours.proof, theirs);
        flag.store(true, Ordering::Release);
        assert!(matches!(
            prepared.prove_observed(&pk, circuit, r, s, Backend::Cpu, &flag),
            Err(Error::Aborted {
                phase: Phase::Synthesis
            })
        ));
    }
}
