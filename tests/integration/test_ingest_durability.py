"""Nothing acknowledged is lost: sustained ingest through `kill -9` of `sentry-sls serve` (and, on
the SLS path, through `sls-local` faults and an outage), then every event that got a 200 is read
back from the store.

- Embedded store: every acknowledged event is there exactly once. The spool re-sends the round it
  was shipping when it died, and the store commits each (spool, position) once.
- Through the SLS protocol (`sls-local` with faults, including `lost`: a PutLogs that is applied
  and then answered 500, as a timed-out write that landed): every acknowledged event is there;
  duplicates are possible and are counted. The counts go to
  `$SENTRY_SLS_ARTIFACTS/ingest-durability.json` (default: the pytest temp dir) for the notes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests
from aliyun.log import LogClient

from conftest import sentry_sls_binary
from test_ingest_sentry_sdk import _port, _wait

KEY_ID = "durability-key"
KEY_SECRET = "durability-secret"
LOGSTORE = "logstore-rum"
# SLS's row limit per SQL answer is far above what these tests send.
COUNT_QUERY = "* | select event_id, count(*) as n group by event_id limit 1000000"


class Senders:
    """Threads that post one-event envelopes until stopped; they remember what got a 200."""

    def __init__(self, port: int, threads: int = 4) -> None:
        self.url = f"http://127.0.0.1:{port}/api/7/envelope/"
        self.acked: set[str] = set()
        self.failed = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(threads)]

    def _run(self, worker: int) -> None:
        session = requests.Session()
        sequence = 0
        while not self.stopping.is_set():
            sequence += 1
            event_id = uuid.uuid4().hex
            event = {
                "event_id": event_id,
                "platform": "python",
                "level": "error",
                "tags": {"worker": str(worker)},
                "exception": {"values": [{
                    "type": "DurabilityError",
                    "value": f"event {sequence} of worker {worker}",
                    "stacktrace": {"frames": [{
                        "filename": "app/jobs.py", "module": "app.jobs",
                        "function": f"job_{sequence % 17}", "lineno": 10 + sequence % 5,
                        "in_app": True,
                    }]},
                }]},
                "extra": {"padding": "x" * 800},
            }
            body = (
                json.dumps({"event_id": event_id}) + "\n"
                + json.dumps({"type": "event"}) + "\n"
                + json.dumps(event) + "\n"
            ).encode()
            try:
                response = session.post(
                    self.url, data=body, timeout=10,
                    headers={"X-Sentry-Auth": "Sentry sentry_key=k, sentry_version=7"},
                )
            except requests.RequestException:
                with self.lock:
                    self.failed += 1
                session = requests.Session()
                time.sleep(0.02)
                continue
            if response.status_code == 200:
                assert response.json()["id"] == event_id
                with self.lock:
                    self.acked.add(event_id)
            else:
                with self.lock:
                    self.failed += 1
                time.sleep(0.02)

    def start(self) -> "Senders":
        for thread in self.threads:
            thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def count(self) -> int:
        with self.lock:
            return len(self.acked)


def _wait_for_acks(senders: Senders, at_least: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while senders.count() < at_least:
        assert time.monotonic() < deadline, f"only {senders.count()} events acknowledged"
        time.sleep(0.05)


def _serve(binary: str, data_dir: Path, ingest_port: int, snuba_port: int, env: dict) -> subprocess.Popen:
    process = subprocess.Popen(
        [binary, "serve", "--data-dir", str(data_dir),
         "--snuba-listen", f"127.0.0.1:{snuba_port}", "--ingest-listen", f"127.0.0.1:{ingest_port}"],
        env=env,
    )
    _wait(f"http://127.0.0.1:{ingest_port}/health", process)
    return process


def _sls_local(binary: str, data_dir: Path, port: int, project: str, faults: str | None = None) -> subprocess.Popen:
    command = [binary, "sls-local", "--listen", f"127.0.0.1:{port}", "--project", project,
               "--data-dir", str(data_dir)]
    if faults:
        command += ["--faults", faults]
    process = subprocess.Popen(
        command,
        env={"PATH": "/usr/bin:/bin", "SENTRY_SLS_LOG": "error",
             "SLS_ACCESS_KEY_ID": KEY_ID, "SLS_ACCESS_KEY_SECRET": KEY_SECRET},
    )
    _wait(f"http://127.0.0.1:{port}/metrics", process)
    return process


def _counts(client: LogClient, project: str) -> dict[str, int] | None:
    """event_id → number of records, or None if this answer was a fault or incomplete."""
    now = int(time.time())
    try:
        response = client.get_log(project, LOGSTORE, now - 86400, now + 600, query=COUNT_QUERY)
    except Exception:  # noqa: BLE001 - an injected 500 is an expected answer here
        return None
    if not response.is_completed():
        return None
    return {dict(log.get_contents())["event_id"]: int(dict(log.get_contents())["n"])
            for log in response.get_logs()}


def _client(port: int) -> LogClient:
    client = LogClient(f"127.0.0.1:{port}", KEY_ID, KEY_SECRET)
    client._isRowIp = True  # noqa: SLF001 - raw-IP mode, sls-protocol.md §6.3
    return client


def _report(name: str, figures: dict, tmp_path: Path) -> None:
    directory = Path(os.environ.get("SENTRY_SLS_ARTIFACTS", tmp_path))
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "ingest-durability.json"
    existing = json.loads(path.read_text()) if path.exists() else {}
    existing[name] = figures
    path.write_text(json.dumps(existing, indent=2, sort_keys=True))
    print(f"{name}: {json.dumps(figures, sort_keys=True)} -> {path}")


def test_kill_9_on_the_embedded_store_loses_and_duplicates_nothing(tmp_path):
    binary = str(sentry_sls_binary())
    data_dir = tmp_path / "data"
    ingest_port, snuba_port = _port(), _port()
    env = {"PATH": "/usr/bin:/bin", "SENTRY_SLS_LOG": "warn"}
    serve = _serve(binary, data_dir, ingest_port, snuba_port, env)
    senders = Senders(ingest_port).start()
    try:
        for _ in range(2):
            _wait_for_acks(senders, senders.count() + 300)
            serve.send_signal(signal.SIGKILL)
            serve.wait(timeout=10)
            time.sleep(0.3)  # requests fail meanwhile: not acknowledged, not counted
            serve = _serve(binary, data_dir, ingest_port, snuba_port, env)
        _wait_for_acks(senders, senders.count() + 300)
    finally:
        senders.stop()
    # A graceful stop drains the spool into the embedded store.
    serve.send_signal(signal.SIGTERM)
    assert serve.wait(timeout=30) == 0

    sls_port = _port()
    reader = _sls_local(binary, data_dir, sls_port, "sentry-sls")
    try:
        counts = _counts(_client(sls_port), "sentry-sls")
    finally:
        reader.terminate()
        reader.wait(timeout=20)
    assert counts is not None
    missing = senders.acked - set(counts)
    assert not missing, f"{len(missing)} acknowledged events lost, e.g. {sorted(missing)[:3]}"
    repeated = {event_id: n for event_id, n in counts.items() if n != 1}
    assert not repeated, f"events stored more than once: {list(repeated.items())[:5]}"
    _report("embedded", {"acknowledged": len(senders.acked), "stored": len(counts),
                         "duplicates": 0, "failed_requests": senders.failed}, tmp_path)


def test_sls_faults_outage_and_kill_9_lose_nothing(tmp_path):
    binary = str(sentry_sls_binary())
    project = "durability"
    sls_dir = tmp_path / "sls"
    sls_port, ingest_port, snuba_port = _port(), _port(), _port()
    faults = "500=0.15,quota=0.1,slow=0.1,lost=0.15,seed=11"
    sls = _sls_local(binary, sls_dir, sls_port, project)
    env = {
        "PATH": "/usr/bin:/bin", "SENTRY_SLS_LOG": "warn",
        "SLS_ENDPOINT": f"http://127.0.0.1:{sls_port}", "SLS_PROJECT": project, "SLS_LOGSTORE": LOGSTORE,
        "SLS_ACCESS_KEY_ID": KEY_ID, "SLS_ACCESS_KEY_SECRET": KEY_SECRET,
    }
    subprocess.run([binary, "setup"], env=env, check=True)
    sls.terminate()
    sls.wait(timeout=20)
    sls = _sls_local(binary, sls_dir, sls_port, project, faults)
    serve = _serve(binary, tmp_path / "serve", ingest_port, snuba_port, env)
    senders = Senders(ingest_port).start()
    try:
        _wait_for_acks(senders, 300)
        # SLS goes away for a while: ingest keeps acknowledging into the spool.
        sls.send_signal(signal.SIGKILL)
        sls.wait(timeout=10)
        during_outage = senders.count()
        _wait_for_acks(senders, during_outage + 300)
        acked_during_outage = senders.count() - during_outage
        sls = _sls_local(binary, sls_dir, sls_port, project, faults)
        _wait_for_acks(senders, senders.count() + 300)
        serve.send_signal(signal.SIGKILL)
        serve.wait(timeout=10)
        time.sleep(0.3)
        serve = _serve(binary, tmp_path / "serve", ingest_port, snuba_port, env)
        _wait_for_acks(senders, senders.count() + 300)
    finally:
        senders.stop()

    client = _client(sls_port)
    deadline = time.monotonic() + 120
    counts: dict[str, int] = {}
    while time.monotonic() < deadline:
        answer = _counts(client, project)
        if answer is not None:
            counts = answer
            if senders.acked <= set(counts):
                break
        time.sleep(0.5)
    serve.send_signal(signal.SIGTERM)
    serve.wait(timeout=30)
    metrics = requests.get(f"http://127.0.0.1:{sls_port}/metrics", timeout=10).text
    sls.terminate()
    sls.wait(timeout=20)
    missing = senders.acked - set(counts)
    assert not missing, f"{len(missing)} acknowledged events lost, e.g. {sorted(missing)[:3]}"
    duplicates = sum(n - 1 for n in counts.values() if n > 1)
    lost_answers = sum(
        float(line.split()[-1]) for line in metrics.splitlines()
        if line.startswith("sls_local_lost_answers_total")
    )
    _report("sls_protocol", {
        "acknowledged": len(senders.acked), "stored_distinct": len(counts),
        "duplicate_records": duplicates, "events_with_duplicates": sum(1 for n in counts.values() if n > 1),
        "lost_answers_by_the_last_sls_local": lost_answers, "acked_during_outage": acked_during_outage,
        "failed_requests": senders.failed,
    }, tmp_path)
