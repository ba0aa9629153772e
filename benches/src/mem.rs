//! Peak resident memory from `/proc/self/status` (Linux).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The process's peak resident set size (`VmHWM`) in KiB, if known.
pub fn peak_rss_kib() -> Option<u64> {
    status_kib("VmHWM:")
}

/// The process's current resident set size (`VmRSS`) in KiB, if known.
pub fn rss_kib() -> Option<u64> {
    status_kib("VmRSS:")
}

/// Runs `f` and returns its output and the highest resident size seen while
/// it ran, in KiB. `VmHWM` covers the whole process life (and resetting it
/// through `clear_refs` is not available everywhere), so a thread samples
/// `VmRSS` every millisecond instead; a spike shorter than that can be
/// missed.
pub fn with_peak<T>(f: impl FnOnce() -> T) -> (T, Option<u64>) {
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut peak = rss_kib();
            while !stop.load(Ordering::Relaxed) {
                peak = peak.max(rss_kib());
                std::thread::sleep(Duration::from_millis(1));
            }
            peak.max(rss_kib())
        })
    };
    let out = f();
    stop.store(true, Ordering::Relaxed);
    let peak = sampler.join().ok().flatten();
    (out, peak)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_a_large_allocation() {
        if !cfg!(target_os = "linux") {
            return;
        }
        assert!(peak_rss_kib().unwrap_or(0) > 0);
        let before = rss_kib().unwrap_or(0);
        let (_, peak) = with_peak(|| {
            let v = vec![1u8; 64 << 20];
            std::thread::sleep(Duration::from_millis(20));
            std::hint::black_box(v.iter().map(|&b| b as u64).sum::<u64>())
        });
        assert!(peak.unwrap_or(0) >= before + (60 << 10));
    }
}
