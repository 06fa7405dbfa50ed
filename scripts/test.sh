#!/usr/bin/env bash
# Runs every check and test: gofmt, go vet, a build and go vet for macOS,
# Windows and linux/arm64 (the tests themselves run on Linux), the whole
# test suite with the race detector (integration tests start real Prosody
# servers), and a short run of every fuzz target. With CI=true,
# integration tests never skip.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

echo "== gofmt"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "gofmt: these files need formatting:" >&2
	echo "$unformatted" >&2
	exit 1
fi

echo "== go vet"
go vet ./...

echo "== cross-compile and vet (macOS, Windows, linux/arm64)"
# vet too: it type-checks the tests, which go build skips (a Unix-only
# call in a test without a build tag breaks the tests on other systems).
for target in darwin/amd64 darwin/arm64 windows/amd64 linux/arm64; do
	GOOS=${target%/*} GOARCH=${target#*/} go build -o /dev/null ./... || {
		echo "cross-compile: the module does not build for $target" >&2
		exit 1
	}
	GOOS=${target%/*} GOARCH=${target#*/} go vet ./... || {
		echo "cross vet: go vet fails for $target (Unix-only tests need a build tag: _unix_test.go or //go:build unix)" >&2
		exit 1
	}
done

echo "== go test -race"
go test -race -count=1 -timeout 12m ./...

echo "== fuzz (short)"
# A count, not a duration: with a duration, Go 1.26's fuzz coordinator can
# report a spurious "context deadline exceeded" at the deadline on a loaded
# machine (go.dev/issue/75804, fixed in Go 1.27); it happened here twice.
FUZZTIME=${FUZZTIME:-10000x}
fuzzlog=$(mktemp)
trap 'rm -f "$fuzzlog"' EXIT
for pkg in $(go list ./...); do
	for fuzz in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		echo "-- $pkg $fuzz"
		if ! go test -run '^$' -fuzz "^${fuzz}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime 5s "$pkg" >"$fuzzlog" 2>&1; then
			cat "$fuzzlog" >&2
			echo "fuzz: $fuzz failed (a failing input, if one was found, is in the package's testdata/fuzz/$fuzz)" >&2
			exit 1
		fi
	done
done
echo "all checks passed"
