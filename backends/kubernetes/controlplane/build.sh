#!/usr/bin/env bash
# Build the loopback test control plane: kube-apiserver (+ kube-scheduler for the stock baseline)
# v1.20.2 from Debian bookworm's own `kubernetes` source package, on Debian's etcd-server.
# Why this way: no Docker engine, kind, k3s or kwok binary is available on the CI machine kind,
# and no package ships kube-apiserver; Debian's source tarball includes vendor/ and builds
# offline with Debian's Go 1.19 in GOPATH mode. Binaries are cached outside the clone.
set -euo pipefail

K8S_VERSION=v1.20.2
DEB_VERSION="1.20.5+really1.20.2-1.1+deb12u1"
CACHE="${SYNERGAI_K8S_CACHE:-$HOME/.cache/synergai/k8s-$K8S_VERSION}"
BIN="$CACHE/bin"

need_pkgs=()
command -v go >/dev/null || need_pkgs+=(golang-go)
command -v etcd >/dev/null || need_pkgs+=(etcd-server)
command -v rsync >/dev/null || need_pkgs+=(rsync)
command -v openssl >/dev/null || need_pkgs+=(openssl)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "build.sh: installing ${need_pkgs[*]} from apt" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

if [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/kube-scheduler" ] \
   && "$BIN/kube-apiserver" --version 2>/dev/null | grep -q "$K8S_VERSION"; then
  echo "build.sh: cached $BIN ($("$BIN/kube-apiserver" --version))" >&2
  exit 0
fi

WORK="$CACHE/work"
rm -rf "$WORK"; mkdir -p "$WORK/apt/lists/partial" "$WORK/apt/parts" "$BIN"
# A throwaway deb-src list: the machine's own apt configuration stays untouched.
cat > "$WORK/apt/sources.list" <<SRC
deb-src http://deb.debian.org/debian bookworm main
deb-src http://deb.debian.org/debian bookworm-updates main
deb-src http://deb.debian.org/debian-security bookworm-security main
SRC
APT_OPTS=(-o "Dir::Etc::SourceList=$WORK/apt/sources.list" -o "Dir::Etc::SourceParts=$WORK/apt/parts"
          -o "Dir::State::Lists=$WORK/apt/lists" -o "APT::Sandbox::User=root")
apt-get "${APT_OPTS[@]}" update -qq >/dev/null
( cd "$WORK" && apt-get "${APT_OPTS[@]}" source --download-only -qq "kubernetes=$DEB_VERSION" >/dev/null )
ORIG=$(ls "$WORK"/kubernetes_*.orig.tar.* | head -1)
mkdir -p "$WORK/gopath/src/k8s.io"
tar -xf "$ORIG" -C "$WORK"
SRC_DIR=$(find "$WORK" -maxdepth 1 -mindepth 1 -type d -name 'kubernetes-*' | head -1)
ln -sfn "$SRC_DIR" "$WORK/gopath/src/k8s.io/kubernetes"

export GOPATH="$WORK/gopath" GO111MODULE=off GOFLAGS= GOCACHE="$CACHE/gocache" CGO_ENABLED=0
cd "$GOPATH/src/k8s.io/kubernetes"
mkdir -p _output/bin
# The tarball lacks pkg/generated/openapi; generate it with the vendored generator.
go build -o _output/bin/openapi-gen ./vendor/k8s.io/kube-openapi/cmd/openapi-gen
make gen_openapi >/dev/null

V=k8s.io/kubernetes/vendor/k8s.io
LDFLAGS="-s -w"
for pkg in $V/component-base/version $V/client-go/pkg/version; do
  LDFLAGS+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=20"
  LDFLAGS+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
for cmd in kube-apiserver kube-scheduler; do
  echo "build.sh: compiling $cmd" >&2
  go build -ldflags "$LDFLAGS" -o "$BIN/$cmd.tmp" "./cmd/$cmd"
  mv "$BIN/$cmd.tmp" "$BIN/$cmd"
done
cd /; rm -rf "$WORK"
echo "build.sh: built $("$BIN/kube-apiserver" --version) into $BIN" >&2
