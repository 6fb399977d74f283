//! A real model: llama-cpp-python's OpenAI-style server running SmolLM2-135M-Instruct
//! (installed by scripts/setup.sh), started on a free loopback port for one test.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `python -m llama_cpp.server`.
pub struct ModelServer {
    /// `http://127.0.0.1:PORT/v1`.
    pub base_url: String,
    /// The model's name as the server reports it.
    pub model: String,
    child: Child,
}

fn cache() -> PathBuf {
    PathBuf::from(std::env::var("HOME").expect("HOME")).join(".cache/chitin/llm")
}

impl ModelServer {
    /// Start the server with a context of `n_ctx` tokens; waits until it answers.
    pub fn start(n_ctx: usize) -> Self {
        let venv = std::env::var_os("CHITIN_LLM_VENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| cache().join("venv"));
        let model = std::env::var_os("CHITIN_LLM_MODEL")
            .map(PathBuf::from)
            .unwrap_or_else(|| cache().join("model/SmolLM2-135M-Instruct.Q4_1.gguf"));
        let python = venv.join("bin/python");
        assert!(
            python.exists() && model.exists(),
            "the model server is not installed ({} / {}); run scripts/setup.sh",
            python.display(),
            model.display()
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(&python)
            .args(["-m", "llama_cpp.server", "--model"])
            .arg(&model)
            .args([
                "--chat_format",
                "chatml-function-calling",
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--n_ctx",
                &n_ctx.to_string(),
                "--n_threads",
                "2",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting the model server");
        let base_url = format!("http://127.0.0.1:{port}/v1");
        let deadline = Instant::now() + Duration::from_secs(120);
        let model_name = loop {
            if let Some(name) = models(port) {
                break name;
            }
            assert!(
                Instant::now() < deadline,
                "the model server did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(200));
        };
        Self {
            base_url,
            model: model_name,
            child,
        }
    }
}

/// The first model `GET /v1/models` lists, once the server answers.
fn models(port: u16) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let body = text.split_once("\r\n\r\n")?.1;
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    v["data"][0]["id"].as_str().map(str::to_string)
}

impl Drop for ModelServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
