//! The `zkr` binary end to end: exit codes, messages and files.
#![allow(clippy::unwrap_used)]

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::OnceLock;

fn zkr(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zkr"))
        .args(args)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Range keys and a valid proof, made once for the tests in this file.
fn range_fixture() -> &'static Path {
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
        assert!(stderr(&o).contains("development only"));
        assert!(stderr(&o).contains("warning: range: single-party setup"));
        std::fs::write(
            d.join("in.json"),
            r#"{"value":"50","blind":"7","min":"10","max":"100"}"#,
        )
        .unwrap();
        let o = zkr(&[
            "prove",
            "--keys",
            keys.to_str().unwrap(),
            "--input",
            d.join("in.json").to_str().unwrap(),
            "--out",
            d.join("p").to_str().unwrap(),
            "--backend",
            "cpu",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        dir
    })
    .path()
}

fn verify(public: &Path, proof: &Path) -> Output {
    let d = range_fixture();
    zkr(&[
        "verify",
        "--vk",
        d.join("keys/verification_key.json").to_str().unwrap(),
        "--proof",
        proof.to_str().unwrap(),
        "--public",
        public.to_str().unwrap(),
    ])
}

#[test]
fn setup_writes_the_four_files() {
    let d = range_fixture().join("keys");
    for f in [
        "proving_key.bin",
        "verifying_key.bin",
        "verification_key.json",
        "circuit.json",
    ] {
        assert!(d.join(f).is_file(), "{f}");
    }
    let info: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("circuit.json")).unwrap()).unwrap();
    assert_eq!(info["name"], "range");
    assert_eq!(
        info["public_inputs"],
        serde_json::json!(["commitment", "min", "max"])
    );
    assert!(info["constraints"].as_u64().unwrap() > 500);
    let vk = std::fs::read(d.join("verifying_key.bin")).unwrap();
    assert_eq!(
        info["verifying_key_sha256"],
        zkr::cli::keys::sha256_hex(&vk)
    );
}

#[test]
fn verify_exit_codes() {
    let d = range_fixture();
    let p = d.join("p");
    let ok = verify(&p.join("public.json"), &p.join("proof.json"));
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    assert_eq!(stderr(&ok).lines().count(), 1);

    let tmp = tempfile::tempdir().unwrap();
    let mut public: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(p.join("public.json")).unwrap()).unwrap();
    public[2] = "101".into();
    let bad = tmp.path().join("bad.json");
    std::fs::write(&bad, serde_json::to_string(&public).unwrap()).unwrap();
    let o = verify(&bad, &p.join("proof.json"));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("INVALID"));
    assert_eq!(stderr(&o).lines().count(), 1);

    // one input too many: malformed, not merely invalid
    public[2] = "100".into();
    public.push("1".into());
    std::fs::write(&bad, serde_json::to_string(&public).unwrap()).unwrap();
    let o = verify(&bad, &p.join("proof.json"));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));

    // a proof point off the curve names the file and the field
    let mut proof: Value =
        serde_json::from_str(&std::fs::read_to_string(p.join("proof.json")).unwrap()).unwrap();
    proof["pi_a"][1] = "5".into();
    let badp = tmp.path().join("proof.json");
    std::fs::write(&badp, proof.to_string()).unwrap();
    let o = verify(&p.join("public.json"), &badp);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("proof.json") && stderr(&o).contains("pi_a"),
        "{}",
        stderr(&o)
    );

    // missing and empty files
    let o = verify(&p.join("public.json"), &tmp.path().join("none.json"));
    assert_eq!(o.status.code(), Some(2));
    std::fs::write(&badp, "").unwrap();
    assert_eq!(verify(&p.join("public.json"), &badp).status.code(), Some(2));
}

#[test]
fn prove_refuses_unsatisfiable_input_naming_the_condition() {
    let d = range_fixture();
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        (
            r#"{"value":"5","blind":"7","min":"10","max":"100"}"#,
            "value < min",
        ),
        (
            r#"{"value":"500","blind":"7","min":"10","max":"100"}"#,
            "value > max",
        ),
        (
            r#"{"value":"340282366920938463463374607431768211456","blind":"7","min":"10","max":"100"}"#,
            "< 2^128",
        ),
        (r#"{"value":"50","blind":"7","min":"10"}"#, "max"),
        (
            r#"{"value":"50","blind":"7","min":"10","max":"100","extra":"1"}"#,
            "extra",
        ),
        (
            r#"{"value":50,"blind":"7","min":"10","max":"100"}"#,
            "string",
        ),
    ];
    for (input, needle) in cases {
        let f = tmp.path().join("in.json");
        std::fs::write(&f, input).unwrap();
        let o = zkr(&[
            "prove",
            "--keys",
            d.join("keys").to_str().unwrap(),
            "--input",
            f.to_str().unwrap(),
            "--out",
            tmp.path().join("out").to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(2), "{input}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{input}: {}", stderr(&o));
        assert!(!tmp.path().join("out/proof.json").exists());
    }
}

#[test]
fn hash_poseidon_matches_circomlibjs() {
    let v: Value =
        serde_json::from_str(include_str!("../../circuits/tests/vectors/poseidon.json")).unwrap();
    for case in v["cases"].as_array().unwrap().iter().step_by(5) {
        let inputs: Vec<&str> = case["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap())
            .collect();
        let mut args = vec!["hash", "poseidon"];
        args.extend(&inputs);
        let o = zkr(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(stdout(&o), case["hash"].as_str().unwrap());
    }
    let o = zkr(&["hash", "poseidon", "-1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("input 1"));
    let many: Vec<String> = (0..13).map(|i| i.to_string()).collect();
    let mut args = vec!["hash", "poseidon"];
    args.extend(many.iter().map(String::as_str));
    assert_eq!(zkr(&args).status.code(), Some(2));
}

#[test]
fn registry_root_matches_circomlibjs_tree() {
    let v: Value =
        serde_json::from_str(include_str!("../../circuits/tests/vectors/merkle.json")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("members.txt");
    let leaves: Vec<&str> = v["leaves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    std::fs::write(&f, leaves.join("\n") + "\n").unwrap();
    let o = zkr(&[
        "registry",
        "root",
        "--depth",
        "6",
        "--members",
        f.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), v["root"].as_str().unwrap());

    std::fs::write(&f, format!("{}\nnot-a-number\n", leaves[0])).unwrap();
    let o = zkr(&[
        "registry",
        "root",
        "--depth",
        "6",
        "--members",
        f.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("line 2"), "{}", stderr(&o));
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["setup", "--help"],
        vec!["prove", "--help"],
        vec!["verify", "--help"],
        vec!["hash", "poseidon", "--help"],
        vec!["registry", "root", "--help"],
        vec!["demo", "--help"],
    ] {
        let o = zkr(&args);
        assert!(o.status.success(), "{args:?}");
        assert!(stdout(&o).contains("Usage"), "{args:?}");
    }
    assert_eq!(
        zkr(&["setup", "--circuit", "nope", "--out", "/tmp/x"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(zkr(&["no-such-command"]).status.code(), Some(2));
}
