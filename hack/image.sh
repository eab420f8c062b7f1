#!/usr/bin/env bash
# The agent's container image, built without a Docker engine or a registry:
# buildah, from scratch, holding the static palisade-agent and the nft
# command knftables runs (with the shared libraries it loads, copied from
# this machine's Debian nftables package). Written as an OCI archive.
#
#   hack/image.sh [OUT]    OUT: the archive (default
#                          $PALISADE_ARTEFACTS/palisade-agent-VERSION.oci.tar,
#                          else ./palisade-agent-VERSION.oci.tar)
#
# The tag is the version in VERSION (what deploy/ names), never :latest; the
# image's labels carry the git commit. Print the archive's path, its image
# reference and size. Load it into a cluster's nodes with, e.g.:
#   kind load image-archive OUT            (kind)
#   ctr -n k8s.io images import OUT        (containerd on a node)
#   skopeo copy oci-archive:OUT docker://REGISTRY/palisade:VERSION
#
# Needs root, buildah, nft and go. buildah's storage (vfs) is a temporary
# directory removed afterwards; only its small blob-info cache stays, in
# /var/lib/containers/cache, as for any buildah push by root. The image is
# the host's architecture.
set -euo pipefail
cd "$(dirname "$0")/.."

REPO=ghcr.io/palisade-net/palisade
VERSION=$(tr -d ' \n' < VERSION)
REF=${REPO}:${VERSION}
OUT=${1:-${PALISADE_ARTEFACTS:-.}/palisade-agent-${VERSION}.oci.tar}
REVISION=$(git rev-parse HEAD 2>/dev/null || echo unknown)
DESCRIBE=$(git describe --tags --always --dirty 2>/dev/null || echo unknown)

say() { printf 'image: %s\n' "$*" >&2; }
for c in buildah go; do
  command -v "$c" >/dev/null || { say "$c is not installed (apt-get install buildah golang)"; exit 1; }
done
NFT=$(command -v nft || echo /usr/sbin/nft)
[ -x "$NFT" ] || { say "nft is not installed (apt-get install nftables)"; exit 1; }
case "$VERSION" in
  ""|latest) say "VERSION is '$VERSION': the image needs a real version"; exit 1 ;;
esac

WORK=$(mktemp -d "${TMPDIR:-/tmp}/palisade-image.XXXXXX")
BAH=(buildah --root "$WORK/storage" --runroot "$WORK/run" --storage-driver vfs)
ctr=
cleanup() {
  [ -n "$ctr" ] && "${BAH[@]}" rm "$ctr" >/dev/null 2>&1 || true
  # vfs leaves root-owned layer copies: remove them with the rest.
  rm -rf "$WORK"
}
trap cleanup EXIT

say "building palisade-agent ($DESCRIBE)"
ROOT="$WORK/rootfs"
mkdir -p "$ROOT/usr/local/bin" "$ROOT/usr/sbin" "$ROOT/tmp" "$ROOT/etc"
CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$ROOT/usr/local/bin/palisade-agent" ./cmd/palisade-agent

# nft and every library the dynamic loader maps for it, at the same paths
# (the loader itself included), so nft runs in the image as on this host.
cp -L "$NFT" "$ROOT/usr/sbin/nft"
ldd "$NFT" | awk '/=>/ {print $3} /^[[:space:]]*\// {print $1}' | sort -u | while read -r lib; do
  [ -f "$lib" ] || continue
  mkdir -p "$ROOT$(dirname "$lib")"
  cp -L "$lib" "$ROOT$lib"
done
# nft reads nothing else at run time; knftables only checks it answers.
printf 'root:x:0:0:root:/:/usr/local/bin/palisade-agent\n' > "$ROOT/etc/passwd"
chmod 1777 "$ROOT/tmp"

ctr=$("${BAH[@]}" from scratch)
"${BAH[@]}" copy "$ctr" "$ROOT/" / >/dev/null
"${BAH[@]}" config \
  --entrypoint '["/usr/local/bin/palisade-agent"]' --cmd '' \
  --env PATH=/usr/local/bin:/usr/sbin:/usr/bin \
  --os linux --arch "$(go env GOARCH)" \
  --label org.opencontainers.image.title=palisade-agent \
  --label org.opencontainers.image.version="$VERSION" \
  --label org.opencontainers.image.revision="$REVISION" \
  --label org.opencontainers.image.source=https://github.com/palisade-net/palisade \
  "$ctr"
"${BAH[@]}" commit --quiet --format oci "$ctr" "$REF" >/dev/null
mkdir -p "$(dirname "$OUT")"
rm -f "$OUT"
"${BAH[@]}" push --quiet "$REF" "oci-archive:$OUT:$REF"
size=$(du -k "$OUT" | cut -f1)
say "$REF: $OUT (${size} KiB)"
printf '%s\t%s\t%s\n' "$OUT" "$REF" "$size"
