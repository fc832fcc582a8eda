#!/usr/bin/env bash
# Build the pinned tools that the end-to-end tests run: etcd, the Kubernetes
# control plane and kubectl, kwok, Prometheus and Alertmanager, and copy the
# prometheus-operator CRDs that deploy/ needs.
#
# Usage: hack/tools.sh [component...]
#
# Components: etcd, kube, kwok, prometheus, alertmanager, crds. A binary name
# (kube-apiserver, promtool, amtool, ...) selects the component that builds it.
# Without arguments, every component is built.
#
# Each component is pinned by the go.mod and go.sum of its wrapper module under
# tools/. A component is rebuilt only when its stamp file, which records the
# Go version, the platform, the linker flags and a hash of those two files, is
# missing or differs, so a second run takes seconds. The script prints one "name path" line per binary or CRD
# file.
#
# NOTE: Prometheus is built without its web UI, whose assets are made with npm
# and are not in the module zip. The HTTP API, which the tests use, works.
#
# Environment:
#   BATCHWATCH_BIN_DIR  where binaries go (default: .cache/bin in the repository)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir="${BATCHWATCH_BIN_DIR:-$root/.cache/bin}"
crd_dir="$root/.cache/crds"
stamp_dir="$bin_dir/.stamps"

kube_version="v1.37.2"
prometheus_version="3.16.0"
alertmanager_version="0.31.1"
operator_module="github.com/prometheus-operator/prometheus-operator"
operator_version="v0.88.0"
operator_crds=(monitoring.coreos.com_servicemonitors.yaml monitoring.coreos.com_prometheusrules.yaml)

all_components=(etcd kube kwok prometheus alertmanager crds)

# binaries prints the binaries that a component builds.
binaries() {
	case "$1" in
	etcd) echo etcd ;;
	kube) echo kube-apiserver kube-controller-manager kube-scheduler kubectl ;;
	kwok) echo kwok ;;
	prometheus) echo prometheus promtool ;;
	alertmanager) echo alertmanager amtool ;;
	crds) ;;
	esac
}

# packages prints the Go packages that a component builds, in the order of
# binaries.
packages() {
	case "$1" in
	etcd) echo go.etcd.io/etcd/server/v3 ;;
	kube)
		echo k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
			k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
		;;
	kwok) echo sigs.k8s.io/kwok/cmd/kwok ;;
	prometheus) echo github.com/prometheus/prometheus/cmd/prometheus github.com/prometheus/prometheus/cmd/promtool ;;
	alertmanager) echo github.com/prometheus/alertmanager/cmd/alertmanager github.com/prometheus/alertmanager/cmd/amtool ;;
	esac
}

# ldflags prints the linker flags that set the version a binary reports,
# because a build from the module cache carries no release version.
ldflags() {
	case "$1" in
	kube)
		local minor="${kube_version#v1.}"
		minor="${minor%%.*}"
		echo "-X k8s.io/component-base/version.gitVersion=$kube_version" \
			"-X k8s.io/component-base/version.gitMajor=1" \
			"-X k8s.io/component-base/version.gitMinor=$minor" \
			"-X k8s.io/component-base/version.gitTreeState=clean"
		;;
	prometheus) echo "-X github.com/prometheus/common/version.Version=$prometheus_version" ;;
	alertmanager) echo "-X github.com/prometheus/common/version.Version=$alertmanager_version" ;;
	esac
}

# component_of maps a component or binary name to its component.
component_of() {
	local name="$1" c b
	for c in "${all_components[@]}"; do
		if [[ "$name" == "$c" ]]; then
			echo "$c"
			return
		fi
		for b in $(binaries "$c"); do
			if [[ "$name" == "$b" ]]; then
				echo "$c"
				return
			fi
		done
	done
	echo "hack/tools.sh: unknown component or binary \"$name\"; valid components: ${all_components[*]}" >&2
	return 1
}

# stamp_of prints the text that identifies one build of a component.
stamp_of() {
	local component="$1"
	if [[ "$component" == crds ]]; then
		echo "$operator_module $operator_version ${operator_crds[*]}"
		return
	fi
	local sum
	sum="$(cat "$root/tools/$component/go.mod" "$root/tools/$component/go.sum" | sha256sum | cut -d' ' -f1)"
	echo "$(go env GOVERSION) $(go env GOOS)/$(go env GOARCH) tools/$component $sum $(ldflags "$component")"
}

# up_to_date reports whether a component's stamp matches and its outputs exist.
up_to_date() {
	local component="$1" b f
	[[ -f "$stamp_dir/$component" ]] || return 1
	[[ "$(cat "$stamp_dir/$component")" == "$(stamp_of "$component")" ]] || return 1
	for b in $(binaries "$component"); do
		[[ -x "$bin_dir/$b" ]] || return 1
	done
	if [[ "$component" == crds ]]; then
		for f in "${operator_crds[@]}"; do
			[[ -f "$crd_dir/$f" ]] || return 1
		done
	fi
}

# build_tmp is the folder of the build in progress, removed on exit.
build_tmp=""
trap 'if [[ -n "$build_tmp" ]]; then rm -rf "$build_tmp"; fi' EXIT

build_go() {
	local component="$1" start b
	# Build into a temporary folder and rename afterwards, so a binary that a
	# test is running is never overwritten in place.
	build_tmp="$(mktemp -d "$bin_dir/.build-$component.XXXXXX")"
	start=$SECONDS
	echo "building $component in tools/$component" >&2
	# The etcd package path ends in /v3, which go build would name "server",
	# so every binary gets its own output path.
	local pkgs=() bins=() i
	read -r -a pkgs <<<"$(packages "$component")"
	read -r -a bins <<<"$(binaries "$component")"
	for i in "${!pkgs[@]}"; do
		CGO_ENABLED=0 go build -C "$root/tools/$component" -mod=readonly \
			-ldflags "$(ldflags "$component")" -o "$build_tmp/${bins[$i]}" "${pkgs[$i]}"
	done
	for b in $(binaries "$component"); do
		mv -f "$build_tmp/$b" "$bin_dir/$b"
	done
	rm -rf "$build_tmp"
	build_tmp=""
	echo "built $component in $((SECONDS - start)) s" >&2
}

copy_crds() {
	local json dir f
	# Download outside any module so that no go.sum is touched, and the
	# checksum database verifies the module instead.
	if ! json="$(cd / && go mod download -json "$operator_module@$operator_version")"; then
		echo "hack/tools.sh: download of $operator_module@$operator_version failed:" >&2
		echo "$json" >&2
		return 1
	fi
	dir="$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<<"$json")"
	if [[ -z "$dir" || ! -d "$dir/example/prometheus-operator-crd" ]]; then
		echo "hack/tools.sh: $operator_module@$operator_version has no example/prometheus-operator-crd folder" >&2
		return 1
	fi
	mkdir -p "$crd_dir"
	for f in "${operator_crds[@]}"; do
		install -m 0644 "$dir/example/prometheus-operator-crd/$f" "$crd_dir/$f"
	done
}

main() {
	local requested=() component b f seen=" "
	if (($# == 0)); then
		set -- "${all_components[@]}"
	fi
	for name in "$@"; do
		component="$(component_of "$name")"
		if [[ "$seen" != *" $component "* ]]; then
			requested+=("$component")
			seen+="$component "
		fi
	done

	mkdir -p "$bin_dir" "$stamp_dir"
	for component in "${requested[@]}"; do
		if up_to_date "$component"; then
			continue
		fi
		if [[ "$component" == crds ]]; then
			copy_crds
		else
			build_go "$component"
		fi
		stamp_of "$component" >"$stamp_dir/$component"
	done

	for component in "${requested[@]}"; do
		for b in $(binaries "$component"); do
			echo "$b $bin_dir/$b"
		done
		if [[ "$component" == crds ]]; then
			for f in "${operator_crds[@]}"; do
				echo "$f $crd_dir/$f"
			done
		fi
	done
}

main "$@"
