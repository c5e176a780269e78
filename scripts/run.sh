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
# The emulator over HTTP as well, on the same state file, for the browser: its local Entra ID
# is the portal's sign-in (docs/acs-emulator.md). The portal keeps its embedded emulator.
$PY -m acs_emulator --state "${ACS_EMULATOR_STATE:-var/acs-emulator.sqlite3}" --port 8791 --quiet &
emulator=$!
# Its inbox holds the invitations the portal sends, unless a real ACS is configured: the menu
# links to it.
if [ -z "${ACS_CONNECTION_STRING:-}${ACS_ENDPOINT:-}" ] \
  && ! grep -qsE '^ACS_(CONNECTION_STRING|ENDPOINT)=.' .env; then
  export ACS_EMULATOR_INBOX_URL="${ACS_EMULATOR_INBOX_URL:-http://127.0.0.1:8791/_emulator/inbox}"
fi
trap 'kill $worker $emulator 2>/dev/null; wait $worker $emulator 2>/dev/null' EXIT INT TERM
# Sign-in with the local Entra ID (demo app and groups, emulator only), unless Entra ID is
# configured here or in .env; the password form stays for the admin user.
if [ -z "${ENTRA_CLIENT_ID:-}" ] && ! grep -qs '^ENTRA_CLIENT_ID=.' .env; then
  tenant=8f0d3c8e-5b1a-4c6e-9d2f-3a7b1c0e4d51
  export ENTRA_TENANT_ID=$tenant
  export ENTRA_CLIENT_ID=5e2a8c1d-7b34-4f6a-a9d0-c1e2f3a4b5c6
  export ENTRA_CLIENT_SECRET='demo~portal-secret-for-the-emulator-only'
  export ENTRA_AUTHORITY=http://127.0.0.1:8791/$tenant/v2.0
  export ENTRA_GROUP_MAP="1b6f0e2a-3c4d-4e5f-8a9b-0c1d2e3f4a01=Role admins,\
1b6f0e2a-3c4d-4e5f-8a9b-0c1d2e3f4a02=Schedulers,1b6f0e2a-3c4d-4e5f-8a9b-0c1d2e3f4a03=Auditors"
fi
echo "Serving on http://127.0.0.1:8000 (Ctrl+C stops it)"
$PY manage.py runserver 127.0.0.1:8000
