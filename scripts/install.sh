#!/usr/bin/env bash
# One command from a fresh Debian machine to a running Overcast: installs the dependencies, builds the binary
# into ./bin/overcast and starts it on 127.0.0.1:4566 with its embedded defaults (account 000000000000, root
# keys test/test, data under ./data). Extra arguments go to `overcast serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
scripts/deps.sh
CGO_ENABLED=0 go build -o bin/overcast ./cmd/overcast  # static: it is also every machine's init
exec bin/overcast serve --data-dir "${OVERCAST_DATA_DIR:-./data}" "$@"
