"""Sentry's backend-independent nodestore tests (Sentry's tests/sentry/nodestore/test_common.py,
§1.5 of sentry-integration.md), written again for SLSNodeStorage against the real service,
plus what its cache tests and the guide's configuration require.

Run in the Sentry 23.7.1 harness venv, they exercise Sentry's own NodeStorage base class
(encoding, subkeys, cache hooks); elsewhere, the package's stand-in base.
"""

from __future__ import annotations

import hashlib
import threading
import uuid

import pytest

from conftest import HAVE_SENTRY


def fresh(prefix: str = "") -> str:
    # Every test writes its own ids: the service (and its store) is shared by the session.
    return prefix + uuid.uuid4().hex


def test_set_then_get(ns):
    node_id = fresh()
    ns.set(node_id, {"foo": "bar"})
    assert ns.get(node_id) == {"foo": "bar"}


def test_get_multi(ns):
    first, second = fresh(), fresh()
    ns.set(first, {"foo": "a"})
    ns.set(second, {"foo": "b"})
    assert ns.get_multi([first, second]) == {first: {"foo": "a"}, second: {"foo": "b"}}


def test_get_multi_with_duplicates(ns):
    node_id = fresh()
    ns.set(node_id, {"foo": "x"})
    assert ns.get_multi([node_id, node_id]) == {node_id: {"foo": "x"}}
    # Asked again (Sentry's test repeats it once the result could be cached).
    assert ns.get_multi([node_id, node_id]) == {node_id: {"foo": "x"}}


def test_get_multi_reports_missing_ids_as_none(ns):
    present, missing = fresh(), fresh()
    ns.set(present, {"a": 1})
    assert ns.get_multi([present, missing]) == {present: {"a": 1}, missing: None}
    assert ns.get(missing) is None


def test_delete(ns):
    node_id = fresh()
    ns.set(node_id, {"foo": "bar"})
    assert ns.get(node_id) == {"foo": "bar"}
    ns.delete(node_id)
    assert not ns.get(node_id)


def test_delete_multi(ns):
    # Node ids need not be hex.
    first, second = fresh("node_1_"), fresh("node_2_")
    ns.set(first, {"foo": "a"})
    ns.set(second, {"foo": "b"})
    ns.delete_multi([first, second])
    assert not ns.get(first)
    assert not ns.get(second)


def test_set_subkeys(ns):
    node_id = fresh("node_")
    ns.set_subkeys(node_id, {None: {"foo": "a"}, "other": {"foo": "b"}})
    assert ns.get(node_id) == {"foo": "a"}
    assert ns.get(node_id, subkey="other") == {"foo": "b"}

    # A plain set replaces the subkeys too.
    ns.set(node_id, {"foo": "a"})
    assert ns.get(node_id) == {"foo": "a"}
    assert ns.get(node_id, subkey="other") is None

    ns.delete(node_id)
    assert ns.get(node_id) is None
    assert ns.get(node_id, subkey="other") is None


def test_set_after_delete_is_visible_again(ns):
    node_id = fresh()
    ns.set(node_id, {"v": 1})
    ns.delete(node_id)
    ns.set(node_id, {"v": 2})
    assert ns.get(node_id) == {"v": 2}


def test_stored_bytes_are_sentrys_node_encoding(ns, service):
    import requests

    node_id = fresh()
    ns.set(node_id, {"b": [1, 2], "a": "é"})
    raw = requests.get(f"{service.url}/v1/nodes/{node_id}", timeout=5).content
    assert raw == b'{"a":"\\u00e9","b":[1,2]}'


def test_event_node_ids_and_large_bodies(ns):
    # An event's node id is md5("{project_id}:{event_id}"); large bodies take the
    # service's compressed path (chunked above 512 KiB of base64) and come back equal.
    node_id = hashlib.md5(f"1:{uuid.uuid4().hex}".encode()).hexdigest()
    data = {"message": "x" * 700_000, "tags": [["k", "v"]]}
    ns.set(node_id, data)
    assert ns.get(node_id) == data


def test_many_ids_in_one_call(ns):
    ids = [fresh() for _ in range(120)]
    for node_id in ids[::4]:
        ns.set(node_id, {"id": node_id})
    result = ns.get_multi(ids)
    assert set(result) == set(ids)
    for position, node_id in enumerate(ids):
        assert result[node_id] == ({"id": node_id} if position % 4 == 0 else None)


def test_threads_share_one_instance(ns):
    errors = []

    def work():
        try:
            node_id = fresh()
            ns.set(node_id, {"t": node_id})
            assert ns.get(node_id) == {"t": node_id}
        except Exception as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors


def test_cleanup_and_bootstrap_are_harmless(ns):
    import datetime

    ns.bootstrap()
    ns.cleanup(datetime.datetime.now(datetime.timezone.utc))


@pytest.mark.skipif(not HAVE_SENTRY, reason="needs Sentry's NodeStorage")
def test_sentry_loads_it_with_the_guides_options(service, monkeypatch):
    from sentry.nodestore.base import NodeStorage
    from sentry.utils.services import LazyServiceWrapper

    # What the guide's sentry.conf.py passes; the service is found through SNUBA.
    monkeypatch.setenv("SNUBA", service.url)
    options = {
        "endpoint": "cn-hangzhou.log.aliyuncs.com", "access_key_id": "id",
        "access_key_secret": "s3cr3t-VALUE", "project": "p", "logstore": "logstore-rum",
        "compression": True, "retry_attempts": 3, "retry_delay": 0.5, "default_ttl_days": None,
    }  # fmt: skip
    backend = LazyServiceWrapper(NodeStorage, "sentry_nodestore_sls.SLSNodeStorage", options)
    backend.validate()
    node_id = fresh()
    backend.set(node_id, {"ok": True})
    assert backend.get(node_id) == {"ok": True}
    assert backend.get_multi([node_id]) == {node_id: {"ok": True}}

    from sentry_nodestore_sls import SLSNodeStorage

    storage = SLSNodeStorage(**options)
    assert isinstance(storage, NodeStorage)
    assert "s3cr3t-VALUE" not in repr(storage) and "s3cr3t-VALUE" not in str(vars(storage))


@pytest.mark.skipif(not HAVE_SENTRY, reason="needs Sentry's NodeStorage cache hooks")
def test_cache_behaviour(service):
    from django.core.cache.backends.locmem import LocMemCache

    from sentry_nodestore_sls import SLSNodeStorage

    class Cached(SLSNodeStorage):
        cache = LocMemCache(f"nodedata-{uuid.uuid4().hex}", {})

    storage = Cached(service_url=service.url)
    reads = []
    original = storage._get_bytes

    def counting(id):
        reads.append(id)
        return original(id)

    storage._get_bytes = counting
    node_id = fresh()
    storage.set(node_id, {"foo": "bar"})  # set fills the cache
    assert storage.get(node_id) == {"foo": "bar"}
    assert reads == []
    storage.delete(node_id)  # delete clears it
    assert storage.get(node_id) is None
    assert storage.get(node_id) is None  # misses are never cached
    assert reads == [node_id, node_id]


def test_an_outage_raises_quickly_instead_of_hanging(tmp_path, sentry_configured):
    import time

    from conftest import Service
    from sentry_nodestore_sls import ServiceUnavailable, SLSNodeStorage

    running = Service(tmp_path)
    storage = SLSNodeStorage(service_url=running.url, retry_attempts=2, retry_delay=0.05)
    node_id = fresh()
    storage.set(node_id, {"up": True})
    assert storage.get(node_id) == {"up": True}
    running.stop()
    for call in (lambda: storage.get(node_id), lambda: storage.get_multi([node_id]),
                 lambda: storage.set(node_id, {}), lambda: storage.delete(node_id)):  # fmt: skip
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable):
            call()
        assert time.monotonic() - started < 5


def test_a_hanging_service_times_out(sentry_configured):
    import socket
    import time

    from sentry_nodestore_sls import ServiceUnavailable, SLSNodeStorage

    # Accepts connections and never answers.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    url = "http://127.0.0.1:%d" % listener.getsockname()[1]
    try:
        storage = SLSNodeStorage(service_url=url, retry_attempts=2, retry_delay=0.05, read_timeout=0.5)
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable):
            storage.get(fresh())
        assert time.monotonic() - started < 4
    finally:
        listener.close()


def test_options_are_checked_without_network(monkeypatch):
    from sentry_nodestore_sls import SLSNodeStorage

    monkeypatch.setenv("SNUBA", "http://snuba-api-rum:1218/")
    storage = SLSNodeStorage(default_ttl_days=7)
    assert storage.service_url == "http://snuba-api-rum:1218"
    storage.validate()  # no network call: that host does not exist here
    with pytest.raises(Exception, match="retry_attempts"):
        SLSNodeStorage(retry_attempts=0).validate()
    with pytest.raises(TypeError):
        SLSNodeStorage(bucket_name="nodestore")


def test_sentry_25_9_module_path_is_the_fallback(tmp_path):
    """Sentry 25.9 moved NodeStorage to sentry.services.nodestore (the old path may be gone)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    base = tmp_path / "sentry" / "services" / "nodestore"
    base.mkdir(parents=True)
    for package in (tmp_path / "sentry", tmp_path / "sentry" / "services", base):
        (package / "__init__.py").write_text("")
    (base / "base.py").write_text("import threading\nclass NodeStorage(threading.local):\n    moved = True\n")
    check = (
        "from sentry_nodestore_sls import SLSNodeStorage\n"
        "from sentry.services.nodestore.base import NodeStorage\n"
        "assert issubclass(SLSNodeStorage, NodeStorage) and SLSNodeStorage.moved\n"
    )
    package_dir = Path(__file__).resolve().parents[1]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(package_dir)])}
    result = subprocess.run([sys.executable, "-c", check], env=environment, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
