//! `chitin keygen`, `chitin skill sign`, `chitin skill verify`, and where the trust
//! policy lives.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chitin_host::install::fetch_signed;
use chitin_registry::oci::auth_for;
use chitin_registry::signing::{Envelope, KeyPair, PublicKey};
use chitin_registry::trust::TrustPolicy;
use chitin_registry::{RegistryClient, SkillRef};
use clap::{Args, ValueEnum};
use serde_json::json;
use sha2::Digest as _;

use super::display::field;
use super::lifecycle::RegistryArgs;
use super::{Exit, exit};
use chitin_registry::untrusted;

#[derive(Args)]
pub struct KeygenArgs {
    /// Writes `<prefix>.key` (encrypted) and `<prefix>.pub`.
    prefix: PathBuf,
    /// Overwrite existing files.
    #[arg(long)]
    force: bool,
    /// Print one JSON document on stdout: `{private_key, public_key, fingerprint}`.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum SignatureForm {
    /// The cosign `sha256-<hex>.sig` tag (what `cosign verify --key` reads).
    Cosign,
    /// A Sigstore bundle attached as an OCI referrer.
    Bundle,
    /// Both.
    Both,
}

#[derive(Args)]
pub struct SignArgs {
    /// The skill in a registry: `registry/repo:tag` or `registry/repo@sha256:…`.
    reference: String,
    /// The private key (`chitin keygen` or `cosign generate-key-pair`); its password
    /// comes from CHITIN_PASSWORD, COSIGN_PASSWORD or a prompt.
    #[arg(long, required_unless_present = "keyless", conflicts_with = "keyless")]
    key: Option<PathBuf>,
    /// Sign keyless instead: an OIDC identity token (SIGSTORE_ID_TOKEN, as CI systems
    /// provide) gets a short-lived Fulcio certificate, the signature is logged in Rekor,
    /// and a Sigstore bundle is stored.
    #[arg(long)]
    keyless: bool,
    #[command(flatten)]
    sigstore: SigstoreArgs,
    /// Which signature forms to store with a key.
    #[arg(long, value_enum, default_value = "both")]
    form: SignatureForm,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Print one JSON document on stdout: `{reference, digest, signer, forms}`.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct AttestArgs {
    /// The skill in a registry: `registry/repo:tag` or `registry/repo@sha256:…`.
    reference: String,
    /// The predicate (JSON): for SLSA provenance v1, `{buildDefinition, runDetails}` as
    /// the build wrote it. The statement around it names the skill's manifest digest.
    #[arg(long)]
    predicate: PathBuf,
    /// The predicate's type.
    #[arg(long, default_value = chitin_registry::provenance::SLSA_PROVENANCE_V1)]
    predicate_type: String,
    /// Sign keyless (the only way: provenance is signed by the builder's CI identity,
    /// from SIGSTORE_ID_TOKEN).
    #[arg(long, required = true)]
    keyless: bool,
    #[command(flatten)]
    sigstore: SigstoreArgs,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Print one JSON document on stdout: `{reference, digest, builder, issuer, source,
    /// predicate_type}`.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct VerifyArgs {
    /// `registry/repo:tag`, `…@sha256:…`, `…:^1.2` or `oci-layout:<dir>[:tag]`.
    reference: String,
    /// Check against this public key only, instead of the trust policy.
    #[arg(long, conflicts_with = "policy")]
    key: Option<PathBuf>,
    /// Use this trust policy file instead of the project's and the user's.
    #[arg(long)]
    policy: Option<PathBuf>,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Print one JSON document on stdout: `{verified, repository, digest, signer, rule,
    /// form}`, or `{verified: false, …, error}`.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ShowArgs {
    /// Show this policy file instead of the project's and the user's.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Print one JSON document on stdout: `{files: [{path, exists}], rules}`.
    #[arg(long)]
    json: bool,
}

/// `chitin trust show`: the policy in force, rule by rule, and the files it came from.
pub fn show(args: ShowArgs) -> Result<u8, Exit> {
    let policy = load_policy(args.policy.as_deref())?;
    let rules: Vec<serde_json::Value> = policy
        .rules
        .iter()
        .map(|r| {
            json!({
                "repositories": r.repositories,
                "file": r.source,
                "keys": r.keys.iter().map(|(file, key)| json!({ "file": file, "fingerprint": key.fingerprint() })).collect::<Vec<_>>(),
                "identities": r.identities.iter().map(|(i, _)| json!({ "issuer": i.issuer, "subject": i.subject })).collect::<Vec<_>>(),
                "trusted_root": r.trusted_root_name,
                "deny": r.deny,
                "allow_signer_change": r.allow_signer_change,
                "provenance": r.provenance.as_ref().map(|p| json!({ "builder": p.pattern.builder, "issuer": p.pattern.issuer, "source": p.pattern.source })),
            })
        })
        .collect();
    if args.json {
        let files: Vec<serde_json::Value> = policy
            .sources
            .iter()
            .map(|f| json!({ "path": f, "exists": f.exists() }))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "files": files, "rules": rules }))?
        );
        return Ok(exit::OK);
    }
    println!("Policy files, in order:");
    for f in &policy.sources {
        let state = if f.exists() { "" } else { "  (not present)" };
        println!("  {}{state}", f.display());
    }
    println!(
        "Sigstore public-good root: {}",
        match &policy.public_good {
            Some(_) => format!(
                "refreshed through TUF ({})",
                refreshed_root_path()?.display()
            ),
            None => "shipped with chitin (refresh with `chitin trust refresh`)".to_string(),
        }
    );
    if policy.rules.is_empty() {
        println!(
            "\nNo rules: nothing installs without --allow-unsigned. Add a [[rule]] naming a \
             publisher's key or identity (see the README, \"Trust\")."
        );
    }
    for r in &policy.rules {
        println!("\n{}  ({})", r.repositories, r.source.display());
        for (file, key) in &r.keys {
            println!("  key       {} ({file})", key.fingerprint());
        }
        for (i, _) in &r.identities {
            println!("  identity  {} from {}", i.subject, i.issuer);
        }
        if !r.identities.is_empty() {
            println!("  root      {}", r.trusted_root_name);
        }
        if !r.has_signers() {
            println!("  signers   none (this rule only adds ceilings)");
        }
        if !r.deny.is_empty() {
            let denied: Vec<String> = r.deny.iter().map(|d| d.to_string()).collect();
            println!("  deny      {}", denied.join(", "));
        }
        if r.allow_signer_change {
            println!("  updates may change signer");
        }
        if let Some(p) = &r.provenance {
            println!("  requires  {}", p.describe());
        }
    }
    Ok(exit::OK)
}

#[derive(Args)]
pub struct RefreshArgs {
    /// The TUF repository to fetch `trusted_root.json` from (metadata at its root,
    /// targets under `targets/`).
    #[arg(long, default_value = chitin_registry::tuf::PUBLIC_GOOD_MIRROR)]
    mirror: String,
    /// The TUF root.json the chain starts from [default: Sigstore's, shipped with chitin].
    #[arg(long)]
    tuf_root: Option<PathBuf>,
    /// Print one JSON document on stdout: `{refreshed, mirror, path, error}`.
    #[arg(long)]
    json: bool,
}

/// Where a trusted root refreshed through TUF is kept; `public-good` in the policy means
/// it when it exists.
fn refreshed_root_path() -> anyhow::Result<PathBuf> {
    Ok(super::chitin_home()?.join("sigstore/trusted_root.json"))
}

/// `chitin trust refresh`: fetch Sigstore's trusted root through TUF; when that fails
/// (offline), say what stays in use.
pub fn refresh(args: RefreshArgs) -> Result<u8, Exit> {
    use chitin_registry::tuf::{SHIPPED_TUF_ROOT, refresh};
    let root = match &args.tuf_root {
        Some(path) => std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
        None => SHIPPED_TUF_ROOT.to_vec(),
    };
    let path = refreshed_root_path()?;
    let dir = path.parent().expect("a file in a folder").to_path_buf();
    chitin_host::engine::create_private_dir(&dir)?;
    // TUF metadata seen so far, per repository and starting root, so versions never go back.
    let mut hasher = sha2::Sha256::new();
    hasher.update(args.mirror.as_bytes());
    hasher.update(&root);
    let datastore = dir.join("tuf").join(&hex::encode(hasher.finalize())[..16]);
    std::fs::create_dir_all(&datastore)
        .with_context(|| format!("creating {}", datastore.display()))?;
    let rt = super::tokio()?;
    let timeout = super::lifecycle::RegistryArgs::default_options().timeout;
    match rt.block_on(refresh(&root, &args.mirror, &datastore, timeout)) {
        Ok(bytes) => {
            chitin_registry::atomic::write(&path, &bytes)
                .with_context(|| format!("writing {}", path.display()))?;
            if args.json {
                println!(
                    "{}",
                    json!({ "refreshed": true, "mirror": args.mirror, "path": path })
                );
            } else {
                eprintln!(
                    "   Refreshed the Sigstore trusted root from {} (TUF verified)
                                  into {}; rules with `public-good` use it",
                    field(&args.mirror),
                    path.display()
                );
            }
            Ok(exit::OK)
        }
        Err(e) => {
            let in_use = if path.exists() {
                format!(
                    "the one refreshed earlier ({}) stays in use",
                    path.display()
                )
            } else {
                "the one shipped with chitin stays in use".to_string()
            };
            if args.json {
                let doc = json!({ "refreshed": false, "mirror": args.mirror,
                                  "path": path.exists().then_some(&path), "error": e.to_string() });
                println!("{}", untrusted::json_for_terminal(&doc.to_string()));
            }
            Err(Exit(
                exit::ERROR,
                anyhow::Error::new(e).context(format!(
                    "could not refresh the Sigstore trusted root; {in_use}"
                )),
            ))
        }
    }
}

/// The user's policy file: `$CHITIN_TRUST_POLICY`, else
/// `$XDG_CONFIG_HOME/chitin/trust.toml`, else `~/.config/chitin/trust.toml`.
pub fn user_policy_path() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("CHITIN_TRUST_POLICY").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir).join("chitin/trust.toml"));
    }
    let home = std::env::var_os("HOME").context("neither CHITIN_TRUST_POLICY nor HOME is set")?;
    Ok(PathBuf::from(home).join(".config/chitin/trust.toml"))
}

/// The policy in force: `explicit` alone if given; else the project's
/// (`.chitin/trust.toml` in the current folder or the nearest parent with one)
/// merged before the user's.
pub fn load_policy(explicit: Option<&Path>) -> anyhow::Result<TrustPolicy> {
    if let Some(file) = explicit {
        if !file.exists() {
            bail!("the trust policy {} does not exist", file.display());
        }
        let mut policy = TrustPolicy::load(&[file.to_path_buf()])?;
        policy.public_good = refreshed_root()?;
        return Ok(policy);
    }
    let mut files = Vec::new();
    if let Ok(cwd) = std::env::current_dir()
        && let Some(project) = cwd
            .ancestors()
            .map(|d| d.join(".chitin/trust.toml"))
            .find(|f| f.is_file())
    {
        files.push(project);
    }
    let user = user_policy_path()?;
    if let Some(named) = std::env::var_os("CHITIN_TRUST_POLICY").filter(|v| !v.is_empty())
        && !user.exists()
    {
        eprintln!(
            "warning: CHITIN_TRUST_POLICY names {}, which does not exist, so no rule of it \
             applies",
            PathBuf::from(named).display()
        );
    }
    files.push(user);
    let mut policy = TrustPolicy::load(&files)?;
    policy.public_good = refreshed_root()?;
    Ok(policy)
}

/// The trusted root `chitin trust refresh` stored, if any.
fn refreshed_root()
-> anyhow::Result<Option<std::sync::Arc<chitin_registry::sigstore_bundle::TrustedRoot>>> {
    let path = refreshed_root_path()?;
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let root =
        chitin_registry::sigstore_bundle::TrustedRoot::from_json(&bytes).with_context(|| {
            format!(
                "{} is not a usable trusted root; run `chitin trust refresh` again, or delete it \
             to use the one shipped with chitin",
                path.display()
            )
        })?;
    Ok(Some(std::sync::Arc::new(root)))
}

/// The signing key's password: CHITIN_PASSWORD, COSIGN_PASSWORD, or asked for.
fn password(confirm: bool) -> anyhow::Result<zeroize::Zeroizing<String>> {
    for var in ["CHITIN_PASSWORD", "COSIGN_PASSWORD"] {
        if let Ok(p) = std::env::var(var) {
            return Ok(p.into());
        }
    }
    if !std::io::stdin().is_terminal() {
        bail!("no password: set CHITIN_PASSWORD (or COSIGN_PASSWORD), or run on a terminal");
    }
    let first = zeroize::Zeroizing::new(rpassword::prompt_password("Password for the key: ")?);
    if confirm {
        let again = zeroize::Zeroizing::new(rpassword::prompt_password("Again: ")?);
        if *again != *first {
            bail!("the passwords differ; nothing was written");
        }
    }
    Ok(first)
}

/// Read and decrypt a private key file.
pub fn read_private_key(path: &Path) -> anyhow::Result<KeyPair> {
    let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let pass = password(false)?;
    KeyPair::from_encrypted_pem(&pem, pass.as_bytes())
        .with_context(|| format!("decrypting {}", path.display()))
}

pub fn keygen(args: KeygenArgs) -> Result<u8, Exit> {
    let private = args.prefix.with_extension("key");
    let public = args.prefix.with_extension("pub");
    for f in [&private, &public] {
        if f.exists() && !args.force {
            return Err(anyhow::anyhow!(
                "{} exists; pick another prefix or pass --force to overwrite it",
                f.display()
            )
            .into());
        }
    }
    let pass = password(true)?;
    let key = KeyPair::generate()?;
    let pem = key.to_encrypted_pem(pass.as_bytes())?;
    write_private(&private, pem.as_bytes())?;
    std::fs::write(&public, key.public_key().to_pem())
        .with_context(|| format!("writing {}", public.display()))?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "private_key": private, "public_key": public,
                                "fingerprint": key.public_key().fingerprint() })
        );
        return Ok(exit::OK);
    }
    eprintln!(
        "     Created {} (private, encrypted) and {}\n             {}",
        private.display(),
        public.display(),
        key.public_key().fingerprint()
    );
    Ok(exit::OK)
}

/// A private key file readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))
}

pub fn sign(args: SignArgs) -> Result<u8, Exit> {
    let key = match &args.key {
        Some(path) => Some(read_private_key(path)?),
        None => None,
    };
    let target = match args.reference.parse::<SkillRef>()? {
        SkillRef::Oci(r) => r,
        SkillRef::Layout { .. } => bail_exit(
            "sign the skill in its registry; `chitin skill export` carries the signature",
        )?,
    };
    let rt = super::tokio()?;
    let client = RegistryClient::for_ref(&target, &args.registry.options())?;
    let auth = auth_for(target.reference.resolve_registry());
    let pinned = rt.block_on(client.resolve(&target, &auth))?;
    let (bytes, digest) = rt.block_on(client.fetch_manifest(&pinned.reference, &auth))?;
    chitin_registry::artifact::parse_remote(&bytes)
        .with_context(|| format!("{} is not a chitin skill", args.reference))?;
    let (signer, stored) = match &key {
        Some(key) => {
            let stored = sign_pinned(
                &rt,
                &client,
                &auth,
                &pinned.reference,
                &bytes,
                key,
                args.form,
            )?;
            (format!("key {}", key.public_key().fingerprint()), stored)
        }
        None => {
            let bundle = rt.block_on(sign_keyless(&args.sigstore, &bytes))?;
            rt.block_on(client.push_signature(
                &pinned.reference,
                &digest,
                bytes.len(),
                &bundle.1,
                &auth,
            ))
            .context("storing the Sigstore bundle in the registry")?;
            (bundle.0, vec![bundle.1.form()])
        }
    };
    if args.json {
        println!(
            "{}",
            json!({ "reference": pinned.reference.whole(), "digest": digest,
                    "signer": signer, "forms": stored })
        );
    } else {
        eprintln!(
            "      Signed {} ({})\n             by {signer} as {}",
            target.repository(),
            digest,
            stored.join(" and ")
        );
    }
    Ok(exit::OK)
}

/// Keyless: certificate, signature, log entry; then the bundle is verified offline
/// like any installer will, so nothing unverifiable is published. Returns the signer
/// and the envelope.
async fn sign_keyless(args: &SigstoreArgs, manifest: &[u8]) -> anyhow::Result<(String, Envelope)> {
    use chitin_registry::sigstore_bundle::verify_keyless;
    let token = std::env::var("SIGSTORE_ID_TOKEN").map_err(|_| {
        anyhow::anyhow!(
            "keyless signing needs an OIDC identity token in SIGSTORE_ID_TOKEN (CI systems \
             such as GitHub Actions provide one); or sign with --key"
        )
    })?;
    let root = args.trusted_root()?;
    let bundle = chitin_registry::sigstore_bundle::sign_keyless(
        manifest,
        &token,
        &args.fulcio_url,
        &args.rekor_url,
    )
    .await?;
    let digest: [u8; 32] = sha2::Sha256::digest(manifest).into();
    let id = verify_keyless(&bundle, &digest, &root)
        .context("the new keyless signature does not verify against the trusted root")?;
    let envelope = Envelope::Bundle {
        bundle: String::from_utf8(bundle.to_json()).expect("JSON is UTF-8"),
    };
    Ok((format!("{} (issuer {})", id.subject, id.issuer), envelope))
}

/// `chitin skill attest`: an in-toto statement about the skill's manifest digest with
/// the given predicate, signed keyless, checked offline like an installer will, and
/// attached to the skill as an OCI referrer.
pub fn attest(args: AttestArgs) -> Result<u8, Exit> {
    use chitin_registry::provenance::MAX_ATTESTATION_BYTES;
    use chitin_registry::sigstore_bundle::attest_keyless;
    let target = match args.reference.parse::<SkillRef>()? {
        SkillRef::Oci(r) => r,
        SkillRef::Layout { .. } => bail_exit(
            "attest the skill in its registry; `chitin skill export` carries the attestation",
        )?,
    };
    let text = std::fs::read(&args.predicate)
        .with_context(|| format!("reading {}", args.predicate.display()))?;
    if text.len() > MAX_ATTESTATION_BYTES / 2 {
        bail_exit("the predicate is larger than 128 KiB; is it the right file?")?;
    }
    let predicate: serde_json::Value = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not JSON", args.predicate.display()))?;
    if !predicate.is_object() {
        bail_exit(
            "the predicate must be a JSON object (for SLSA v1: {buildDefinition, runDetails})",
        )?;
    }
    let token = std::env::var("SIGSTORE_ID_TOKEN").map_err(|_| {
        anyhow::anyhow!(
            "attesting needs an OIDC identity token in SIGSTORE_ID_TOKEN (CI systems such as \
             GitHub Actions provide one): provenance is signed by the build's identity"
        )
    })?;
    let root = args.sigstore.trusted_root()?;
    let rt = super::tokio()?;
    let client = RegistryClient::for_ref(&target, &args.registry.options())?;
    let auth = auth_for(target.reference.resolve_registry());
    let pinned = rt.block_on(client.resolve(&target, &auth))?;
    let (bytes, digest) = rt.block_on(client.fetch_manifest(&pinned.reference, &auth))?;
    chitin_registry::artifact::parse_remote(&bytes)
        .with_context(|| format!("{} is not a chitin skill", args.reference))?;
    let statement = serde_json::to_vec(&json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{
            "name": target.repository(),
            "digest": { "sha256": digest.trim_start_matches("sha256:") },
        }],
        "predicateType": args.predicate_type,
        "predicate": predicate,
    }))?;
    let bundle = rt.block_on(attest_keyless(
        &statement,
        &token,
        &args.sigstore.fulcio_url,
        &args.sigstore.rekor_url,
    ))?;
    let bundle = String::from_utf8(bundle.to_json()).expect("JSON is UTF-8");
    let found = chitin_registry::provenance::inspect(&bundle, &digest, &root).map_err(|e| {
        anyhow::anyhow!("the new attestation does not verify against the trusted root: {e}")
    })?;
    rt.block_on(client.push_attestation(
        &pinned.reference,
        &digest,
        bytes.len(),
        bundle.as_bytes(),
        &args.predicate_type,
        &auth,
    ))
    .context("storing the attestation in the registry")?;
    if args.json {
        println!(
            "{}",
            json!({ "reference": pinned.reference.whole(), "digest": digest,
                    "builder": found.builder, "issuer": found.issuer, "source": found.source,
                    "predicate_type": found.predicate_type })
        );
    } else {
        eprintln!(
            "    Attested {} ({digest})
             {}",
            target.repository(),
            field(&found.to_string())
        );
    }
    Ok(exit::OK)
}

/// Where keyless signing, attesting and yanking go, and the root to check the result
/// against before anything is published.
#[derive(Args)]
pub struct SigstoreArgs {
    /// The Fulcio to ask for a certificate (keyless).
    #[arg(long, default_value = "https://fulcio.sigstore.dev")]
    fulcio_url: String,
    /// The Rekor to log the signature in (keyless).
    #[arg(long, default_value = "https://rekor.sigstore.dev")]
    rekor_url: String,
    /// The Sigstore trusted root to check a keyless result against before publishing
    /// [default: the public-good root].
    #[arg(long)]
    trusted_root: Option<PathBuf>,
}

impl SigstoreArgs {
    fn trusted_root(&self) -> anyhow::Result<chitin_registry::sigstore_bundle::TrustedRoot> {
        use chitin_registry::sigstore_bundle::TrustedRoot;
        Ok(match &self.trusted_root {
            Some(path) => TrustedRoot::from_json(
                &std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
            )?,
            None => TrustedRoot::public_good(),
        })
    }
}

#[derive(Args)]
pub struct YankArgs {
    /// The version to withdraw: `registry/repo:tag` or `registry/repo@sha256:…`.
    reference: String,
    /// Why, shown to everyone who has it installed or tries to install it (one line, at
    /// most 500 characters).
    #[arg(long)]
    reason: String,
    /// Sign the yank with this private key, as the skill's own signature is made.
    #[arg(long, required_unless_present = "keyless", conflicts_with = "keyless")]
    key: Option<PathBuf>,
    /// Sign the yank keyless (SIGSTORE_ID_TOKEN), as `skill sign --keyless`.
    #[arg(long)]
    keyless: bool,
    #[command(flatten)]
    sigstore: SigstoreArgs,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Print one JSON document on stdout: `{reference, digest, yank, signer}`.
    #[arg(long)]
    json: bool,
}

/// `chitin skill yank`: attach a yank statement to the version and sign it like a skill,
/// so installers whose policy trusts the signer refuse that digest.
pub fn yank(args: YankArgs) -> Result<u8, Exit> {
    use chitin_registry::yank::YankStatement;
    let target = match args.reference.parse::<SkillRef>()? {
        SkillRef::Oci(r) => r,
        SkillRef::Layout { .. } => bail_exit("yank the skill in its registry")?,
    };
    let key = match &args.key {
        Some(path) => Some(read_private_key(path)?),
        None => None,
    };
    let rt = super::tokio()?;
    let client = RegistryClient::for_ref(&target, &args.registry.options())?;
    let auth = auth_for(target.reference.resolve_registry());
    let pinned = rt.block_on(client.resolve(&target, &auth))?;
    let (bytes, digest) = rt.block_on(client.fetch_manifest(&pinned.reference, &auth))?;
    chitin_registry::artifact::parse_remote(&bytes)
        .with_context(|| format!("{} is not a chitin skill", args.reference))?;
    let statement = YankStatement::new(&target.repository(), &digest, &args.reason)
        .map_err(|e| Exit(exit::USAGE, anyhow::anyhow!("{e}")))?;
    let (yank_bytes, yank_digest) = rt
        .block_on(client.push_yank(&pinned.reference, &digest, bytes.len(), &statement, &auth))
        .context("storing the yank in the registry")?;
    let at = pinned.reference.clone_with_digest(yank_digest.clone());
    let signer = match &key {
        Some(key) => {
            sign_pinned(
                &rt,
                &client,
                &auth,
                &at,
                &yank_bytes,
                key,
                SignatureForm::Both,
            )?;
            format!("key {}", key.public_key().fingerprint())
        }
        None => {
            let (signer, envelope) = rt.block_on(sign_keyless(&args.sigstore, &yank_bytes))?;
            rt.block_on(client.push_signature(
                &at,
                &yank_digest,
                yank_bytes.len(),
                &envelope,
                &auth,
            ))
            .context("storing the yank's signature in the registry")?;
            signer
        }
    };
    if args.json {
        println!(
            "{}",
            json!({ "reference": pinned.reference.whole(), "digest": digest,
                    "yank": yank_digest, "signer": signer })
        );
    } else {
        eprintln!(
            "      Yanked {} ({digest})
             signed by {signer}",
            target.repository()
        );
    }
    Ok(exit::OK)
}

fn bail_exit<T>(msg: &str) -> Result<T, Exit> {
    Err(Exit(exit::USAGE, anyhow::anyhow!("{msg}")))
}

/// Sign the manifest `bytes` at `pinned` and store the signatures; returns the forms
/// stored. Shared by `sign` and `push --sign-key`.
pub fn sign_pinned(
    rt: &tokio::runtime::Runtime,
    client: &RegistryClient,
    auth: &chitin_registry::oci_client::secrets::RegistryAuth,
    pinned: &chitin_registry::oci_client::Reference,
    bytes: &[u8],
    key: &KeyPair,
    form: SignatureForm,
) -> anyhow::Result<Vec<&'static str>> {
    let digest = chitin_registry::artifact::sha256_digest(bytes);
    let repository = format!("{}/{}", pinned.registry(), pinned.repository());
    let mut envelopes = Vec::new();
    if matches!(form, SignatureForm::Cosign | SignatureForm::Both) {
        envelopes.push(Envelope::sign_cosign(key, &repository, &digest)?);
    }
    if matches!(form, SignatureForm::Bundle | SignatureForm::Both) {
        envelopes.push(Envelope::sign_bundle(key, bytes)?);
    }
    let mut stored = Vec::new();
    for envelope in &envelopes {
        rt.block_on(client.push_signature(pinned, &digest, bytes.len(), envelope, auth))
            .with_context(|| format!("storing the {} in the registry", envelope.form()))?;
        stored.push(envelope.form());
    }
    Ok(stored)
}

pub fn verify(args: VerifyArgs) -> Result<u8, Exit> {
    let policy = match &args.key {
        Some(path) => {
            let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            TrustPolicy::single_key(PublicKey::from_pem(&pem)?, &path.display().to_string())
        }
        None => load_policy(args.policy.as_deref())?,
    };
    let rt = super::tokio()?;
    let signed = rt
        .block_on(fetch_signed(&args.reference, &args.registry.options()))
        .with_context(|| format!("fetching {}", args.reference))?;
    // What install would check before downloading: the signature, the provenance the
    // policy requires, the ceilings, and that the publisher has not yanked it.
    let result = signed.verify(&policy);
    let remote = chitin_registry::artifact::parse_remote(&signed.manifest_bytes)?;
    let ceiling = policy.check_ceiling(&signed.repository, &remote.skill.capabilities);
    let yanked = match (&result, &ceiling) {
        (Ok(_), Ok(())) => rt
            .block_on(chitin_host::install::check_yanks(
                &policy,
                &signed.repository,
                &signed.digest,
                &args.registry.options(),
            ))
            .with_context(|| format!("asking {} for yanks", signed.repository))?
            .yanked
            .map(|y| chitin_registry::trust::TrustError::Yanked {
                repository: signed.repository.clone(),
                digest: signed.digest.clone(),
                reason: y.reason,
                signer: Box::new(y.signer),
            }),
        _ => None,
    };
    let verified = match (result, ceiling, yanked) {
        (Ok(v), Ok(()), None) => v,
        (Err(e), _, _) | (Ok(_), Err(e), _) | (Ok(_), Ok(()), Some(e)) => {
            if args.json {
                // The error may quote the skill's declaration.
                let doc = json!({ "verified": false, "repository": signed.repository,
                            "digest": signed.digest, "signatures": signed.envelopes.len(),
                            "error": e.to_string() });
                println!("{}", untrusted::json_for_terminal(&doc.to_string()));
            }
            return Err(Exit(exit::ERROR, anyhow::Error::new(e)));
        }
    };
    if args.json {
        println!(
            "{}",
            json!({ "verified": true, "repository": signed.repository, "digest": signed.digest,
                    "signer": verified.signer, "rule": verified.rule,
                    "form": verified.envelope.form(),
                    "provenance": verified.provenance.iter().map(|p| json!({
                        "builder": p.builder, "issuer": p.issuer, "source": p.source,
                        "source_from": p.source_from, "predicate_type": p.predicate_type,
                    })).collect::<Vec<_>>() })
        );
    } else {
        eprintln!(
            "    Verified {} ({})\n             signed by {} ({})\n             trusted by rule {}",
            field(&signed.repository),
            field(&signed.digest),
            field(&verified.signer.to_string()),
            verified.envelope.form(),
            field(&verified.rule)
        );
        for p in &verified.provenance {
            eprintln!("             provenance: {}", field(&p.to_string()));
        }
    }
    Ok(exit::OK)
}
