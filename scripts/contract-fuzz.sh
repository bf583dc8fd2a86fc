#!/usr/bin/env bash
# Contract fuzzing, the long run (issue 11 part 2): schemathesis generates
# requests from openapi.yaml against the running app, as anonymous, customer,
# operator and admin, and fails on any 5xx, undocumented status, wrong
# content type or body that does not match its schema. CI runs the same test
# bounded (`cargo test --release -p edgedesk-e2e --test authz`); this runs
# every phase (examples, coverage, fuzzing) with many more cases per operation.
#
#   scripts/contract-fuzz.sh            # 100 cases per operation, a random seed
#   EXAMPLES=500 SEED=42 scripts/contract-fuzz.sh
#
# Needs schemathesis: pip install schemathesis==4.32.5 (AUTHZ_ST names another
# `st` command). A failure prints schemathesis' report with a curl line and
# the seed to replay it.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v "${AUTHZ_ST:-st}" >/dev/null 2>&1; then
  echo "schemathesis is missing: pip install schemathesis==4.32.5" >&2
  exit 1
fi
examples="${EXAMPLES:-100}"
seed="${SEED:-$RANDOM$RANDOM}"
echo "contract fuzz: $examples cases per operation, seed $seed"
AUTHZ_FUZZ_EXAMPLES="$examples" \
AUTHZ_FUZZ_SEED="$seed" \
AUTHZ_FUZZ_PHASES="${PHASES:-examples,coverage,fuzzing}" \
  cargo test --release -p edgedesk-e2e --test authz -- --nocapture \
  contract::schemathesis_finds_no_5xx_and_no_schema_mismatch_for_any_role
