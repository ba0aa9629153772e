//! Peak resident memory from `/proc/self/status` (Linux).

/// The process's peak resident set size (`VmHWM`) in KiB, if known.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Resets the peak to the current resident size, so that the next
/// [`peak_rss_kib`] measures only what follows (Linux >= 4.0; a no-op
/// elsewhere, which only makes later peaks too high, never too low).
pub fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Runs `f` and returns its output and the peak RSS seen while it ran.
pub fn with_peak<T>(f: impl FnOnce() -> T) -> (T, Option<u64>) {
    reset_peak();
    let out = f();
    (out, peak_rss_kib())
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_a_peak_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(super::peak_rss_kib().unwrap_or(0) > 0);
        }
    }
}
