#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this).
# It installs what the tests need on a fresh Debian machine, then runs the
# static checks and every Go test. Run it as root from the repository root.
set -euo pipefail
cd "$(dirname "$0")/.."

STATICCHECK=honnef.co/go/tools/cmd/staticcheck@v0.8.2

step() { printf '\n==> %s\n' "$*"; }

# The lab's pods run busybox applets, netcat-openbsd and curl; services and
# policies are nftables rules; the UI's tests need a browser. Install what is missing (as root, Debian).
need=()
{ command -v nft || [ -x /usr/sbin/nft ]; } >/dev/null || need+=(nftables)
command -v busybox >/dev/null || need+=(busybox)
command -v nc.openbsd >/dev/null || need+=(netcat-openbsd)
command -v curl >/dev/null || need+=(curl)
command -v ip >/dev/null || need+=(iproute2)
# kube-proxy's iptables mode (the nft backend), run inside lab nodes only.
command -v iptables >/dev/null || need+=(iptables)
# The agent's image is built from scratch with buildah (deploy/, hack/image.sh).
command -v buildah >/dev/null || need+=(buildah)
# palisade ui's browser tests drive headless Chromium.
command -v chromium >/dev/null || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  step "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi

# Namespaces that exist before the tests are not theirs to answer for.
netns_before=$(ip netns list 2>/dev/null | awk '{print $1}' | sort || true)

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './vendor/*'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

step "go mod tidy (must be clean)"
go mod tidy -diff

step "go vet"
go vet ./...

step "staticcheck"
go run "$STATICCHECK" ./...

step "kube-apiserver, kube-proxy + etcd for the agent's and the lab's tests (built once, cached in \$HOME/.cache/palisade)"
hack/testenv.sh build >/dev/null
# The lab's kubectl test drives the machine's kubectl; a machine without
# one gets kubectl of the same Kubernetes release, built once and cached.
if ! command -v kubectl >/dev/null; then
  step "kubectl (none on this machine: building it once, cached in \$HOME/.cache/palisade)"
  PATH="$(hack/testenv.sh kubectl):$PATH"
  export PATH
fi

step "the reference CNI plugins for the lab's --cni modes (built once, cached in \$HOME/.cache/palisade)"
hack/cni.sh build >/dev/null

step "upstream's e2e.test for the Netpol run (built once, cached in \$HOME/.cache/palisade)"
hack/upstream-e2e.sh build >/dev/null

# The chart's tests render it with helm (deploy/).
if ! command -v helm >/dev/null; then
  step "helm (none on this machine: building it once, cached in \$HOME/.cache/palisade)"
  PATH="$(hack/helm.sh):$PATH"
  export PATH
fi

step "go test"
go test -count=1 -timeout 30m ./...

# Upstream's own NetworkPolicy e2e tests against 'palisade lab up
# --apiserver': the representative subset, up to 10 minutes, so a step of
# its own rather than part of the default run. JUnit goes to
# $PALISADE_ARTEFACTS/upstream-e2e.
step "upstream e2e.test Netpol subset against the lab"
PALISADE_UPSTREAM_E2E=1 go test -count=1 -timeout 20m ./internal/lab/ -run '^TestUpstreamNetpolE2E$' -v

step "no network namespace left behind"
left=$(comm -13 <(echo "$netns_before") <(ip netns list 2>/dev/null | awk '{print $1}' | sort) | grep -E '^(pal-|palt-|pltest-|pxtest-)' || true)
if [ -n "$left" ]; then
  echo "tests leaked network namespaces:"; echo "$left"; exit 1
fi
