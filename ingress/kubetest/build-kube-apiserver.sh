#!/usr/bin/env bash
# Builds kube-apiserver from the k8s.io/kubernetes module into $OUT (default
# .testbin/kube-apiserver). `go install k8s.io/kubernetes/cmd/kube-apiserver@v`
# fails because k8s.io/kubernetes replaces every staging module (k8s.io/api,
# client-go, ...) with ./staging/src/...; a throwaway module that requires
# k8s.io/kubernetes and replaces each staging module with its published
# v0.<minor>.<patch> version builds the same binary.
#
# Idempotent: skips the build when $OUT exists and reports the wanted version.
set -euo pipefail
KUBE_VERSION="${KUBE_VERSION:-v1.37.2}"
OUT="${OUT:-$PWD/.testbin/kube-apiserver}"
case "$OUT" in /*) ;; *) OUT="$PWD/$OUT" ;; esac

if [ -x "$OUT" ] && "$OUT" --version 2>/dev/null | grep -qx "Kubernetes $KUBE_VERSION"; then
  echo "kube-apiserver $KUBE_VERSION already at $OUT"
  exit 0
fi

staging="v0.${KUBE_VERSION#v1.}"
minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
start=$(date +%s)
go mod init weir.local/kube-apiserver-build >/dev/null 2>&1
kmod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
mods=$(sed -n 's#^\t\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$kmod")
{
  echo "require k8s.io/kubernetes $KUBE_VERSION"
  echo "replace ("
  for m in $mods; do echo "	$m => $m $staging"; done
  echo ")"
} >> go.mod
# The staging modules that kube-apiserver does not import may not exist at
# $staging; pruning drops them, so only the needed ones are downloaded.
printf 'package main\nimport _ "k8s.io/kubernetes/cmd/kube-apiserver"\n' > tools.go
go mod tidy >/dev/null
mkdir -p "$(dirname "$OUT")"
# ldflags stamp the version the binary reports (the build normally sets it via hack/lib/version.sh).
vpkg=k8s.io/component-base/version
CGO_ENABLED=0 go build -trimpath -o "$OUT.tmp" \
  -ldflags "-s -w -X $vpkg.gitVersion=$KUBE_VERSION -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=$minor" \
  k8s.io/kubernetes/cmd/kube-apiserver
mv "$OUT.tmp" "$OUT"
echo "built kube-apiserver $KUBE_VERSION at $OUT in $(( $(date +%s) - start ))s"
