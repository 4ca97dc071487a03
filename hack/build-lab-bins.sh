#!/usr/bin/env bash
# Builds the control-plane binaries of the local lab (etcd, kube-apiserver,
# kube-controller-manager, kubectl) from this module's own dependency graph and caches them in
# .cache/lab-bin/<key>/, keyed by the Kubernetes version, the etcd version and the Go version, so a
# warm run costs nothing and a version bump rebuilds. Prints the cache folder on stdout.
#
# Our own scheduler is not cached here: it changes with our code and is built by `make build`.
set -euo pipefail
cd "$(dirname "$0")/.."

k8s_version=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)
etcd_version=$(go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)
go_version=$(go env GOVERSION)
key="k8s-${k8s_version}_etcd-${etcd_version}_${go_version}"
out="$(pwd)/.cache/lab-bin/${key}"

if [[ -x "${out}/kube-apiserver" && -x "${out}/kube-controller-manager" && -x "${out}/kubectl" && -x "${out}/etcd" ]]; then
  echo "${out}"
  exit 0
fi

minor=${k8s_version#v1.}; minor=${minor%%.*}
build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
ldflags=""
# Without these the binaries report v0.0.0-master+$Format:%H$ and kubectl version refuses to parse it.
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X ${pkg}.gitVersion=${k8s_version} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor}"
  ldflags+=" -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=${build_date}"
done

tmp="${out}.tmp"
rm -rf "${tmp}"
mkdir -p "${tmp}"
echo "building lab binaries into ${out} (a cold build takes about 20 minutes on 2 cores)" >&2
# One go build for all four lets the toolchain share compiled packages between them.
go build -ldflags "${ldflags}" -o "${tmp}/" \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kubectl \
  go.etcd.io/etcd/server/v3 >&2
# go names a binary after the last path element that is not a major-version suffix.
mv "${tmp}/server" "${tmp}/etcd"
rm -rf "${out}"
mv "${tmp}" "${out}"
echo "${out}"
