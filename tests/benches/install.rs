//! Installing from a registry on this machine: cold install (resolve, fetch manifest,
//! check the signature, pull, verify, compile with an empty cache, describe, commit),
//! re-install of the same digest, and loading an installed skill from the store (which
//! re-checks the signature).
//!
//! `cargo bench -p chitin-tests --bench install` (or `make bench`), after `make skills`,
//! with Debian's `docker-registry` installed. Nothing here asserts a time.

use std::time::{Duration, Instant};

use chitin_host::install::{Installer, load_installed};
use chitin_host::{AuditLog, Runtime, SkillEngine};
use chitin_registry::artifact::Artifact;
use chitin_registry::signing::{Envelope, KeyPair};
use chitin_registry::trust::TrustPolicy;
use chitin_registry::{RegistryClient, RegistryOptions, SkillRef, Store};
use chitin_tests::real_registry::RealRegistry;

fn p(samples: &mut [Duration], q: f64) -> Duration {
    samples.sort();
    samples[((samples.len() as f64 - 1.0) * q).round() as usize]
}

fn report(name: &str, samples: &mut [Duration]) {
    println!(
        "{name:<48} p50 {:>10.2?}  p99 {:>10.2?}  (n = {})",
        p(samples, 0.5),
        p(samples, 0.99),
        samples.len()
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let reg = RealRegistry::start(None);
    let wasm = chitin_tests::skill_bytes("file-search");
    let size = wasm.len();
    let artifact = Artifact::from_component(wasm).unwrap();
    let reference = reg.repo("bench/file-search:0.1.0");
    let SkillRef::Oci(target) = reference.parse::<SkillRef>().unwrap() else {
        unreachable!()
    };
    let client = RegistryClient::for_ref(&target, &RegistryOptions::default()).unwrap();
    let pinned = rt
        .block_on(client.push(&artifact, &target, &oci_client_anonymous()))
        .unwrap();
    // Signed, so install and load include the signature checks.
    let key = KeyPair::generate().unwrap();
    let signature = Envelope::sign_cosign(&key, &target.repository(), &pinned.digest).unwrap();
    let manifest_len = artifact.manifest_bytes().len();
    rt.block_on(client.push_signature(
        &pinned.reference,
        &pinned.digest,
        manifest_len,
        &signature,
        &oci_client_anonymous(),
    ))
    .unwrap();
    let policy = TrustPolicy::single_key(key.public_key(), "bench key");

    let install_into = |home: &std::path::Path, runtime: &Runtime| {
        let mut store = Store::open(&home.join("store"), &home.join("chitin.db")).unwrap();
        let mut installer = Installer {
            runtime,
            store: &mut store,
            options: RegistryOptions::default(),
            lock_path: home.join("chitin.lock"),
            policy: &policy,
            allow_unsigned: false,
            allow_repository_change: false,
        };
        let prepared = rt
            .block_on(installer.prepare(&reference, |_, _| {}))
            .unwrap();
        if !prepared.already_installed {
            let grants = prepared.manifest.capabilities.clone();
            installer.commit(prepared, grants).unwrap();
        }
    };

    // Cold: a new home and an empty compile cache each time.
    let mut cold = Vec::new();
    for _ in 0..15 {
        let home = tempfile::tempdir().unwrap();
        let t = Instant::now();
        let runtime = Runtime::new(
            SkillEngine::new(home.path().join("cache")).unwrap(),
            AuditLog::in_memory().unwrap(),
        );
        install_into(home.path(), &runtime);
        cold.push(t.elapsed());
    }

    // Warm: the same home, the same digest.
    let home = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(
        SkillEngine::new(home.path().join("cache")).unwrap(),
        AuditLog::in_memory().unwrap(),
    );
    install_into(home.path(), &runtime);
    let mut again = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        install_into(home.path(), &runtime);
        again.push(t.elapsed());
    }

    let store = Store::open(&home.path().join("store"), &home.path().join("chitin.db")).unwrap();
    let mut load = Vec::new();
    for _ in 0..100 {
        let t = Instant::now();
        load_installed(&runtime, &store, &policy, "file-search").unwrap();
        load.push(t.elapsed());
    }

    println!(
        "component: file-search, {} KiB; registry: docker-registry on loopback",
        size / 1024
    );
    report("cold install (resolve, pull, verify, compile)", &mut cold);
    report("re-install of the same digest", &mut again);
    report("load installed skill (re-hash, cache, link)", &mut load);
}

fn oci_client_anonymous() -> chitin_registry::oci_client::secrets::RegistryAuth {
    chitin_registry::oci_client::secrets::RegistryAuth::Anonymous
}
