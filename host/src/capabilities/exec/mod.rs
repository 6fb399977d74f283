//! `chitin:skill/exec`: run a declared program with arguments matching the declared
//! patterns. Programs are started directly (no shell), with an empty environment but
//! for granted variables, stdin closed, in a working directory inside a granted folder,
//! with output capped and a time limit; whatever they start ends with them
//! ([`contain`]).

pub mod contain;
pub mod landlock;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::audit::{Denial, DenialKind, Denials};
use crate::bindings::chitin::skill::exec::{Host, Output};
use crate::bindings::chitin::skill::types::Error as SkillError;
use crate::grants::{Grants, Preopen};
use crate::state::CallState;
use chitin_registry::{Access, Capability};
use wasmtime::component::{HasData, Linker};

/// The per-call exec policy: a copy of the relevant grants.
pub struct ExecPolicy {
    grants: Grants,
    /// Per stream (stdout, stderr) byte cap.
    output_cap: usize,
}

/// Prepared once per process: what the keeper of each program needs (see [`contain`]).
fn containment() -> &'static std::sync::Arc<contain::Containment> {
    static C: std::sync::OnceLock<std::sync::Arc<contain::Containment>> =
        std::sync::OnceLock::new();
    C.get_or_init(Default::default)
}

impl ExecPolicy {
    pub fn new(grants: Grants) -> Self {
        let output_cap = grants.limits.output.0 as usize;
        Self { grants, output_cap }
    }

    /// Check a request against the grants. Returns the program's path and the cwd.
    pub fn check(
        &self,
        program: &str,
        args: &[String],
        cwd: Option<&str>,
    ) -> Result<(PathBuf, PathBuf), String> {
        let line = std::iter::once(program.to_string())
            .chain(args.iter().map(|a| format!("{a:?}")))
            .collect::<Vec<_>>()
            .join(" ");
        let candidates: Vec<_> = self
            .grants
            .exec
            .iter()
            .filter(|g| g.program.as_str() == program)
            .collect();
        if candidates.is_empty() {
            let declared: Vec<&str> = self
                .grants
                .exec
                .iter()
                .map(|g| g.program.as_str())
                .collect();
            return Err(if declared.is_empty() {
                format!("`{line}`: the skill declared no programs")
            } else {
                format!(
                    "`{line}`: program `{program}` is not declared (declared: {})",
                    declared.join(", ")
                )
            });
        }
        if !candidates.iter().any(|g| g.args_match(args)) {
            let allowed: Vec<String> = candidates.iter().map(|g| g.display_line()).collect();
            let hint = if args.iter().any(|a| a.starts_with('-')) {
                "; a wildcard never stands for an option (`-…`): options must be declared"
            } else {
                ""
            };
            return Err(format!(
                "`{line}`: arguments do not match the declared patterns ({}){hint}",
                allowed.join(" | ")
            ));
        }
        let path = find_program(program, self.grants.host_path_var.as_deref())
            .ok_or_else(|| format!("`{program}` is declared but not installed on this machine"))?;
        // A program the skill could have written is the skill's own code running outside
        // wasm: refuse one found in (or through a link into) a read-write grant.
        let real = path.canonicalize().unwrap_or_else(|_| path.clone());
        if let Some(p) = self
            .grants
            .preopens
            .iter()
            .find(|p| p.access == Access::ReadWrite && real.starts_with(&p.host_path))
        {
            return Err(format!(
                "`{line}`: `{program}` resolves to {}, inside the read-write folder {}, \
                 which the skill can write; only programs it cannot change are run",
                real.display(),
                p.guest_path
            ));
        }
        let dir = match cwd {
            Some(guest) => self
                .grants
                .host_path_for(guest)
                .map(|(p, _)| p)
                .ok_or_else(|| {
                    format!("`{line}`: working folder `{guest}` is not in a granted folder")
                })?,
            None => match self.grants.preopens.first() {
                Some(p) => p.host_path.clone(),
                None => std::env::temp_dir(),
            },
        };
        Ok((path, dir))
    }
}

/// Look a bare program name up on `path_var`, like `execvp` would, but in the host.
/// Only absolute entries of the PATH count: a relative one (`.`, empty) would find a
/// program by the host's current folder.
fn find_program(program: &str, path_var: Option<&str>) -> Option<PathBuf> {
    let absolute = std::env::join_paths(
        std::env::split_paths(path_var.unwrap_or_default()).filter(|d| d.is_absolute()),
    )
    .ok()?;
    // `which` checks the file is executable; an absolute program is taken as given.
    which::which_in(program, Some(absolute), "/").ok()
}

/// Kills a program's process group when the call is done with it.
struct KillGroupOnDrop(u32);

impl Drop for KillGroupOnDrop {
    fn drop(&mut self) {
        contain::kill_group(self.0);
    }
}

/// Read at most `cap` bytes and say whether anything was cut. Past the cap the pipe is
/// closed, so a flooding program dies of SIGPIPE instead of running on.
async fn read_capped(mut r: impl AsyncRead + Unpin, cap: usize) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let mut truncated = false;
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = cap.saturating_sub(out.len());
                out.extend_from_slice(&buf[..n.min(room)]);
                if n > room {
                    truncated = true;
                    break;
                }
            }
        }
    }
    (out, truncated)
}

/// What bounds one program run.
#[derive(Debug, Clone, Copy)]
pub struct RunLimits {
    /// Bytes kept of stdout, and of stderr; past it the pipe is closed.
    pub output_cap: usize,
    /// When the program is killed.
    pub deadline: Instant,
    /// The kernel's limits (`setrlimit`).
    pub rlimits: contain::Rlimits,
}

/// How a program ended (it may have failed; that is its own business).
#[derive(Debug)]
pub struct Ran {
    pub status: Option<i32>,
    /// The signal that ended it, if one did.
    pub signal: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub truncated: bool,
}

/// Why a program did not run to its end.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("this kernel has no Landlock, and chitin does not run programs for skills unconfined")]
    Unconfined,
    #[error(transparent)]
    Confinement(#[from] landlock::ConfinementError),
    #[error("could not start it")]
    Spawn(#[source] std::io::Error),
    #[error("could not wait for it")]
    Wait(#[source] std::io::Error),
    #[error("it did not finish within the call's time limit and was killed")]
    Timeout,
}

/// Run `path` confined to `folders` (Landlock), contained (its own process group and
/// PID namespace), with stdin closed, an environment of `env` only, the kernel's
/// resource limits, its output capped and a deadline. Whatever it started is killed
/// when this returns.
pub async fn run_program(
    path: &Path,
    args: &[String],
    dir: &Path,
    env: &[(String, String)],
    folders: &[Preopen],
    limits: RunLimits,
) -> Result<Ran, RunError> {
    let mut cmd = tokio::process::Command::new(path);
    cmd.args(args)
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // The kernel confines the program to the skill's folders, with no network.
    let confinement = landlock::Confinement::new(path, folders)?.ok_or(RunError::Unconfined)?;
    let landlock = confinement.raw();
    let contain = containment().clone();
    let rlimits = limits.rlimits;
    // SAFETY: `enter` makes only async-signal-safe calls, as `pre_exec` requires.
    unsafe {
        cmd.pre_exec(move || contain.enter(Some(landlock), &rlimits));
    }
    let mut child = cmd.spawn().map_err(RunError::Spawn)?;
    // The child has applied (and, at exec, closed) its copy of the ruleset.
    drop(confinement);
    // Whatever happens below (answer, time limit, cancelled call), the group dies.
    let _group = child.id().map(KillGroupOnDrop);
    let cap = limits.output_cap;
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let remaining = limits.deadline.saturating_duration_since(Instant::now());
    let run = async {
        let ((out, t1), (err, t2)) =
            tokio::join!(read_capped(stdout, cap), read_capped(stderr, cap));
        let status = child.wait().await;
        (out, err, t1 || t2, status)
    };
    match tokio::time::timeout(remaining, run).await {
        Ok((stdout, stderr, truncated, status)) => {
            use std::os::unix::process::ExitStatusExt;
            let status = status.map_err(RunError::Wait)?;
            Ok(Ran {
                status: status.code(),
                signal: status.signal(),
                stdout,
                stderr,
                truncated,
            })
        }
        // The child is killed when `run` (which owns it) is dropped.
        Err(_) => Err(RunError::Timeout),
    }
}

/// Error output that says the program was refused something: what Landlock's denials
/// (`EACCES`, `EPERM`), the process limit (`EAGAIN` at fork) and the file size limit
/// (`EFBIG`) look like to it. chitin
/// does not see the kernel's refusal itself, only what the program says about it.
fn reports_a_refusal(stderr: &[u8]) -> Option<String> {
    const MARKERS: &[&str] = &[
        "Permission denied",
        "Operation not permitted",
        "Resource temporarily unavailable",
        "Cannot fork",
        "can't fork",
        "File too large",
    ];
    let text = String::from_utf8_lossy(stderr);
    text.lines()
        .find(|l| MARKERS.iter().any(|m| l.contains(m)))
        .map(|l| l.chars().take(300).collect())
}

/// What `chitin:skill/exec` sees of a call (in the style of wasmtime's host
/// interfaces): the exec policy, the call's deadline and where refusals go; nothing
/// else of the store.
pub struct ExecView<'a> {
    policy: &'a ExecPolicy,
    deadline: Instant,
    denials: &'a mut Denials,
}

impl ExecView<'_> {
    fn deny(&mut self, kind: impl Into<DenialKind>, detail: String) {
        self.denials.push(Denial {
            capability: kind.into(),
            detail,
        });
    }
}

impl CallState {
    fn exec_view(&mut self) -> ExecView<'_> {
        ExecView {
            policy: &self.exec,
            deadline: self.deadline,
            denials: &mut self.denials,
        }
    }
}

struct HasExec;

impl HasData for HasExec {
    type Data<'a> = ExecView<'a>;
}

/// Link `chitin:skill/exec`, each call seeing only its [`ExecView`].
pub fn add_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    crate::bindings::chitin::skill::exec::add_to_linker::<CallState, HasExec>(
        linker,
        CallState::exec_view,
    )
}

impl Host for ExecView<'_> {
    async fn run(
        &mut self,
        program: String,
        args: Vec<String>,
        cwd: Option<String>,
    ) -> Result<Output, SkillError> {
        let policy = self.policy;
        let (path, dir) = match policy.check(&program, &args, cwd.as_deref()) {
            Ok(ok) => ok,
            Err(reason) => {
                self.deny(Capability::Exec, reason.clone());
                return Err(SkillError::Denied(format!("exec denied: {reason}")));
            }
        };
        let grants = &policy.grants;
        let limits = RunLimits {
            output_cap: policy.output_cap,
            deadline: self.deadline,
            rlimits: contain::Rlimits::for_call(&grants.limits),
        };
        let ran = run_program(&path, &args, &dir, &grants.env, &grants.preopens, limits).await;
        let ran = match ran {
            Ok(ran) => ran,
            Err(RunError::Unconfined) => {
                let reason = format!("`{program}` cannot be confined: {}", RunError::Unconfined);
                self.deny(Capability::Exec, reason.clone());
                return Err(SkillError::Denied(format!("exec denied: {reason}")));
            }
            Err(e @ RunError::Timeout) => {
                return Err(SkillError::Failed(format!("`{program}`: {e}")));
            }
            Err(e) => {
                let mut msg = format!("`{program}`: {e}");
                let mut source = std::error::Error::source(&e);
                while let Some(cause) = source {
                    msg.push_str(&format!(": {cause}"));
                    source = cause.source();
                }
                return Err(SkillError::Failed(msg));
            }
        };
        if let Some(stop) = ran.signal.and_then(|s| limits.rlimits.explain(s)) {
            let detail = format!("`{program}` was stopped by the kernel: {stop}");
            self.deny(DenialKind::Limits, detail.clone());
            return Err(SkillError::Failed(detail));
        }
        if ran.status != Some(0)
            && let Some(line) = reports_a_refusal(&ran.stderr)
        {
            // The kernel's refusal reaches the skill as the program's own error; the
            // audit log records what the program said about it.
            self.deny(
                Capability::Exec,
                format!(
                    "`{program}` (confined to the skill's folders, with no network) \
                     failed with a refusal: {line}"
                ),
            );
        }
        Ok(Output {
            status: ran.status,
            stdout: ran.stdout,
            stderr: ran.stderr,
            truncated: ran.truncated,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capabilities::fs::resolve::{Lookup, resolve};
    use std::time::Duration;

    /// A temporary workspace with a read-write folder `rw`, granted.
    struct Workspace {
        _root: tempfile::TempDir,
        rw: Preopen,
    }

    fn workspace() -> Workspace {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("rw")).unwrap();
        let dir = resolve(root.path(), &["rw".to_string()], Lookup::Beneath, &[]).unwrap();
        let rw = Preopen {
            host_path: dir.real.clone(),
            guest_path: "/workspace/rw".into(),
            access: Access::ReadWrite,
            dir,
        };
        Workspace { _root: root, rw }
    }

    fn limits(deadline: Duration) -> RunLimits {
        RunLimits {
            output_cap: 1000,
            deadline: Instant::now() + deadline,
            rlimits: contain::Rlimits {
                cpu_seconds: 600,
                file_size: 1 << 30,
                processes: contain::PROGRAM_PROCESSES,
            },
        }
    }

    #[test]
    fn programs_are_found_on_absolute_path_entries_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let program = dir.path().join("chitin-test-program");
        std::fs::write(&program, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        let absolute = dir.path().to_str().unwrap();
        // The same folder named relative to `/`, where a relative entry would resolve.
        let relative = absolute.trim_start_matches('/');
        for (name, path_var, found) in [
            ("chitin-test-program", Some(absolute), true),
            ("chitin-test-program", Some(relative), false),
            (
                "chitin-test-program",
                Some(&*format!(".:{relative}")),
                false,
            ),
            ("chitin-test-program", None, false),
            ("true", Some("/usr/bin:/bin"), true),
            ("/bin/sh", None, true),
            ("/no/such/program", Some("/usr/bin"), false),
        ] {
            assert_eq!(
                find_program(name, path_var).is_some(),
                found,
                "{name} on {path_var:?}"
            );
        }
        // Not executable: not a program.
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(find_program("chitin-test-program", Some(absolute)).is_none());
    }

    async fn run(
        ws: &Workspace,
        program: &str,
        args: &[&str],
        limits: RunLimits,
    ) -> Result<Ran, RunError> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let path = find_program(program, Some("/usr/bin:/bin")).unwrap();
        let dir = ws.rw.host_path.clone();
        run_program(
            &path,
            &args,
            &dir,
            &[],
            std::slice::from_ref(&ws.rw),
            limits,
        )
        .await
    }

    /// Processes whose command line contains `marker`.
    fn running(marker: &str) -> usize {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
            .filter(|c| String::from_utf8_lossy(c).contains(marker))
            .count()
    }

    /// A program that writes without end to stdout, or to stderr, is cut at the cap and
    /// its pipe closed: it ends (SIGPIPE) long before the call's deadline.
    #[tokio::test]
    async fn output_past_the_cap_is_cut_and_the_pipe_closed() {
        let ws = workspace();
        for (stream, script) in [("stdout", "yes"), ("stderr", "yes >&2")] {
            let ran = run(&ws, "sh", &["-c", script], limits(Duration::from_secs(60)))
                .await
                .unwrap_or_else(|e| panic!("{stream}: {e}"));
            assert!(ran.truncated, "{stream}");
            let (kept, other) = match stream {
                "stdout" => (&ran.stdout, &ran.stderr),
                _ => (&ran.stderr, &ran.stdout),
            };
            assert_eq!(kept.len(), 1000, "{stream}");
            assert!(other.is_empty(), "{stream}");
        }
    }

    /// At the deadline the call ends with a timeout error, and the program and what it
    /// started are gone.
    #[tokio::test]
    async fn a_program_is_killed_at_the_deadline() {
        let ws = workspace();
        let marker = format!("7{}.{}", std::process::id(), line!());
        let script = format!("sleep {marker} & sleep {marker}");
        let err = run(
            &ws,
            "sh",
            &["-c", &script],
            limits(Duration::from_millis(300)),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, RunError::Timeout), "{err}");
        let deadline = Instant::now() + Duration::from_secs(5);
        while running(&marker) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(running(&marker), 0, "the program outlived its call");
    }

    /// stdin is closed (`/dev/null`): a program that reads it gets end of file at once
    /// instead of waiting for input that never comes.
    #[tokio::test]
    async fn stdin_is_closed() {
        let ws = workspace();
        let ran = run(&ws, "cat", &[], limits(Duration::from_secs(20)))
            .await
            .unwrap();
        assert_eq!(ran.status, Some(0));
        assert!(ran.stdout.is_empty());
    }

    /// The kernel's limits stop a program that spins or writes a huge file; what
    /// stopped it is named. (The process limit: `contain::tests`.)
    #[tokio::test]
    async fn resource_limits_stop_a_program() {
        let ws = workspace();
        let mut l = limits(Duration::from_secs(60));
        l.rlimits.cpu_seconds = 1;
        let ran = run(&ws, "sh", &["-c", "while :; do :; done"], l)
            .await
            .unwrap();
        assert_eq!(ran.signal, Some(libc::SIGXCPU), "{ran:?}");
        assert!(l.rlimits.explain(libc::SIGXCPU).unwrap().contains("CPU"));

        let mut l = limits(Duration::from_secs(60));
        l.rlimits.file_size = 1 << 20;
        // The program itself is PID 1 of its namespace: its write fails (EFBIG). What
        // it starts is killed by SIGXFSZ.
        let dd = "dd if=/dev/zero of=big2 bs=65536 count=64";
        for (program, args, file) in [
            (
                "dd",
                vec!["if=/dev/zero", "of=big", "bs=65536", "count=64"],
                "big",
            ),
            ("sh", vec!["-c", dd], "big2"),
        ] {
            let ran = run(&ws, program, &args, l).await.unwrap();
            assert_ne!(ran.status, Some(0), "{ran:?}");
            let size = std::fs::metadata(ws.rw.host_path.join(file)).unwrap().len();
            assert!(size <= 1 << 20, "{size}");
            let stderr = String::from_utf8_lossy(&ran.stderr);
            assert!(
                reports_a_refusal(&ran.stderr).is_some() || ran.status == Some(128 + libc::SIGXFSZ),
                "{ran:?}: {stderr}"
            );
        }
    }

    #[test]
    fn refusals_in_error_output_are_recognised() {
        let table: &[(&str, bool)] = &[
            ("cat: /home/u/.ssh/id_rsa: Permission denied\n", true),
            ("touch: cannot touch '/tmp/x': Permission denied", true),
            (
                "python3: ... PermissionError: [Errno 13] Permission denied",
                true,
            ),
            ("sh: 1: Cannot fork\n", true),
            (
                "error: could not lock config file: Operation not permitted",
                true,
            ),
            ("dd: error writing 'big': File too large", true),
            ("fatal: not a git repository\n", false),
            ("", false),
        ];
        for (stderr, refusal) in table {
            assert_eq!(
                reports_a_refusal(stderr.as_bytes()).is_some(),
                *refusal,
                "{stderr}"
            );
        }
    }
}
