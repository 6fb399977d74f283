//! `chitin skill push | install | list | remove | update | gc | export` and
//! `chitin registry login`.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use anyhow::{Context, bail};
use chitin_host::install::{Installer, Prepared, Trust};
use chitin_registry::artifact::Artifact;
use chitin_registry::oci::auth_for;
use chitin_registry::{LockFile, RegistryClient, RegistryOptions, SkillRef, Store};
use clap::Args;
use serde_json::json;

use super::display::{self, field};
use super::{Exit, exit};

/// Options every command that talks to a registry shares.
#[derive(Args, Clone)]
pub struct RegistryArgs {
    /// Allow plain HTTP to this registry (loopback registries always may).
    #[arg(long, value_name = "REGISTRY")]
    insecure: Vec<String>,
}

impl RegistryArgs {
    /// The options with no flags given (environment variables still apply).
    pub fn default_options() -> RegistryOptions {
        RegistryArgs {
            insecure: Vec::new(),
        }
        .options()
    }

    pub fn options(&self) -> RegistryOptions {
        let mut o = RegistryOptions {
            insecure: self.insecure.clone(),
            ..Default::default()
        };
        if let Ok(list) = std::env::var("CHITIN_INSECURE_REGISTRIES") {
            o.insecure
                .extend(list.split(',').filter(|s| !s.is_empty()).map(String::from));
        }
        if let Some(secs) = std::env::var("CHITIN_REGISTRY_TIMEOUT")
            .ok()
            .and_then(|s| s.parse().ok())
        {
            o.timeout = std::time::Duration::from_secs(secs);
        }
        o
    }
}

#[derive(Args)]
pub struct PushArgs {
    /// The skill component (with its manifest embedded: `chitin skill pack`).
    file: PathBuf,
    /// Where to push it, with a tag: `registry/repository:1.2.0`.
    reference: String,
    /// Sign it with this private key in the same step (see `chitin skill sign`).
    #[arg(long, value_name = "KEY")]
    sign_key: Option<PathBuf>,
    /// Which signature forms to store with --sign-key.
    #[arg(long, value_enum, default_value = "both", requires = "sign_key")]
    sign_form: super::trust::SignatureForm,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Print one JSON document on stdout: `{reference, digest, name, version,
    /// signed_with}` (`signed_with` is the key's fingerprint, or null).
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct InstallArgs {
    /// `registry/repo:tag`, `registry/repo@sha256:…`, `registry/repo:^1.2` (semver
    /// range) or `oci-layout:<dir>[:tag]`. Omit with `--locked`.
    reference: Option<String>,
    /// Grant what the skill declares without asking (for scripts).
    #[arg(long, short)]
    yes: bool,
    /// Install exactly what the lock file lists, or fail saying what differs.
    #[arg(long)]
    locked: bool,
    /// Install even without a signature the trust policy accepts. Recorded, and shown
    /// by `list` and `audit`.
    #[arg(long)]
    allow_unsigned: bool,
    /// Replace an installed skill of the same name that came from another
    /// repository. Without a terminal, `--yes` alone never does.
    #[arg(long)]
    allow_repository_change: bool,
    /// Use this trust policy file instead of the project's and the user's.
    #[arg(long)]
    policy: Option<PathBuf>,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Print one JSON document on stdout: a list of `{name, status, version, digest}`.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct UpdateArgs {
    /// Only this skill [default: every installed skill].
    name: Option<String>,
    /// Accept added capabilities or tools without asking.
    #[arg(long, short)]
    yes: bool,
    /// Use this trust policy file instead of the project's and the user's.
    #[arg(long)]
    policy: Option<PathBuf>,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Print one JSON document on stdout: a list of `{name, status, version, digest}`,
    /// `status` being `updated` or `unchanged`.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ListArgs {
    /// Do not ask the registries whether an installed version was yanked.
    #[arg(long)]
    offline: bool,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Print one JSON document on stdout: a list of the installed skills (name,
    /// version, reference, repository, digests, grants, tools, signature, yank).
    #[arg(long)]
    json: bool,
}

/// Whether an installed version was yanked, as `list` and `audit` show it.
#[derive(serde::Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum YankStatus {
    /// Not checked (`--offline`, or a skill from an OCI layout or a file).
    NotChecked,
    NotYanked,
    Yanked {
        reason: String,
        signer: String,
    },
    /// The registry could not be asked.
    Unknown {
        error: String,
    },
}

/// Ask the skill's registry whether `digest` was yanked by a publisher the policy trusts
/// (a short timeout: this is advice, not a gate).
pub async fn yank_status(
    policy: &chitin_registry::trust::TrustPolicy,
    repository: &str,
    digest: &str,
    registry: &RegistryArgs,
) -> YankStatus {
    if repository.starts_with("oci-layout:") {
        return YankStatus::NotChecked;
    }
    let mut options = registry.options();
    options.timeout = options.timeout.min(std::time::Duration::from_secs(10));
    YankStatus::from(chitin_host::install::check_yanks(policy, repository, digest, &options).await)
}

impl From<Result<chitin_registry::yank::YankCheck, chitin_host::HostError>> for YankStatus {
    fn from(result: Result<chitin_registry::yank::YankCheck, chitin_host::HostError>) -> Self {
        match result {
            Ok(check) => match check.yanked {
                Some(y) => YankStatus::Yanked {
                    reason: y.reason,
                    signer: y.signer.to_string(),
                },
                None => YankStatus::NotYanked,
            },
            Err(e) => YankStatus::Unknown {
                error: e.to_string(),
            },
        }
    }
}

#[derive(Args)]
pub struct RemoveArgs {
    /// The installed skill's name.
    name: String,
    /// Print one JSON document on stdout: `{name, version, status: "removed"}`.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct GcArgs {
    /// Print one JSON document on stdout: `{blobs, bytes, compiled, temp_files}`
    /// (how many of each were removed).
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ExportArgs {
    /// The installed skill's name.
    name: String,
    /// The folder to write the OCI image layout to.
    #[arg(long, short)]
    output: PathBuf,
    /// Print one JSON document on stdout: `{name, version, digest, output, reference}`
    /// (`reference` installs it: `oci-layout:DIR:VERSION`).
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct LoginArgs {
    /// The registry, e.g. `ghcr.io` or `localhost:5000`.
    registry: String,
    #[arg(long, short)]
    username: String,
    /// Read the password from stdin (otherwise CHITIN_REGISTRY_PASSWORD).
    #[arg(long)]
    password_stdin: bool,
    /// Print one JSON document on stdout: `{registry, username, credentials}` (the file
    /// they were saved in).
    #[arg(long)]
    json: bool,
}

pub fn open_store() -> anyhow::Result<Store> {
    let home = super::chitin_home()?;
    chitin_host::engine::create_private_dir(&home)?;
    Ok(Store::open(&home.join("store"), &home.join("chitin.db"))?)
}

pub fn lock_path() -> anyhow::Result<PathBuf> {
    Ok(match std::env::var_os("CHITIN_LOCKFILE") {
        Some(p) => PathBuf::from(p),
        None => super::chitin_home()?.join("chitin.lock"),
    })
}

pub fn push(args: PushArgs) -> Result<u8, Exit> {
    push_inner(args).map_err(Exit::from)
}

fn push_inner(args: PushArgs) -> anyhow::Result<u8> {
    let wasm =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let artifact = Artifact::from_component(wasm)
        .with_context(|| format!("{} is not a publishable skill", args.file.display()))?;
    let target = match args.reference.parse::<SkillRef>()? {
        SkillRef::Oci(r) => r,
        SkillRef::Layout { .. } => {
            bail!("push to a registry; use `chitin skill export` for a layout")
        }
    };
    if let Some(tag) = target.reference.tag()
        && let Ok(v) = semver::Version::parse(tag.trim_start_matches('v'))
        && v != artifact.skill.skill.version
    {
        bail!(
            "the tag `{tag}` is a version but the skill is version {}; push it as `{}:{}` \
             (or bump `version` in skill.toml)",
            artifact.skill.skill.version,
            target.repository(),
            artifact.skill.skill.version
        );
    }
    // Decrypt the key first: a wrong password should not leave an unsigned push.
    let key = match &args.sign_key {
        Some(path) => Some(super::trust::read_private_key(path)?),
        None => None,
    };
    let client = RegistryClient::for_ref(&target, &args.registry.options())?;
    let auth = auth_for(target.reference.resolve_registry());
    let rt = super::tokio()?;
    let spinner = super::progress::spinner(
        "Pushing",
        &format!(
            "{} to {}",
            artifact.skill.skill.name,
            field(&target.reference.whole())
        ),
    );
    let pinned = rt.block_on(client.push(&artifact, &target, &auth));
    spinner.finish_and_clear();
    let pinned = pinned?;
    let signed = match &key {
        Some(key) => super::trust::sign_pinned(
            &rt,
            &client,
            &auth,
            &pinned.reference,
            &artifact.manifest_bytes(),
            key,
            args.sign_form,
        )?,
        None => Vec::new(),
    };
    if args.json {
        println!(
            "{}",
            json!({ "reference": target.reference.whole(), "digest": pinned.digest,
                    "name": artifact.skill.skill.name, "version": artifact.skill.skill.version.to_string(),
                    "signed_with": key.as_ref().map(|k| k.public_key().fingerprint()) })
        );
    } else {
        eprintln!(
            "      Pushed {} {} to {}\n             {}",
            artifact.skill.skill.name,
            artifact.skill.skill.version,
            target.reference.whole(),
            pinned.digest
        );
        match &key {
            Some(key) => eprintln!(
                "      Signed with key {} as {}",
                key.public_key().fingerprint(),
                signed.join(" and ")
            ),
            None => eprintln!(
                "warning: not signed, so it will not install where a trust policy applies \
                 (everywhere, by default); sign it with `chitin skill sign {} --key KEY`",
                target.reference.whole()
            ),
        }
    }
    Ok(exit::OK)
}

/// The install or update plan: who signed it, what changes, what it asks for. Every
/// string from the skill, its registry or its signer goes through `display`.
fn install_plan(prepared: &Prepared) -> String {
    let m = &prepared.manifest;
    let mut plan = format!(
        "{}\n  from   {}\n  digest {}\n",
        display::skill_header(m),
        field(&prepared.reference),
        field(&prepared.manifest_digest)
    );
    match &prepared.trust {
        Trust::Signed(v) => {
            plan.push_str(&format!(
                "  signed by {}\n  trusted by rule {}\n",
                field(&v.signer.to_string()),
                field(&v.rule)
            ));
            for p in &v.provenance {
                plan.push_str(&format!("  provenance: {}\n", field(&p.to_string())));
            }
            if let Some(old) = prepared
                .previous
                .as_ref()
                .and_then(|p| p.signature.as_ref())
            {
                plan.push_str(if old.signer == v.signer {
                    "  same signer as the installed version\n"
                } else {
                    "  SIGNER CHANGED from the installed version (the rule allows it)\n"
                });
            }
        }
        Trust::Unsigned { reason } => {
            plan.push_str(&format!(
                "  WARNING: NOT SIGNED BY ANYONE YOUR TRUST POLICY TRUSTS (--allow-unsigned)\n  {}\n",
                display::block(reason, "  ")
            ));
        }
    }
    let diff = prepared.diff();
    if let Some(prev) = &prepared.previous {
        if let Some(from) = prepared.repository_change() {
            plan.push_str(&format!(
                "  REPOSITORY CHANGED: the installed {} comes from {}, this one from {}\n",
                field(prepared.name()),
                field(from),
                field(&prepared.repository)
            ));
        }
        plan.push_str(&format!(
            "  replaces {} ({})\n",
            field(&prev.version),
            field(&prev.manifest_digest)
        ));
        let text = |g: &[chitin_registry::Grant]| -> Vec<String> {
            g.iter().map(ToString::to_string).collect()
        };
        let (added, removed) = (
            text(&diff.capabilities.added),
            text(&diff.capabilities.removed),
        );
        let lines = [
            ("+", "", &added),
            ("-", "", &removed),
            ("+", "tool ", &diff.tools_added),
            ("~", "tool ", &diff.tools_changed),
            ("-", "tool ", &diff.tools_removed),
        ];
        for (mark, what, items) in lines {
            for item in items {
                let note = if mark == "~" {
                    " (description or schema changed)"
                } else {
                    ""
                };
                plan.push_str(&format!("  {mark} {what}{}{note}\n", field(item)));
            }
        }
    }
    let lines = display::capability_lines(m, None);
    plan.push_str(if lines.is_empty() {
        "  asks for no capabilities\n"
    } else {
        "  asks for:\n"
    });
    for (kind, text) in lines {
        plan.push_str(&format!("    {kind:<7} {text}\n"));
    }
    if !m.capabilities.exec.is_empty()
        && let Some(gap) = chitin_host::capabilities::exec::landlock::kernel_gap()
    {
        plan.push_str(&format!("  warning: {gap}\n"));
    }
    plan.push_str("  tools:\n");
    for t in &prepared.tools {
        plan.push_str(&format!(
            "    {}\n",
            display::tool_line(&t.name, &t.description)
        ));
    }
    plan
}

/// Show the install plan and ask; refuse without a terminal unless `--yes`. A change
/// of repository needs its own consent: `--allow-repository-change`, or a "yes" typed
/// on the terminal (never `--yes` alone). Returns whether that consent was given.
fn approve(prepared: &Prepared, yes: bool, allow_repository_change: bool) -> Result<bool, Exit> {
    let plan = install_plan(prepared);
    if let Some(from) = prepared.repository_change() {
        if allow_repository_change {
            super::approve(&plan, "Replace it and install with these grants?", yes)?;
            return Ok(true);
        }
        if !std::io::stdin().is_terminal() {
            eprint!("{plan}");
            return Err(Exit(
                exit::NOT_APPROVED,
                anyhow::anyhow!(
                    "not approved: `{}` is installed from {}, and this one comes from {}; pass \
                     --allow-repository-change to replace it",
                    field(prepared.name()),
                    field(from),
                    field(&prepared.repository)
                ),
            ));
        }
        super::approve(
            &plan,
            "Replace it with the skill from the other repository?",
            false,
        )?;
        return Ok(true);
    }
    if prepared.previous.is_some()
        && !prepared.diff().needs_consent()
        && matches!(prepared.trust, Trust::Signed(_))
    {
        // Nothing widened: an update within the consent already given.
        eprint!("{plan}");
        return Ok(false);
    }
    super::approve(&plan, "Install with these grants?", yes)?;
    Ok(false)
}

/// Set while an install commits (quick, one transaction): an interrupt then waits.
static COMMITTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// On Ctrl-C during an install or update: remove this process's downloads from the
/// store's `tmp/`, say `message`, and exit with 130 (as a shell reports SIGINT).
fn exit_on_interrupt(rt: &tokio::runtime::Runtime, store: &Store, message: &'static str) {
    let tmp = store.tmp_dir();
    rt.spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            if COMMITTING.load(std::sync::atomic::Ordering::SeqCst) {
                continue;
            }
            chitin_registry::store::remove_own_temp_files(&tmp);
            eprintln!("\n{message}");
            std::process::exit(130);
        }
    });
}

/// `installer.commit`, with interrupts held off until it is done.
fn commit(
    installer: &mut Installer<'_>,
    prepared: Prepared,
    grants: chitin_registry::Capabilities,
) -> Result<chitin_registry::InstalledSkill, chitin_host::HostError> {
    use std::sync::atomic::Ordering;
    COMMITTING.store(true, Ordering::SeqCst);
    let result = installer.commit(prepared, grants);
    COMMITTING.store(false, Ordering::SeqCst);
    result
}

fn install_one(
    installer: &mut Installer<'_>,
    rt: &tokio::runtime::Runtime,
    reference: &str,
    yes: bool,
    json: bool,
    updating: bool,
) -> Result<serde_json::Value, Exit> {
    let bar = super::progress::bar("Pulling");
    let mut compiling = false;
    let prepared = rt.block_on(installer.prepare(reference, |n, total| {
        super::progress::set_length(&bar, total);
        bar.set_position(n);
        if n >= total && !compiling {
            compiling = true;
            super::progress::to_spinner(&bar, "Checking", "compiling and describing the skill");
        }
    }));
    bar.finish_and_clear();
    let prepared = prepared.with_context(|| format!("installing {reference}"))?;
    // An update never goes back: a reference that now resolves to an older version
    // was moved, and the older version may be the one with the known hole.
    if updating
        && let Some(prev) = &prepared.previous
        && let Ok(old) = semver::Version::parse(&prev.version)
        && prepared.manifest.skill.version < old
    {
        return Err(anyhow::anyhow!(
            "{reference} now points to {} {}, older than the installed {}; refusing to \
             downgrade (to go back on purpose, install it by digest: {}@{})",
            prepared.name(),
            prepared.manifest.skill.version,
            prev.version,
            prepared.repository,
            prepared.manifest_digest
        )
        .into());
    }
    if prepared.already_installed {
        if !json {
            eprintln!(
                "   Unchanged {} {} is already installed ({})",
                prepared.name(),
                prepared.manifest.skill.version,
                prepared.manifest_digest
            );
        }
        return Ok(
            json!({ "name": prepared.name(), "status": "unchanged", "digest": prepared.manifest_digest }),
        );
    }
    let allow_repository_change = installer.allow_repository_change;
    installer.allow_repository_change = approve(&prepared, yes, allow_repository_change)?;
    let grants = prepared.manifest.capabilities.clone();
    let name = prepared.name().to_string();
    let replaced = prepared.repository_change().map(str::to_string);
    let installed = commit(installer, prepared, grants);
    installer.allow_repository_change = allow_repository_change;
    let installed = installed?;
    if !json {
        eprintln!(
            "   Installed {} {} ({})",
            name, installed.version, installed.manifest_digest
        );
        if let Some(from) = &replaced {
            eprintln!("    Replaced the skill of that name from {}", field(from));
        }
    }
    Ok(
        json!({ "name": name, "status": "installed", "version": installed.version,
               "digest": installed.manifest_digest, "replaced_repository": replaced }),
    )
}

pub fn install(args: InstallArgs) -> Result<u8, Exit> {
    let runtime = super::open_runtime()?;
    let mut store = open_store()?;
    let lock_path = lock_path()?;
    let policy = super::trust::load_policy(args.policy.as_deref())?;
    let rt = super::tokio()?;
    exit_on_interrupt(&rt, &store, "interrupted; nothing was installed");
    let mut installer = Installer {
        runtime: &runtime,
        store: &mut store,
        options: args.registry.options(),
        lock_path: lock_path.clone(),
        policy: &policy,
        allow_unsigned: args.allow_unsigned,
        allow_repository_change: args.allow_repository_change,
    };
    let mut results = Vec::new();
    if args.locked {
        if args.reference.is_some() {
            return Err(Exit(
                exit::USAGE,
                anyhow::anyhow!("--locked installs what the lock file lists; give no reference"),
            ));
        }
        let lock = LockFile::read(&lock_path)
            .with_context(|| format!("reading the lock file {}", lock_path.display()))?;
        for entry in &lock.skills {
            // Pin to the locked digest, whatever the tag says now.
            let pinned = if entry.repository.starts_with("oci-layout:") {
                entry.reference.clone()
            } else {
                format!("{}@{}", entry.repository, entry.digest)
            };
            let prepared = rt.block_on(installer.prepare(&pinned, |_, _| {}))?;
            if prepared.already_installed {
                continue;
            }
            // Grants come from the lock file; `commit` refuses them wider than the
            // declaration.
            let mut prepared = prepared;
            prepared.reference = entry.reference.clone();
            commit(&mut installer, prepared, entry.grants.clone()).with_context(|| {
                format!("installing from the lock file {}", lock_path.display())
            })?;
        }
        let diffs = lock.differences(&installer.store.list()?);
        if !diffs.is_empty() {
            return Err(anyhow::anyhow!(
                "the installed skills differ from {}:\n  {}",
                lock_path.display(),
                diffs
                    .iter()
                    .map(|d| field(d))
                    .collect::<Vec<_>>()
                    .join("\n  ")
            )
            .into());
        }
        // `install --locked` must reproduce the lock, not rewrite it from the tags.
        lock.write(&lock_path)?;
        if args.json {
            let names: Vec<&str> = lock.skills.iter().map(|s| s.name.as_str()).collect();
            println!("{}", json!({ "locked": names }));
        } else {
            eprintln!(
                "   Installed {} skill(s) exactly as locked",
                lock.skills.len()
            );
        }
        return Ok(exit::OK);
    }
    let Some(reference) = args.reference.as_deref() else {
        return Err(Exit(
            exit::USAGE,
            anyhow::anyhow!("give a reference to install, or --locked"),
        ));
    };
    results.push(install_one(
        &mut installer,
        &rt,
        reference,
        args.yes,
        args.json,
        false,
    )?);
    if args.json {
        println!("{}", display::json(&results)?);
    }
    Ok(exit::OK)
}

pub fn update(args: UpdateArgs) -> Result<u8, Exit> {
    let runtime = super::open_runtime()?;
    let mut store = open_store()?;
    let rt = super::tokio()?;
    let names: Vec<String> = match &args.name {
        Some(n) => vec![n.clone()],
        None => store.list()?.into_iter().map(|s| s.name).collect(),
    };
    let policy = super::trust::load_policy(args.policy.as_deref())?;
    exit_on_interrupt(
        &rt,
        &store,
        "interrupted; the skill being updated was left as it was",
    );
    let mut installer = Installer {
        runtime: &runtime,
        store: &mut store,
        options: args.registry.options(),
        lock_path: lock_path()?,
        policy: &policy,
        // An update never drops the signature requirement, but a skill the user
        // installed unsigned may stay so.
        allow_unsigned: false,
        allow_repository_change: false,
    };
    let mut results = Vec::new();
    for name in names {
        let current = installer
            .store
            .get(&name)?
            .ok_or_else(|| chitin_host::HostError::NotInstalled(name.clone()))?;
        // The reference as installed: a range or tag re-resolves; a digest stays put.
        installer.allow_unsigned = current.unsigned;
        let mut result = install_one(
            &mut installer,
            &rt,
            &current.reference,
            args.yes,
            args.json,
            true,
        )?;
        if result["status"] == "installed" {
            result["status"] = "updated".into();
            result["previous_version"] = current.version.into();
        }
        results.push(result);
    }
    if args.json {
        println!("{}", display::json(&results)?);
    }
    Ok(exit::OK)
}

pub fn list(args: ListArgs) -> Result<u8, Exit> {
    let store = open_store()?;
    let skills = store.list()?;
    let yanks: Vec<YankStatus> = if args.offline || skills.is_empty() {
        skills.iter().map(|_| YankStatus::NotChecked).collect()
    } else {
        let rt = super::tokio()?;
        let policy = super::trust::load_policy(None)?;
        // All at once: a slow registry costs the list one timeout, not one per skill.
        rt.block_on(futures_util::future::join_all(skills.iter().map(|s| {
            yank_status(&policy, &s.repository, &s.manifest_digest, &args.registry)
        })))
    };
    if args.json {
        let mut docs = Vec::new();
        for (s, y) in skills.iter().zip(&yanks) {
            let mut doc = serde_json::to_value(s)?;
            doc["yank"] = serde_json::to_value(y)?;
            docs.push(doc);
        }
        println!("{}", display::json(&docs)?);
        return Ok(exit::OK);
    }
    if skills.is_empty() {
        eprintln!(
            "No skills installed. Install one with `chitin skill install <registry/repo:tag>`."
        );
    }
    let rows: Vec<[String; 5]> = skills
        .iter()
        .zip(&yanks)
        .map(|(s, y)| {
            let signer = match &s.signature {
                Some(v) => short_signer(&v.signer),
                None => "UNSIGNED".to_string(),
            };
            let version = match y {
                YankStatus::Yanked { .. } => format!("{} YANKED", s.version),
                _ => s.version.clone(),
            };
            [
                field(&s.name).into_owned(),
                field(&version).into_owned(),
                s.tools.as_array().map_or(0, Vec::len).to_string(),
                field(&signer).into_owned(),
                field(&s.reference).into_owned(),
            ]
        })
        .collect();
    if !rows.is_empty() {
        print!("{}", list_table(&rows, terminal_width()));
    }
    // The reasons come from the registry: inert text, one line each.
    for (s, y) in skills.iter().zip(&yanks) {
        match y {
            YankStatus::Yanked { reason, signer } => eprintln!(
                "warning: {} {} was yanked by {}: {}; update or remove it",
                field(&s.name),
                field(&s.version),
                field(signer),
                field(reason)
            ),
            YankStatus::Unknown { error } => eprintln!(
                "note: could not check whether {} {} was yanked: {}",
                field(&s.name),
                field(&s.version),
                field(error)
            ),
            _ => {}
        }
    }
    Ok(exit::OK)
}

/// A signer in a few columns: a key's fingerprint cut to 12 hex digits (enough to
/// tell keys apart; `--json` and `audit` have it whole), an identity as is.
fn short_signer(signer: &chitin_registry::trust::Signer) -> String {
    match signer {
        chitin_registry::trust::Signer::Key { fingerprint } => {
            let hex = fingerprint.trim_start_matches("sha256:");
            format!("key {}…", &hex[..hex.len().min(12)])
        }
        other => other.to_string(),
    }
}

/// `skill list` as a table with a header, each line cut to `width` columns (the
/// reference, last, loses its end first).
fn list_table(rows: &[[String; 5]], width: Option<usize>) -> String {
    const HEADER: [&str; 5] = ["NAME", "VERSION", "TOOLS", "SIGNER", "FROM"];
    let mut widths = HEADER.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 5]| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i == 4 {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        let text = text.trim_end().to_string();
        match width {
            Some(w) if text.chars().count() > w && w > 1 => {
                let cut: String = text.chars().take(w - 1).collect();
                format!("{cut}…\n")
            }
            _ => format!("{text}\n"),
        }
    };
    let mut out = line(HEADER);
    for row in rows {
        out.push_str(&line([&row[0], &row[1], &row[2], &row[3], &row[4]]));
    }
    out
}

/// The terminal's width, when stdout is one.
fn terminal_width() -> Option<usize> {
    use std::os::fd::AsRawFd;
    let stdout = std::io::stdout();
    if !stdout.is_terminal() {
        return None;
    }
    // SAFETY: TIOCGWINSZ writes one `winsize` into the struct we pass.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(stdout.as_raw_fd(), libc::TIOCGWINSZ, &mut size) } == 0;
    (ok && size.ws_col > 0).then_some(size.ws_col as usize)
}

pub fn remove(args: RemoveArgs) -> Result<u8, Exit> {
    let runtime = super::open_runtime()?;
    let mut store = open_store()?;
    let no_policy = chitin_registry::trust::TrustPolicy::default();
    let mut installer = Installer {
        runtime: &runtime,
        store: &mut store,
        options: RegistryOptions::default(),
        lock_path: lock_path()?,
        policy: &no_policy,
        allow_unsigned: false,
        allow_repository_change: false,
    };
    let Some(skill) = installer.store.get(&args.name)? else {
        return Err(chitin_host::HostError::NotInstalled(args.name).into());
    };
    if !installer.remove(&args.name)? {
        return Err(chitin_host::HostError::NotInstalled(args.name).into());
    }
    if args.json {
        println!(
            "{}",
            json!({ "name": skill.name, "version": skill.version, "status": "removed" })
        );
    } else {
        eprintln!(
            "     Removed {} {} (its files go at the next `chitin skill gc`)",
            field(&skill.name),
            field(&skill.version)
        );
    }
    Ok(exit::OK)
}

pub fn gc(args: GcArgs) -> Result<u8, Exit> {
    let store = open_store()?;
    // Downloads an interrupted install left behind (opening the store removed those
    // whose process is gone or that are over a minute old).
    let temp_files = store.cleaned_tmp() + chitin_registry::store::clean_tmp(&store.tmp_dir());
    // Keep the manifests and configs of installed skills too (for export).
    let mut keep = Vec::new();
    for s in store.list()? {
        keep.push(s.manifest_digest.clone());
        if let Ok(bytes) = store.read_blob(&s.manifest_digest)
            && let Ok(remote) = chitin_registry::artifact::parse_remote(&bytes)
        {
            keep.push(remote.manifest.config.digest);
        }
    }
    let (files, bytes) = store.gc(&keep)?;
    // Compiled code for components no longer installed.
    let runtime = super::open_runtime()?;
    let mut wasm_digests = Vec::new();
    for s in store.list()? {
        wasm_digests.push(s.wasm_digest.trim_start_matches("sha256:").to_string());
    }
    let compiled = runtime.engine().gc_cache(&wasm_digests)?;
    if args.json {
        println!(
            "{}",
            json!({ "blobs": files, "bytes": bytes, "compiled": compiled, "temp_files": temp_files })
        );
    } else {
        eprintln!(
            "     Removed {files} blob(s), {bytes} bytes, {compiled} compiled file(s) and \
             {temp_files} interrupted download(s)"
        );
    }
    Ok(exit::OK)
}

pub fn export(args: ExportArgs) -> Result<u8, Exit> {
    let store = open_store()?;
    let skill = store
        .get(&args.name)?
        .ok_or_else(|| chitin_host::HostError::NotInstalled(args.name.clone()))?;
    chitin_host::layout::export(&store, &skill, &args.output)?;
    let reference = format!("oci-layout:{}:{}", args.output.display(), skill.version);
    if args.json {
        println!(
            "{}",
            json!({ "name": skill.name, "version": skill.version, "digest": skill.manifest_digest,
                    "output": args.output, "reference": reference })
        );
        return Ok(exit::OK);
    }
    eprintln!(
        "    Exported {} {} to {} (install with `chitin skill install oci-layout:{}:{}`)",
        skill.name,
        skill.version,
        args.output.display(),
        args.output.display(),
        skill.version
    );
    Ok(exit::OK)
}

pub fn login(args: LoginArgs) -> Result<u8, Exit> {
    let password = if args.password_stdin {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        s.trim_end_matches(['\n', '\r']).to_string()
    } else {
        std::env::var("CHITIN_REGISTRY_PASSWORD")
            .context("pass --password-stdin or set CHITIN_REGISTRY_PASSWORD")?
    };
    let path = chitin_registry::oci::credentials_path();
    chitin_registry::oci::store_credentials(&path, &args.registry, &args.username, &password)?;
    if args.json {
        println!(
            "{}",
            json!({ "registry": args.registry, "username": args.username, "credentials": path })
        );
        return Ok(exit::OK);
    }
    eprintln!(
        "   Logged in to {} (credentials in {})",
        args.registry,
        path.display()
    );
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::list_table;

    fn row(name: &str, reference: &str) -> [String; 5] {
        [name, "0.1.0", "3", "key 0123456789ab…", reference].map(String::from)
    }

    #[test]
    fn the_list_has_a_header_and_fits_the_terminal() {
        let rows = [
            row("file-search", "127.0.0.1:5000/acme/file-search:0.1.0"),
            row(
                "git",
                "ghcr.io/acme/git@sha256:0123456789abcdef0123456789abcdef",
            ),
        ];
        let table = list_table(&rows, None);
        insta::assert_snapshot!(table, @r"
        NAME         VERSION  TOOLS  SIGNER             FROM
        file-search  0.1.0    3      key 0123456789ab…  127.0.0.1:5000/acme/file-search:0.1.0
        git          0.1.0    3      key 0123456789ab…  ghcr.io/acme/git@sha256:0123456789abcdef0123456789abcdef
        ");
        for line in list_table(&rows, Some(60)).lines() {
            assert!(line.chars().count() <= 60, "{line}");
        }
        assert!(list_table(&rows, Some(60)).contains("file-search  0.1.0    3      key"));
    }
}
