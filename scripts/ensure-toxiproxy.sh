#!/usr/bin/env bash
# ensure-toxiproxy: make sure toxiproxy-cli v2.5.0, the peer poolside
# proxy's toxiproxy API is tested against, is installed in DIR (a cache
# outside the repository), building it with go install when it is
# missing. If it cannot, it says so: under CI=true that is an error (the
# tests must not pass by skipping); otherwise the toxiproxy-cli test skips.
#
#   scripts/ensure-toxiproxy.sh DIR     (make test passes the cache's)
set -euo pipefail
dir=${1:?usage: ensure-toxiproxy.sh DIR}
version=v2.5.0
[ -x "$dir/cli" ] && exit 0
mkdir -p "$dir"
echo "ensure-toxiproxy: installing toxiproxy-cli $version into $dir (go install)"
if GOBIN="$dir" go install "github.com/Shopify/toxiproxy/v2/cmd/cli@$version"; then
	exit 0
fi
msg="ensure-toxiproxy: could not install toxiproxy-cli $version (go install github.com/Shopify/toxiproxy/v2/cmd/cli@$version needs the Go module proxy); install it and set POOLSIDE_TOXIPROXY_CLI to its path"
if [ "${CI:-}" = true ]; then
	echo "$msg" >&2
	exit 1
fi
echo "$msg; the toxiproxy-cli test will skip"
