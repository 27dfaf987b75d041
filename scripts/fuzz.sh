#!/usr/bin/env bash
# Runs every Go fuzzer of the module (func FuzzX(f *testing.F) in a
# _test.go file) for FUZZTIME each (default 10s), one after another: go
# test -fuzz takes one target per run. A failure leaves its input under
# the package's testdata/fuzz/FuzzX/, where plain 'go test' replays it
# from then on: commit it with the fix. Seed corpora are the f.Add calls
# and those committed files.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${FUZZTIME:-10s}"
status=0
while IFS=: read -r file name; do
  pkg="./$(dirname "$file")"
  echo "== fuzz $pkg $name ($fuzztime)"
  if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg"; then
    status=1
  fi
done < <(grep -rEo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' --exclude-dir=tools --exclude-dir=_out . |
  sed -E 's#^\./##; s#:func (Fuzz[A-Za-z0-9_]+).*#:\1#' | sort)
exit $status
