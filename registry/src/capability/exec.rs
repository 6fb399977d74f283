//! `exec`: the programs a skill may run on the host, with the arguments it may pass.
//!
//! ```toml
//! # Started directly (never through a shell). Each argument pattern matches one
//! # argument (`*` inside matches any text); a final "**" matches any number of
//! # remaining arguments.
//! exec = [{ program = "git", args = ["log", "*"] }]
//! ```
//!
//! Declared here; the host's `capabilities::exec` finds the program, matches the
//! arguments with [`ExecGrant::args_match`] and confines what runs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{Capability, ImportClass, Risk};
use crate::glob::glob_match;

/// One program the skill may run, with the arguments it may pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecGrant {
    pub program: Program,
    #[serde(default)]
    pub args: Vec<String>,
}

impl ExecGrant {
    /// Do these arguments fit the declared patterns? Each pattern matches one argument
    /// (`*` inside matches any text); a final `**` matches any remaining arguments.
    ///
    /// A wildcard never supplies an option: an argument starting with `-` fits only a
    /// pattern that starts with `-` itself (`--oneline`, `--format=*`). Otherwise `git
    /// log *` would admit `--output=FILE` and `find *` would admit `-delete`: options
    /// reach past every grant, so they must be written out in the declaration.
    pub fn args_match(&self, args: &[String]) -> bool {
        let (patterns, rest_any) = match self.args.split_last() {
            Some((last, init)) if last == "**" => (init, true),
            _ => (self.args.as_slice(), false),
        };
        if args.len() < patterns.len() || (!rest_any && args.len() != patterns.len()) {
            return false;
        }
        let fits =
            |p: &str, a: &str| (!a.starts_with('-') || p.starts_with('-')) && glob_match(p, a);
        patterns.iter().zip(args).all(|(p, a)| fits(p, a))
            && args[patterns.len()..].iter().all(|a| !a.starts_with('-'))
    }

    /// The argument patterns as a shell-like line, for display.
    pub fn display_line(&self) -> String {
        std::iter::once(self.program.to_string())
            .chain(self.args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A program name (`git`, looked up on the host's PATH) or an absolute path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Program(String);
string_serde!(Program);

impl Program {
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The file name part (`/usr/bin/git` → `git`).
    pub fn base_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }
}

impl FromStr for Program {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let ok = !s.is_empty()
            && !s.contains(char::is_whitespace)
            && !s.chars().any(crate::untrusted::is_unsafe)
            && (s.starts_with('/') || !s.contains('/'))
            && !s.split('/').any(|p| p == "..");
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(format!(
                "invalid program `{s}`: give a bare name (looked up on PATH) or an absolute \
                 path, without spaces or control characters; arguments go in `args`"
            ))
        }
    }
}

impl fmt::Display for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Programs that run arbitrary code or reach the network on their own: granting them
/// with open arguments is granting everything. Any wildcard counts, even as an
/// option's value, because the value is often a script (`sed -e *`, `awk *`).
const POWERFUL_PROGRAMS: &[&str] = &[
    "sh", "bash", "zsh", "dash", "fish", "ksh", "csh", "tcsh", "python", "python3", "node", "deno",
    "bun", "perl", "ruby", "php", "lua", "curl", "wget", "nc", "ncat", "socat", "ssh", "scp",
    "rsync", "env", "xargs", "sudo", "su", "docker", "kubectl", "npx", "pip", "npm", "awk", "gawk",
    "mawk", "nawk", "sed", "make", "sqlite3", "busybox", "timeout", "nice", "nohup", "watch",
    "strace", "gdb", "vim", "vi", "nvim", "emacs", "doas", "pkexec", "chroot", "setsid", "flock",
];

/// What a program can do with an argument the skill picks freely. A program runs on the
/// host, outside the sandbox: a path it is given reaches every file the user can.
#[derive(Clone, Copy)]
enum Reach {
    /// Runs other programs (`tar --to-command=…`, `find -exec`).
    RunsCode,
    /// Writes, moves or deletes files (`cp`, `tee`, `git log --output=FILE`).
    WritesFiles,
    /// Reads files and hands their content back (`cat`, `grep`).
    ReadsFiles,
    /// Creates empty files or changes their times (`touch`).
    CreatesFiles,
}

/// Programs whose reach goes past the fs grants through an argument the skill picks,
/// with what that takes (shown in the finding).
const FILE_PROGRAMS: &[(&str, Reach, &str)] = &[
    ("find", Reach::RunsCode, "`find -exec`, `-delete`"),
    ("tar", Reach::RunsCode, "`tar --to-command=…`"),
    ("zip", Reach::RunsCode, "`zip -TT …`"),
    ("git", Reach::WritesFiles, "`git log --output=FILE`"),
    ("cp", Reach::WritesFiles, "a destination path"),
    ("mv", Reach::WritesFiles, "a destination path"),
    ("tee", Reach::WritesFiles, "a file path"),
    ("dd", Reach::WritesFiles, "`of=FILE`"),
    ("install", Reach::WritesFiles, "a destination path"),
    ("ln", Reach::WritesFiles, "a link path"),
    ("rm", Reach::WritesFiles, "a path"),
    ("chmod", Reach::WritesFiles, "a path"),
    ("chown", Reach::WritesFiles, "a path"),
    ("truncate", Reach::WritesFiles, "a path"),
    ("sort", Reach::WritesFiles, "`sort -o FILE`"),
    ("split", Reach::WritesFiles, "an output prefix"),
    ("patch", Reach::WritesFiles, "a path"),
    ("unzip", Reach::WritesFiles, "`unzip -d DIR`"),
    ("cat", Reach::ReadsFiles, "a path"),
    ("head", Reach::ReadsFiles, "a path"),
    ("tail", Reach::ReadsFiles, "a path"),
    ("less", Reach::ReadsFiles, "a path"),
    ("more", Reach::ReadsFiles, "a path"),
    ("grep", Reach::ReadsFiles, "a path"),
    ("rg", Reach::ReadsFiles, "a path"),
    ("od", Reach::ReadsFiles, "a path"),
    ("xxd", Reach::ReadsFiles, "a path"),
    ("hexdump", Reach::ReadsFiles, "a path"),
    ("base64", Reach::ReadsFiles, "a path"),
    ("strings", Reach::ReadsFiles, "a path"),
    ("diff", Reach::ReadsFiles, "a path"),
    ("jq", Reach::ReadsFiles, "a path"),
    ("nl", Reach::ReadsFiles, "a path"),
    ("tac", Reach::ReadsFiles, "a path"),
    ("cut", Reach::ReadsFiles, "a path"),
    ("ls", Reach::ReadsFiles, "a path"),
    ("touch", Reach::CreatesFiles, "a path"),
];

/// How freely the skill picks an argument of a program.
enum Free<'a> {
    /// Any option (`--output=FILE`) or any path (`/etc/passwd`, `src/../../x`).
    Argument,
    /// Any value of this fixed option (`-n *`): a count for some options, a path for
    /// others.
    ValueOf(&'a str),
}

/// The freest argument these patterns allow, if any. A pattern is free when the text
/// before its first wildcard is empty, only dashes, or ends in `/`; right after a fixed
/// option without `=` it is taken as that option's value.
fn freest(patterns: &[String]) -> Option<Free<'_>> {
    let mut value_of = None;
    for (i, p) in patterns.iter().enumerate() {
        let Some(wild) = p.find(['*', '?']) else {
            continue;
        };
        let fixed = &p[..wild];
        if !(fixed.is_empty() || fixed.chars().all(|c| c == '-') || fixed.ends_with('/')) {
            continue;
        }
        let option = i
            .checked_sub(1)
            .map(|j| patterns[j].as_str())
            // `--` ends the options: what follows is an argument.
            .filter(|o| o.starts_with('-') && *o != "--" && !o.contains(['*', '?', '=']));
        match option {
            Some(o) if p != "**" => value_of = value_of.or(Some(o)),
            _ => return Some(Free::Argument),
        }
    }
    value_of.map(Free::ValueOf)
}

/// What deserves a second look in the declared programs: what each can reach past the
/// other grants through the arguments the skill picks.
pub(crate) fn findings(grants: &[ExecGrant], mut add: impl FnMut(Risk, String)) {
    for e in grants {
        let name = e.program.base_name();
        let open_args = e.args.iter().any(|a| a.contains('*') || a.contains('?'));
        if POWERFUL_PROGRAMS.contains(&name) && open_args {
            add(
                Risk::High,
                format!(
                    "runs `{name}` with open arguments, so it can run any code or reach any host: {}",
                    e.display_line()
                ),
            );
        } else if POWERFUL_PROGRAMS.contains(&name) {
            add(
                Risk::Low,
                format!("runs `{name}`, with fixed arguments: {}", e.display_line()),
            );
        } else if let Some((_, reach, how)) = FILE_PROGRAMS.iter().find(|(p, ..)| *p == name)
            && let Some(free) = freest(&e.args)
        {
            let (risk, can) = match reach {
                Reach::RunsCode => (Risk::High, "run any program"),
                Reach::WritesFiles => (Risk::High, "write or delete any file you can"),
                Reach::ReadsFiles => (
                    Risk::High,
                    "read any file you can (~/.ssh, wallets, .env files), past its fs grants",
                ),
                Reach::CreatesFiles => (Risk::Medium, "create files anywhere you can"),
            };
            match free {
                Free::Argument => add(
                    risk,
                    format!(
                        "runs `{name}` with an argument it picks freely, so it can {can} \
                         (through {how}): {}",
                        e.display_line()
                    ),
                ),
                Free::ValueOf(option) => add(
                    Risk::Low,
                    format!(
                        "runs `{name}` with any value for `{option}`; if that option takes a \
                         file, the skill can {can}: {}",
                        e.display_line()
                    ),
                ),
            }
        } else if e.args.iter().any(|a| a == "**") {
            add(Risk::Medium, format!("any arguments: {}", e.display_line()));
        }
    }
}

/// `chitin:skill/exec` is covered only by declared programs.
pub(crate) fn import(grants: &[ExecGrant]) -> (ImportClass, String) {
    if grants.is_empty() {
        (
            ImportClass::Undeclared(Capability::Exec),
            "imports exec but declares no programs".to_string(),
        )
    } else {
        (
            ImportClass::Covered(Capability::Exec),
            format!("limited to {} declared program(s)", grants.len()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capability::testing::{findings_of, manifest_with};
    use crate::findings::Finding;

    #[test]
    fn exec_args() {
        let g = ExecGrant {
            program: "git".parse().unwrap(),
            args: vec!["log".into(), "-n".into(), "*".into()],
        };
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(g.args_match(&v(&["log", "-n", "5"])));
        assert!(!g.args_match(&v(&["log", "-n"])));
        assert!(!g.args_match(&v(&["log", "-n", "5", "--exec=sh"])));
        let rest = ExecGrant {
            program: "echo".parse().unwrap(),
            args: vec!["hi".into(), "**".into()],
        };
        assert!(rest.args_match(&v(&["hi"])));
        assert!(rest.args_match(&v(&["hi", "a", "b"])));
        assert!(!rest.args_match(&v(&["ho"])));
        // Wildcards never supply options; patterns that start with `-` do.
        let opts = ExecGrant {
            program: "git".parse().unwrap(),
            args: vec!["log".into(), "--format=*".into(), "*".into(), "**".into()],
        };
        // (arguments, admitted?)
        let cases: [(&[&str], bool); 7] = [
            (&["log", "--format=%h", "main"], true),
            (&["log", "--format=%h", "main", "src"], true),
            (&["log", "--format=%h", "--output=/tmp/x"], false),
            (&["log", "--format=%h", "main", "--output=/tmp/x"], false),
            (&["log", "--format=%h", "-"], false),
            (&["log", "--output=x", "main"], false),
            (&["log", "--format=%h", "--", "x"], false),
        ];
        for (args, admitted) in cases {
            assert_eq!(opts.args_match(&v(args)), admitted, "{args:?}");
        }
        assert!(!g.args_match(&v(&["log", "-n", "-5"])));
        assert!("sh -c".parse::<Program>().is_err());
        assert!("bin/sh".parse::<Program>().is_err());
    }

    /// The one exec finding for `program` with these argument patterns, if any.
    fn exec_finding(program: &str, args: &[&str]) -> Option<(Risk, String)> {
        let args: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
        let m = manifest_with(&format!(
            "exec = [{{ program = \"{program}\", args = [{}] }}]",
            args.join(", ")
        ));
        let f: Vec<Finding> = findings_of(&m)
            .into_iter()
            .filter(|f| f.area == Capability::Exec && !f.message.contains("never imports"))
            .collect();
        assert!(f.len() <= 1, "{f:#?}");
        f.into_iter().next().map(|f| (f.risk, f.message))
    }

    #[test]
    fn programs_that_reach_past_the_fs_grants_are_flagged() {
        use Risk::*;
        // (program, argument patterns, expected risk, words the message must hold)
        let cases: &[(&str, &[&str], Option<Risk>, &str)] = &[
            ("git", &["log", "*"], Some(High), "--output=FILE"),
            ("git", &["log", "--format=*"], None, ""),
            ("git", &["status"], None, ""),
            ("cat", &["*"], Some(High), "read any file"),
            ("cat", &["notes/*"], Some(High), "read any file"),
            ("cat", &["*.md"], Some(High), "read any file"),
            ("cat", &["notes.md"], None, ""),
            ("grep", &["-r", "TODO", "**"], Some(High), "read any file"),
            ("find", &["*", "-name", "x"], Some(High), "run any program"),
            (
                "find",
                &[".", "-name", "*"],
                Some(Low),
                "any value for `-name`",
            ),
            ("tar", &["*"], Some(High), "--to-command"),
            ("touch", &["*"], Some(Medium), "create files"),
            ("cp", &["*", "*"], Some(High), "write or delete"),
            ("mv", &["--", "*", "/tmp/x"], Some(High), "write or delete"),
            ("tee", &["*"], Some(High), "write or delete"),
            ("dd", &["if=/dev/zero", "*"], Some(High), "of=FILE"),
            ("sort", &["-o", "*"], Some(Low), "any value for `-o`"),
            (
                "head",
                &["-c", "*", "/dev/zero"],
                Some(Low),
                "any value for `-c`",
            ),
            ("/usr/bin/cat", &["*"], Some(High), "read any file"),
            // Programs that run code: any wildcard, even an option's value.
            ("sed", &["-e", "*"], Some(High), "run any code"),
            ("awk", &["*"], Some(High), "run any code"),
            ("python3", &["-c", "*"], Some(High), "run any code"),
            ("curl", &["*"], Some(High), "reach any host"),
            ("rsync", &["*", "*"], Some(High), "run any code"),
            ("sed", &["s/a/b/", "notes.md"], Some(Low), "fixed arguments"),
            // Neither: open arguments to a program that touches no files.
            ("echo", &["*"], None, ""),
        ];
        for (program, args, risk, words) in cases {
            let got = exec_finding(program, args);
            assert_eq!(
                got.as_ref().map(|g| g.0),
                *risk,
                "{program} {args:?}: {got:?}"
            );
            if let Some((_, message)) = got {
                assert!(message.contains(words), "{program} {args:?}: {message}");
            }
        }
    }
}
