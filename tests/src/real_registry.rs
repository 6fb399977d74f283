//! The real CNCF distribution registry (Debian's `docker-registry`), started on a free
//! loopback port for one test and stopped by its process id.

use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `docker-registry serve`.
pub struct RealRegistry {
    pub addr: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl RealRegistry {
    /// Start one; with `htpasswd`, require that user and password (bcrypt, as the
    /// registry wants).
    pub fn start(htpasswd: Option<(&str, &str)>) -> Self {
        let bin = which_registry();
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let auth = match htpasswd {
            Some((user, pass)) => {
                let hash = bcrypt::hash(pass, 5).unwrap();
                let file = dir.path().join("htpasswd");
                std::fs::write(&file, format!("{user}:{hash}\n")).unwrap();
                format!(
                    "auth: {{ htpasswd: {{ realm: chitin-test, path: {} }} }}\n",
                    file.display()
                )
            }
            None => String::new(),
        };
        let config = dir.path().join("config.yml");
        let mut f = std::fs::File::create(&config).unwrap();
        write!(
            f,
            "version: 0.1\nlog: {{ level: error }}\nstorage: {{ filesystem: {{ rootdirectory: {} }}, delete: {{ enabled: true }} }}\nhttp: {{ addr: {addr} }}\n{auth}",
            dir.path().join("data").display()
        )
        .unwrap();
        let child = Command::new(bin)
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting docker-registry (installed by scripts/setup.sh)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "docker-registry did not start on {addr}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            addr,
            child,
            _dir: dir,
        }
    }

    /// `127.0.0.1:<port>/<repo>`
    pub fn repo(&self, repo: &str) -> String {
        format!("{}/{repo}", self.addr)
    }
}

impl Drop for RealRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn which_registry() -> PathBuf {
    for p in ["/usr/bin/docker-registry", "/usr/local/bin/docker-registry"] {
        if std::path::Path::new(p).exists() {
            return p.into();
        }
    }
    panic!(
        "docker-registry is not installed; run scripts/setup.sh (Debian package docker-registry)"
    )
}
