"""Fixtures: the real ``sentry-sls serve`` binary on loopback (embedded store in a temp dir)
and, when Sentry is installed (the harness venv), Sentry configured just enough for its
NodeStorage base class (no database is touched).

The binary is ``$SENTRY_SLS_BIN``, else ``$CARGO_TARGET_DIR/debug/sentry-sls``, else
``~/.cache/sentry-sls-target/debug/sentry-sls``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

HAVE_SENTRY = importlib.util.find_spec("sentry") is not None

# The package under test, installed or not.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _binary() -> Path:
    explicit = os.environ.get("SENTRY_SLS_BIN")
    if explicit:
        return Path(explicit)
    target = os.environ.get("CARGO_TARGET_DIR") or str(Path.home() / ".cache" / "sentry-sls-target")
    return Path(target) / "debug" / "sentry-sls"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Service:
    """One ``sentry-sls serve`` process; ``stop()`` ends it (SIGTERM, then SIGKILL)."""

    def __init__(self, data_dir: Path) -> None:
        binary = _binary()
        if not binary.is_file():
            pytest.skip(f"sentry-sls binary not built: {binary}")
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(data_dir / "serve.log", "wb")
        environment = {
            k: v for k, v in os.environ.items() if not k.startswith("SLS_") and k != "SENTRY_SLS_DATA_DIR"
        }
        environment["SENTRY_SLS_LOG"] = "warn"
        self.process = subprocess.Popen(
            [
                str(binary), "serve",
                "--data-dir", str(data_dir / "data"),
                "--snuba-listen", f"127.0.0.1:{self.port}",
                "--ingest-listen", f"127.0.0.1:{_free_port()}",
            ],
            stdout=self.log, stderr=subprocess.STDOUT, env=environment,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sentry-sls serve exited: {(data_dir / 'serve.log').read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("sentry-sls serve did not become healthy in 60 s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


@pytest.fixture(scope="session")
def sentry_configured():
    """Sentry's settings, from a throwaway ``sentry init`` config (skipped without Sentry)."""
    if not HAVE_SENTRY:
        yield False
        return
    directory = Path(tempfile.mkdtemp(prefix="sentry-conf-"))
    subprocess.run(
        [str(Path(sys.executable).parent / "sentry"), "init", str(directory)],
        check=True, capture_output=True,
    )  # fmt: skip
    os.environ["SENTRY_CONF"] = str(directory)
    from sentry.runner import configure

    configure(skip_service_validation=True)
    yield True
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def service(tmp_path_factory, sentry_configured):
    running = Service(tmp_path_factory.mktemp("sentry-sls"))
    yield running
    running.stop()


@pytest.fixture
def ns(service):
    from sentry_nodestore_sls import SLSNodeStorage

    storage = SLSNodeStorage(
        endpoint="", access_key_id="", access_key_secret="", project="sentry-sls",
        logstore="logstore-rum", compression=True, retry_attempts=3, retry_delay=0.1,
        default_ttl_days=30, service_url=service.url,
    )  # fmt: skip
    storage.bootstrap()
    return storage
