#!/usr/bin/env bash
# Stops exactly what `make e2e-up` started, by process id, and removes the
# registry's temporary storage. Caches (.cache) are kept.
set -uo pipefail
cd "$(dirname "$0")/../.."
state=$PWD/.e2e
internal/testenv/containerd.sh stop "$state"
for name in sshd dockerd buildkitd buildkitd-node registry registry-auth; do
  pidfile=$state/$name.pid
  [ -f "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    echo "e2e-down: stopped $name ($pid)" >&2
  fi
  rm -f "$pidfile"
done
if [ -f "$state/bridge" ]; then
  ip link del "$(cat "$state/bridge")" 2>/dev/null
  rm -f "$state/bridge"
fi
for data in "$state/registry.data" "$state/registry-auth.data"; do
  [ -f "$data" ] && rm -rf "$(cat "$data")" "$data"
done
rm -f "$state/env"
