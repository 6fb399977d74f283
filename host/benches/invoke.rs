//! Per-call cost of chitin's sandbox, against spawning a process.
//!
//! `cargo bench -p chitin-host --bench invoke` (or `make bench`), with the skills
//! built by `make skills`. Measures, in one run:
//! - a fresh instance + one call of the probe's trivial `noop` tool, with no grants
//!   and with the probe's full grants (two preopened folders, HTTP, exec, env);
//! - loading a precompiled skill (inspect, cache hit, link: `Runtime::load`);
//! - spawning `/bin/true` with `std::process::Command` and waiting for it;
//! - by language, with the probe written in Rust, JavaScript, Python and C
//!   (`probe`, `probe-js`, `probe-py`, `probe-c`): the first compile, loading the
//!   precompiled skill, and a fresh instance + `noop` call (no grants).
//!
//! Reports p50 and p99 of each and the spawn/instance ratio. Not a test: nothing here
//! asserts a time.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chitin_host::{AuditLog, Grants, HostEnv, Outcome, Runtime, SkillEngine};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

struct Stats {
    name: &'static str,
    samples: Vec<Duration>,
}

impl Stats {
    fn p(&self, q: f64) -> Duration {
        percentile(&self.samples, q)
    }
    fn print(&self) {
        println!(
            "{:<44} p50 {:>10.1?}  p99 {:>10.1?}  (n = {})",
            self.name,
            self.p(0.50),
            self.p(0.99),
            self.samples.len()
        );
    }
}

fn measure(name: &'static str, n: usize, mut f: impl FnMut()) -> Stats {
    for _ in 0..n.div_ceil(10) {
        f(); // warm up
    }
    let mut samples: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    samples.sort();
    Stats { name, samples }
}

/// A built skill's bytes; fails (never skips) when `make skills` has not run.
fn read_skill(dir: &std::path::Path, name: &str) -> Vec<u8> {
    let path = dir.join(format!("{name}.wasm"));
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run `make skills` first", path.display()))
}

/// A runtime with an empty compile cache (kept alive by the returned folder).
fn fresh_runtime() -> (tempfile::TempDir, Runtime) {
    let cache = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(
        SkillEngine::new(cache.path().join("compiled")).unwrap(),
        AuditLog::in_memory().unwrap(),
    );
    (cache, runtime)
}

fn main() {
    let dir: PathBuf = std::env::var_os("CHITIN_SKILLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/skills"));
    let wasm = read_skill(&dir, "probe");
    let (_cache, runtime) = fresh_runtime();
    let skill = runtime.load(&wasm).unwrap();

    let ws = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(ws.path().join("ro")).unwrap();
    std::fs::create_dir_all(ws.path().join("rw")).unwrap();
    let env = HostEnv {
        workspace: ws.path().to_path_buf(),
        home: ws.path().to_path_buf(),
        vars: BTreeMap::from([("PATH".into(), "/usr/bin:/bin".into())]),
        secrets: BTreeMap::new(),
        protected: Vec::new(),
    };
    let full = Grants::from_manifest(&skill.manifest, &env).unwrap();
    let none = Grants::none(skill.name(), skill.manifest.limits);

    // A current-thread runtime: the call runs on this thread, as one agent lane would.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let call = |grants: &Grants| {
        let report = rt.block_on(runtime.invoke(&skill, grants, "noop", "{}"));
        assert!(
            matches!(report.outcome, Outcome::Ok(_)),
            "{:?}",
            report.outcome
        );
    };

    println!("machine: {} cores, {}", num_cpus(), cpu_model());
    let bare = measure("fresh instance + noop call (no grants)", 5000, || {
        call(&none)
    });
    let granted = measure("fresh instance + noop call (probe's grants)", 5000, || {
        call(&full)
    });
    let load = measure("load precompiled skill (Runtime::load)", 200, || {
        runtime.load(&wasm).unwrap();
    });
    let spawn = measure("spawn /bin/true (std::process::Command)", 1000, || {
        let status = std::process::Command::new("/bin/true").status().unwrap();
        assert!(status.success());
    });
    for s in [&bare, &granted, &load, &spawn] {
        s.print();
    }
    let ratio = |s: &Stats| spawn.p(0.5).as_secs_f64() / s.p(0.5).as_secs_f64();
    println!(
        "spawn / instance (p50): {:.0}x (no grants), {:.0}x (probe's grants)",
        ratio(&bare),
        ratio(&granted)
    );
    if std::env::var_os("CHITIN_BENCH_SKIP_LANGUAGES").is_none() {
        by_language(&dir, &rt);
    }
}

/// The probe in each language: compile once, load precompiled, fresh instance + call.
fn by_language(dir: &std::path::Path, rt: &tokio::runtime::Runtime) {
    println!("\nby language (the probe's `noop`, no grants):");
    let mut rows = Vec::new();
    for (lang, name, calls) in [
        ("Rust", "probe", 5000),
        ("C", "probe-c", 5000),
        ("JavaScript", "probe-js", 2000),
        ("Python", "probe-py", 2000),
    ] {
        let wasm = read_skill(dir, name);
        let (_cache, runtime) = fresh_runtime();
        let started = Instant::now();
        let skill = runtime.load(&wasm).unwrap();
        let compile = started.elapsed();
        let none = Grants::none(skill.name(), skill.manifest.limits);
        let call = measure("fresh instance + noop call", calls, || {
            let report = rt.block_on(runtime.invoke(&skill, &none, "noop", "{}"));
            assert!(
                matches!(report.outcome, Outcome::Ok(_)),
                "{lang}: {:?}",
                report.outcome
            );
        });
        let load = measure("load precompiled", 50, || {
            runtime.load(&wasm).unwrap();
        });
        println!(
            "{lang:<11} {:>6} KiB  compile {:>8.1?}  load p50 {:>8.1?} p99 {:>8.1?}  call p50 {:>8.1?} p99 {:>8.1?}",
            wasm.len() / 1024,
            compile,
            load.p(0.5),
            load.p(0.99),
            call.p(0.5),
            call.p(0.99)
        );
        rows.push((lang, wasm.len(), compile, load, call));
    }
    println!(
        "\n| Language | Component | First compile | Load precompiled (p50 / p99) | Fresh instance + call (p50 / p99) |"
    );
    println!("|---|---|---|---|---|");
    for (lang, size, compile, load, call) in rows {
        println!(
            "| {lang} | {:.1} MB | {:.2} s | {:.1?} / {:.1?} | {:.1?} / {:.1?} |",
            size as f64 / 1e6,
            compile.as_secs_f64(),
            load.p(0.5),
            load.p(0.99),
            call.p(0.5),
            call.p(0.99)
        );
    }
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}
