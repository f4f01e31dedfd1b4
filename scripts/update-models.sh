#!/usr/bin/env bash
# Pins the botocore service models Overcast serves. It downloads the newest python3-botocore that the Debian
# archive serves (sid), extracts the service-2.json of each served service, strips the documentation text and
# writes api/models/<service>.json. Run it only to move the pin; the result is committed.
set -euo pipefail
cd "$(dirname "$0")/.."
# botocore names CloudWatch (endpoint prefix "monitoring") "cloudwatch".
services="ec2 iam sts s3 ecs ecr lambda batch autoscaling elbv2 logs cloudwatch events kms"
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
echo "deb $mirror sid main" >"$work/sources.list"
opts=(-o Dir::Etc::SourceList="$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
      -o Dir::State::Lists="$work/lists" -o Dir::Cache="$work/cache")
apt-get "${opts[@]}" update -qq 2>/dev/null
(cd "$work" && apt-get "${opts[@]}" download python3-botocore >/dev/null 2>&1)
dpkg-deb -x "$work"/python3-botocore_*.deb "$work/x"
version=$(dpkg-deb -f "$work"/python3-botocore_*.deb Version)
data="$work/x/usr/lib/python3/dist-packages/botocore/data"
for s in $services; do
  f=$(ls -d "$data/$s"/*/ | sort | tail -n 1)
  python3 - "$f/service-2.json" "api/models/$s.json" <<'PY'
import json, sys
src, dst = sys.argv[1], sys.argv[2]
def strip(v):
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items() if k not in ("documentation", "documentationUrl", "deprecatedMessage", "examples")}
    if isinstance(v, list):
        return [strip(x) for x in v]
    return v
m = strip(json.load(open(src)))
with open(dst, "w") as f:
    json.dump(m, f, indent=1, sort_keys=True)
    f.write("\n")
PY
done
echo "$version" > api/models/BOTOCORE_VERSION
echo "pinned botocore $version"
