//! Runs the real `sentry-sls sls-local` binary for integration tests.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The access key pair every test server accepts.
pub const ACCESS_KEY_ID: &str = "test-access-key-id";
/// Its secret.
pub const ACCESS_KEY_SECRET: &str = "test-access-key-secret";
/// The project every test server has.
pub const PROJECT: &str = "test-project";

/// A running `sls-local`; killed (SIGKILL) when dropped.
pub struct SlsLocal {
    pub child: Child,
    pub port: u16,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl SlsLocal {
    /// Starts the binary on `data_dir` with optional fault injection and waits until it answers.
    pub fn start(data_dir: &Path, faults: Option<&str>) -> SlsLocal {
        let port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_sentry-sls"));
        command
            .args([
                "sls-local",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--project",
                PROJECT,
            ])
            .arg("--data-dir")
            .arg(data_dir)
            .env("SLS_ACCESS_KEY_ID", ACCESS_KEY_ID)
            .env("SLS_ACCESS_KEY_SECRET", ACCESS_KEY_SECRET)
            .env("SENTRY_SLS_LOG", "warn")
            .env_remove("HTTP_PROXY")
            .env_remove("http_proxy")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        match faults {
            Some(faults) => command.env("SLS_LOCAL_FAULTS", faults),
            None => command.env_remove("SLS_LOCAL_FAULTS"),
        };
        let child = command.spawn().expect("starting sentry-sls sls-local");
        let server = SlsLocal { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sls-local did not start listening"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The Prometheus text of `/metrics`.
    pub fn metrics(&self) -> String {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        use std::io::{Read, Write};
        write!(
            stream,
            "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        text
    }

    /// Sum of `sls_local_requests_total` samples whose labels contain `filter`.
    pub fn requests(&self, filter: &str) -> u64 {
        self.metrics()
            .lines()
            .filter(|line| line.starts_with("sls_local_requests_total{") && line.contains(filter))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    }

    /// SIGKILL, no clean shutdown.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SlsLocal {
    fn drop(&mut self) {
        self.kill();
    }
}
