#!/usr/bin/env bash
# Print the path of a Python >= 3.12 (python3.13, python3.12, or one that pyenv has); fail with advice.
set -u
ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; }
for candidate in python3.13 python3.12 python3.14 python3; do
  path=$(command -v "$candidate" 2>/dev/null) || continue
  # pyenv shims exist for versions that are not active; ok() rejects them when they fail to run.
  if ok "$path"; then echo "$path"; exit 0; fi
done
if command -v pyenv >/dev/null 2>&1; then
  root=$(pyenv root)
  for dir in $(ls -d "$root"/versions/3.1[2-9]* 2>/dev/null | sort -rV); do
    if ok "$dir/bin/python3"; then echo "$dir/bin/python3"; exit 0; fi
  done
fi
echo "No Python 3.12 or newer found. Install one (e.g. 'apt-get install python3.12 python3.12-venv'," \
  "or 'pyenv install 3.13') and run make again." >&2
exit 1
