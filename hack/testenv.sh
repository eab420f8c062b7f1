#!/usr/bin/env bash
# A real Kubernetes API server for tests: kube-apiserver and etcd, built from
# the Go module proxy once and cached, started bound to 127.0.0.1 only; and
# kube-proxy, which 'palisade lab up --apiserver --kube-proxy' runs per node.
#
#   hack/testenv.sh build        build the binaries unless cached; print their directory
#   hack/testenv.sh path         print the cache directory (exit 1 when not built)
#   hack/testenv.sh start DIR [--control-plane]
#                                run etcd + kube-apiserver with their state in DIR (made
#                                if missing); print the kubeconfig path once ready. With
#                                --control-plane also kube-controller-manager and
#                                kube-scheduler, and the ServiceAccount admission plugin
#                                (what `lab up --apiserver` runs)
#   hack/testenv.sh stop DIR     stop what 'start DIR' started (by PID) and remove DIR
#   hack/testenv.sh kubectl      build kubectl ${K8S_VERSION} unless cached; print its directory
#                                (for machines without one: the lab's kubectl test uses it)
#
# The cache is $HOME/.cache/palisade/k8s-<version>-etcd-<version>/ (override
# with PALISADE_TESTENV). Tests find it there, or through PALISADE_TESTENV.
#
# kube-apiserver cannot be 'go install'ed: k8s.io/kubernetes requires its
# staging modules at v0.0.0 and replaces them with ./staging paths, which a
# dependent module does not see. So it is built in a small wrapper module
# that requires k8s.io/kubernetes and pins every staging module to the
# matching v0.x release with its own replace directives.
set -euo pipefail

K8S_VERSION=v1.37.2
STAGING_VERSION=v0.37.2
ETCD_VERSION=v3.7.0
CACHE=${PALISADE_TESTENV:-${HOME}/.cache/palisade/k8s-${K8S_VERSION}-etcd-${ETCD_VERSION}}

# The user and token every test speaks as: system:masters, so it passes RBAC.
ADMIN_TOKEN=palisade-testenv-admin

say() { printf 'testenv: %s\n' "$*" >&2; }

# The control plane and kube-proxy, built from k8s.io/kubernetes in one 'go build' (see build).
K8S_CMDS="kube-apiserver kube-controller-manager kube-scheduler kube-proxy"

built() {
  local c
  for c in $K8S_CMDS etcd; do [ -x "$CACHE/$c" ] || return 1; done
  [ -f "$CACHE/sa.key" ] && [ -f "$CACHE/sa.pub" ]
}

build() {
  if built; then
    echo "$CACHE"
    return
  fi
  command -v go >/dev/null || { say "go is not installed"; exit 1; }
  local start
  # Global, not local: the EXIT trap runs after build has returned.
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  start=$(date +%s)
  export GOFLAGS=-mod=mod GOWORK=off
  # Binaries, not test code: no race detector, no debug info.
  local ldflags="-s -w"

  say "etcd ${ETCD_VERSION}: building (go.etcd.io/etcd/server/v3)"
  mkdir -p "$work/etcd"
  (
    cd "$work/etcd"
    cat >go.mod <<EOF
module palisade.test/etcd

go 1.26

require go.etcd.io/etcd/server/v3 ${ETCD_VERSION}
EOF
    cat >tools.go <<'EOF'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
EOF
    go mod tidy >/dev/null 2>&1 || go mod tidy
    go build -trimpath -ldflags "$ldflags" -o "$work/bin/etcd" go.etcd.io/etcd/server/v3
  )
  say "etcd: built in $(($(date +%s) - start))s"

  say "kubernetes ${K8S_VERSION} (${K8S_CMDS}): resolving k8s.io/kubernetes and its staging modules"
  mkdir -p "$work/k8s"
  (
    cd "$work/k8s"
    local pkgs=() c
    for c in $K8S_CMDS; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
    wrapper k8s "${pkgs[@]}"
    say "kubernetes: $(grep -c '^replace' go.mod) staging modules pinned to ${STAGING_VERSION}"
    say "kubernetes: compiling ${K8S_CMDS} in one build so shared packages compile once (a cold build takes many minutes; -v lists packages as they finish)"
    # One invocation: the three commands share most of their packages.
    # -v prints each package as it is compiled, the only progress go build has.
    go build -v -trimpath -ldflags "$ldflags" -o "$work/bin/" "${pkgs[@]}" 2>"$work/k8s-build.log" &
    local gopid=$! n tick=0
    while kill -0 "$gopid" 2>/dev/null; do
      sleep 1
      tick=$((tick + 1))
      [ $((tick % 20)) -eq 0 ] || continue
      n=$(wc -l <"$work/k8s-build.log")
      say "kubernetes: ${n} packages compiled so far ($(($(date +%s) - start))s)"
    done
    wait "$gopid" || { say "kubernetes: go build failed:"; tail -n 30 "$work/k8s-build.log" >&2; exit 1; }
  )
  say "kubernetes: built in $(($(date +%s) - start))s"

  # The service-account signing key kube-apiserver insists on; generated
  # with Go so that no openssl binary is needed.
  mkdir -p "$work/keygen"
  (
    cd "$work/keygen"
    printf 'module palisade.test/keygen\n\ngo 1.26\n' >go.mod
    cat >main.go <<'EOF'
package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
)

func main() {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		panic(err)
	}
	must(os.WriteFile(os.Args[1], pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}), 0o600))
	must(os.WriteFile(os.Args[2], pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644))
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}
EOF
    go run . "$work/bin/sa.key" "$work/bin/sa.pub"
  )
  # Publish whole or not at all: a build interrupted half way leaves no
  # cache that looks complete.
  mkdir -p "$(dirname "$CACHE")"
  rm -rf "$CACHE.tmp"
  mv "$work/bin" "$CACHE.tmp"
  rm -rf "$CACHE"
  mv "$CACHE.tmp" "$CACHE"
  say "built in $(($(date +%s) - start))s into $CACHE"
  echo "$CACHE"
}

# wrapper writes, in the current directory, a module that requires
# k8s.io/kubernetes with every staging module pinned (see the top).
wrapper() {
  local name=$1 gomod pkg
  shift
  gomod=$(go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')
  [ -f "$gomod" ] || { say "cannot download k8s.io/kubernetes@${K8S_VERSION}"; exit 1; }
  {
    printf 'module palisade.test/%s\n\ngo 1.26\n\nrequire k8s.io/kubernetes %s\n\n' "$name" "$K8S_VERSION"
    grep -oE '^[[:space:]]*k8s\.io/[A-Za-z0-9._-]+ => \./staging/' "$gomod" | awk '{print $1}' | sort -u |
      while read -r m; do printf 'replace %s => %s %s\n' "$m" "$m" "$STAGING_VERSION"; done
  } >go.mod
  {
    printf '//go:build tools\n\npackage tools\n\nimport (\n'
    for pkg in "$@"; do printf '\t_ "%s"\n' "$pkg"; done
    printf ')\n'
  } >tools.go
  go mod tidy >/dev/null 2>&1 || go mod tidy
}

KUBECTL_CACHE=${HOME}/.cache/palisade/kubectl-${K8S_VERSION}

kubectl_build() {
  if [ -x "$KUBECTL_CACHE/kubectl" ]; then
    echo "$KUBECTL_CACHE"
    return
  fi
  command -v go >/dev/null || { say "go is not installed"; exit 1; }
  local start
  kwork=$(mktemp -d)
  trap 'rm -rf "$kwork"' EXIT
  start=$(date +%s)
  export GOFLAGS=-mod=mod GOWORK=off
  say "kubectl ${K8S_VERSION}: building from k8s.io/kubernetes (a cold build takes minutes)"
  (
    cd "$kwork"
    wrapper kubectl k8s.io/kubernetes/cmd/kubectl
    # The version kubectl reports comes from the linker, as in a release build.
    go build -trimpath -ldflags "-s -w -X k8s.io/client-go/pkg/version.gitVersion=${K8S_VERSION} -X k8s.io/component-base/version.gitVersion=${K8S_VERSION}" \
      -o "$kwork/bin/kubectl" k8s.io/kubernetes/cmd/kubectl
  )
  mkdir -p "$(dirname "$KUBECTL_CACHE")"
  rm -rf "$KUBECTL_CACHE"
  mv "$kwork/bin" "$KUBECTL_CACHE"
  say "kubectl: built in $(($(date +%s) - start))s into $KUBECTL_CACHE"
  echo "$KUBECTL_CACHE"
}

# freeport prints a TCP port nothing on 127.0.0.1 listens on, below the
# kernel's ephemeral range, so that no outgoing connection of a test running
# beside this one takes it between the check and the bind; and not one of
# the ports given as arguments (the ones already picked).
freeport() {
  local p low
  low=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  for _ in $(seq 200); do
    if [ "$low" -gt 12000 ]; then
      p=$((10000 + RANDOM % (low - 10000)))
    else
      p=$((20000 + RANDOM % 40000))
    fi
    case " $* " in *" $p "*) continue ;; esac
    if ! ss -Hltn "sport = :$p" | grep -q .; then
      echo "$p"
      return
    fi
  done
  say "no free port found"
  exit 1
}

start() {
  local dir=$1 attempt rc
  CONTROL_PLANE=${2:-}
  built || { say "not built: run '$0 build' first"; exit 1; }
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ -f "$dir/apiserver.pid" ] && kill -0 "$(cat "$dir/apiserver.pid")" 2>/dev/null; then
    say "already running in $dir"
    echo "$dir/kubeconfig"
    return
  fi
  # Tests start API servers side by side: a port found free can still be
  # taken by another before etcd or kube-apiserver binds it. Then start
  # again on other ports.
  for attempt in 1 2 3; do
    rc=0
    launch "$dir" || rc=$?
    case $rc in
    0) return ;;
    3) say "a port was taken meanwhile (attempt $attempt); starting again on others" ;;
    *) exit 1 ;;
    esac
  done
  exit 1
}

# launch makes one attempt: 0 when ready, 3 when a port was taken, 1 when
# anything else went wrong. It leaves nothing running unless it returns 0.
launch() {
  local dir=$1 t0 etcd_port peer_port api_port
  t0=$(date +%s%N)
  etcd_port=$(freeport)
  peer_port=$(freeport "$etcd_port")
  api_port=$(freeport "$etcd_port" "$peer_port")
  mkdir -p "$dir/etcd" "$dir/certs"
  printf '%s,palisade-admin,palisade-admin,"system:masters"\n' "$ADMIN_TOKEN" >"$dir/tokens.csv"

  # --unsafe-no-fsync: test data need not survive a power cut, and fsync
  # dominates etcd's latency on a shared disk.
  "$CACHE/etcd" --name default --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "default=http://127.0.0.1:$peer_port" \
    --unsafe-no-fsync --log-level error >"$dir/etcd.log" 2>&1 &
  echo $! >"$dir/etcd.pid"

  # The lab's kubelet API (internal/lab/kubeletapi): when DIR/kubelet-pki
  # holds its CA and the API server's client pair, kube-apiserver dials each
  # node's kubelet on the loopback address its Node names as InternalDNS.
  local kubelet_flags=()
  if [ -f "$dir/kubelet-pki/ca.crt" ]; then
    kubelet_flags=(--kubelet-certificate-authority "$dir/kubelet-pki/ca.crt"
      --kubelet-client-certificate "$dir/kubelet-pki/apiserver-kubelet-client.crt"
      --kubelet-client-key "$dir/kubelet-pki/apiserver-kubelet-client.key"
      --kubelet-preferred-address-types InternalDNS)
  fi

  # Without a controller-manager nothing creates service accounts: the
  # ServiceAccount admission plugin would refuse every pod, so the bare
  # API server (package tests) runs without it. No endpoint reconciler
  # either: the advertised 127.0.0.1 is not a routable address.
  local admission=(--disable-admission-plugins ServiceAccount)
  [ "$CONTROL_PLANE" = --control-plane ] && admission=()
  "$CACHE/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
    --cert-dir "$dir/certs" \
    --token-auth-file "$dir/tokens.csv" --anonymous-auth=false \
    --authorization-mode RBAC \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$CACHE/sa.pub" --service-account-signing-key-file "$CACHE/sa.key" \
    --service-cluster-ip-range 10.96.0.0/16 \
    --endpoint-reconciler-type none \
    "${admission[@]}" \
    --enable-priority-and-fairness=false --profiling=false \
    "${kubelet_flags[@]}" \
    >"$dir/apiserver.log" 2>&1 &
  echo $! >"$dir/apiserver.pid"

  cat >"$dir/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: testenv
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority: $dir/certs/apiserver.crt
users:
- name: admin
  user:
    token: $ADMIN_TOKEN
contexts:
- name: testenv
  context: {cluster: testenv, user: admin}
current-context: testenv
EOF
  for _ in $(seq 600); do
    if ! kill -0 "$(cat "$dir/apiserver.pid")" 2>/dev/null || ! kill -0 "$(cat "$dir/etcd.pid")" 2>/dev/null; then
      if grep -qs "address already in use" "$dir/etcd.log" "$dir/apiserver.log"; then
        stop "$dir" >/dev/null
        return 3
      fi
      say "exited during start-up; last lines of the logs:"
      tail -n 20 "$dir/etcd.log" "$dir/apiserver.log" >&2 || true
      stop "$dir" >/dev/null
      return 1
    fi
    if [ -f "$dir/certs/apiserver.crt" ] &&
      curl -sf --cacert "$dir/certs/apiserver.crt" -H "Authorization: Bearer $ADMIN_TOKEN" \
        "https://127.0.0.1:$api_port/readyz" >/dev/null 2>&1; then
      say "ready on https://127.0.0.1:$api_port in $((($(date +%s%N) - t0) / 1000000)) ms"
      if [ "$CONTROL_PLANE" = --control-plane ]; then
        control_plane "$dir" || { stop "$dir" >/dev/null; return 1; }
      fi
      echo "$dir/kubeconfig"
      return
    fi
    sleep 0.1
  done
  say "not ready after 60s; the last lines of its log:"
  tail -n 20 "$dir/apiserver.log" >&2 || true
  stop "$dir" >/dev/null
  return 1
}

# control_plane starts kube-controller-manager and kube-scheduler on the
# API server of DIR, as kind runs them but on one machine: no leader
# election, no serving port (--secure-port 0: nothing to bind, nothing to
# collide), the admin kubeconfig, no cloud provider. The controllers are
# kind's set minus what a lab cannot use: nodeipam (the lab gives each node
# its pod range), nodelifecycle (lab nodes renew no Lease, so it would
# taint them all NotReady after 40 s). (The cloud controllers are not in
# kube-controller-manager any more.)
control_plane() {
  local dir=$1 t0 f
  t0=$(date +%s%N)
  "$CACHE/kube-controller-manager" \
    --kubeconfig "$dir/kubeconfig" \
    --bind-address 127.0.0.1 --secure-port 0 \
    --leader-elect=false \
    --controllers '*,bootstrapsigner,tokencleaner,-nodeipam,-nodelifecycle' \
    --service-account-private-key-file "$CACHE/sa.key" \
    --root-ca-file "$dir/certs/apiserver.crt" \
    --use-service-account-credentials=false \
    --allocate-node-cidrs=false \
    --service-cluster-ip-range 10.96.0.0/16 \
    --concurrent-deployment-syncs 2 --concurrent-replicaset-syncs 2 \
    --profiling=false \
    >"$dir/controller-manager.log" 2>&1 &
  echo $! >"$dir/controller-manager.pid"
  "$CACHE/kube-scheduler" \
    --kubeconfig "$dir/kubeconfig" \
    --bind-address 127.0.0.1 --secure-port 0 \
    --leader-elect=false \
    --profiling=false \
    >"$dir/scheduler.log" 2>&1 &
  echo $! >"$dir/scheduler.pid"
  # They need no wait to be useful (each retries until its informers have
  # synced); a quick look catches one that refused its flags.
  sleep 0.3
  for f in controller-manager scheduler; do
    if ! kill -0 "$(cat "$dir/$f.pid")" 2>/dev/null; then
      say "kube-$f exited during start-up; the last lines of its log:"
      tail -n 20 "$dir/$f.log" >&2 || true
      return 1
    fi
  done
  say "kube-controller-manager and kube-scheduler started in $((($(date +%s%N) - t0) / 1000000)) ms"
}

# stop ends the processes start recorded, by PID: first politely, then
# for good, and removes the state directory.
stop() {
  local dir=$1 pid f
  for f in scheduler controller-manager apiserver etcd; do
    [ -f "$dir/$f.pid" ] || continue
    pid=$(cat "$dir/$f.pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/$f.pid"
  done
  rm -rf "$dir"
}

# Sourced (hack/upstream-e2e.sh does, for wrapper and the versions), it only
# defines; run, it does what its first argument says.
[ "${BASH_SOURCE[0]}" = "$0" ] || return 0

case "${1:-}" in
build) build ;;
path) built && echo "$CACHE" || { say "not built: run '$0 build'"; exit 1; } ;;
start)
  [ -n "${2:-}" ] || { say "usage: $0 start DIR [--control-plane]"; exit 2; }
  case "${3:-}" in "" | --control-plane) ;; *) say "start: unknown option ${3}"; exit 2 ;; esac
  start "$2" "${3:-}"
  ;;
stop) [ -n "${2:-}" ] || { say "usage: $0 stop DIR"; exit 2; }; stop "$2" ;;
kubectl) kubectl_build ;;
*)
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
  ;;
esac
