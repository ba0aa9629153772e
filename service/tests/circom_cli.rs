//! `zkr prove-zkey`, `zkr import-zkey` and `zkr export r1cs` on files made
//! by circom and snarkjs (`circom/tests/fixtures`, see
//! `interop/circom/make-fixtures.sh`); the full round trips with snarkjs run
//! in `.ci/circom.sh`.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

mod common;
use common::{stderr, zkr};

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
