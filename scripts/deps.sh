#!/usr/bin/env bash
# Installs what Overcast and its tests need on Debian: the host tools (runc, nftables, iproute2), the real AWS
# clients the tests use as oracles (awscli, python3-boto3), and a Go toolchain new enough for go.mod (Debian's
# go plus GOTOOLCHAIN=auto fetches the pinned toolchain from the Go module proxy). Idempotent; quiet when all is
# there already.
set -euo pipefail
need=()
for p in runc nftables iproute2 awscli python3-boto3 ca-certificates curl git busybox-static debootstrap openssh-client criu gcc libc6-dev; do
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

# CRIU hibernates machines. Debian 12's criu (3.17) fails every checkpoint on kernels from 6.13 on, whose vDSO
# comes in two mappings (CRIU learnt that in 4.1), and CRIU before 4.2 cannot save a TCP socket on kernels from
# 6.16 on (checkpoint-restore/criu#2705), sshd's listening one included. There, forky's criu 4.2 is unpacked,
# with trixie's C library (the oldest it runs on), under /usr/local/lib/overcast-criu, and /usr/local/sbin/criu
# (first in PATH) runs it through that library's loader; its other libraries are Debian 12's.
criu_ok() {
  local v
  v=$(criu --version 2>/dev/null | sed -n 's/^Version: //p')
  [ -n "$v" ] && dpkg --compare-versions "$v" ge 4.2 && criu check >/dev/null 2>&1
}
if ! criu_ok; then
  echo "deps: installing CRIU 4.2 from Debian forky (the installed criu cannot checkpoint on this kernel)"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  mirror=$(grep -rhoE 'https?://[^ ]*/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null | sed -n 1p | tr -d ' ' || true)
  mirror=${mirror:-http://deb.debian.org/debian}
  for suite in trixie forky; do
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirror%/} $suite main"
  done >"$tmp/sources.list"
  mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tmp/debs"
  apt_opts=(-o Dir::Etc::SourceList="$tmp/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o Dir::State::Lists="$tmp/lists" -o Dir::Cache="$tmp/cache" -o APT::Sandbox::User=root)
  apt-get "${apt_opts[@]}" update -qq
  (cd "$tmp/debs" && apt-get "${apt_opts[@]}" download -qq criu/forky libcompel1/forky libnet9/forky libnl-3-200/forky libc6/trixie)
  dir=/usr/local/lib/overcast-criu
  rm -rf "$dir" && mkdir -p "$dir"
  for deb in "$tmp"/debs/*.deb; do dpkg-deb -x "$deb" "$dir"; done
  rm -f /usr/local/sbin/criu
  hash -r
fi
# The wrapper preloads scripts/criu/prlimit-shim.c (see there why), built again whenever it changes.
criu_dir=/usr/local/lib/overcast-criu
shim_src=$(dirname "$0")/criu/prlimit-shim.c
shim_sum=$(sha256sum "$shim_src" | cut -d' ' -f1)
if [ -d "$criu_dir" ] && [ "$(cat "$criu_dir/prlimit-shim.sum" 2>/dev/null)" != "$shim_sum" -o ! -x /usr/local/sbin/criu ]; then
  gcc -O2 -shared -fPIC -Wall -o "$criu_dir/prlimit-shim.so" "$shim_src" -ldl
  echo "$shim_sum" >"$criu_dir/prlimit-shim.sum"
  lib=$criu_dir/usr/lib/x86_64-linux-gnu
  printf '#!/bin/sh\n# Installed by Overcast'"'"'s scripts/deps.sh: forky'"'"'s CRIU with its own C library and the prlimit shim.\nexec %s/ld-linux-x86-64.so.2 --preload %s/prlimit-shim.so --library-path %s:/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu %s/usr/sbin/criu "$@"\n' \
    "$lib" "$criu_dir" "$lib" "$criu_dir" >/usr/local/sbin/criu
  chmod 755 /usr/local/sbin/criu
  hash -r
  criu_ok || { echo "deps: criu still cannot checkpoint here:"; criu --version; criu check; exit 1; }
fi
