#!/usr/bin/env bash
# Coverage-guided fuzzing of template rendering with libFuzzer, on stable Rust: the same
# instrumentation cargo-fuzz adds (SanitizerCoverage via stable -C flags), without the nightly-only
# sanitizers. Seeds: every template of ../tests/data/template_corpus.txt.
#   crates/sealant-api/fuzz/run.sh [SECONDS]      (default 60)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
secs=${1:-60}
target=$(rustc -vV | sed -n 's/^host: //p')
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$here/target}
# --target keeps these flags off build scripts and proc macros.
RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks" \
  cargo build --locked --release --manifest-path "$here/Cargo.toml" --target "$target" --bin render
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
# Input layout of the target: [length of a][length of b][template]; seed each template with
# a few length pairs.
python3 - "$here/../tests/data/template_corpus.txt" "$corpus" <<'PY'
import sys, pathlib
src, out = sys.argv[1], pathlib.Path(sys.argv[2])
lines = [l for l in open(src, encoding="utf-8").read().split("\n") if l and not l.startswith("#")]
for i, t in enumerate(lines):
    for j, (a, b) in enumerate([(0, 0), (3, 17), (64, 200)]):
        (out / f"{i:04}-{j}").write_bytes(bytes([a, b]) + t.encode())
PY
# A crashing input is written under the target directory, not into the working tree.
artifacts="$CARGO_TARGET_DIR/fuzz-artifacts/"
mkdir -p "$artifacts"
"$CARGO_TARGET_DIR/$target/release/render" "$corpus" -max_total_time="$secs" -rss_limit_mb=2048 \
  -max_len=4096 -print_final_stats=1 -artifact_prefix="$artifacts"
