#!/usr/bin/env bash
# Starts mab's end-to-end environment, installing what is missing:
# runc, qemu-user-static, buildkitd (built at the version of mab's BuildKit
# client), docker buildx, the distribution registry, dockerd from Debian's
# docker.io, containerd and skopeo from Debian's packages, QEMU handlers for arm64 and arm
# (through mab itself), and a multi-arch busybox:latest in the registry.
# Idempotent: what runs already is left running. `make e2e-down` stops it.
set -euo pipefail
cd "$(dirname "$0")/../.."
top=$PWD
cache=${MAB_E2E_CACHE:-$top/.cache}
state=$top/.e2e
port=${MAB_REGISTRY_PORT:-5055}
registry_version=v3.1.2
mkdir -p "$cache/bin" "$cache/debs" "$state"

log() { printf 'e2e-up: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
alive() { [ -f "$state/$1.pid" ] && kill -0 "$(cat "$state/$1.pid")" 2>/dev/null; }

[ "$(id -u)" = 0 ] || die "needs root (buildkitd, runc and binfmt_misc do): run it with sudo"

# --- Debian packages ---------------------------------------------------------
need_pkgs=()
command -v runc >/dev/null || need_pkgs+=(runc)
command -v qemu-aarch64-static >/dev/null || need_pkgs+=(qemu-user-static)
command -v dockerd >/dev/null || need_pkgs+=(docker.io)
command -v containerd >/dev/null || need_pkgs+=(containerd)
command -v skopeo >/dev/null || need_pkgs+=(skopeo)
command -v shellcheck >/dev/null || need_pkgs+=(shellcheck)
[ -x /usr/sbin/sshd ] || need_pkgs+=(openssh-server)
debs_missing=0
for arch in amd64 arm64 armhf; do
  ls "$cache/debs"/busybox-static_*_"$arch".deb >/dev/null 2>&1 || debs_missing=1
done
if [ ${#need_pkgs[@]} -gt 0 ] || [ $debs_missing = 1 ]; then
  for arch in arm64 armhf; do
    dpkg --print-foreign-architectures | grep -qx "$arch" || dpkg --add-architecture "$arch"
  done
  log "apt-get update"
  # A mirror in mid-sync fails one index now and then: retry, then go on
  # with what was fetched (a missing package fails clearly below).
  for try in 1 2 3; do
    apt-get update -qq >"$state/apt-update.log" 2>&1 && break
    [ $try = 3 ] && log "apt-get update reported errors, continuing: $(grep -m1 '^E:' "$state/apt-update.log")"
    sleep $((try * 5))
  done
  if [ ${#need_pkgs[@]} -gt 0 ]; then
    log "installing ${need_pkgs[*]}"
    # policy-rc.d keeps the packages' own services (a system-wide sshd, a
    # dockerd on the default socket) from starting: e2e-up starts its own.
    policy=/usr/sbin/policy-rc.d made_policy=0
    if [ ! -e $policy ]; then
      printf '#!/bin/sh\nexit 101\n' >$policy && chmod +x $policy && made_policy=1
      trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
    if [ $made_policy = 1 ]; then rm -f $policy; trap - EXIT; fi
  fi
  if [ $debs_missing = 1 ]; then
    log "downloading busybox-static for amd64, arm64, armhf"
    (cd "$cache/debs" && apt-get download -qq busybox-static:amd64 busybox-static:arm64 busybox-static:armhf)
  fi
fi

# --- buildkitd, at the version of mab's client library -------------------------
bk_version=$(go list -m -f '{{.Version}}' github.com/moby/buildkit)
buildkitd=$cache/bin/buildkitd-$bk_version
buildctl=$cache/bin/buildctl-$bk_version
if [ ! -x "$buildkitd" ] || [ ! -x "$buildctl" ]; then
  log "building buildkitd $bk_version (about 5 minutes on 2 cores, once)"
  src=$cache/buildkitd-src
  rm -rf "$src" && mkdir -p "$src"
  # BuildKit's go.mod has exclude directives, so `go install pkg@version`
  # refuses it; a module of our own that requires it builds it. buildctl is
  # static: the docker-container:// test runs it inside a busybox container.
  (cd "$src" && go mod init mab.local/buildkitd >/dev/null 2>&1 &&
    go get "github.com/moby/buildkit/cmd/buildkitd@$bk_version" "github.com/moby/buildkit/cmd/buildctl@$bk_version" >/dev/null 2>&1 &&
    go build -o "$buildkitd.tmp" github.com/moby/buildkit/cmd/buildkitd &&
    CGO_ENABLED=0 go build -o "$buildctl.tmp" github.com/moby/buildkit/cmd/buildctl) || die "building buildkitd failed"
  mv "$buildkitd.tmp" "$buildkitd" && mv "$buildctl.tmp" "$buildctl"
fi
ln -sf "$buildctl" "$cache/bin/buildctl"

# --- docker buildx, standalone (no docker CLI plugin), for the buildx:// tests ----
# buildx's go.mod has replace directives, so `go install pkg@version` refuses
# it; a module of our own that requires it builds it, as for buildkitd.
buildx_version=v0.38.2
buildx=$cache/bin/buildx-$buildx_version
if [ ! -x "$buildx" ]; then
  log "building buildx $buildx_version (about 4 minutes of CPU on 2 cores, 15 when the cores are busy; once)"
  src=$cache/buildx-src
  rm -rf "$src" && mkdir -p "$src"
  (cd "$src" && go mod init mab.local/buildx >/dev/null 2>&1 &&
    go get "github.com/docker/buildx/cmd/buildx@$buildx_version" >/dev/null 2>&1 &&
    go build -ldflags "-X github.com/docker/buildx/version.Version=$buildx_version" -o "$buildx.tmp" github.com/docker/buildx/cmd/buildx) ||
    die "building buildx failed"
  mv "$buildx.tmp" "$buildx"
fi

# --- the distribution registry -----------------------------------------------
registry=$cache/bin/registry-$registry_version
if [ ! -x "$registry" ]; then
  log "installing the distribution registry $registry_version"
  GOBIN=$cache/bin/registry-gobin go install "github.com/distribution/distribution/v3/cmd/registry@$registry_version"
  mv "$cache/bin/registry-gobin/registry" "$registry"
fi

# --- mab itself, and the QEMU handlers through it ------------------------------
go build -o "$top/bin/mab" ./cmd/mab
"$top/bin/mab" emulation install --via host arm64 arm

# --- the registries: one open, one that demands a login (htpasswd) ---------------
# start_registry NAME PORT [YAML]: the distribution registry on 127.0.0.1:PORT,
# storage in a temporary folder, YAML appended to its config; waits until
# /v2/ answers (401 counts: it is the login the second one demands).
start_registry() {
  local name=$1 p=$2 extra=${3:-}
  if ! alive "$name"; then
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      die "port $p is in use by another program: set MAB_REGISTRY_PORT to a free port"
    fi
    local data
    data=$(mktemp -d "/tmp/mab-e2e-$name.XXXXXX")
    echo "$data" >"$state/$name.data"
    cat >"$state/$name.yml" <<YML
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$p
$extra
YML
    log "starting $name on 127.0.0.1:$p"
    setsid "$registry" serve "$state/$name.yml" >"$state/$name.log" 2>&1 </dev/null &
    echo $! >"$state/$name.pid"
  fi
  local code
  for _ in $(seq 1 50); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$p/v2/" || true)
    [ "$code" = 200 ] || [ "$code" = 401 ] && return 0
    sleep 0.2
  done
  die "$name did not start: $(tail -3 "$state/$name.log")"
}
start_registry registry "$port"

auth_port=$((port + 2000))
[ -f "$state/registry-auth.pass" ] || (umask 077 && head -c 18 /dev/urandom | base64 >"$state/registry-auth.pass")
alive registry-auth || go run ./internal/testenv/htpasswd mab-e2e <"$state/registry-auth.pass" >"$state/htpasswd"
start_registry registry-auth "$auth_port" "auth:
  htpasswd:
    realm: mab-e2e
    path: $state/htpasswd"

# --- start buildkitd, and a second one: the "native node" of the --node tests -----
cat >"$state/buildkitd.toml" <<TOML
[worker.oci]
  enabled = true
  gc = true
[worker.containerd]
  enabled = false
[registry."127.0.0.1:$port"]
  http = true
  insecure = true
[registry."127.0.0.1:$auth_port"]
  http = true
  insecure = true
TOML
# start_buildkitd NAME: buildkitd on $state/NAME.sock, state in $state/NAME-root.
start_buildkitd() {
  local name=$1 sock=$state/$1.sock
  if ! alive "$name"; then
    log "starting $name $bk_version"
    rm -f "$sock"
    setsid "$buildkitd" --config "$state/buildkitd.toml" --root "$state/$name-root" \
      --addr "unix://$sock" >"$state/$name.log" 2>&1 </dev/null &
    echo $! >"$state/$name.pid"
  fi
  for _ in $(seq 1 100); do
    "$buildctl" --addr "unix://$sock" debug workers >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  die "$name did not start: $(tail -3 "$state/$name.log")"
}
start_buildkitd buildkitd
start_buildkitd buildkitd-node
sock=$state/buildkitd.sock
node_sock=$state/buildkitd-node.sock

# --- start dockerd (Debian's docker.io), on a socket and data root of its own ---
docker_sock=$state/docker.sock
# A bridge of its own, named and numbered after the registry port, so that
# several checkouts can each run a dockerd; no iptables rules are written.
bridge=mab$port
if ! ip link show "$bridge" >/dev/null 2>&1; then
  ip link add "$bridge" type bridge
  ip addr add "10.$((port % 200 + 50)).0.1/24" dev "$bridge"
  ip link set "$bridge" up
  echo "$bridge" >"$state/bridge"
fi
if ! alive dockerd; then
  log "starting dockerd $(dockerd --version | sed 's/^Docker version //')"
  rm -f "$docker_sock"
  setsid dockerd --host "unix://$docker_sock" --pidfile "$state/dockerd.pid" \
    --data-root "$state/docker-data" --exec-root "$state/docker-exec" \
    --bridge="$bridge" --iptables=false --ip6tables=false --ip-masq=false \
    --insecure-registry "127.0.0.1:$port" >"$state/dockerd.log" 2>&1 </dev/null &
fi
for _ in $(seq 1 100); do
  DOCKER_HOST=unix://$docker_sock docker version >/dev/null 2>&1 && break
  sleep 0.3
done
DOCKER_HOST=unix://$docker_sock docker version >/dev/null || die "dockerd did not start: $(tail -3 "$state/dockerd.log")"

# --- containerd (Debian's), on a socket and state folders of its own, for ctr images import ---
"$top/internal/testenv/containerd.sh" start "$state"

# --- sshd on loopback, for the ssh:// builder tests --------------------------------
# Its own keys, config and port; root logs in with the key e2e-up made, and
# the session's PATH has buildctl, which BuildKit's ssh:// helper runs.
ssh_port=$((port + 1000))
sshdir=$state/ssh
mkdir -p "$sshdir" /run/sshd
[ -f "$sshdir/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$sshdir/host_ed25519"
[ -f "$sshdir/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$sshdir/id_ed25519"
cp "$sshdir/id_ed25519.pub" "$sshdir/authorized_keys"
cat >"$sshdir/sshd_config" <<SSHD
ListenAddress 127.0.0.1:$ssh_port
HostKey $sshdir/host_ed25519
PidFile $state/sshd.pid
AuthorizedKeysFile $sshdir/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
SetEnv PATH=$cache/bin:/usr/local/bin:/usr/bin:/bin
SSHD
cat >"$sshdir/config" <<SSH
Host mab-e2e
  HostName 127.0.0.1
  Port $ssh_port
  User root
  IdentityFile $sshdir/id_ed25519
  IdentitiesOnly yes
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  LogLevel ERROR
SSH
if ! alive sshd; then
  log "starting sshd on 127.0.0.1:$ssh_port"
  /usr/sbin/sshd -f "$sshdir/sshd_config" -E "$state/sshd.log" || die "sshd did not start: $(tail -3 "$state/sshd.log")"
fi
for _ in $(seq 1 50); do
  ssh -F "$sshdir/config" mab-e2e true 2>/dev/null && break
  sleep 0.2
done
ssh -F "$sshdir/config" mab-e2e buildctl --version >/dev/null || die "ssh to mab-e2e with buildctl failed: $(tail -3 "$state/sshd.log")"

# --- the base image --------------------------------------------------------------
for arch in amd64 arm64 armhf; do
  if [ ! -x "$cache/busybox/$arch/bin/busybox" ]; then
    rm -rf "$cache/busybox/$arch" && mkdir -p "$cache/busybox/$arch"
    dpkg-deb -x "$(ls "$cache/debs"/busybox-static_*_"$arch".deb | head -1)" "$cache/busybox/$arch"
  fi
done
go run ./internal/testenv/seed -registry "127.0.0.1:$port" -busybox "$cache/busybox" -repo busybox:latest \
  -golang "$(go env GOROOT)" -golang-repo golang:local

cat >"$state/env" <<ENV
export BUILDKIT_HOST=unix://$sock
export MAB_TEST_REGISTRY=127.0.0.1:$port
export DOCKER_HOST=unix://$docker_sock
export MAB_TEST_NODE=unix://$node_sock
export MAB_TEST_BUILDCTL=$buildctl
export MAB_TEST_BUILDX=$buildx
export MAB_TEST_SSH_CONFIG=$sshdir/config
export MAB_TEST_AUTH_REGISTRY=127.0.0.1:$auth_port
export MAB_TEST_AUTH_PASSWORD_FILE=$state/registry-auth.pass
export MAB_TEST_CONTAINERD=$state/containerd.sock
ENV
cat "$state/env"
