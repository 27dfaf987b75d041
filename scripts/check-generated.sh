#!/usr/bin/env bash
# check-generated.sh guards the API definition: it lints and format-checks the
# .proto files, checks them for breaking changes against the main branch, and
# fails if the committed Go code under proto/gen is not exactly what the
# current .proto files generate.
#
# Usage: scripts/check-generated.sh        (from anywhere in the repository)
# Env:   BREAKING_AGAINST  git ref to check breaking changes against
#                          (default: main; set to "" to skip the check)
#
# Tools come from tools/go.mod through `go tool`; nothing is fetched from the
# Buf Schema Registry, so the script works offline once the Go module cache is
# warm.
set -euo pipefail

cd "$(dirname "$0")/.."

buf() { go tool -modfile=tools/go.mod buf "$@"; }
fail() { printf 'check-generated: %s\n' "$*" >&2; exit 1; }

echo "==> buf lint"
buf lint || fail "buf lint failed (see above); fix the .proto files"

echo "==> buf format"
buf format --diff --exit-code ||
	fail "the .proto files are not formatted; run: go tool -modfile=tools/go.mod buf format -w"

against="${BREAKING_AGAINST-main}"
if [[ -z "$against" ]]; then
	echo "==> buf breaking: skipped (BREAKING_AGAINST is empty)"
elif ! git rev-parse --verify --quiet "${against}^{commit}" >/dev/null; then
	echo "==> buf breaking: skipped (no git ref '${against}')"
elif ! git cat-file -e "${against}:buf.yaml" 2>/dev/null ||
	! git ls-tree -r --name-only "$against" -- proto | grep -q '\.proto$'; then
	echo "==> buf breaking: skipped ('${against}' has no buf.yaml or no .proto files yet)"
else
	echo "==> buf breaking against ${against}"
	# ref= takes any git ref (branch, tag, commit); depth=0 would fetch all
	# history, but a local clone needs only the named ref.
	buf breaking --against ".git#ref=${against}" ||
		fail "breaking API change against '${against}' (see above); add a new field, message or package version instead"
fi

echo "==> buf generate"
buf generate

echo "==> proto/gen up to date"
stale=0
if ! git diff --exit-code --stat -- proto/gen; then
	stale=1
fi
untracked="$(git ls-files --others --exclude-standard -- proto/gen)"
if [[ -n "$untracked" ]]; then
	printf 'untracked generated files:\n%s\n' "$untracked"
	stale=1
fi
if ((stale)); then
	fail "proto/gen is stale: the files above differ from what the .proto files generate. They have now been regenerated: review and commit proto/gen."
fi
echo "ok"
