"""Fixtures for the real-binary integration tests.

`sentry_sls` starts one `sentry-sls serve` process for the whole test session, on a free
loopback port and an empty temporary data directory, and stops it at the end (SIGTERM, then
wait). Tests that do not ask for the fixture (for example the `render` tests, which only check
that snuba-sdk builds the requests) run without the binary.

Where the binary comes from, first match wins:
  1. `$SENTRY_SLS_BIN`;
  2. `$CARGO_TARGET_DIR/release/sentry-sls` (a relative CARGO_TARGET_DIR is taken from the
     repository root, where cargo is run);
  3. `<repository root>/target/release/sentry-sls`.
A missing binary is a failure, never a skip: an acceptance test that silently does not run
proves nothing.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import time
import zlib
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import zstandard

REPO_ROOT = Path(__file__).resolve().parents[2]

# How long the server may take to answer /health after it was started.
STARTUP_TIMEOUT_SECONDS = 30.0
# How long it may take to exit after SIGTERM before it is killed.
SHUTDOWN_TIMEOUT_SECONDS = 15.0
# How many lines of the server's stderr to show when something went wrong.
STDERR_TAIL_LINES = 200

# Where the session fixture leaves facts for `pytest_terminal_summary`.
_STDERR_PATH_KEY = pytest.StashKey[Path]()
_ABNORMAL_EXIT_KEY = pytest.StashKey[str]()


def stored_body(record: dict[str, str]) -> bytes:
    """The event body a record carries, read as docs/schema.md §2 says, independently of the Rust
    reader: plain `body` (`json`) or base64 zstd chunks (`zstd-b64`), checked against `body_len`
    and `body_crc32`."""
    codec = record["body_codec"]
    if codec == "json":
        body = record["body"].encode()
    elif codec == "zstd-b64":
        parts = int(record["body_parts"])
        encoded = "".join(record[f"body_zstd_{index}"] for index in range(1, parts + 1))
        body = zstandard.ZstdDecompressor().decompress(base64.b64decode(encoded, validate=True))
    else:
        raise AssertionError(f"unknown body_codec {codec!r}")
    assert len(body) == int(record["body_len"]), "body_len"
    assert f"{zlib.crc32(body):08x}" == record["body_crc32"], "body_crc32"
    return body


@dataclass(frozen=True)
class SentrySls:
    """A running `sentry-sls serve` process, as the tests see it."""

    snuba_url: str
    """Base URL of the Snuba-compatible query API, e.g. `http://127.0.0.1:40123`."""
    data_dir: Path
    process: subprocess.Popen
    stderr_path: Path


def sentry_sls_binary() -> Path:
    """Resolve the binary path from the environment (see the module docstring)."""
    explicit = os.environ.get("SENTRY_SLS_BIN")
    if explicit:
        return Path(explicit).expanduser()
    target_dir = os.environ.get("CARGO_TARGET_DIR")
    if target_dir:
        target = Path(target_dir).expanduser()
        if not target.is_absolute():
            target = REPO_ROOT / target
        return target / "release" / "sentry-sls"
    return REPO_ROOT / "target" / "release" / "sentry-sls"


def run_bench(kind: str, tmp_path: Path, *options: str, timeout: float) -> dict:
    """Runs `sentry-sls bench <kind> <options>` with its scratch data under `tmp_path` and
    returns its JSON report; a failed run fails the test with the end of its stderr."""
    report_path = tmp_path / f"{kind}.json"
    result = subprocess.run(
        [
            str(sentry_sls_binary()),
            "bench",
            kind,
            *options,
            "--work-dir",
            str(tmp_path / "work"),
            "--out",
            str(report_path),
        ],
        timeout=timeout,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(report_path.read_text())


def _free_loopback_ports(count: int) -> list[int]:
    """Ask the kernel for `count` distinct free ports on 127.0.0.1.

    All sockets stay bound until every port is known, so the ports are distinct. There is an
    unavoidable window between closing them and the server binding; on a test machine that is
    good enough.
    """
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _tail(path: Path, lines: int = STDERR_TAIL_LINES) -> str:
    if not path.exists():
        return "<no stderr file>"
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        return "".join(deque(handle, maxlen=lines)) or "<empty>"


def _wait_for_health(process: subprocess.Popen, health_url: str, stderr_path: Path) -> None:
    """Poll GET /health until it answers 200 with "ok", the process dies, or time runs out."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    last_problem = "no answer yet"
    while time.monotonic() < deadline:
        exit_code = process.poll()
        if exit_code is not None:
            pytest.fail(
                f"sentry-sls exited with code {exit_code} before /health answered.\n"
                f"--- stderr (last {STDERR_TAIL_LINES} lines) ---\n{_tail(stderr_path)}",
                pytrace=False,
            )
        try:
            response = requests.get(health_url, timeout=1.0)
        except requests.RequestException as error:
            last_problem = f"{type(error).__name__}: {error}"
        else:
            # Self-hosted's healthcheck greps the raw response for the lowercase string "ok";
            # Snuba answers {"status": "ok", "down_file_exists": false}.
            if response.status_code == 200 and "ok" in response.text:
                response.json()  # must be JSON; raises (and fails the session) otherwise
                return
            last_problem = f"HTTP {response.status_code}: {response.text[:200]!r}"
        time.sleep(0.1)
    pytest.fail(
        f"sentry-sls did not answer {health_url} within {STARTUP_TIMEOUT_SECONDS:.0f} s "
        f"(last: {last_problem}).\n"
        f"--- stderr (last {STDERR_TAIL_LINES} lines) ---\n{_tail(stderr_path)}",
        pytrace=False,
    )


def _terminate(process: subprocess.Popen) -> int:
    """SIGTERM, wait; SIGKILL if it does not stop in time. Returns the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=SHUTDOWN_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


@pytest.fixture(scope="session")
def sentry_sls(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """Start `sentry-sls serve` once per session; yield a `SentrySls`."""
    binary = sentry_sls_binary()
    if not binary.is_file() or not os.access(binary, os.X_OK):
        pytest.fail(
            f"sentry-sls binary not found or not executable at {binary}. Build it with "
            "`cargo build --release` or point SENTRY_SLS_BIN (or CARGO_TARGET_DIR) at it.",
            pytrace=False,
        )

    work_dir = tmp_path_factory.mktemp("sentry-sls")
    data_dir = work_dir / "data"
    data_dir.mkdir()
    stdout_path = work_dir / "stdout.log"
    stderr_path = work_dir / "stderr.log"
    request.config.stash[_STDERR_PATH_KEY] = stderr_path

    (snuba_port,) = _free_loopback_ports(1)
    command = [
        str(binary),
        "serve",
        "--data-dir",
        str(data_dir),
        "--snuba-listen",
        f"127.0.0.1:{snuba_port}",
    ]
    environment = dict(os.environ)
    environment.setdefault("RUST_BACKTRACE", "1")

    # Output goes to files, not pipes: nobody reads a pipe while the tests run, and a full
    # pipe would block the server.
    with stdout_path.open("wb") as stdout_file, stderr_path.open("wb") as stderr_file:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=stdout_file,
            stderr=stderr_file,
            env=environment,
            cwd=work_dir,
        )
    try:
        _wait_for_health(process, f"http://127.0.0.1:{snuba_port}/health", stderr_path)
        yield SentrySls(
            snuba_url=f"http://127.0.0.1:{snuba_port}",
            data_dir=data_dir,
            process=process,
            stderr_path=stderr_path,
        )
    finally:
        exited_during_tests = process.poll()
        exit_code = _terminate(process)
        if exited_during_tests is not None:
            request.config.stash[_ABNORMAL_EXIT_KEY] = (
                f"sentry-sls exited by itself during the tests with code {exited_during_tests}"
            )
        elif exit_code not in (0, -signal.SIGTERM):
            request.config.stash[_ABNORMAL_EXIT_KEY] = (
                f"sentry-sls exited with code {exit_code} after SIGTERM"
            )


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Show the server's stderr when a test failed or the server did not exit cleanly."""
    stderr_path = config.stash.get(_STDERR_PATH_KEY, None)
    if stderr_path is None:
        return
    abnormal_exit = config.stash.get(_ABNORMAL_EXIT_KEY, None)
    if exitstatus == 0 and abnormal_exit is None:
        return
    terminalreporter.section("sentry-sls stderr")
    if abnormal_exit:
        terminalreporter.write_line(abnormal_exit)
    terminalreporter.write_line(f"(full log: {stderr_path})")
    terminalreporter.write(_tail(stderr_path))
    terminalreporter.write_line("")
