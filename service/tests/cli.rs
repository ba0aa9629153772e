//! The `zkr` binary end to end: exit codes, messages and files.
#![allow(clippy::unwrap_used)]

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::OnceLock;

mod common;
use common::{stderr, stdout, zkr};

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
    assert_eq!(info["verifying_key_sha256"], zkr_artifacts::sha256_hex(&vk));
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

/// `zkr prove` checks a key once and then proves from the checked copy
/// beside it; a key file changed afterwards is checked again, never taken
/// from the copy.
#[test]
fn prove_uses_the_checked_key_only_for_the_checked_bytes() {
    let d = range_fixture();
    let tmp = tempfile::tempdir().unwrap();
    let keys = tmp.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    for f in ["proving_key.bin", "circuit.json", "verification_key.json"] {
        std::fs::copy(d.join("keys").join(f), keys.join(f)).unwrap();
    }
    std::fs::write(
        tmp.path().join("in.json"),
        r#"{"value":"50","blind":"7","min":"10","max":"100"}"#,
    )
    .unwrap();
    let prove = || {
        zkr(&[
            "prove",
            "--keys",
            keys.to_str().unwrap(),
            "--input",
            tmp.path().join("in.json").to_str().unwrap(),
            "--out",
            tmp.path().join("p").to_str().unwrap(),
            "--backend",
            "cpu",
        ])
    };
    for _ in 0..2 {
        let o = prove();
        assert!(o.status.success(), "{}", stderr(&o));
        let p = tmp.path().join("p");
        assert_eq!(
            verify(&p.join("public.json"), &p.join("proof.json"))
                .status
                .code(),
            Some(0)
        );
    }
    assert!(keys.join("proving_key.checked").is_file());
    assert!(keys.join("circuit.prepared").is_file());
    let key = std::fs::read(keys.join("proving_key.bin")).unwrap();
    std::fs::write(keys.join("proving_key.bin"), &key[..key.len() - 1]).unwrap();
    let o = prove();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("proving_key.bin"), "{}", stderr(&o));
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

    // 0 is the empty leaf, and a tree of depth 1 holds two members: each
    // refused, naming the line.
    for (text, depth, line, says) in [
        ("5\n0\n", "6", "line 2", "non-zero"),
        ("5\n6\n7\n", "1", "line 3", "full"),
    ] {
        std::fs::write(&f, text).unwrap();
        let o = zkr(&[
            "registry",
            "root",
            "--depth",
            depth,
            "--members",
            f.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains(line) && err.contains(says), "{err}");
    }
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

#[test]
fn verify_registry_root_and_attestation_flags_refuse_what_does_not_fit() {
    let d = range_fixture();
    let p = d.join("p");
    let vk = d.join("keys/verification_key.json");
    let proof = p.join("proof.json");
    let public = p.join("public.json");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "verify",
            "--vk",
            vk.to_str().unwrap(),
            "--proof",
            proof.to_str().unwrap(),
            "--public",
            public.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        zkr(&args)
    };
    // The range circuit (named by circuit.json beside the key) has no root.
    let o = run(&["--registry-root", "1"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("no registry root"), "{}", stderr(&o));
    // --circuit must agree with circuit.json.
    let o = run(&["--registry-root", "1", "--circuit", "membership"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("another circuit"), "{}", stderr(&o));
    // Only receipt proofs carry an attestation; both files go together.
    let f = tempfile::tempdir().unwrap();
    let att = f.path().join("att.json");
    std::fs::write(&att, r#"{"key_id":"c","key_version":1,"signature":"00"}"#).unwrap();
    let a = att.to_str().unwrap();
    let o = run(&["--attestation", a, "--signing-key", a]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("only receipt proofs"), "{}", stderr(&o));
    let o = run(&["--signing-key", a]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // Without circuit.json beside the key, the circuit must be named.
    let lone = f.path().join("vk.json");
    std::fs::copy(&vk, &lone).unwrap();
    let o = zkr(&[
        "verify",
        "--vk",
        lone.to_str().unwrap(),
        "--proof",
        p.join("proof.json").to_str().unwrap(),
        "--public",
        p.join("public.json").to_str().unwrap(),
        "--registry-root",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--circuit"), "{}", stderr(&o));
    // Without the new flags nothing changes.
    let o = run(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

fn zkr_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_zkr"));
    c.args(args);
    without_zkr_env(&mut c);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

#[test]
fn token_list_revoke_and_rotate_admin() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let url = format!("sqlite://{}?mode=rwc", data.join("zkr.db").display());
    let o = zkr_env(
        &[
            "token",
            "create",
            "--role",
            "miner",
            "--principal",
            "miner-9",
            "--database",
            &url,
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let secret = stdout(&o);

    let o = zkr_env(&["token", "list", "--database", &url], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let list = stdout(&o);
    assert!(!list.contains(&secret), "the list shows a token");
    let line = list
        .lines()
        .find(|l| l.contains("miner-9"))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(line.ends_with("active") && line.contains("never"), "{line}");
    let id = line.split_whitespace().next().unwrap().to_string();

    let o = zkr_env(&["token", "revoke", &id, "--database", &url], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = zkr_env(&["token", "list", "--database", &url], &[]);
    let list = stdout(&o);
    let line = list.lines().find(|l| l.contains(&id)).unwrap();
    assert!(line.ends_with("revoked"), "{line}");
    let o = zkr_env(&["token", "revoke", "no-such-id", "--database", &url], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("not found"), "{}", stderr(&o));

    // An expiry that is already past is refused as bad input.
    let o = zkr_env(
        &[
            "token",
            "create",
            "--role",
            "miner",
            "--expires-in-days",
            "0",
            "--database",
            &url,
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("not in the future"), "{}", stderr(&o));
    let o = zkr_env(
        &[
            "token",
            "create",
            "--role",
            "miner",
            "--expires-in-days",
            "-1",
            "--database",
            &url,
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));

    // rotate-admin writes a new token (0600) and revokes the one the file held.
    let data_dir = data.to_str().unwrap();
    let o = zkr_env(
        &[
            "token",
            "rotate-admin",
            "--data-dir",
            data_dir,
            "--database",
            &url,
        ],
        &[("ZKR_ADMIN_TOKEN_DAYS", "3")],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let file = data.join("admin-token");
    let first = std::fs::read_to_string(&file).unwrap();
    let o = zkr_env(
        &[
            "token",
            "rotate-admin",
            "--data-dir",
            data_dir,
            "--database",
            &url,
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let second = std::fs::read_to_string(&file).unwrap();
    assert_ne!(first, second);
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let o = zkr_env(&["token", "list", "--database", &url], &[]);
    let list = stdout(&o);
    let admins: Vec<&str> = list.lines().filter(|l| l.contains(" admin ")).collect();
    assert_eq!(admins.len(), 2, "{list}");
    // Listed by creation second, so the two may come in either order.
    let revoked = admins.iter().filter(|l| l.ends_with("revoked")).count();
    let active = admins.iter().filter(|l| l.ends_with("active")).count();
    assert_eq!((revoked, active), (1, 1), "{list}");

    // Each of these was audited, and the chain still verifies.
    let o = zkr_env(&["audit", "verify", "--database", &url], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let events = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let db = zkr_store::Db::connect(&url).await.unwrap();
        let filter = zkr_server::audit_log::Filter {
            limit: 1000,
            ..Default::default()
        };
        zkr_server::audit_log::query(&db, &filter).await.unwrap()
    });
    for a in ["token_read", "token_revoke", "token_rotate_admin"] {
        assert!(
            events.iter().any(|e| e.action == a && e.actor == "zkr-cli"),
            "{a} not audited: {events:?}"
        );
    }
}

/// `zkr serve` on an empty directory creates it 0700 and its files 0600.
#[test]
fn serve_creates_private_files() {
    use std::io::BufRead;
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut command = Command::new(env!("CARGO_BIN_EXE_zkr"));
    command
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    // The development KEK file in the data directory, whatever CI exports.
    without_zkr_env(&mut command);
    let mut child = command.env("ZKR_REGISTRY_DEPTH", "2").spawn().unwrap();
    let stdout_pipe = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout_pipe).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    let mut listening = false;
    while std::time::Instant::now() < deadline {
        match rx.recv_timeout(std::time::Duration::from_secs(1)) {
            Ok(line) if line.starts_with("listening on") => {
                listening = true;
                break;
            }
            Ok(_) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(_) => break,
        }
    }
    let modes: Vec<(String, u32)> = walk(&data)
        .into_iter()
        .map(|p| {
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            (p.strip_prefix(&data).unwrap().display().to_string(), mode)
        })
        .collect();
    let _ = child.kill();
    let _ = child.wait();
    assert!(listening, "zkr serve did not start");
    let dir_mode = std::fs::metadata(&data).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700);
    for expected in ["zkr.db", "admin-token", "circuits/range/proving_key.bin"] {
        assert!(
            modes.iter().any(|(p, _)| p == expected),
            "{expected} missing: {modes:?}"
        );
    }
    for (path, mode) in &modes {
        let want = if data.join(path).is_dir() {
            0o700
        } else {
            0o600
        };
        assert_eq!(*mode, want, "{path}: {mode:o}");
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}

/// Leaves out every `ZKR_*` variable of the test's environment (CI sets
/// several), so that the command sees only what the test gives it.
fn without_zkr_env(c: &mut Command) {
    for (k, _) in std::env::vars() {
        if k.starts_with("ZKR_") {
            c.env_remove(k);
        }
    }
}
