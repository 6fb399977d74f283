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

use crate::bindings::chitin::skill::exec::{Host, Output};
use crate::bindings::chitin::skill::types::Error as SkillError;
use crate::grants::Grants;
use crate::state::CallState;
use chitin_registry::Access;

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
fn find_program(program: &str, path_var: Option<&str>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let is_exec = |p: &Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.starts_with('/') {
        let p = PathBuf::from(program);
        return is_exec(&p).then_some(p);
    }
    path_var?
        .split(':')
        .filter(|d| d.starts_with('/'))
        .map(|d| Path::new(d).join(program))
        .find(|p| is_exec(p))
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

impl Host for CallState {
    async fn run(
        &mut self,
        program: String,
        args: Vec<String>,
        cwd: Option<String>,
    ) -> Result<Output, SkillError> {
        let (path, dir) = match self.exec.check(&program, &args, cwd.as_deref()) {
            Ok(ok) => ok,
            Err(reason) => {
                self.deny("exec", reason.clone());
                return Err(SkillError::Denied(format!("exec denied: {reason}")));
            }
        };
        let mut cmd = tokio::process::Command::new(&path);
        cmd.args(&args)
            .current_dir(&dir)
            .env_clear()
            .envs(self.exec.grants.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // The kernel confines the program to the skill's folders, with no network.
        let confinement = match landlock::Confinement::new(&path, &self.exec.grants.preopens) {
            Ok(Some(c)) => c,
            Ok(None) => {
                let reason = format!(
                    "`{program}` cannot be confined: this kernel has no Landlock, and chitin \
                     does not run programs for skills unconfined"
                );
                self.deny("exec", reason.clone());
                return Err(SkillError::Denied(format!("exec denied: {reason}")));
            }
            Err(e) => return Err(SkillError::Failed(e.to_string())),
        };
        let landlock = confinement.raw();
        let contain = containment().clone();
        // SAFETY: `enter` makes only async-signal-safe calls, as `pre_exec` requires.
        unsafe {
            cmd.pre_exec(move || contain.enter(Some(landlock)));
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| SkillError::Failed(format!("could not start `{program}`: {e}")))?;
        // The child has applied (and, at exec, closed) its copy of the ruleset.
        drop(confinement);
        // Whatever happens below (answer, time limit, cancelled call), the group dies.
        let _group = child.id().map(KillGroupOnDrop);
        let cap = self.exec.output_cap;
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        let run = async {
            let ((out, t1), (err, t2)) =
                tokio::join!(read_capped(stdout, cap), read_capped(stderr, cap));
            let status = child.wait().await;
            (out, err, t1 || t2, status)
        };
        match tokio::time::timeout(remaining, run).await {
            Ok((stdout, stderr, truncated, status)) => {
                let status = status
                    .map_err(|e| SkillError::Failed(format!("waiting for `{program}`: {e}")))?;
                Ok(Output {
                    status: status.code(),
                    stdout,
                    stderr,
                    truncated,
                })
            }
            // The child is killed when `run` (which owns it) is dropped.
            Err(_) => Err(SkillError::Failed(format!(
                "`{program}` did not finish within the call's time limit and was killed"
            ))),
        }
    }
}
