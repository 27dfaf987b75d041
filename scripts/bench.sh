#!/usr/bin/env bash
# Runs every benchmark and records the raw output under docs/bench/; the
# numbers quoted in docs/benchmarks.md come from these files.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p docs/bench
stamp() { echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(uname -r)"; }

{ stamp; go test -run '^$' -bench . -benchtime 3s -count 1 ./consensus/; } | tee docs/bench/consensus.txt
{ stamp; go test -run '^$' -bench 'Scale100' -benchtime 1x -count 1 ./gossip/;
  go test -run '^$' -bench 'JoinPropagation' -benchtime 20x -count 1 ./gossip/;
  go test -run '^$' -bench 'FailureDetection' -benchtime 5x -count 1 ./gossip/; } | tee docs/bench/gossip.txt
{ stamp; go test -run '^$' -bench 'Formation3' -benchtime 5x -count 1 ./node/cluster/formation/; } | tee docs/bench/formation.txt
# 'Cluster' is BenchmarkCluster (processes) and BenchmarkDockerCluster
# (containers: create to healthy, image size; needs Docker, as CI has).
{ stamp; go test -run '^$' -bench 'Cluster|WorkerFailover|Etcd|Kubernetes|RollingUpgrade' -benchtime 1x -count 1 -timeout 25m ./integration/; } | tee docs/bench/cluster.txt
{ stamp; go test -run '^$' -bench 'QEMU' -benchtime 1x -count 1 -timeout 20m ./integration/; } | tee docs/bench/qemu.txt
# Put this run's benchmark lines into docs/benchmarks.md, between the markers.
{
  echo '```'
  head -1 docs/bench/consensus.txt
  grep -h '^Benchmark' docs/bench/consensus.txt docs/bench/gossip.txt docs/bench/formation.txt docs/bench/cluster.txt docs/bench/qemu.txt
  echo '```'
} > docs/bench/latest.txt
awk -v latest=docs/bench/latest.txt '
  /<!-- bench:begin -->/ { print; while ((getline line < latest) > 0) print line; skip = 1; next }
  /<!-- bench:end -->/   { skip = 0 }
  !skip                  { print }
' docs/benchmarks.md > docs/benchmarks.md.new && mv docs/benchmarks.md.new docs/benchmarks.md
echo "raw results in docs/bench/; this run's lines are in docs/benchmarks.md (Latest raw run); update the tables above by hand"
