#!/usr/bin/env bash
# Rebuild static/vendor/acs-calling/ (the ACS Calling Web SDK for the join page) from the versions
# pinned in frontend/package-lock.json. The output is committed, so running the portal needs no Node;
# run this only to change the SDK's version (edit frontend/package.json, `npm install` there first).
set -euo pipefail
cd "$(dirname "$0")/../frontend"
# --ignore-scripts: nothing from the registry runs at install; esbuild finds its binary without it.
npm ci --ignore-scripts --no-audit --no-fund
node build.mjs
