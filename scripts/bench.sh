#!/usr/bin/env bash
# Runs every benchmark and records the raw output under docs/bench/; the
# numbers quoted in docs/benchmarks.md come from these files.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p docs/bench
stamp() { echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(uname -r)"; }

{ stamp; go test -run '^$' -bench . -benchtime 3s -count 1 ./consensus/; } | tee docs/bench/consensus.txt
{ stamp; go test -run '^$' -bench 'Scale100' -benchtime 1x -count 1 ./gossip/;
  go test -run '^$' -bench 'JoinPropagation' -benchtime 20x -count 1 ./gossip/; } | tee docs/bench/gossip.txt
{ stamp; go test -run '^$' -bench 'Formation3' -benchtime 5x -count 1 ./node/formation/; } | tee docs/bench/formation.txt
{ stamp; go test -run '^$' -bench 'Cluster' -benchtime 1x -count 1 -timeout 10m ./integration/; } | tee docs/bench/cluster.txt
echo "raw results in docs/bench/; summary in docs/benchmarks.md"
