#!/bin/sh
# Every test, then the black-box HTTP and engine suites again on PostgreSQL.
# Run through test/postgres-env.ts, which provides WHARF_TEST_POSTGRES_URL.
set -eu
run_tests() {
  node --import tsx --test --test-concurrency=2 --test-timeout=300000 "$@"
}
run_tests $(find test examples -name '*.test.ts' | sort)
WHARF_TEST_STORE=postgres run_tests test/http/*.test.ts test/engine/*.test.ts
