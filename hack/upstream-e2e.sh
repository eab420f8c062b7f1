#!/usr/bin/env bash
# Upstream's own end-to-end test binary, unchanged, against a cluster: the
# e2e.test of k8s.io/kubernetes, built from the Go module proxy once and
# cached, run with the provider and flags a CNI certifies with.
#
#   hack/upstream-e2e.sh build          build e2e.test unless cached; print its path
#   hack/upstream-e2e.sh path           print the cached e2e.test (exit 1 when not built)
#   hack/upstream-e2e.sh [run] [OPTIONS] [-- E2E-FLAGS...]
#                                       run it against a cluster, JUnit into the artefacts
#                                       (flags after -- go to e2e.test as they are)
#   hack/upstream-e2e.sh list [OPTIONS] print the specs 'run' would run, without running them
#
# Options of run and list:
#   --kubeconfig FILE   the cluster (default: $KUBECONFIG, else the running lab's,
#                       as 'palisade lab kubeconfig' prints it)
#   --focus REGEX       ginkgo focus (default: '\[sig-network\] Netpol'); another
#                       suite, e.g. network-policy-api's conformance, is another focus
#   --skip REGEX        ginkgo skip, added to the SCTP skip (the lab's kernel has no SCTP)
#   --all               every spec of the focus; without it, the representative
#                       Netpol subset (a default deny, named ports, namespace and pod
#                       selectors, ipBlock with except, egress, UDP, a policy update,
#                       a label change) that finishes within 10 minutes
#   --report-dir DIR    JUnit and the e2e report (default: $PALISADE_ARTEFACTS/upstream-e2e,
#                       PALISADE_ARTEFACTS defaulting to $TMPDIR/palisade-artefacts)
#   --timeout DUR       the whole run's ginkgo timeout (default 30m)
#
# The cache is $HOME/.cache/palisade/e2e-<k8s version>/e2e.test (override the
# directory with PALISADE_E2E). It is compiled with the flags kube-apiserver's
# build uses (-trimpath, GOFLAGS=-mod=mod), in the same kind of wrapper module,
# so the Go build cache shares every package the two have in common.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=testenv.sh
. "$here/testenv.sh"

E2E_CACHE=${PALISADE_E2E:-${HOME}/.cache/palisade/e2e-${K8S_VERSION}}
E2E_BIN=$E2E_CACHE/e2e.test

e2e_say() { printf 'upstream-e2e: %s\n' "$*" >&2; }

e2e_build() {
  if [ -x "$E2E_BIN" ]; then
    echo "$E2E_BIN"
    return
  fi
  command -v go >/dev/null || { e2e_say "go is not installed"; exit 1; }
  local start
  ework=$(mktemp -d)
  trap 'rm -rf "$ework"' EXIT
  start=$(date +%s)
  export GOFLAGS=-mod=mod GOWORK=off
  e2e_say "e2e.test ${K8S_VERSION}: resolving k8s.io/kubernetes and its staging modules"
  (
    cd "$ework"
    wrapper e2e k8s.io/kubernetes/test/e2e
    e2e_say "e2e.test: compiling k8s.io/kubernetes/test/e2e (a cold build takes 10-20 minutes on 2 cores)"
    local total
    total=$(go list -deps -test k8s.io/kubernetes/test/e2e | wc -l)
    # -x prints each compile it runs (and none for a package the build
    # cache has), which gives a progress count through a long cold build.
    # The version e2e.test reports comes from the linker, as in a release build.
    # -vet=off: go test runs vet over every dependency (for its facts)
    # before it links, which doubles a cold build of code we only run.
    go test -c -vet=off -trimpath -x \
      -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=${K8S_VERSION} -X k8s.io/client-go/pkg/version.gitVersion=${K8S_VERSION}" \
      -o "$ework/bin/e2e.test" k8s.io/kubernetes/test/e2e 2>&1 |
      awk -v total="$total" -v t0="$(date +%s)" '
        /\/compile .* -p / { n++; if (n % 50 == 0) { printf "upstream-e2e: %d packages compiled (of at most %d) in %ds\n", n, total, systime() - t0 > "/dev/stderr"; fflush("/dev/stderr") } ; next }
        /^go: |^# [a-z0-9.-]+\/|\.go:[0-9]+:[0-9]+: / { print > "/dev/stderr" }'
    [ -x "$ework/bin/e2e.test" ] || { e2e_say "go test -c produced no e2e.test"; exit 1; }
  )
  mkdir -p "$(dirname "$E2E_CACHE")"
  rm -rf "$E2E_CACHE.tmp"
  mv "$ework/bin" "$E2E_CACHE.tmp"
  rm -rf "$E2E_CACHE"
  mv "$E2E_CACHE.tmp" "$E2E_CACHE"
  e2e_say "built in $(($(date +%s) - start))s into $E2E_BIN"
  echo "$E2E_BIN"
}

# The Netpol focus, and the representative subset of it that 'run' takes
# without --all: each name is a spec of test/e2e/network/netpol (the TCP,
# UDP and SCTP contexts share the default-deny-ingress name, so it gives
# the UDP case too).
NETPOL_FOCUS='\[sig-network\] Netpol'
NETPOL_SUBSET=(
  "should support a 'default-deny-ingress' policy"                                          # default deny, TCP and UDP
  "should allow ingress access on one named port"                                           # named ports
  "should enforce policy to allow traffic only from a different namespace, based on NamespaceSelector" # namespace selector
  "should enforce policy to allow traffic from pods within server namespace based on PodSelector"      # pod selector
  "should enforce except clause while egress access to server in CIDR block"               # ipBlock with except, egress
  "should deny egress from pods based on PodSelector"                                       # egress
  "should not allow access by TCP when a policy specifies only UDP"                         # UDP in a policy
  "should enforce updated policy"                                                           # a policy update
  "should allow ingress access from updated pod"                                            # a pod label change
)

# sctp_reason prints why this kernel cannot run SCTP, or nothing when it can.
sctp_reason() {
  if command -v python3 >/dev/null; then
    python3 -c '
import socket, sys
try:
    socket.socket(socket.AF_INET, socket.SOCK_STREAM, 132).close()
except OSError as e:
    print("socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP): %s (kernel %s)" % (e.strerror, __import__("os").uname().release))
'
  elif [ ! -e /proc/net/sctp ] && ! modinfo sctp >/dev/null 2>&1; then
    echo "no /proc/net/sctp and no sctp module (kernel $(uname -r))"
  fi
}

# lab_kubeconfig prints the running lab's kubeconfig, as 'palisade lab
# kubeconfig' does.
lab_kubeconfig() {
  if command -v palisade >/dev/null; then
    palisade lab kubeconfig
    return
  fi
  local f=${PALISADE_LAB_DIR:-/var/lib/palisade/lab}/apiserver/kubeconfig
  [ -f "$f" ] || { e2e_say "no kubeconfig: give --kubeconfig, set KUBECONFIG, or start a lab with 'palisade lab up --apiserver' ($f does not exist)"; exit 1; }
  echo "$f"
}

# regex_quote escapes what is special to a ginkgo (Go RE2) regular expression.
regex_quote() { printf '%s' "$1" | sed 's/[][\\.*+?(){}|^$]/\\&/g'; }

e2e_run() {
  local mode=$1
  shift
  local kubeconfig=${KUBECONFIG:-} focus=$NETPOL_FOCUS skip="" all=false timeout=30m
  local report_dir=${PALISADE_ARTEFACTS:-${TMPDIR:-/tmp}/palisade-artefacts}/upstream-e2e
  local extra=()
  while [ $# -gt 0 ]; do
    case $1 in
    --kubeconfig) kubeconfig=$2; shift 2 ;;
    --kubeconfig=*) kubeconfig=${1#*=}; shift ;;
    --focus) focus=$2; shift 2 ;;
    --focus=*) focus=${1#*=}; shift ;;
    --skip) skip=$2; shift 2 ;;
    --skip=*) skip=${1#*=}; shift ;;
    --all) all=true; shift ;;
    --report-dir) report_dir=$2; shift 2 ;;
    --report-dir=*) report_dir=${1#*=}; shift ;;
    --timeout) timeout=$2; shift 2 ;;
    --timeout=*) timeout=${1#*=}; shift ;;
    --) shift; extra=("$@"); break ;;
    *) e2e_say "unknown option $1 (see '$0 help')"; exit 2 ;;
    esac
  done
  [ -n "$kubeconfig" ] || kubeconfig=$(lab_kubeconfig)
  [ -f "$kubeconfig" ] || { e2e_say "kubeconfig $kubeconfig does not exist"; exit 1; }
  local bin
  bin=$(e2e_build)

  # The subset narrows the Netpol focus only; another focus runs whole.
  if ! $all && [ "$focus" = "$NETPOL_FOCUS" ]; then
    local names="" n
    for n in "${NETPOL_SUBSET[@]}"; do names+="${names:+|}$(regex_quote "$n")"; done
    focus="${focus}.*(${names})"
  fi
  local reason
  reason=$(sctp_reason)
  if [ -n "$reason" ]; then
    e2e_say "skipping [Feature:SCTPConnectivity]: $reason"
    skip="${skip:+$skip|}\[Feature:SCTPConnectivity\]"
  fi

  # The flags of a CNI's certification run (kind's and the conformance
  # image's): the skeleton provider (no cloud), no log dump over SSH, every
  # node Ready, the kube-system pods that exist running and ready.
  local args=(
    --kubeconfig="$kubeconfig"
    --provider=skeleton
    --ginkgo.focus="$focus"
    --ginkgo.timeout="$timeout"
    --ginkgo.no-color
    --disable-log-dump=true
    --allowed-not-ready-nodes=0
    --minStartupPods=0
    --node-os-distro=debian
    --dns-domain=cluster.local
    # The start-up waits are sized for clouds (30 minutes for nodes, 10 for
    # kube-system): a lab whose nodes and pods are not ready in two minutes
    # is broken, and should say so before a CI job's timeout does.
    --node-schedulable-timeout=2m
    --system-pods-startup-timeout=2m
    --system-daemonsets-startup-timeout=1m
  )
  [ -z "$skip" ] || args+=(--ginkgo.skip="$skip")
  if [ -x "${KUBECTL_CACHE}/kubectl" ]; then
    args+=(--kubectl-path="${KUBECTL_CACHE}/kubectl")
  fi
  if [ "$mode" = list ]; then
    # A dry run: ginkgo walks the specs without running a node (not even
    # the BeforeSuite), so nothing touches the cluster.
    "$bin" "${args[@]}" --ginkgo.dry-run --ginkgo.v "${extra[@]}" 2>&1 |
      sed -n -e 's/ \[[^]]*, [^]]*\]$//' -e '/^\[sig-/p' -e 's/^Ran \([0-9]*\) of \([0-9]*\) Specs.*/\1 of \2 specs selected/p'
    return
  fi
  mkdir -p "$report_dir"
  args+=(--report-dir="$report_dir" --ginkgo.v)
  e2e_say "running: $bin ${args[*]} ${extra[*]}"
  local t0 rc=0
  t0=$(date +%s)
  "$bin" "${args[@]}" "${extra[@]}" 2>&1 | tee "$report_dir/e2e.log" || rc=${PIPESTATUS[0]}
  e2e_say "finished in $(($(date +%s) - t0))s (exit $rc); JUnit: $(ls "$report_dir"/junit*.xml 2>/dev/null | tr '\n' ' ')"
  return "$rc"
}

case "${1:-}" in
build) e2e_build ;;
path) [ -x "$E2E_BIN" ] && echo "$E2E_BIN" || { e2e_say "not built: run '$0 build'"; exit 1; } ;;
run) shift; e2e_run run "$@" ;;
list) shift; e2e_run list "$@" ;;
"" | --*) e2e_run run "$@" ;;
*)
  sed -n '2,/^set -e/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//' >&2
  exit 2
  ;;
esac
