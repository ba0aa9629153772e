//! The file readers (`read_file` and friends) check a file's section table
//! against its real size, and every section's size against its header,
//! before they allocate or read a section: a sparse file whose table claims
//! gigabytes, a device, a pipe or a truncated section is refused at once,
//! naming the section, without the memory the claim would take. Its own
//! test binary, so that the process's peak memory is this file's alone.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use zkr_circom::{Error, r1cs, wtns, zkey};

/// What a sparse file claims: larger than any peak this process may reach.
const HUGE: u64 = 3 << 30;
/// The peak resident memory allowed to this test process; reading the
/// sparse files whole would take [`HUGE`].
const PEAK_LIMIT_KIB: u64 = 256 << 10;

/// A fresh directory for one test, removed when the test ends.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> Self {
        let p = std::env::temp_dir().join(format!("zkr-circom-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The sections of an iden3 container: `(type, bytes)` in file order.
fn sections(data: &[u8]) -> Vec<(u32, Vec<u8>)> {
    let u32_at = |o: usize| u32::from_le_bytes(data[o..o + 4].try_into().unwrap());
    let mut out = Vec::new();
    let mut o = 12;
    for _ in 0..u32_at(8) {
        let len = u64::from_le_bytes(data[o + 4..o + 12].try_into().unwrap()) as usize;
        out.push((u32_at(o), data[o + 12..o + 12 + len].to_vec()));
        o += 12 + len;
    }
    assert_eq!(o, data.len());
    out
}

/// A file at `path` of `size` bytes that starts with `head` and is a hole
/// after it (no disk space and no page is used for the hole).
fn sparse(path: &Path, head: &[u8], size: u64) {
    let mut f = std::fs::File::create(path).unwrap();
    f.write_all(head).unwrap();
    f.set_len(size).unwrap();
}

/// A container of `magic` with the sections of `kept` and then one more
/// section of type `id` whose header claims `claim` bytes; the file is
/// `size` bytes long.
fn claiming(path: &Path, magic: &[u8], kept: &[(u32, Vec<u8>)], id: u32, claim: u64, size: u64) {
    let mut head = magic[..8].to_vec();
    head.extend_from_slice(&(kept.len() as u32 + 1).to_le_bytes());
    for (t, b) in kept {
        head.extend_from_slice(&t.to_le_bytes());
        head.extend_from_slice(&(b.len() as u64).to_le_bytes());
        head.extend_from_slice(b);
    }
    head.extend_from_slice(&id.to_le_bytes());
    head.extend_from_slice(&claim.to_le_bytes());
    sparse(path, &head, size);
}

fn malformed(e: Error) -> (&'static str, String) {
    match e {
        Error::Malformed {
            section, reason, ..
        } => (section, reason),
        other => panic!("expected a malformed file, got {other:?}"),
    }
}

/// This process's peak resident memory (`VmHWM`), in KiB.
fn peak_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn assert_small_peak() {
    if Path::new("/proc/self/status").exists() {
        let peak = peak_kib();
        assert!(peak < PEAK_LIMIT_KIB, "peak resident memory {peak} KiB");
    }
}

#[test]
fn the_file_readers_read_what_the_byte_readers_read() {
    let bytes = std::fs::read(fixture("tiny.zkey")).unwrap();
    let z = zkey::read(&bytes, "tiny.zkey").unwrap();
    assert_eq!(zkey::read_file(&fixture("tiny.zkey")).unwrap(), z);
    assert_eq!(
        zkey::read_verifying_key_file(&fixture("tiny.zkey")).unwrap(),
        z.key.verifying_key()
    );
    let bytes = std::fs::read(fixture("tiny.r1cs")).unwrap();
    assert_eq!(
        r1cs::read_file(&fixture("tiny.r1cs")).unwrap(),
        r1cs::read(&bytes, "tiny.r1cs").unwrap()
    );
    let bytes = std::fs::read(fixture("tiny.wtns")).unwrap();
    assert_eq!(
        wtns::read_file(&fixture("tiny.wtns")).unwrap(),
        wtns::read(&bytes, "tiny.wtns").unwrap()
    );
}

/// A sparse `.zkey` whose H section lies inside the file but is a thousand
/// times what the header's domain needs: refused by its size, unread.
#[test]
fn a_zkey_section_larger_than_its_header_allows_is_refused_unread() {
    let d = TempDir::new("sparse-h");
    let good = std::fs::read(fixture("tiny.zkey")).unwrap();
    let kept: Vec<_> = sections(&good)
        .into_iter()
        .filter(|(t, _)| *t < 9)
        .collect();
    let path = d.path().join("sparse.zkey");
    let head_len = 12 + kept.iter().map(|(_, b)| 12 + b.len() as u64).sum::<u64>() + 12;
    claiming(&path, &good, &kept, 9, HUGE, head_len + HUGE);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), head_len + HUGE);

    let (section, reason) = malformed(zkey::read_file(&path).unwrap_err());
    assert_eq!(section, "H");
    assert!(reason.contains(&HUGE.to_string()), "{reason}");
    assert!(reason.contains("domainSize points"), "{reason}");
    let (section, _) = malformed(zkey::read_verifying_key_file(&path).unwrap_err());
    assert_eq!(section, "H");
    let cache = zkey::cache_path(&path);
    let (section, _) = malformed(zkey::read_key_cached_file(&path, &cache).unwrap_err());
    assert_eq!(section, "H");
    assert!(!cache.exists());
    assert_small_peak();
}

/// A section whose length runs past the end of the file is refused by the
/// section table, naming the section, for every format.
#[test]
fn a_section_claiming_more_than_the_file_holds_is_refused_unread() {
    let d = TempDir::new("claims");
    let cases: [(&str, &str, u32, &str); 3] = [
        ("tiny.zkey", "c.zkey", 9, "H"),
        ("tiny.r1cs", "c.r1cs", 2, "constraints"),
        ("tiny.wtns", "c.wtns", 2, "witness"),
    ];
    for (fixture_name, name, id, section_name) in cases {
        let good = std::fs::read(fixture(fixture_name)).unwrap();
        let kept: Vec<_> = sections(&good)
            .into_iter()
            .filter(|(t, _)| *t != id)
            .collect();
        let path = d.path().join(name);
        // a 1 GiB file (under every limit) whose last section claims 2^40
        claiming(&path, &good, &kept, id, 1 << 40, 1 << 30);
        let e = match name {
            "c.zkey" => zkey::read_file(&path).map(drop).unwrap_err(),
            "c.r1cs" => r1cs::read_file(&path).map(drop).unwrap_err(),
            _ => wtns::read_file(&path).map(drop).unwrap_err(),
        };
        let (section, reason) = malformed(e);
        assert_eq!(section, section_name, "{name}: {reason}");
        assert!(reason.starts_with("truncated"), "{name}: {reason}");
    }
    assert_small_peak();
}

/// A real key cut inside its H section: the message names H.
#[test]
fn a_truncated_section_is_named() {
    let d = TempDir::new("cut");
    let good = std::fs::read(fixture("tiny.zkey")).unwrap();
    let all = sections(&good);
    let before_h = 12
        + all
            .iter()
            .take_while(|(t, _)| *t != 9)
            .map(|(_, b)| 12 + b.len())
            .sum::<usize>();
    let path = d.path().join("cut.zkey");
    std::fs::write(&path, &good[..before_h + 12 + 100]).unwrap();
    let (section, reason) = malformed(zkey::read_file(&path).unwrap_err());
    assert_eq!(section, "H");
    assert!(reason.contains("truncated"), "{reason}");
}

/// Files over a format's limit are refused by their size alone.
#[test]
fn a_file_over_the_limit_is_refused_by_its_size() {
    let d = TempDir::new("limit");
    let path = d.path().join("big.wtns");
    let good = std::fs::read(fixture("tiny.wtns")).unwrap();
    sparse(&path, &good, wtns::MAX_FILE_BYTES + 1);
    match wtns::read_file(&path) {
        Err(Error::File { reason, .. }) => assert!(reason.contains("limit"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert_small_peak();
}

/// Devices and pipes cannot be sized: refused without being read (a FIFO
/// without a writer would block an open).
#[cfg(unix)]
#[test]
fn devices_and_pipes_are_refused() {
    let d = TempDir::new("devices");
    let fifo = d.path().join("pipe.zkey");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success());
    let mut paths = vec![PathBuf::from("/dev/zero")];
    if made {
        paths.push(fifo);
    }
    for path in paths {
        let errors = [
            zkey::read_file(&path).map(drop).unwrap_err(),
            zkey::read_verifying_key_file(&path).map(drop).unwrap_err(),
            zkey::read_key_cached_file(&path, &d.path().join("c"))
                .map(drop)
                .unwrap_err(),
            r1cs::read_file(&path).map(drop).unwrap_err(),
            wtns::read_file(&path).map(drop).unwrap_err(),
        ];
        for e in errors {
            match e {
                Error::File { reason, .. } => {
                    assert!(reason.contains("not a regular file"), "{reason}")
                }
                other => panic!("{}: {other:?}", path.display()),
            }
        }
    }
    assert_small_peak();
}
