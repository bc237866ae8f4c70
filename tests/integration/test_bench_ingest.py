"""`sentry-sls bench ingest` posts envelopes to a real server and writes a complete report.

Not a speed check (speed is what the report is for): a small run must have every event
acknowledged and shipped, and report each figure the issue's goals are read from, with the
latency phase's figures consistent with one another.
"""

from conftest import REPO_ROOT, run_bench

NULL_SERVER = REPO_ROOT / "scripts" / "bench-null-server.sh"

LATENCY_EVENTS = 120


def test_bench_ingest_reports_throughput_latency_and_memory(tmp_path):
    report = run_bench(
        "ingest",
        tmp_path,
        "--events",
        "300",
        "--latency-events",
        str(LATENCY_EVENTS),
        "--concurrency",
        "4",
        "--groups",
        "40",
        "--runs",
        "1",
        timeout=600,
    )
    assert report["bench"] == "ingest"
    assert report["settings"]["events"] == 300
    assert report["settings"]["fsync"] is True
    [run] = report["runs"]
    assert run["throughput_failures"] == 0 and run["latency_failures"] == 0, run
    assert run["events_per_second"] > 0
    # Every acknowledged event reached the store (the drain is timed, not skipped).
    assert run["store_caught_up_after_s"] is not None, run
    assert run["peak_rss_mib"] > 0 and run["server_cpu_ms_per_event"] > 0, run
    assert 0 < run["latency_p50_ms"] <= run["latency_p99_ms"] <= run["latency_max_ms"], run
    assert 0 <= run["latency_over_50ms"] <= LATENCY_EVENTS, run
    # Over 50 ms counts exactly the requests past the goal: none when the slowest was within it.
    if run["latency_max_ms"] <= 50:
        assert run["latency_over_50ms"] == 0, run
    else:
        assert run["latency_over_50ms"] >= 1, run
    # The slowest request was due within the phase: LATENCY_EVENTS requests at the phase's rate.
    phase_seconds = LATENCY_EVENTS / run["latency_rate_per_second"]
    assert 0 <= run["latency_max_due_at_s"] <= phase_seconds, run
    assert run["latency_max_due_unix_s"] > 1_700_000_000, run
    for name in ["events_per_second", "latency_p99_ms", "latency_over_50ms", "peak_rss_mib"]:
        assert report["median"][name] == run[name], name
    assert_cpu_bound(report, run)


def assert_cpu_bound(report, run):
    """Both sides' CPU in the throughput phase, and the bound they give: cores over their sum.
    A phase this short may fall within one 10 ms clock tick, so either may be zero."""
    server = run["throughput_server_cpu_ms_per_event"]
    client = run["throughput_client_cpu_ms_per_event"]
    assert server >= 0 and client >= 0, run
    bound = run["throughput_cpu_bound_events_per_second"]
    if server + client > 0:
        expected = report["cpus"] * 1000 / (server + client)
        assert abs(bound - expected) <= 1e-6 * expected, run
    else:
        assert bound is None, run


def test_bench_ingest_measures_the_load_generator_alone_with_the_null_server(tmp_path):
    """`scripts/bench-null-server.sh` stands in for the server (nginx answering at once), so the
    report's events/s is the load generator's own ceiling; the script must take the bench's
    arguments, answer the envelopes and `/metrics`, and stop when the bench stops it."""
    report = run_bench(
        "ingest",
        tmp_path,
        "--server-binary",
        str(NULL_SERVER),
        "--events",
        "2000",
        "--latency-events",
        "200",
        "--concurrency",
        "8",
        "--groups",
        "40",
        "--runs",
        "1",
        timeout=300,
    )
    [run] = report["runs"]
    assert run["throughput_failures"] == 0 and run["latency_failures"] == 0, run
    assert run["events_per_second"] > 0 and run["store_caught_up_after_s"] is not None, run
    # nginx in one process: a few MiB, nothing like a server holding events.
    assert 0 < run["peak_rss_mib"] < 100, run
    assert_cpu_bound(report, run)
    # The bench deletes the run's data directory, where nginx kept its files.
    assert not any((tmp_path / "work").glob("run-*")), list((tmp_path / "work").iterdir())
