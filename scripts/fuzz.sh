#!/usr/bin/env bash
# Parser fuzzing (issue 11, part 3): builds the cargo-fuzz workspace in fuzz/
# and runs each libFuzzer target for a set time, then reports per target the
# executions, executions per second, coverage (edges, features), corpus size
# and any crash. The target bodies are fuzz/targets/src/lib.rs.
#
#   scripts/fuzz.sh [seconds per target, default 60] [target ...]
#
# Runs on stable Rust: cargo-fuzz passes nightly-only flags, which
# RUSTC_BOOTSTRAP=1 allows. Instrumented without a sanitizer by default (the
# code under test is safe Rust; several times the executions per second);
# FUZZ_SANITIZER=address for ASan. New corpus entries go to fuzz/corpus/<t>/
# (not committed), the committed seeds in fuzz/seeds/<t>/ are read too, and a
# crash is saved (minimised input) under fuzz/artifacts/<t>/: make it a
# regression test beside the parser (docs/SECURITY.md, "Fuzzing").
# Exit status: 1 if any target crashed.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

secs="${1:-60}"
shift || true
if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^edgedesk-fuzz$')
fi
sanitizer="${FUZZ_SANITIZER:-none}"
export RUSTC_BOOTSTRAP=1

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "== installing cargo-fuzz (crates.io)"
  cargo install cargo-fuzz --locked
fi

echo "== build (sanitizer: $sanitizer)"
start=$(date +%s)
cargo fuzz build -s "$sanitizer"
echo "build: $(( $(date +%s) - start )) s"

logs="$(mktemp -d)"
crashed=0
printf '\n%-12s %10s %9s %7s %7s %6s  %s\n' target execs "exec/s" cov ft corpus result
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "seeds/$t"
  log="$logs/$t.log"
  status=ok
  if ! cargo fuzz run -s "$sanitizer" "$t" "corpus/$t" "seeds/$t" -- \
      -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 >"$log" 2>&1; then
    status="CRASH: $(grep -o 'artifacts/[^ ]*' "$log" | head -n 1 || echo "see $log")"
    crashed=1
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
  printf '%-12s %10s %9s %7s %7s %6s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$status"
done
echo "logs: $logs"
exit "$crashed"
