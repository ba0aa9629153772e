//! `zkr prove-zkey`, `zkr import-zkey`, `zkr export r1cs` and `zkr export
//! vk` on files made by circom and snarkjs (`circom/tests/fixtures`, see
//! `interop/circom/make-fixtures.sh`); the full round trips with snarkjs run
//! in `.ci/circom.sh`.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{skip, stderr, zkr};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../circom/tests/fixtures")
        .join(name)
}

/// A copy of the fixture `.zkey` in `dir`: `prove-zkey` leaves the checked
/// key beside the `.zkey`, which must not land in the source tree.
fn zkey_copy(dir: &Path) -> PathBuf {
    let p = dir.join("tiny.zkey");
    std::fs::copy(fixture("tiny.zkey"), &p).unwrap();
    p
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn prove_zkey_proves_and_the_proof_verifies_under_snarkjs_key() {
    let d = tempfile::tempdir().unwrap();
    let (proof, public) = (d.path().join("proof.json"), d.path().join("public.json"));
    let zkey = zkey_copy(d.path());
    // The first run checks the .zkey and caches the checked key beside it;
    // the second proves from that cache.
    for _ in 0..2 {
        let o = zkr(&[
            "prove-zkey",
            s(&zkey),
            s(&fixture("tiny.wtns")),
            s(&proof),
            s(&public),
            "--backend",
            "cpu",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    assert!(d.path().join("tiny.zkey.checked").is_file());
    assert_eq!(
        std::fs::read_to_string(&public)
            .unwrap()
            .split_whitespace()
            .collect::<String>(),
        "[\"110\",\"11\"]"
    );
    let o = zkr(&[
        "verify",
        "--vk",
        s(&fixture("tiny_vk.json")),
        "--proof",
        s(&proof),
        "--public",
        s(&public),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn prove_zkey_refuses_malformed_and_mismatched_files() {
    let d = tempfile::tempdir().unwrap();
    let out = |n: &str| d.path().join(n);
    let zkey = std::fs::read(fixture("tiny.zkey")).unwrap();
    let bad = out("bad.zkey");
    std::fs::write(&bad, &zkey[..zkey.len() - 100]).unwrap();
    let o = zkr(&[
        "prove-zkey",
        s(&bad),
        s(&fixture("tiny.wtns")),
        s(&out("p")),
        s(&out("q")),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("bad.zkey"), "{}", stderr(&o));
    // a witness of another length: the .r1cs is not a witness at all, and a
    // .wtns of the wrong size is refused before proving
    let o = zkr(&[
        "prove-zkey",
        s(&zkey_copy(d.path())),
        s(&fixture("tiny.r1cs")),
        s(&out("p")),
        s(&out("q")),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!out("p").exists());
}

#[test]
fn import_zkey_refuses_a_key_for_another_circuit() {
    let d = tempfile::tempdir().unwrap();
    let keys = d.path().join("keys");
    let o = zkr(&[
        "import-zkey",
        s(&fixture("tiny.zkey")),
        "--circuit",
        "range",
        "--out",
        s(&keys),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("REFUSED"), "{}", stderr(&o));
    assert!(!keys.exists());
}

#[test]
fn export_r1cs_writes_the_circuits_constraint_system() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("range.r1cs");
    let o = zkr(&["export", "r1cs", "--circuit", "range", "--out", s(&path)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = zkr_circom::r1cs::read(&std::fs::read(&path).unwrap(), "range.r1cs").unwrap();
    let blank = zkr_circuits::CircuitKind::Range.blank(0).unwrap();
    assert_eq!(r, zkr_circom::r1cs_of(blank).unwrap());
    assert_eq!(r.n_public(), 3);
}

/// `zkr` with its address space capped at 1 GiB: a command that tried to
/// hold a multi-gigabyte file in memory would abort instead of refusing
/// the file with a message.
fn zkr_capped(args: &[&str]) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 1048576 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_zkr"))
        .args(args)
        .output()
        .unwrap()
}

/// The sections of an iden3 container (`.zkey`): `(type, bytes)`.
fn sections(data: &[u8]) -> Vec<(u32, &[u8])> {
    let u32_at = |o: usize| u32::from_le_bytes(data[o..o + 4].try_into().unwrap());
    let mut out = Vec::new();
    let mut o = 12;
    for _ in 0..u32_at(8) {
        let len = u64::from_le_bytes(data[o + 4..o + 12].try_into().unwrap()) as usize;
        out.push((u32_at(o), &data[o + 12..o + 12 + len]));
        o += 12 + len;
    }
    out
}

/// A 3 GB sparse copy of the fixture key whose H section claims nearly all
/// of it: a table that fits the file, a size the header does not allow.
fn sparse_zkey(dir: &Path) -> PathBuf {
    const CLAIM: u64 = 3 << 30;
    let good = std::fs::read(fixture("tiny.zkey")).unwrap();
    let kept: Vec<_> = sections(&good)
        .into_iter()
        .filter(|(t, _)| *t < 9)
        .collect();
    let mut head = good[..8].to_vec();
    head.extend_from_slice(&(kept.len() as u32 + 1).to_le_bytes());
    for (t, b) in &kept {
        head.extend_from_slice(&t.to_le_bytes());
        head.extend_from_slice(&(b.len() as u64).to_le_bytes());
        head.extend_from_slice(b);
    }
    head.extend_from_slice(&9u32.to_le_bytes());
    head.extend_from_slice(&CLAIM.to_le_bytes());
    let path = dir.join("sparse.zkey");
    std::fs::write(&path, &head).unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(head.len() as u64 + CLAIM).unwrap();
    path
}

#[cfg(target_os = "linux")]
#[test]
fn huge_sparse_and_device_zkeys_are_refused_without_reading_them() {
    let d = tempfile::tempdir().unwrap();
    let out = |n: &str| d.path().join(n);
    let sparse = sparse_zkey(d.path());
    let wtns = fixture("tiny.wtns");
    for zkey in [sparse.as_path(), Path::new("/dev/zero")] {
        let runs = [
            zkr_capped(&[
                "import-zkey",
                s(zkey),
                "--circuit",
                "range",
                "--out",
                s(&out("k")),
            ]),
            zkr_capped(&["prove-zkey", s(zkey), s(&wtns), s(&out("p")), s(&out("q"))]),
            zkr_capped(&["export", "vk", s(zkey), "--out", s(&out("vk.json"))]),
        ];
        for o in runs {
            let e = stderr(&o);
            assert_eq!(o.status.code(), Some(2), "{}: {e}", zkey.display());
            assert!(e.starts_with("error: "), "{e}");
            assert!(e.contains(s(zkey)), "{e}");
            if zkey == sparse {
                assert!(
                    e.contains(": H: ") && e.contains("domainSize points"),
                    "{e}"
                );
            } else {
                assert!(e.contains("not a regular file"), "{e}");
            }
        }
    }
    assert!(!out("k").exists() && !out("p").exists() && !out("vk.json").exists());
    assert!(!zkr_circom::zkey::cache_path(&sparse).exists());
    // a witness that is a device is refused the same way
    let o = zkr_capped(&[
        "prove-zkey",
        s(&zkey_copy(d.path())),
        "/dev/zero",
        s(&out("p")),
        s(&out("q")),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("not a regular file"), "{}", stderr(&o));
}

#[test]
fn a_truncated_section_is_named() {
    let d = tempfile::tempdir().unwrap();
    let good = std::fs::read(fixture("tiny.zkey")).unwrap();
    let before_h = 12
        + sections(&good)
            .iter()
            .take_while(|(t, _)| *t != 9)
            .map(|(_, b)| 12 + b.len())
            .sum::<usize>();
    let cut = d.path().join("cut.zkey");
    std::fs::write(&cut, &good[..before_h + 12 + 100]).unwrap();
    for args in [
        vec![
            "import-zkey",
            s(&cut),
            "--circuit",
            "range",
            "--out",
            "unused",
        ],
        vec!["export", "vk", s(&cut), "--out", "unused.json"],
    ] {
        let o = zkr(&args);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(
            stderr(&o).contains("cut.zkey: H: truncated"),
            "{}",
            stderr(&o)
        );
    }
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The pinned snarkjs of `interop/` (`cd interop && npm ci`), if installed.
fn snarkjs() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../interop/node_modules/.bin/snarkjs");
    p.exists().then_some(p)
}

#[test]
fn export_vk_writes_snarkjs_verification_key() {
    let d = tempfile::tempdir().unwrap();
    // the fixture's verification_key.json was written by snarkjs from the
    // fixture's key
    let vk = d.path().join("tiny_vk.json");
    let o = zkr(&["export", "vk", s(&fixture("tiny.zkey")), "--out", s(&vk)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(json(&vk), json(&fixture("tiny_vk.json")));

    // a key for one of our circuits: what `export vk` writes is the
    // verification_key.json that `import-zkey` writes for the same key
    use ark_std::rand::{SeedableRng, rngs::StdRng};
    use zkr_circom::devsetup::{Trapdoor, setup};
    let r1cs = zkr_circom::r1cs_of(zkr_circuits::CircuitKind::Range.blank(0).unwrap()).unwrap();
    let key = setup(&r1cs, &Trapdoor::random(&mut StdRng::seed_from_u64(7))).unwrap();
    let zkey = d.path().join("range.zkey");
    let z = zkr_circom::Zkey {
        key,
        contributions: None,
    };
    std::fs::write(&zkey, zkr_circom::zkey::write(&z).unwrap()).unwrap();
    let keys = d.path().join("keys");
    let o = zkr(&[
        "import-zkey",
        s(&zkey),
        "--circuit",
        "range",
        "--out",
        s(&keys),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // the default output name is snarkjs's
    let o = Command::new(env!("CARGO_BIN_EXE_zkr"))
        .args(["export", "vk", s(&zkey)])
        .current_dir(d.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let ours = json(&d.path().join("verification_key.json"));
    assert_eq!(ours, json(&keys.join("verification_key.json")));
    assert_eq!(ours["nPublic"], 3);

    let Some(snarkjs) = snarkjs() else {
        skip("snarkjs is not installed (cd interop && npm ci)");
        return;
    };
    let theirs = d.path().join("snarkjs_vk.json");
    let o = Command::new(snarkjs)
        .args(["zkey", "export", "verificationkey", s(&zkey), s(&theirs)])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(ours, json(&theirs));
}
