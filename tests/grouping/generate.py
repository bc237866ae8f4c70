#!/usr/bin/env python3
"""Golden grouping data from REAL Sentry (23.7.1, grouping config newstyle:2023-01-11).

Runs every event of tests/data/grouping/corpus.json through Sentry's own code, in the order
`EventManager.save()` runs it for an error event, minus everything that needs Postgres/Redis:

  1. `EventManager(data, grouping_config=cfg).normalize(project_id=1)`
     (relay's `StoreNormalizer` through `sentry_relay`, with Sentry's DEFAULT_STORE_NORMALIZER_ARGS)
  2. `sentry.event_manager._pull_out_data([job], projects)` -> `Event` instance, level/logger/
     environment/transaction tags  (stub project: id 1, no options set)
  3. `sentry.event_manager._derive_interface_tags_many([job])`
     (`_derive_plugin_tags_many` is skipped: it reads plugin state from Postgres; the plugins only
     add tags such as browser/os/device and never change hashes unless a fingerprint says
     `{{ tags.browser }}`)
  4. `sentry.event_manager._calculate_event_grouping(project, event, cfg)`
     = `event.normalize_stacktraces_for_grouping(load_grouping_config(cfg))`,
       `detect_synthetic_exception`, `apply_server_fingerprinting` (no project rules),
       `event.get_hashes(cfg)`, `hashes.write_to_event(event.data)`
  5. `sentry.event_manager._materialize_metadata_many([job])` -> type/title/culprit/location/metadata
  6. `event.get_grouping_variants(force_config=cfg)` for the per-variant debug details (what the
     "grouping info" endpoint shows), and `sort_grouping_variants` to name the primary variant.

Run under the harness venv (tests/sentry/setup.sh --venv-only):

    .sentry-harness/venv/bin/python tests/grouping/generate.py

Writes tests/data/grouping/expected.json and tests/data/grouping/normalized_samples.json, then
runs CHECKS (spot checks on pairs of corpus entries) and exits non-zero if one fails.

Relay stamps `received` (and `timestamp` when the event has none) with the current time; to keep
the output byte-stable the generator passes a fixed `received_at` (RECEIVED_AT) to the normalizer
by overriding `sentry.event_manager.DEFAULT_STORE_NORMALIZER_ARGS`. Hashes do not depend on it.
"""
import argparse
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
DATA_DIR = os.path.normpath(os.path.join(HERE, "..", "data", "grouping"))

CONFIG_ID = "newstyle:2023-01-11"
PROJECT_ID = 1
RECEIVED_AT = "2023-07-14T12:00:00+00:00"  # 1689336000

# Entries whose normalized body goes to normalized_samples.json.
SAMPLE_NAMES = [
    "py/exc-00-valueerror",
    "py/chained-1",
    "py/exception-group",
    "py/synthetic-mechanism",
    "js/exc-00-typeerror",
    "js/sourcemapped@a",
    "js/anonymous-native-eval",
    "node/exc-01-error",
    "java/exc-03-illegalargumentexception",
    "native/exc-00-sigsegv",
    "cocoa/nserror",
    "msg/string-01",
    "msg/logentry-00",
    "msg/logentry-both",
    "threads/crashed-among-many",
    "nostack/00",
    "fp/default-plus-x",
    "fp/type-function",
    "checksum/non-hex",
    "edge/empty-event",
    "edge/timestamp-and-extra",
    "edge/template-interface",
]

# Spot checks on primary hashes: (entry a, entry b, "same" | "differ").
CHECKS = [
    # required by the brief
    ("msg/pair-number@a", "msg/pair-number@b", "same"),
    ("fp/none", "fp/default-plus-x", "differ"),
    ("fp/none", "fp/default-only", "same"),
    # further regression guards (observed behaviour of 23.7.1; see README)
    ("msg/pair-ip@a", "msg/pair-ip@b", "same"),
    ("msg/pair-uuid@a", "msg/pair-uuid@b", "same"),
    ("msg/pair-email@a", "msg/pair-email@b", "same"),
    ("msg/pair-hex@a", "msg/pair-hex@b", "same"),
    ("msg/pair-float@a", "msg/pair-float@b", "same"),
    ("msg/pair-date@a", "msg/pair-date@b", "same"),
    ("msg/pair-word@a", "msg/pair-word@b", "differ"),
    ("msg/logentry-00", "msg/logentry-01", "same"),
    ("fp/default-plus-x", "fp/default-plus-y", "differ"),
    ("py/lineno-only@a", "py/lineno-only@b", "same"),
    ("py/value-differs@a", "py/value-differs@b", "same"),
    ("py/context-line-differs@a", "py/context-line-differs@b", "differ"),
    ("js/query-string-differs@a", "js/query-string-differs@b", "same"),
    ("js/colno-differs@a", "js/colno-differs@b", "same"),
    ("native/addr-differs@a", "native/addr-differs@b", "same"),
    ("native/template-args-differ@a", "native/template-args-differ@b", "same"),
    ("native/args-differ@a", "native/args-differ@b", "same"),
    ("py/context-line-differs@a", "py/context-line-whitespace", "same"),
    ("enh/native-linux-cxa-throw@a", "enh/native-linux-cxa-throw@b", "same"),
    ("java/lambda-id-differs@a", "java/lambda-id-differs@b", "same"),
    ("java/cglib-id-differs@a", "java/cglib-id-differs@b", "same"),
    ("js/dotted-function@a", "js/dotted-function@b", "same"),
    ("js/sourcemapped@a", "js/sourcemapped@b", "same"),
    ("nostack/number-in-value@a", "nostack/number-in-value@b", "same"),
    ("fp/none", "fp/empty-list", "same"),
    ("fp/none", "fp/no-space-default", "same"),
    ("fp/default-plus-x", "fp/x-then-default", "differ"),
]
# Entries that must carry both an "app" and a "system" variant, with different hashes.
CHECK_APP_AND_SYSTEM = ["py/exc-00-valueerror", "js/exc-00-typeerror", "node/exc-00-error",
                        "java/exc-00-nullpointerexception", "enh/native-linux-abort", "cocoa/nserror",
                        "threads/single"]


def to_plain(value):
    """CanonicalKeyDict / NodeData / tuples -> plain JSON types."""
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value


def sentry_conf_dir(tmp):
    """A throw-away SENTRY_CONF made by `sentry init` (no services are contacted)."""
    if os.environ.get("SENTRY_CONF"):
        return os.environ["SENTRY_CONF"]
    conf = os.path.join(tmp, "conf")
    sentry_bin = os.path.join(os.path.dirname(sys.executable), "sentry")
    subprocess.check_call([sentry_bin, "init", conf], stdout=subprocess.DEVNULL)
    return conf


class StubProject:
    """Just enough of sentry.models.Project for the pure parts of the save pipeline.

    get_option returns the default for every option, i.e. no custom grouping enhancements,
    no server-side fingerprinting rules, no secondary grouping config."""

    id = PROJECT_ID
    organization_id = 1
    organization = None
    platform = None

    def get_option(self, key, default=None, validate=None):
        return default


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", default=os.path.join(DATA_DIR, "corpus.json"))
    ap.add_argument("--out-dir", default=DATA_DIR)
    ap.add_argument("--live-clock", action="store_true",
                    help="do not pin `received` to RECEIVED_AT (output then changes run to run)")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="sentry-grouping-")
    try:
        os.environ["SENTRY_CONF"] = sentry_conf_dir(tmp)
        from sentry.runner import configure

        # No Postgres / Redis: skip the service validation that `configure()` does by default.
        configure(skip_service_validation=True)
        return run(args)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(args):
    import sentry.event_manager as em
    from sentry.grouping.api import (
        get_default_grouping_config_dict,
        load_grouping_config,
        sort_grouping_variants,
    )
    from sentry.grouping.enhancer import Enhancements
    from sentry.grouping.strategies.configurations import CONFIGURATIONS
    from sentry.projectoptions.defaults import DEFAULT_GROUPING_CONFIG

    if not args.live_clock:
        em.DEFAULT_STORE_NORMALIZER_ARGS = dict(em.DEFAULT_STORE_NORMALIZER_ARGS, received_at=RECEIVED_AT)

    assert DEFAULT_GROUPING_CONFIG == CONFIG_ID, DEFAULT_GROUPING_CONFIG
    grouping_config = get_default_grouping_config_dict(CONFIG_ID)
    # What a project with no custom enhancements gets (PrimaryGroupingConfigLoader._get_enhancements):
    project_enh = Enhancements.from_config_string("", bases=[CONFIGURATIONS[CONFIG_ID].enhancements_base]).dumps()
    assert project_enh == grouping_config["enhancements"], (project_enh, grouping_config)
    loaded = load_grouping_config(grouping_config)

    with open(args.corpus, encoding="utf-8") as fh:
        corpus = json.load(fh)

    project = StubProject()
    results = []
    samples = []
    errors = 0
    for entry in corpus:
        name = entry["name"]
        out = {"name": name, "platform": entry["platform"]}
        try:
            manager = em.EventManager(copy.deepcopy(entry["event"]), grouping_config=grouping_config)
            manager.normalize(project_id=PROJECT_ID)
            job = {"data": manager.get_data(), "project_id": PROJECT_ID, "raw": False, "start_time": None}
            em._pull_out_data([job], {PROJECT_ID: project})
            em._derive_interface_tags_many([job])
            event = job["event"]
            calculated = em._calculate_event_grouping(project, event, grouping_config)
            em._materialize_metadata_many([job])
            data = job["data"]

            variants = event.get_grouping_variants(force_config=grouping_config)
            flat, hierarchical = sort_grouping_variants(variants)
            primary_variant = None
            for vname, variant in flat:
                if variant.get_hash() is not None and calculated.hashes and \
                        variant.get_hash() == calculated.hashes[0]:
                    primary_variant = vname
                    break
            vout = {}
            for vname, variant in variants.items():
                d = to_plain(variant.as_dict())
                d.pop("config", None)  # the same for every component variant; stored once below
                d["contributes"] = bool(variant.contributes)
                vout[vname] = d

            out.update({
                "type": data.get("type"),
                "title": data.get("title"),
                "culprit": data.get("culprit"),
                "location": data.get("location"),
                "metadata": to_plain(data.get("metadata")),
                "grouping_config": CONFIG_ID,
                "hashes": list(calculated.hashes),
                "hierarchical_hashes": list(calculated.hierarchical_hashes),
                "primary_hash": calculated.hashes[0] if calculated.hashes else None,
                "primary_variant": primary_variant,
                "fingerprint": to_plain(data.get("fingerprint")),
                "variants": vout,
            })
            if name in SAMPLE_NAMES:
                samples.append({"name": name, "normalized": to_plain(data)})
        except Exception as exc:  # keep going; record the failure in the golden file
            errors += 1
            out["error"] = "%s: %s" % (type(exc).__name__, exc)
            traceback.print_exc()
        results.append(out)

    import pkg_resources
    from sentry.grouping.enhancer import __file__ as enhancer_init

    base_id = CONFIGURATIONS[CONFIG_ID].enhancements_base
    base_file = os.path.join(os.path.dirname(enhancer_init), "enhancement-configs",
                             base_id.replace(":", "@") + ".txt")
    with open(base_file, encoding="utf-8") as fh:
        base_rules = fh.read()
    header = {
        "sentry_version": pkg_resources.get_distribution("sentry").version,
        "sentry_relay_version": pkg_resources.get_distribution("sentry-relay").version,
        "python_version": sys.version.split()[0],
        "enhancements_base": base_id,
        "enhancements_base_rules": base_rules,
        "grouping_config": grouping_config,
        "grouping_config_as_dict": to_plain(loaded.as_dict()),
        "received_at": None if args.live_clock else RECEIVED_AT,
        "project_id": PROJECT_ID,
    }
    os.makedirs(args.out_dir, exist_ok=True)
    with open(os.path.join(args.out_dir, "expected.json"), "w", encoding="utf-8") as fh:
        json.dump({"generator": header, "events": results}, fh, indent=1, sort_keys=True, ensure_ascii=False)
        fh.write("\n")
    with open(os.path.join(args.out_dir, "normalized_samples.json"), "w", encoding="utf-8") as fh:
        small = {k: v for k, v in header.items() if k not in ("enhancements_base_rules", "grouping_config_as_dict")}
        json.dump({"generator": small, "events": samples}, fh, indent=1, sort_keys=True, ensure_ascii=False)
        fh.write("\n")

    by_name = {r["name"]: r for r in results}
    failed = []
    for a, b, rel in CHECKS:
        ha, hb = by_name[a].get("primary_hash"), by_name[b].get("primary_hash")
        ok = (ha == hb) if rel == "same" else (ha != hb)
        if not ok or ha is None or hb is None:
            failed.append("%s vs %s: expected %s, got %s / %s" % (a, b, rel, ha, hb))
    for n in CHECK_APP_AND_SYSTEM:
        v = by_name[n].get("variants", {})
        if not ("app" in v and "system" in v and v["app"]["hash"] and v["system"]["hash"]
                and v["app"]["hash"] != v["system"]["hash"]):
            failed.append("%s: expected distinct app and system variant hashes" % n)
    print("%d events, %d errors, %d samples, %d/%d checks passed" % (
        len(results), errors, len(samples), len(CHECKS) + len(CHECK_APP_AND_SYSTEM) - len(failed),
        len(CHECKS) + len(CHECK_APP_AND_SYSTEM)))
    for f in failed:
        print("CHECK FAILED:", f)
    missing = sorted(set(SAMPLE_NAMES) - {s["name"] for s in samples})
    if missing:
        print("missing samples:", missing)
    return 1 if (failed or errors or missing) else 0


if __name__ == "__main__":
    sys.exit(main())
