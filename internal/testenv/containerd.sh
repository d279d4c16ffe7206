#!/usr/bin/env bash
# containerd.sh start|stop STATE: a containerd of the environment's own,
# Debian's package, on STATE/containerd.sock with its root, state and
# plugin folders under STATE (no CRI, no metrics or debug socket), for
# the `ctr images import` tests. up.sh and down.sh call it; it can run on
# its own. start waits until `ctr version` answers; stop ends exactly the
# process it started, by process id.
set -euo pipefail
cmd=${1:?start or stop} state=${2:?state folder}
sock=$state/containerd.sock pidfile=$state/containerd.pid
log() { printf 'e2e containerd: %s\n' "$*" >&2; }
alive() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

case $cmd in
start)
  if ! alive; then
    mkdir -p "$state"
    cat >"$state/containerd.toml" <<TOML
version = 2
root = "$state/containerd-root"
state = "$state/containerd-state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$state/containerd-opt"
TOML
    rm -f "$sock" "$sock.ttrpc"
    log "starting containerd $(containerd --version | awk '{print $3}') on $sock"
    setsid containerd --config "$state/containerd.toml" >"$state/containerd.log" 2>&1 </dev/null &
    echo $! >"$pidfile"
  fi
  for _ in $(seq 1 100); do
    ctr --address "$sock" version >/dev/null 2>&1 && exit 0
    sleep 0.2
  done
  log "containerd did not start: $(tail -3 "$state/containerd.log")"
  exit 1
  ;;
stop)
  if alive; then
    pid=$(cat "$pidfile")
    kill "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    log "stopped containerd ($pid)"
  fi
  rm -f "$pidfile" "$sock" "$sock.ttrpc"
  # its snapshots are overlay mounts under its root: unmount what is left
  if [ -d "$state/containerd-root" ]; then
    grep -o " $state/containerd-[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount 2>/dev/null || true
  fi
  ;;
*)
  log "unknown command $cmd: want start or stop"
  exit 1
  ;;
esac
