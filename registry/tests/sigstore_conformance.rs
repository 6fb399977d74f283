//! The offline `bundle-verify` vectors of the Sigstore conformance suite
//! (`tests/sigstore-conformance/`, vendored from sigstore/sigstore-conformance), run
//! through the `sigstore-conformance` binary the way the suite drives a client: once on
//! the artifact file and once on its `sha256:` digest.
//!
//! A vector whose directory ends in `_fail` passes when the bundle is refused; any other
//! passes when it verifies. `expected-passing.txt` lists the vectors (per mode) that pass
//! today. The test fails when one of them stops passing, when a `_fail` vector is ever
//! accepted, and when a vector passes that the list does not name (add it: the count
//! only goes up).

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::Command,
};

use sha2::{Digest, Sha256};

const DEFAULT_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const DEFAULT_ISSUER: &str = "https://token.actions.githubusercontent.com";

fn suite() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/sigstore-conformance")
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// Runs one vector in one mode; true when the client accepted the bundle.
fn accepted(dir: &Path, digest_mode: bool) -> (bool, String) {
    let artifact = if dir.join("artifact").exists() {
        dir.join("artifact")
    } else {
        dir.join("../a.txt")
    };
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sigstore-conformance"));
    cmd.arg("verify-bundle")
        .arg("--bundle")
        .arg(dir.join("bundle.sigstore.json"));
    if dir.join("key.pub").exists() {
        cmd.arg("--key").arg(dir.join("key.pub"));
    } else {
        cmd.arg("--certificate-identity")
            .arg(read_trimmed(&dir.join("identity")).unwrap_or(DEFAULT_IDENTITY.into()))
            .arg("--certificate-oidc-issuer")
            .arg(read_trimmed(&dir.join("issuer")).unwrap_or(DEFAULT_ISSUER.into()));
    }
    if dir.join("trusted_root.json").exists() {
        cmd.arg("--trusted-root").arg(dir.join("trusted_root.json"));
    }
    if digest_mode {
        let bytes = std::fs::read(&artifact).unwrap();
        cmd.arg(format!("sha256:{}", hex::encode(Sha256::digest(bytes))));
    } else {
        cmd.arg(&artifact);
    }
    let out = cmd.output().expect("the conformance client runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    )
}

#[test]
fn bundle_verify_vectors() {
    let root = suite().join("bundle-verify");
    let mut vectors: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    vectors.sort();
    assert_eq!(vectors.len(), 70, "the vendored suite has 70 vectors");
    let expected: BTreeSet<String> = std::fs::read_to_string(suite().join("expected-passing.txt"))
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect();

    let mut passing = BTreeSet::new();
    let mut accepted_bad = Vec::new();
    for mode in ["artifact", "digest"] {
        for v in &vectors {
            let (ok, err) = accepted(&root.join(v), mode == "digest");
            let should_fail = v.ends_with("_fail");
            let pass = ok != should_fail;
            if ok && should_fail {
                accepted_bad.push(format!("{mode} {v}"));
            }
            println!(
                "{} {mode} {v}{}",
                if pass { "passed" } else { "FAILED" },
                if ok {
                    String::new()
                } else {
                    format!(" ({err})")
                }
            );
            if pass {
                passing.insert(format!("{mode} {v}"));
            }
        }
    }
    let count = |mode: &str| passing.iter().filter(|p| p.starts_with(mode)).count();
    println!(
        "conformance: artifact {}/70, digest {}/70",
        count("artifact "),
        count("digest ")
    );
    assert!(
        accepted_bad.is_empty(),
        "bad bundles were accepted: {accepted_bad:?}"
    );
    let regressed: Vec<_> = expected.difference(&passing).collect();
    assert!(
        regressed.is_empty(),
        "vectors that passed before now fail: {regressed:?}"
    );
    let new: Vec<_> = passing.difference(&expected).collect();
    assert!(
        new.is_empty(),
        "vectors now pass that tests/sigstore-conformance/expected-passing.txt does not list; \
         add them: {new:?}"
    );
}
