#!/usr/bin/env bash
# helm, for the chart's tests (deploy/): built once from the Go module proxy
# and cached, as hack/testenv.sh does for kubectl. Print its directory.
#   PATH="$(hack/helm.sh):$PATH"
set -euo pipefail
HELM_VERSION=v4.3.2
DIR=${HOME}/.cache/palisade/helm-${HELM_VERSION}
if [ ! -x "$DIR/helm" ]; then
  printf 'helm: building helm %s once into %s\n' "$HELM_VERSION" "$DIR" >&2
  mkdir -p "$DIR"
  # Outside this module, so its go.mod is neither read nor changed.
  (cd / && GOFLAGS= GOBIN="$DIR" go install "helm.sh/helm/v4/cmd/helm@${HELM_VERSION}")
fi
echo "$DIR"
