#!/usr/bin/env bash
# make packages: .deb and .rpm of edgegw and edgegw-console for linux/amd64 and linux/arm64 in dist/.
# nfpm is pinned at v2.45.2 (later releases do not build from the module proxy here) and installed into
# bin/tools/. The packages are reproducible: the same commit gives byte-identical files (static,
# -trimpath builds; every time stamp is SOURCE_DATE_EPOCH, the commit's time).
#   ARCHS="amd64"  only some architectures      PKG_VERSION=...  another version (tests)
#   DIST=dir       another output directory      FORMATS="deb"    only some formats
set -euo pipefail
cd "$(dirname "$0")/.."
NFPM_VERSION=v2.45.2
ARCHS=${ARCHS:-amd64 arm64}
FORMATS=${FORMATS:-deb rpm}
DIST=${DIST:-dist}
PKG_VERSION=${PKG_VERSION:-$(./scripts/version.sh)}
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
export PKG_VERSION SOURCE_DATE_EPOCH

nfpm=bin/tools/nfpm
if ! go version -m "$nfpm" 2>/dev/null | grep -q "^[[:space:]]*mod[[:space:]]*github.com/goreleaser/nfpm/v2[[:space:]]*$NFPM_VERSION[[:space:]]"; then
  echo "packages: installing nfpm $NFPM_VERSION into bin/tools" >&2
  GOBIN="$PWD/bin/tools" CGO_ENABLED=0 go install "github.com/goreleaser/nfpm/v2/cmd/nfpm@$NFPM_VERSION"
fi

mkdir -p "$DIST"
for arch in $ARCHS; do
  build="$DIST/build/linux-$arch"
  mkdir -p "$build"
  for cmd in edgegw edgegw-console; do
    CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -trimpath -buildvcs=false -tags gosnmp_nodebug \
      -ldflags "-s -w -X main.version=$PKG_VERSION" -o "$build/$cmd" "./cmd/$cmd"
  done
  for format in $FORMATS; do
    for spec in packaging/nfpm.yaml packaging/nfpm-console.yaml; do
      ARCH=$arch BUILD=$build "$nfpm" package --config "$spec" --packager "$format" --target "$DIST/" >/dev/null
    done
  done
done
# What was made, for the log (and for comparing two builds of one commit).
for f in "$DIST"/*; do
  case $f in
  *"$PKG_VERSION"*.deb | *"$PKG_VERSION"*.rpm)
    printf '%s  %9d  %s\n' "$(sha256sum "$f" | cut -c1-16)" "$(stat -c %s "$f")" "$f"
    ;;
  esac
done
