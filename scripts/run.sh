#!/usr/bin/env bash
# Run the portal for one machine: migrate, make sure an admin and demo data exist, then the web server and the task worker.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBUG="${DEBUG:-true}"
PY=.venv/bin/python
$PY manage.py migrate --noinput
$PY manage.py ensure_admin
$PY manage.py seed_demo
# The worker pushes changes to ACS (or the embedded emulator) and rides out a lost database
# (docs/operations.md); it stops with the server.
$PY manage.py run_worker --interval 0.2 &
worker=$!
trap 'kill $worker 2>/dev/null; wait $worker 2>/dev/null' EXIT INT TERM
echo "Serving on http://127.0.0.1:8000 (Ctrl+C stops it)"
$PY manage.py runserver 127.0.0.1:8000
