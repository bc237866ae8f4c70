"""`sentry-sls bench stages` runs the ingest path stage by stage and writes a complete report.

Not a speed check (speed is what the report is for): the run must process every event through
every stage and report a figure for each, or the numbers quoted from it mean nothing.
"""

from conftest import run_bench

STAGES = [
    "gunzip_us",
    "envelope_us",
    "json_parse_us",
    "normalize_and_group_us",
    "serialize_normalized_us",
    "process_us",
    "spool_frame_us",
    "store_append_us",
    "store_flush_us",
    "store_compact_us",
]


def test_bench_stages_reports_every_stage(tmp_path):
    report = run_bench(
        "stages", tmp_path, "--events", "60", "--runs", "2", "--batch", "16", timeout=300
    )
    assert report["benchmark"] == "stages"
    assert report["parameters"]["events"] == 60
    assert len(report["runs"]) == 2
    medians = report["median_us_per_event"]
    assert sorted(medians) == sorted(STAGES)
    for run in report["runs"]:
        for stage in STAGES:
            assert run[stage] >= 0, (stage, run)
        # Work was done: every event was decoded, parsed, processed and framed.
        for stage in ["gunzip_us", "json_parse_us", "normalize_and_group_us", "process_us"]:
            assert run[stage] > 0, (stage, run)
        # Bodies of 3–8 KB events after normalisation, stored zstd-compressed (docs/schema.md
        # §2): smaller than the JSON, and the frame holds the stored body and the keys.
        assert 3_000 <= run["body_bytes"] <= 40_000, run
        assert 0 < run["stored_body_bytes"] < run["body_bytes"] / 2, run
        assert run["spool_frame_bytes"] >= run["stored_body_bytes"], run
    # The scratch store is removed afterwards.
    assert not any((tmp_path / "work").glob("run-*"))
