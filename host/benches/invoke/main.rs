//! Per-call cost of chitin's sandbox, against the wasmtime floor and a process spawn.
//!
//! `cargo bench -p chitin-host --bench invoke` (or `make bench`), with the skills
//! built by `make skills`. Measures, in one run, in `CHITIN_BENCH_ROUNDS` rounds
//! (default 5), each of which times every line below in turn:
//! - the floor: the same component instantiated and called through plain wasmtime with
//!   the same engine (`floor.rs`: an `InstancePre`, an empty WASI context, nothing of
//!   chitin's);
//! - a fresh instance + one call of the probe's trivial `noop` tool through
//!   `Runtime::invoke`, with no grants and with the probe's full grants (two preopened
//!   folders, HTTP, exec, env, a secret);
//! - spawning `/bin/true` with `std::process::Command` and waiting for it.
//!
//! It reports, for each, the p50 of every round as min / median / max over the rounds,
//! and the same for the ratios chitin / floor and spawn / chitin (computed per round,
//! so both sides of a ratio saw the same machine at the same moment). Then, when
//! valgrind is installed, instructions per call of the floor and of chitin (callgrind:
//! repeatable across machines, whatever else runs) with where chitin's go; loading a
//! precompiled skill; and by language, the probe in Rust, JavaScript, Python and C.
//!
//! Not a test: nothing here asserts a time.

mod floor;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use chitin_host::{AuditLog, Grants, HostEnv, LoadedSkill, Outcome, Runtime, SkillEngine};

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
fn read_skill(dir: &Path, name: &str) -> Vec<u8> {
    let path = dir.join(format!("{name}.wasm"));
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run `make skills` first", path.display()))
}

/// A runtime with an empty compile cache (kept alive by the returned folder).
fn fresh_runtime() -> (tempfile::TempDir, Runtime) {
    let cache = tempfile::tempdir().unwrap();
    // valgrind cannot reserve the default pool's address space: a small pool there.
    let slots = match std::env::var_os("CHITIN_BENCH_COUNT") {
        Some(_) => 8,
        None => chitin_host::engine::DEFAULT_MEMORY_SLOTS,
    };
    let runtime = Runtime::new(
        SkillEngine::with_memory_slots(cache.path().join("compiled"), slots).unwrap(),
        AuditLog::in_memory().unwrap(),
    );
    (cache, runtime)
}

fn skills_dir() -> PathBuf {
    std::env::var_os("CHITIN_SKILLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/skills"))
}

/// The probe loaded three ways: chitin with no grants, chitin with its full grants,
/// and the floor.
struct Probe {
    _cache: tempfile::TempDir,
    _ws: tempfile::TempDir,
    wasm: Vec<u8>,
    runtime: Runtime,
    skill: LoadedSkill,
    none: Grants,
    full: Grants,
    floor: floor::Floor,
    // A current-thread runtime: the call runs on this thread, as one agent lane would.
    rt: tokio::runtime::Runtime,
}

impl Probe {
    fn new() -> Self {
        let wasm = read_skill(&skills_dir(), "probe");
        let (cache, runtime) = fresh_runtime();
        let skill = runtime.load(&wasm).unwrap();
        let ws = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(ws.path().join("ro")).unwrap();
        std::fs::create_dir_all(ws.path().join("rw")).unwrap();
        let env = HostEnv {
            workspace: ws.path().to_path_buf(),
            home: ws.path().to_path_buf(),
            vars: BTreeMap::from([("PATH".into(), "/usr/bin:/bin".into())]),
            secrets: BTreeMap::from([("PROBE_TOKEN".into(), "bench-secret".into())]),
            protected: Vec::new(),
        };
        let full = Grants::from_manifest(&skill.manifest, &env).unwrap();
        let none = Grants::none(skill.name(), skill.manifest.limits);
        let floor = floor::Floor::new(runtime.engine(), &wasm);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        Self {
            _cache: cache,
            _ws: ws,
            wasm,
            runtime,
            skill,
            none,
            full,
            floor,
            rt,
        }
    }

    fn call(&self, grants: &Grants) {
        let report = self
            .rt
            .block_on(self.runtime.invoke(&self.skill, grants, "noop", "{}"));
        assert!(
            matches!(report.outcome, Outcome::Ok(_)),
            "{:?}",
            report.outcome
        );
    }

    fn call_floor(&self) {
        let out = self.rt.block_on(self.floor.call("noop", "{}"));
        assert_eq!(out, r#""ok""#);
    }

    /// One of the three paths by name (for the instruction counts).
    fn path(&self, which: &str) -> Box<dyn Fn() + '_> {
        match which {
            "floor" => Box::new(|| self.call_floor()),
            "none" => Box::new(|| self.call(&self.none)),
            "full" => Box::new(|| self.call(&self.full)),
            other => panic!("unknown path {other}"),
        }
    }
}

/// Calls made while callgrind collects (`--toggle-collect` names this function).
const COUNTED: u64 = 1000;

#[inline(never)]
fn counted_calls(f: &dyn Fn()) {
    for _ in 0..COUNTED {
        f();
    }
}

fn min_median_max(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[0], v[v.len() / 2], v[v.len() - 1])
}

fn main() {
    // Under callgrind (see `instruction_counts`): warm up, then the counted calls only.
    if let Ok(which) = std::env::var("CHITIN_BENCH_COUNT") {
        let probe = Probe::new();
        let f = probe.path(&which);
        for _ in 0..50 {
            f();
        }
        counted_calls(&*f);
        return;
    }
    let rounds: usize = std::env::var("CHITIN_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5)
        .max(1);
    let probe = Probe::new();
    println!("machine: {} cores, {}", num_cpus(), cpu_model());
    println!("fresh instance + `noop` call, p50 of each of {rounds} rounds as min / median / max:");
    let mut p50s: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut ratios: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for _ in 0..rounds {
        let floor = measure("floor", 2000, || probe.call_floor());
        let none = measure("none", 2000, || probe.call(&probe.none));
        let full = measure("full", 2000, || probe.call(&probe.full));
        let spawn = measure("spawn", 300, || {
            let status = Command::new("/bin/true").status().unwrap();
            assert!(status.success());
        });
        let us = |s: &Stats| s.p(0.5).as_secs_f64() * 1e6;
        for (name, s) in [
            ("wasmtime floor (same engine, empty WASI context)", &floor),
            ("chitin, no grants", &none),
            ("chitin, the probe's full grants", &full),
            ("spawn /bin/true", &spawn),
        ] {
            p50s.entry(name).or_default().push(us(s));
        }
        for (name, value) in [
            ("chitin / floor, no grants", us(&none) / us(&floor)),
            ("chitin / floor, full grants", us(&full) / us(&floor)),
            ("spawn / chitin, no grants", us(&spawn) / us(&none)),
            ("spawn / chitin, full grants", us(&spawn) / us(&full)),
        ] {
            ratios.entry(name).or_default().push(value);
        }
    }
    for name in [
        "wasmtime floor (same engine, empty WASI context)",
        "chitin, no grants",
        "chitin, the probe's full grants",
        "spawn /bin/true",
    ] {
        let (lo, mid, hi) = min_median_max(p50s[name].clone());
        println!("  {name:<50} {lo:>8.1} / {mid:>8.1} / {hi:>8.1} µs");
    }
    for name in [
        "chitin / floor, no grants",
        "chitin / floor, full grants",
        "spawn / chitin, no grants",
        "spawn / chitin, full grants",
    ] {
        let (lo, mid, hi) = min_median_max(ratios[name].clone());
        println!("  {name:<50} {lo:>8.2} / {mid:>8.2} / {hi:>8.2} ×");
    }

    instruction_counts();

    let load = measure("load precompiled skill (Runtime::load)", 200, || {
        probe.runtime.load(&probe.wasm).unwrap();
    });
    println!(
        "{:<52} p50 {:>10.1?}  p99 {:>10.1?}",
        load.name,
        load.p(0.5),
        load.p(0.99)
    );
    if std::env::var_os("CHITIN_BENCH_SKIP_LANGUAGES").is_none() {
        by_language(&skills_dir(), &probe.rt);
    }
}

/// Where the instructions go: functions callgrind reports inclusively, per call, for
/// the floor and for chitin with the probe's full grants. Instantiation and the guest's
/// own run are the rest, the same code in both.
const BREAKDOWN: &[(&str, &str)] = &[
    ("WASI context built", "WasiCtxBuilder::build"),
    ("store created", "wasmtime::runtime::store::Store<T>::new"),
    (
        "store dropped (instance freed, slot reset)",
        "drop_in_place<wasmtime::runtime::store::StoreOpaque>",
    ),
    (
        "chitin: store from the grants (has the two above)",
        "Runtime::new_store",
    ),
    (
        "chitin:   of which preopened folders",
        "capabilities::fs::preopen",
    ),
    ("chitin:   of which the HTTP policy", "HttpPolicy::new"),
    (
        "chitin: after the call (output, denials, audit, drop)",
        "Runtime::finish",
    ),
];

/// Instructions per call of each path, counted by callgrind in a child run of this
/// bench; skipped (said so) when valgrind is missing.
fn instruction_counts() {
    if Command::new("valgrind").arg("--version").output().is_err() {
        println!("instructions per call: valgrind not installed, not counted");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let dir = tempfile::tempdir().unwrap();
    println!("instructions per call (callgrind, {COUNTED} calls after 50 warm-up calls):");
    let mut floor = 0.0;
    let mut files = Vec::new();
    for (which, label) in [
        ("floor", "wasmtime floor"),
        ("none", "chitin, no grants"),
        ("full", "chitin, the probe's full grants"),
    ] {
        let out = dir.path().join(format!("callgrind.{which}"));
        let status = Command::new("valgrind")
            .args([
                "--tool=callgrind",
                "--collect-atstart=no",
                "--toggle-collect=*counted_calls*",
            ])
            .arg(format!("--callgrind-out-file={}", out.display()))
            .arg(&exe)
            .env("CHITIN_BENCH_COUNT", which)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "callgrind run of {which} failed");
        let text = std::fs::read_to_string(&out).unwrap();
        let total: f64 = text
            .lines()
            .find_map(|l| {
                l.strip_prefix("totals:")
                    .or_else(|| l.strip_prefix("summary:"))
            })
            .and_then(|n| n.trim().parse().ok())
            .expect("callgrind totals");
        let per_call = total / COUNTED as f64;
        if which == "floor" {
            floor = per_call;
            println!("  {label:<50} {:>10.0}", per_call);
        } else {
            println!(
                "  {label:<50} {:>10.0}  ({:.2}× the floor)",
                per_call,
                per_call / floor
            );
        }
        if which != "none" {
            files.push(out);
        }
    }
    breakdown(&files[0], &files[1]);
}

/// The inclusive instructions per call of the functions in [`BREAKDOWN`], for the
/// floor's and chitin's callgrind files.
fn breakdown(floor: &Path, chitin: &Path) {
    let annotate = |file: &Path| {
        Command::new("callgrind_annotate")
            .args(["--inclusive=yes", "--threshold=100"])
            .arg(file)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    let (floor, chitin) = (annotate(floor), annotate(chitin));
    // The largest inclusive count of a function whose name holds `needle`.
    let count = |text: &str, needle: &str| {
        text.lines()
            .filter(|l| l.contains(needle))
            .filter_map(|l| l.split_whitespace().next())
            .filter_map(|n| n.replace(',', "").parse::<f64>().ok())
            .fold(None, |m: Option<f64>, n| Some(m.map_or(n, |m| m.max(n))))
            .map_or("inlined".to_string(), |n| {
                format!("{:.0}", n / COUNTED as f64)
            })
    };
    println!("  where they go, per call:{:>33} {:>10}", "floor", "chitin");
    for (label, needle) in BREAKDOWN {
        println!(
            "    {label:<54} {:>10} {:>10}",
            count(&floor, needle),
            count(&chitin, needle)
        );
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
