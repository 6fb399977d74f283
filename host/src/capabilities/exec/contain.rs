//! Nothing a program started for a skill leaves behind outlives its call.
//!
//! A program can fork children, detach them with `setsid`, double-fork them into
//! daemons. A process group alone does not hold those (`setsid` leaves it), so where the
//! kernel allows unprivileged user namespaces (Linux ≥ 3.8, on by default in most
//! distributions) each program runs as PID 1 of a PID namespace of its own: when it
//! exits or is killed, the kernel kills every process left in that namespace, and no
//! process can leave a PID namespace. How:
//!
//! ```text
//! chitin ── fork ──▶ keeper (new process group; unshare(USER|PID)) ── fork ──▶ program
//!                    waits, mirrors the exit status                  PID 1 of the namespace,
//!                                                                    dies with its keeper
//! ```
//!
//! Where namespaces are refused, the program still gets its own process group, which
//! [`kill_group`] ends at the end of the call; a child that calls `setsid` can then
//! survive (said in SECURITY.md).

use std::io;

/// What the keeper needs, prepared before the fork: after it, only async-signal-safe
/// calls are allowed, so nothing here allocates.
pub struct Containment {
    uid_map: Vec<u8>,
    gid_map: Vec<u8>,
}

impl Default for Containment {
    fn default() -> Self {
        Self::new()
    }
}

impl Containment {
    pub fn new() -> Self {
        // SAFETY: getuid/getgid cannot fail.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        Self::with_ids(uid, gid)
    }

    /// For a program that runs as `uid`/`gid` (the caller's own, but in tests).
    fn with_ids(uid: libc::uid_t, gid: libc::gid_t) -> Self {
        // The program keeps the user's own ids inside the namespace (files stay theirs).
        Self {
            uid_map: format!("{uid} {uid} 1\0").into_bytes(),
            gid_map: format!("{gid} {gid} 1\0").into_bytes(),
        }
    }

    /// Runs in the forked child before `exec`: new process group, then (if the kernel
    /// allows) the namespace and the keeper. Returns in the process that will `exec` the
    /// program. Only async-signal-safe calls.
    ///
    /// # Safety
    /// Must be called only between `fork` and `exec` (from `Command::pre_exec`).
    pub unsafe fn enter(
        &self,
        landlock: Option<std::os::fd::RawFd>,
        limits: &Rlimits,
    ) -> io::Result<()> {
        unsafe {
            if libc::setpgid(0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            limits.apply()?;
            if libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWPID) != 0 {
                // No namespaces here: the process group is what holds the program. No
                // process limit either: outside a namespace of its own, RLIMIT_NPROC
                // counts every process of the user, not the program's.
                return confine(landlock);
            }
            // An unprivileged process may map only its own ids, and only once
            // `setgroups` is denied.
            write_file(c"/proc/self/setgroups", b"deny\0");
            write_file(c"/proc/self/uid_map", &self.uid_map);
            write_file(c"/proc/self/gid_map", &self.gid_map);
            // In the new user namespace the kernel counts only the processes made in
            // it (the keeper and the program's), so this bounds the program's tree.
            limits.apply_processes()?;
            let pid = libc::fork();
            if pid < 0 {
                return Err(io::Error::last_os_error());
            }
            if pid > 0 {
                keep(pid, limits.cpu_seconds);
            }
            // The program, PID 1 of the namespace: killed with its keeper, which chitin
            // kills at the deadline. (Had the keeper died before this line, the signal
            // would not come; the program is in the keeper's process group, which chitin
            // kills too.)
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
            confine(landlock)
        }
    }
}

/// The kernel's resource limits of a program, prepared before the fork.
#[derive(Debug, Clone, Copy)]
pub struct Rlimits {
    /// Seconds of CPU time per process (SIGXCPU, then SIGKILL a second later; the
    /// program itself, PID 1 of its namespace, ignores SIGXCPU and gets the SIGKILL).
    pub cpu_seconds: u64,
    /// Bytes a process may write into one file (SIGXFSZ past it; the program itself,
    /// PID 1 of its namespace, ignores it and its write fails with `EFBIG`).
    pub file_size: u64,
    /// Processes in the program's namespace, the keeper's included (fork fails past it).
    pub processes: u64,
}

/// Processes a program and what it starts may have at once.
pub const PROGRAM_PROCESSES: u64 = 128;

impl Rlimits {
    /// The limits of a call's programs: CPU up to its time limit, files up to its disk
    /// limit.
    pub fn for_call(limits: &chitin_registry::Limits) -> Self {
        Self {
            cpu_seconds: limits.timeout.0.as_secs_f64().ceil().max(1.0) as u64,
            file_size: limits.disk.0,
            processes: PROGRAM_PROCESSES,
        }
    }

    /// What a program ended by `signal` ran into, if it was one of these limits.
    pub fn explain(&self, signal: i32) -> Option<String> {
        match signal {
            libc::SIGXCPU => Some(format!(
                "it used {} s of CPU time (the call's time limit)",
                self.cpu_seconds
            )),
            libc::SIGXFSZ => Some(format!(
                "it wrote past {} bytes into one file (the call's disk limit)",
                self.file_size
            )),
            _ => None,
        }
    }

    /// Set CPU, file size and no core dumps (a core is written as the user, wherever
    /// the system puts it). Async-signal-safe.
    unsafe fn apply(&self) -> io::Result<()> {
        unsafe {
            set(libc::RLIMIT_CORE, 0, 0)?;
            // The hard limit one second later turns an ignored SIGXCPU into SIGKILL.
            set(libc::RLIMIT_CPU, self.cpu_seconds, self.cpu_seconds + 1)?;
            set(libc::RLIMIT_FSIZE, self.file_size, self.file_size)
        }
    }

    /// Set the process limit (in the program's own user namespace). Async-signal-safe.
    unsafe fn apply_processes(&self) -> io::Result<()> {
        unsafe { set(libc::RLIMIT_NPROC, self.processes, self.processes) }
    }
}

/// `setrlimit`, never raising a limit the process already has lower.
unsafe fn set(resource: libc::__rlimit_resource_t, soft: u64, hard: u64) -> io::Result<()> {
    unsafe {
        let mut old = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(resource, &mut old) != 0 {
            return Err(io::Error::last_os_error());
        }
        let new = libc::rlimit {
            rlim_cur: soft.min(old.rlim_cur),
            rlim_max: hard.min(old.rlim_max),
        };
        if libc::setrlimit(resource, &new) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The program's last step before `exec`: its Landlock domain (see [`super::landlock`]).
unsafe fn confine(landlock: Option<std::os::fd::RawFd>) -> io::Result<()> {
    match landlock {
        // SAFETY: the caller passes a ruleset descriptor, in the forked child.
        Some(fd) => unsafe { super::landlock::restrict_self(fd) },
        None => Ok(()),
    }
}

/// The keeper: wait for the program and leave with its status. Never returns.
unsafe fn keep(pid: libc::pid_t, cpu_seconds: u64) -> ! {
    unsafe {
        // Close what the keeper inherited beyond stdio, above all the pipe on which the
        // standard library waits for `exec` to succeed: held open here, it would make
        // `spawn` wait for the whole program.
        if libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) != 0 {
            for fd in 3..4096 {
                libc::close(fd);
            }
        }
        let mut status = 0;
        let mut usage: libc::rusage = std::mem::zeroed();
        while libc::wait4(pid, &mut status, 0, &mut usage) < 0 {
            if *libc::__errno_location() != libc::EINTR {
                libc::_exit(127);
            }
        }
        if libc::WIFEXITED(status) {
            libc::_exit(libc::WEXITSTATUS(status));
        }
        let mut signal = libc::WTERMSIG(status);
        // The program is PID 1 of its namespace, which ignores SIGXCPU: the kernel ends
        // it with SIGKILL at the hard CPU limit. Say which it was.
        let cpu = usage.ru_utime.tv_sec + usage.ru_stime.tv_sec;
        if signal == libc::SIGKILL && cpu >= cpu_seconds as libc::time_t {
            signal = libc::SIGXCPU;
        }
        // Die of that signal, so chitin sees what stopped the program; no core is
        // written (RLIMIT_CORE is 0).
        libc::signal(signal, libc::SIG_DFL);
        libc::kill(libc::getpid(), signal);
        libc::_exit(128 + signal);
    }
}

/// Write a NUL-terminated `data` (the NUL not written) to `path`; errors are ignored
/// (the mapping then fails and the namespace is unusable, which `exec` reports).
unsafe fn write_file(path: &std::ffi::CStr, data: &[u8]) {
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd >= 0 {
            libc::write(fd, data.as_ptr().cast(), data.len().saturating_sub(1));
            libc::close(fd);
        }
    }
}

/// Kill every process of the group `pgid` (the program's keeper and, without a
/// namespace, whatever it forked without `setsid`).
pub fn kill_group(pgid: u32) {
    if let Some(pid) = rustix::process::Pid::from_raw(pgid as i32) {
        // ESRCH: all already gone.
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::time::{Duration, Instant};

    /// Processes whose command line contains `marker`.
    fn running(marker: &str) -> Vec<String> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            // Zombies have an empty command line; they are gone but for the entry.
            if cmdline.contains(marker) {
                found.push(format!(
                    "{}: {cmdline}",
                    entry.file_name().to_string_lossy()
                ));
            }
        }
        found
    }

    /// Run `cmd -c script` contained, wait for it, then kill its group.
    fn contained(
        mut cmd: std::process::Command,
        script: &str,
        contain: Containment,
        limits: Rlimits,
    ) -> std::process::Output {
        cmd.args(["-c", script])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        // SAFETY: `enter` is async-signal-safe.
        unsafe {
            cmd.pre_exec(move || contain.enter(None, &limits));
        }
        let child = cmd.spawn().unwrap();
        let pgid = child.id();
        let out = child.wait_with_output().unwrap();
        kill_group(pgid);
        out
    }

    const UNLIMITED: Rlimits = Rlimits {
        cpu_seconds: 3600,
        file_size: u64::MAX,
        processes: PROGRAM_PROCESSES,
    };

    /// A program cannot fork without end: past the process limit, `fork` fails.
    #[test]
    fn the_process_limit_bounds_a_programs_tree() {
        // The kernel exempts root from RLIMIT_NPROC; a program of root's is run as
        // `nobody` here, as any user's program is bound.
        // SAFETY: getuid/getgid cannot fail.
        let (uid, gid) = match unsafe { (libc::getuid(), libc::getgid()) } {
            (0, _) => (65534, 65534),
            ids => ids,
        };
        let marker = format!("9{}.{}", std::process::id(), line!());
        let script =
            format!("i=0; while [ $i -lt 20 ]; do sleep {marker} & i=$((i+1)); done; echo started");
        let contain = Containment::with_ids(uid, gid);
        let limits = Rlimits {
            processes: 8,
            ..UNLIMITED
        };
        let mut cmd = std::process::Command::new("/bin/sh");
        cmd.current_dir("/").uid(uid).gid(gid);
        let out = contained(cmd, &script, contain, limits);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(stderr.contains("fork"), "{stderr}");
    }

    #[test]
    fn nothing_a_program_starts_outlives_it() {
        // A unique sleep length marks this test's processes.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let marker = format!("4{:03}.{nanos}", std::process::id() % 1000);
        // A background child, a child detached with setsid, and a double-forked daemon.
        let script = format!(
            "sleep {marker} >/dev/null & setsid sleep {marker} >/dev/null & \
             (setsid sh -c 'sleep {marker} >/dev/null &' &); sleep 0.2; echo started"
        );
        let cmd = std::process::Command::new("/bin/sh");
        let out = contained(cmd, &script, Containment::new(), UNLIMITED);
        assert_eq!(String::from_utf8_lossy(&out.stdout), "started\n");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !running(&marker).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(running(&marker), Vec::<String>::new());
    }
}
