"""Installs shim/backend.py as `sentry.search.sls.backend` in the Sentry installation that this
Python runs (deploy/sentry/Dockerfile runs it after installing the sentry-sls package).

Sentry's package directory is found without importing Sentry (importing it needs settings).
Idempotent; exits non-zero when Sentry or its `search` package is not there.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

SHIM = Path(__file__).resolve().parent / "shim" / "backend.py"


def main() -> int:
    spec = importlib.util.find_spec("sentry")
    if spec is None or not spec.submodule_search_locations:
        print("install_search_shim: the sentry package is not installed", file=sys.stderr)
        return 1
    search_dir = Path(list(spec.submodule_search_locations)[0]) / "search"
    if not (search_dir / "__init__.py").is_file():
        print(f"install_search_shim: {search_dir} is not Sentry's search package", file=sys.stderr)
        return 1
    shim_dir = search_dir / "sls"
    shim_dir.mkdir(exist_ok=True)
    init = shim_dir / "__init__.py"
    if not init.exists():
        init.write_text('"""sentry-sls: the guide\'s search backend path (see backend.py)."""\n')
    shutil.copyfile(SHIM, shim_dir / "backend.py")
    print(f"install_search_shim: installed sentry.search.sls.backend in {shim_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
