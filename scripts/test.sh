#!/usr/bin/env bash
# The whole test suite: dependencies, generated code freshness, vet, unit and wire tests, a short fuzz of every
# decoder, and the end-to-end tests that drive a real Overcast with aws-sdk-go-v2, the AWS CLI and boto3.
# Tests that need root run here; they are never skipped in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
scripts/deps.sh

echo "== generated code is current"
go generate ./api
if [ -n "$(git status --porcelain -- api 2>/dev/null)" ]; then
  git status --porcelain -- api | head
  echo "generated code is stale: run 'go generate ./api' and commit" >&2
  exit 1
fi

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
  echo "not gofmt-ed: $unformatted" >&2
  exit 1
fi

echo "== vet"
go vet ./...

echo "== tests"
go test -count=1 -timeout 20m ./...

echo "== fuzz (brief)"
fuzztime="${FUZZTIME:-5s}"
for pkg in $(go list ./internal/... ./api/...); do
  for f in $(go test -list 'Fuzz.*' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
    echo "fuzz $pkg $f"
    # Quiet when it passes; a failure shows the fuzzer's output (the failing input, or why the run ended).
    # The go command can end a short run with "context deadline exceeded" when the time runs out while it
    # minimizes a new input, writing no failing input (a known quirk of go test -fuzz): such a run is made once
    # more.
    for try in 1 2; do
      if out=$(go test -run '^$' -fuzz "^${f}\$" -fuzztime "$fuzztime" "$pkg" 2>&1); then
        break
      fi
      if [ "$try" = 1 ] && ! grep -q 'Failing input written' <<<"$out" && grep -q 'context deadline exceeded' <<<"$out"; then
        echo "fuzz $pkg $f: the run ended on its deadline without a failing input; running it again"
        continue
      fi
      printf '%s\n' "$out" | tail -40
      exit 1
    done
  done
done
echo "fuzz done"
