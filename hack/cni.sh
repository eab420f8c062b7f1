#!/usr/bin/env bash
# The reference CNI plugins (github.com/containernetworking/plugins) the lab
# wires pods with under 'lab up --cni bridge|ptp', built from the Go module
# proxy once and cached.
#
#   hack/cni.sh build     build the plugins unless cached; print their directory
#   hack/cni.sh path      print the cache directory (exit 1 when not built)
#
# The cache is $HOME/.cache/palisade/cni-<version>/ (override with
# PALISADE_CNI_PATH). The lab and its tests find the plugins there, or
# through PALISADE_CNI_PATH; the directory is the CNI_PATH they exec from.
set -euo pipefail

CNI_PLUGINS_VERSION=v1.10.0
CACHE=${PALISADE_CNI_PATH:-${HOME}/.cache/palisade/cni-${CNI_PLUGINS_VERSION}}
# Only what the lab uses: the two interface plugins and their IPAM. (The
# lab brings a pod's loopback up itself, so the loopback plugin is not run.)
PLUGINS="main/bridge main/ptp ipam/host-local"

say() { printf 'cni: %s\n' "$*" >&2; }

built() {
  local p
  for p in $PLUGINS; do [ -x "$CACHE/$(basename "$p")" ] || return 1; done
}

build() {
  if built; then
    echo "$CACHE"
    return
  fi
  command -v go >/dev/null || { say "go is not installed"; exit 1; }
  local start p n=0 total
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  start=$(date +%s)
  export GOFLAGS=-mod=mod GOWORK=off
  total=$(echo "$PLUGINS" | wc -w)
  say "containernetworking/plugins ${CNI_PLUGINS_VERSION}: resolving the module"
  (
    cd "$work"
    printf 'module palisade.test/cni\n\ngo 1.26\n\nrequire github.com/containernetworking/plugins %s\n' "$CNI_PLUGINS_VERSION" >go.mod
    {
      printf '//go:build tools\n\npackage tools\n\nimport (\n'
      for p in $PLUGINS; do printf '\t_ "github.com/containernetworking/plugins/plugins/%s"\n' "$p"; done
      printf ')\n'
    } >tools.go
    go mod tidy >/dev/null 2>&1 || go mod tidy
    for p in $PLUGINS; do
      n=$((n + 1))
      say "[$n/$total] $(basename "$p"): compiling"
      # Static, as the upstream release builds them: the plugins run in
      # the lab node's namespace and need nothing from the host but a kernel.
      CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=${CNI_PLUGINS_VERSION}" \
        -o "$work/bin/$(basename "$p")" "github.com/containernetworking/plugins/plugins/$p"
    done
  )
  # Publish whole or not at all.
  mkdir -p "$(dirname "$CACHE")"
  rm -rf "$CACHE.tmp"
  mv "$work/bin" "$CACHE.tmp"
  rm -rf "$CACHE"
  mv "$CACHE.tmp" "$CACHE"
  say "built in $(($(date +%s) - start))s into $CACHE"
  echo "$CACHE"
}

case "${1:-}" in
build) build ;;
path) built && echo "$CACHE" || { say "not built: run '$0 build'"; exit 1; } ;;
*)
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
  ;;
esac
