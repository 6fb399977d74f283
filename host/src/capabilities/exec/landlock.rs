//! The kernel's confinement of a program a skill runs (Landlock).
//!
//! A declared program runs as the user; without this, `git *` could read `~/.ssh`. Each
//! program gets a Landlock domain that lets it read and run the system's programs and
//! libraries (`/usr`, `/bin`, `/lib*`, `/etc`, …), read or write only the skill's granted
//! folders (with their access), open no TCP connection and bind no TCP port, and
//! signal or reach (abstract Unix sockets) nothing outside its own domain. The
//! ruleset is built in chitin before the fork, from the folders that were checked
//! (their open descriptors, not their names); the forked child only applies it
//! ([`restrict_self`]), with async-signal-safe system calls.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;

use chitin_registry::Access;
use landlock::{
    ABI, Access as _, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, PathBeneath, PathFd,
    Ruleset, RulesetAttr, RulesetCreatedAttr, Scope,
};

use crate::grants::Preopen;

/// The newest Landlock ABI whose rights are asked for; older kernels grant what they
/// know (best effort), and a kernel without Landlock yields no ruleset at all.
const ABI_USED: ABI = ABI::V6;

/// Folders every program may read and run from: the system's programs, libraries and
/// configuration. Nothing of the user's.
const SYSTEM_READ: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt",
];

/// Devices programs commonly open: read and write the sink, read the sources.
const DEVICES: &[(&str, bool)] = &[
    ("/dev/null", true),
    ("/dev/zero", false),
    ("/dev/full", true),
    ("/dev/random", false),
    ("/dev/urandom", false),
];

/// A Landlock ruleset ready for a child to apply.
pub struct Confinement {
    fd: OwnedFd,
}

/// Why a ruleset could not be built.
#[derive(Debug, thiserror::Error)]
#[error("could not prepare the kernel's confinement (Landlock) of the program: {0}")]
pub struct ConfinementError(String);

impl Confinement {
    /// The ruleset for `program` with these granted folders, or `None` when the kernel
    /// has no Landlock.
    pub fn new(program: &Path, folders: &[Preopen]) -> Result<Option<Self>, ConfinementError> {
        let err = |e: &dyn std::fmt::Display| ConfinementError(e.to_string());
        let read = AccessFs::from_read(ABI_USED);
        let all = AccessFs::from_all(ABI_USED);
        let mut ruleset = Ruleset::default()
            .set_compatibility(CompatLevel::BestEffort)
            .handle_access(all)
            .map_err(|e| err(&e))?
            // Handled with no rule: no TCP connect, no TCP bind.
            .handle_access(AccessNet::BindTcp | AccessNet::ConnectTcp)
            .map_err(|e| err(&e))?
            .scope(Scope::AbstractUnixSocket | Scope::Signal)
            .map_err(|e| err(&e))?
            .create()
            .map_err(|e| err(&e))?;
        for dir in SYSTEM_READ {
            // Folders this system does not have are simply not granted.
            if let Ok(fd) = PathFd::new(dir) {
                ruleset = ruleset
                    .add_rule(PathBeneath::new(fd, read))
                    .map_err(|e| err(&e))?;
            }
        }
        for (dev, write) in DEVICES {
            if let Ok(fd) = PathFd::new(dev) {
                let mut access: BitFlags<AccessFs> = AccessFs::ReadFile.into();
                if *write {
                    access |= AccessFs::WriteFile;
                }
                ruleset = ruleset
                    .add_rule(PathBeneath::new(fd, access))
                    .map_err(|e| err(&e))?;
            }
        }
        // The program itself, wherever the PATH lookup found it.
        if let Ok(fd) = PathFd::new(program) {
            ruleset = ruleset
                .add_rule(PathBeneath::new(fd, AccessFs::Execute | AccessFs::ReadFile))
                .map_err(|e| err(&e))?;
        }
        // The granted folders, by the descriptors that were checked: a rename or a
        // link planted since cannot redirect a rule.
        for folder in folders {
            let access = match folder.access {
                Access::Read => read,
                Access::ReadWrite => all,
            };
            ruleset = ruleset
                .add_rule(PathBeneath::new(&folder.dir, access))
                .map_err(|e| err(&e))?;
        }
        let fd: Option<OwnedFd> = ruleset.into();
        Ok(fd.map(|fd| Self { fd }))
    }

    /// The ruleset's descriptor, for the child.
    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// The Landlock ABI version of this kernel; 0 when it has no Landlock (or it is off).
pub fn kernel_abi() -> i64 {
    const LANDLOCK_CREATE_RULESET_VERSION: u32 = 1;
    // SAFETY: with a null attribute and this flag the call only reports the version.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    v.max(0)
}

/// What this kernel cannot do of the confinement described above, for the install plan
/// and `chitin skill audit` of a skill that runs programs; `None` when it does it all.
pub fn kernel_gap() -> Option<String> {
    gap_for(kernel_abi())
}

fn gap_for(abi: i64) -> Option<String> {
    match abi {
        ..=0 => Some(
            "this kernel has no Landlock, so chitin cannot confine programs: it will refuse \
             to run this skill's programs"
                .into(),
        ),
        1..=3 => Some(format!(
            "this kernel's Landlock (ABI {abi}) confines files but not TCP: programs this \
             skill runs can open network connections"
        )),
        4 | 5 => Some(format!(
            "this kernel's Landlock (ABI {abi}) does not scope signals and abstract Unix \
             sockets: programs this skill runs can signal and reach other processes of yours"
        )),
        _ => None,
    }
}

/// Apply the ruleset `fd` to the calling process: no new privileges (required to
/// restrict oneself without privileges), then Landlock. Only system calls: safe
/// between `fork` and `exec`.
///
/// # Safety
/// `fd` must be a Landlock ruleset descriptor; call only in the forked child.
pub unsafe fn restrict_self(fd: RawFd) -> io::Result<()> {
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::syscall(libc::SYS_landlock_restrict_self, fd, 0u32) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capabilities::fs::resolve::{Lookup, resolve};
    use std::os::unix::process::CommandExt;

    fn preopen(root: &Path, name: &str, access: Access) -> Preopen {
        let dir = resolve(root, &[name.to_string()], Lookup::Beneath, &[]).unwrap();
        Preopen {
            host_path: dir.real.clone(),
            guest_path: format!("/workspace/{name}"),
            access,
            dir,
        }
    }

    /// Run `script` with `sh` confined to `folders`; (exit code, stdout, stderr).
    fn confined(script: &str, folders: &[Preopen]) -> (i32, String, String) {
        let sh = Path::new("/bin/sh");
        let confinement = Confinement::new(sh, folders)
            .unwrap()
            .expect("this kernel has Landlock (checked by scripts/setup.sh's machine kind)");
        let fd = confinement.raw();
        let mut cmd = std::process::Command::new(sh);
        cmd.args(["-c", script]).env_clear();
        // SAFETY: `restrict_self` makes only system calls.
        unsafe {
            cmd.pre_exec(move || restrict_self(fd));
        }
        let out = cmd.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    #[test]
    fn what_an_older_kernel_cannot_confine_is_said() {
        for (abi, says) in [
            (0, Some("refuse")),
            (1, Some("TCP")),
            (3, Some("TCP")),
            (4, Some("signals")),
            (5, Some("signals")),
            (6, None),
            (7, None),
        ] {
            let gap = gap_for(abi);
            assert_eq!(gap.is_some(), says.is_some(), "ABI {abi}: {gap:?}");
            if let (Some(gap), Some(says)) = (gap, says) {
                assert!(gap.contains(says), "ABI {abi}: {gap}");
            }
        }
        // This machine kind has Landlock ABI 7 (TOOLCHAIN.md).
        assert!(kernel_abi() >= 6, "{}", kernel_abi());
        assert_eq!(kernel_gap(), None);
    }

    #[test]
    fn a_program_reaches_only_its_skills_folders_and_no_network() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        for d in ["ro", "rw", "outside"] {
            std::fs::create_dir(r.join(d)).unwrap();
        }
        std::fs::write(r.join("ro/a.txt"), "granted").unwrap();
        std::fs::write(r.join("outside/secret.txt"), "TOPSECRET").unwrap();
        let folders = [
            preopen(r, "ro", Access::Read),
            preopen(r, "rw", Access::ReadWrite),
        ];
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let p = |s: &str| r.join(s).display().to_string();
        // (what the program does, whether the kernel lets it)
        let cases: &[(String, bool)] = &[
            (format!("cat {}", p("ro/a.txt")), true),
            (format!("cat {}", p("outside/secret.txt")), false),
            (format!("ls {}", p("outside")), false),
            (format!("echo x > {}", p("rw/new.txt")), true),
            (format!("echo x > {}", p("ro/new.txt")), false),
            (format!("echo x > {}", p("outside/new.txt")), false),
            (format!("rm {}", p("ro/a.txt")), false),
            (
                "cat /etc/hostname >/dev/null || cat /etc/os-release".into(),
                true,
            ),
            (
                format!(
                    "python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}))\""
                ),
                false,
            ),
        ];
        for (script, allowed) in cases {
            let (code, out, err) = confined(script, &folders);
            assert_eq!(code == 0, *allowed, "{script}: exit {code}, {out} {err}");
            assert!(!out.contains("TOPSECRET"), "{script}: {out}");
        }
        assert!(!r.join("outside/new.txt").exists());
        assert!(r.join("rw/new.txt").exists());
        assert!(r.join("ro/a.txt").exists());
        assert!(listener.accept().is_err(), "a confined program connected");
    }
}
