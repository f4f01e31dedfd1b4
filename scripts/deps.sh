#!/usr/bin/env bash
# Installs what Overcast and its tests need on Debian: the host tools (runc, nftables, iproute2), the real AWS
# clients the tests use as oracles (awscli, python3-boto3), and a Go toolchain new enough for go.mod (Debian's
# go plus GOTOOLCHAIN=auto fetches the pinned toolchain from the Go module proxy). Idempotent; quiet when all is
# there already.
set -euo pipefail
need=()
for p in runc nftables iproute2 awscli python3-boto3 ca-certificates curl git busybox-static debootstrap openssh-client; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if ! command -v go >/dev/null 2>&1 && [ ! -x /usr/local/go/bin/go ]; then
  need+=(golang-go)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "deps: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
