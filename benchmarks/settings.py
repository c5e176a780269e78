"""Settings for `python -m benchmarks`: the test settings on a throwaway database, DEBUG off.

SQLite (the default): a file in a fresh temporary directory. PostgreSQL (DATABASE_URL set): a
`bench_<name>_<pid>` database beside the one DATABASE_URL names, created and dropped by
benchmarks/database.py. The choices are written back to the environment, so a worker started
as a subprocess (`manage.py run_worker` with these settings) opens the same database.
"""

import os
import tempfile
from pathlib import Path

os.environ.setdefault("LOG_LEVEL", "WARNING")

from tests.settings import *  # noqa: E402, F403
from tests.settings import DATABASES  # noqa: E402

RUN_DIR = Path(os.environ.get("BENCH_RUN_DIR") or tempfile.mkdtemp(prefix="portal-bench-"))
os.environ["BENCH_RUN_DIR"] = str(RUN_DIR)

_default = DATABASES["default"]
if _default["ENGINE"] == "django.db.backends.sqlite3":
    _default["NAME"] = str(RUN_DIR / "bench.sqlite3")
else:
    _default["NAME"] = os.environ.get("BENCH_PG_NAME") or f"bench_{_default['NAME']}_{os.getpid()}"
    os.environ["BENCH_PG_NAME"] = _default["NAME"]

# config.urls plus the stock admin baseline at /baseline-admin/ and two benchmark-only views.
ROOT_URLCONF = "benchmarks.urls"
# The embedded emulator in memory, unless a run names a state file (a worker subprocess must
# share its ACS with the process that reads the emulator's request log).
ACS_EMULATOR_STATE = os.environ.get("BENCH_ACS_STATE", "")
DEBUG = False
# The worker logs every task at INFO; the benchmark's own progress is enough.
LOGGING["loggers"].update(  # noqa: F405
    {name: {"level": "WARNING"} for name in ("django.tasks", "django_tasks_db")}
)
