//! `zkr verify --batch`, `zkr export solidity` and `zkr export calldata`
//! end to end: exit codes, what is printed and written.
#![allow(clippy::unwrap_used)]

use num_bigint::BigUint;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

mod common;
use common::{stderr, stdout, zkr};

/// Range keys and three valid proofs, `a`, `b` and `c`, made once.
fn fixture() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let keys = d.join("keys");
        let o = zkr(&[
            "setup",
            "--circuit",
            "range",
            "--out",
            keys.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        for (name, value) in [("a", 50), ("b", 60), ("c", 70)] {
            let input = d.join(format!("{name}.json"));
            std::fs::write(
                &input,
                format!(r#"{{"value":"{value}","blind":"7","min":"10","max":"100"}}"#),
            )
            .unwrap();
            let out = d.join(format!("p-{name}"));
            let o = zkr(&[
                "prove",
                "--keys",
                keys.to_str().unwrap(),
                "--input",
                input.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--backend",
                "cpu",
            ]);
            assert!(o.status.success(), "{}", stderr(&o));
        }
        dir
    })
    .path()
}

fn vk() -> PathBuf {
    fixture().join("keys/verification_key.json")
}

/// A fresh batch directory holding the fixture's three proofs.
fn batch_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in ["a", "b", "c"] {
        let p = fixture().join(format!("p-{name}"));
        std::fs::copy(
            p.join("proof.json"),
            dir.path().join(format!("{name}.proof.json")),
        )
        .unwrap();
        std::fs::copy(
            p.join("public.json"),
            dir.path().join(format!("{name}.public.json")),
        )
        .unwrap();
    }
    dir
}

fn verify_batch(dir: &Path) -> Output {
    zkr(&[
        "verify",
        "--vk",
        vk().to_str().unwrap(),
        "--batch",
        dir.to_str().unwrap(),
    ])
}

#[test]
fn verify_batch_reports_each_proof_and_exits_by_the_worst() {
    let dir = batch_dir();
    let o = verify_batch(dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "a: OK\nb: OK\nc: OK");
    assert!(stderr(&o).contains("all 3 proofs are valid"));

    // b's public input changed: b alone is named, exit 1
    let public = dir.path().join("b.public.json");
    let mut p: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(&public).unwrap()).unwrap();
    p[1] = "11".into();
    std::fs::write(&public, serde_json::to_string(&p).unwrap()).unwrap();
    let o = verify_batch(dir.path());
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(stdout(&o), "a: OK\nb: INVALID\nc: OK");
    assert!(stderr(&o).contains("INVALID: 1 of 3 proofs do not verify: b"));

    // other files in the directory are ignored
    std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
    assert_eq!(verify_batch(dir.path()).status.code(), Some(1));
}

#[test]
fn verify_batch_refuses_malformed_directories() {
    // a public.json without its proof
    let dir = batch_dir();
    std::fs::remove_file(dir.path().join("c.proof.json")).unwrap();
    let o = verify_batch(dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("c.public.json has no c.proof.json"),
        "{}",
        stderr(&o)
    );

    // a proof without its public.json
    let dir = batch_dir();
    std::fs::remove_file(dir.path().join("a.public.json")).unwrap();
    let o = verify_batch(dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no a.public.json"), "{}", stderr(&o));

    // a point off the curve names the file and the field
    let dir = batch_dir();
    let f = dir.path().join("b.proof.json");
    let mut proof: Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
    proof["pi_a"][1] = "5".into();
    std::fs::write(&f, proof.to_string()).unwrap();
    let o = verify_batch(dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("b.proof.json") && stderr(&o).contains("pi_a"),
        "{}",
        stderr(&o)
    );

    // one input too many names the proof
    let dir = batch_dir();
    let f = dir.path().join("c.public.json");
    let mut p: Vec<String> = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
    p.push("1".into());
    std::fs::write(&f, serde_json::to_string(&p).unwrap()).unwrap();
    let o = verify_batch(dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("c:") && stderr(&o).contains("public inputs"),
        "{}",
        stderr(&o)
    );

    // empty, missing, and --batch with --proof
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(verify_batch(empty.path()).status.code(), Some(2));
    assert_eq!(
        verify_batch(&empty.path().join("none")).status.code(),
        Some(2)
    );
    let o = zkr(&[
        "verify",
        "--vk",
        vk().to_str().unwrap(),
        "--batch",
        empty.path().to_str().unwrap(),
        "--proof",
        "x.json",
    ]);
    assert_eq!(o.status.code(), Some(2));
    // neither --batch nor --proof
    let o = zkr(&["verify", "--vk", vk().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn export_solidity_writes_a_verifier_for_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("Verifier.sol");
    let o = zkr(&[
        "export",
        "solidity",
        "--vk",
        vk().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let sol = std::fs::read_to_string(&out).unwrap();
    let vk: Value = serde_json::from_str(&std::fs::read_to_string(vk()).unwrap()).unwrap();
    let n = vk["nPublic"].as_u64().unwrap();
    assert!(sol.contains(&format!("uint256[{n}] calldata _pubSignals")));
    assert!(sol.contains("function verifyProof("));
    // the key's points are in it, G2 with the imaginary part first
    let alpha_x = vk["vk_alpha_1"][0].as_str().unwrap();
    assert!(sol.contains(&format!("ALPHA_X = {alpha_x};")));
    let delta_x_im = vk["vk_delta_2"][0][1].as_str().unwrap();
    assert!(sol.contains(&format!("DELTA_X_IM = {delta_x_im};")));
    let last_ic = vk["IC"][n as usize][1].as_str().unwrap();
    assert!(sol.contains(&format!("IC{n}_Y = {last_ic};")));

    // a malformed key: exit 2, nothing written
    let bad = tmp.path().join("bad.json");
    std::fs::write(&bad, "{}").unwrap();
    let out2 = tmp.path().join("V2.sol");
    let o = zkr(&[
        "export",
        "solidity",
        "--vk",
        bad.to_str().unwrap(),
        "--out",
        out2.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!out2.exists());
}

#[test]
fn export_calldata_prints_the_call_arguments() {
    let p = fixture().join("p-a");
    let o = zkr(&[
        "export",
        "calldata",
        "--proof",
        p.join("proof.json").to_str().unwrap(),
        "--public",
        p.join("public.json").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let args: Value = serde_json::from_str(&format!("[{}]", stdout(&o))).unwrap();
    let proof: Value =
        serde_json::from_str(&std::fs::read_to_string(p.join("proof.json")).unwrap()).unwrap();
    let public: Value =
        serde_json::from_str(&std::fs::read_to_string(p.join("public.json")).unwrap()).unwrap();
    let hex = |v: &Value| {
        let n = BigUint::parse_bytes(v.as_str().unwrap().as_bytes(), 10).unwrap();
        Value::String(format!("0x{:0>64}", n.to_str_radix(16)))
    };
    assert_eq!(args[0][0], hex(&proof["pi_a"][0]));
    assert_eq!(args[0][1], hex(&proof["pi_a"][1]));
    // B in EIP-197 order: imaginary part first
    assert_eq!(args[1][0][0], hex(&proof["pi_b"][0][1]));
    assert_eq!(args[1][0][1], hex(&proof["pi_b"][0][0]));
    assert_eq!(args[1][1][0], hex(&proof["pi_b"][1][1]));
    assert_eq!(args[1][1][1], hex(&proof["pi_b"][1][0]));
    assert_eq!(args[2][1], hex(&proof["pi_c"][1]));
    let inputs = public.as_array().unwrap();
    assert_eq!(args[3].as_array().unwrap().len(), inputs.len());
    assert_eq!(args[3][2], hex(&inputs[2]));

    let o = zkr(&[
        "export",
        "calldata",
        "--proof",
        p.join("public.json").to_str().unwrap(),
        "--public",
        p.join("public.json").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn the_new_commands_have_help() {
    for args in [
        vec!["export", "--help"],
        vec!["export", "solidity", "--help"],
        vec!["export", "calldata", "--help"],
    ] {
        let o = zkr(&args);
        assert!(o.status.success(), "{args:?}");
        assert!(stdout(&o).contains("Usage"), "{args:?}");
    }
}

/// `zkr bench` exists only in a binary built with `--features bench`.
#[test]
fn bench_is_a_feature_of_the_binary() {
    let o = zkr(&["bench", "verify", "--help"]);
    if cfg!(feature = "bench") {
        assert!(o.status.success());
        assert!(stdout(&o).contains("Usage"));
    } else {
        assert_eq!(o.status.code(), Some(2), "clap's unknown-command exit code");
    }
}
