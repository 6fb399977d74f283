//! The client the Sigstore conformance suite drives (`sigstore/sigstore-conformance`,
//! docs/cli_protocol.md), over the public API of `chitin_registry::sigstore_bundle`.
//! Only the offline `verify-bundle` subcommand is implemented:
//!
//! ```text
//! verify-bundle [--staging] --bundle FILE --certificate-identity ID --certificate-oidc-issuer URL [--trusted-root FILE] FILE_OR_DIGEST
//! verify-bundle [--staging] --bundle FILE --key KEY.pem [--trusted-root FILE] FILE_OR_DIGEST
//! ```
//!
//! Exit status 0 means the bundle verified; anything else means it was refused.

use std::{path::Path, process::ExitCode};

use chitin_registry::{
    signing::PublicKey,
    sigstore_bundle::{Artifact, Bundle, TrustedRoot, VerificationPolicy, verify_bundle},
};

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Default)]
struct Args {
    bundle: Option<String>,
    identity: Option<String>,
    issuer: Option<String>,
    key: Option<String>,
    trusted_root: Option<String>,
    input: Option<String>,
}

fn parse(args: Vec<String>) -> Result<Args, String> {
    let mut it = args.into_iter();
    if it.next().as_deref() != Some("verify-bundle") {
        return Err("usage: sigstore-conformance verify-bundle …".into());
    }
    let mut a = Args::default();
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--staging" => return Err("--staging needs the network; only offline runs".into()),
            "--bundle" => a.bundle = Some(value()?),
            "--certificate-identity" => a.identity = Some(value()?),
            "--certificate-oidc-issuer" => a.issuer = Some(value()?),
            "--key" => a.key = Some(value()?),
            "--trusted-root" => a.trusted_root = Some(value()?),
            _ if arg.starts_with("--") => return Err(format!("unknown option {arg}")),
            _ if a.input.is_none() => a.input = Some(arg),
            _ => return Err(format!("unexpected argument {arg}")),
        }
    }
    Ok(a)
}

fn read(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{path}: {e}"))
}

/// `sha256:` and 64 hex digits, and not a file: a digest. Anything else: a file.
fn artifact(input: &str) -> Result<Artifact, String> {
    if let Some(hex) = input.strip_prefix("sha256:")
        && hex.len() == 64
        && !Path::new(input).exists()
        && let Ok(bytes) = hex::decode(hex)
    {
        return Ok(Artifact::Digest(bytes.try_into().expect("64 hex digits")));
    }
    Ok(Artifact::Bytes(read(input)?))
}

fn run(args: Vec<String>) -> Result<(), String> {
    let a = parse(args)?;
    let bundle = Bundle::from_json(&read(a.bundle.as_deref().ok_or("--bundle is required")?)?)
        .map_err(|e| e.to_string())?;
    let root = match &a.trusted_root {
        Some(path) => TrustedRoot::from_json(&read(path)?).map_err(|e| e.to_string())?,
        None => TrustedRoot::public_good(),
    };
    let artifact = artifact(a.input.as_deref().ok_or("no FILE_OR_DIGEST")?)?;
    let policy = match (&a.key, &a.identity, &a.issuer) {
        (Some(key), None, None) => {
            VerificationPolicy::Key(PublicKey::from_pem(&read(key)?).map_err(|e| e.to_string())?)
        }
        (None, Some(subject), Some(issuer)) => VerificationPolicy::Identity {
            subject: subject.clone(),
            issuer: issuer.clone(),
        },
        _ => {
            return Err(
                "give either --key, or --certificate-identity and --certificate-oidc-issuer".into(),
            );
        }
    };
    verify_bundle(&bundle, &artifact, &policy, &root)
        .map(|_| ())
        .map_err(|e| e.to_string())
}
