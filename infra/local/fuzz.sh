#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer through cargo-fuzz, nightly) of every parser of outside input:
# the targets in tests/fuzz/fuzz_targets, entry points in common/src/fuzzing.rs.
#
#   infra/local/fuzz.sh --runs 10000000        # `make fuzz`: executions per target
#   infra/local/fuzz.sh --secs 15              # `make test`: seconds per target
#   infra/local/fuzz.sh --secs 60 wire_magento # some targets only
#
# Installs cargo-fuzz into ~/.cargo/bin when missing. Each target starts from its seeds in
# tests/fuzz/corpus/<target> (read only) plus what earlier runs found, kept outside the repository
# in ~/.cache/orderbridge/fuzz-corpus/<target>. A panic, an allocation over 2 GiB
# (-rss_limit_mb/-malloc_limit_mb) or an input taking over 10 s (-timeout) is a crash: libFuzzer
# writes it to tests/fuzz/artifacts/<target>/ (git-ignored) and this script exits non-zero.
# Prints executions, wall time and crashes per target.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

usage() {
    echo "usage: $0 (--runs N | --secs N) [target...]" >&2
    exit 2
}

runs="" secs=""
targets=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --runs) runs="${2:?}"; shift 2 ;;
        --secs) secs="${2:?}"; shift 2 ;;
        -h | --help) usage ;;
        -*) usage ;;
        *) targets+=("$1"); shift ;;
    esac
done
[[ -n "$runs" || -n "$secs" ]] || usage

FUZZ_DIR=tests/fuzz
# AddressSanitizer by default; FUZZ_SANITIZER=none for long runs (`make fuzz`): the parsers are safe
# Rust, so ASan has nothing of ours to check and only slows each execution, while a panic, an
# overflow (debug assertions stay on), a hang and an allocation past -rss_limit_mb are caught
# without it. Each sanitizer builds into its own target dir so switching does not rebuild.
SANITIZER="${FUZZ_SANITIZER:-address}"
case "$SANITIZER" in
    address | none) ;;
    *) echo "fuzz: FUZZ_SANITIZER must be address or none" >&2; exit 2 ;;
esac
target_dir="$HOME/.cache/orderbridge/fuzz-target"
[[ "$SANITIZER" == address ]] || target_dir+="-$SANITIZER"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$target_dir}"
CORPUS_CACHE="${FUZZ_CORPUS_DIR:-$HOME/.cache/orderbridge/fuzz-corpus}"
TRIPLE="$(rustc +nightly -vV | sed -n 's/^host: //p')"

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "fuzz: the nightly toolchain is missing (rustup toolchain install nightly)" >&2
    exit 1
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz (cargo +nightly install cargo-fuzz --locked)"
    cargo +nightly install cargo-fuzz --locked
fi

if [[ ${#targets[@]} -eq 0 ]]; then
    mapfile -t targets < <(cd "$FUZZ_DIR/fuzz_targets" && ls -- *.rs | sed 's/\.rs$//')
fi

echo "== cargo fuzz build (${#targets[@]} targets, sanitizer $SANITIZER, target dir $CARGO_TARGET_DIR)"
cargo +nightly fuzz build --fuzz-dir "$FUZZ_DIR" --sanitizer "$SANITIZER"

limit=()
if [[ -n "$runs" ]]; then limit+=("-runs=$runs"); fi
if [[ -n "$secs" ]]; then limit+=("-max_total_time=$secs"); fi

log_dir="$(mktemp -d)"
trap 'rm -rf "$log_dir"' EXIT
summary=()
failed=0
for target in "${targets[@]}"; do
    bin="$CARGO_TARGET_DIR/$TRIPLE/release/$target"
    work="$CORPUS_CACHE/$target"
    artifacts="$FUZZ_DIR/artifacts/$target"
    mkdir -p "$work" "$artifacts"
    log="$log_dir/$target.log"
    echo "== fuzz $target (${limit[*]})"
    start=$(date +%s.%N)
    status=0
    "$bin" "$work" "$FUZZ_DIR/corpus/$target" \
        "${limit[@]}" -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 \
        -print_final_stats=1 -artifact_prefix="$artifacts/" >"$log" 2>&1 || status=$?
    end=$(date +%s.%N)
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
    # After a crash libFuzzer prints no final stats: the last progress line's count.
    [[ -n "$execs" ]] || execs="$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#')"
    crashes="$(grep -c 'Test unit written to' "$log" || true)"
    if [[ $status -ne 0 && "$crashes" -eq 0 ]]; then crashes=1; fi
    wall="$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", b - a }')"
    line="$(printf '%-22s %14s execs %7s s %6s exec/s  crashes %s' "$target" "${execs:-?}" "$wall" \
        "$(awk -v e="${execs:-0}" -v w="$wall" 'BEGIN { printf "%.0f", (w > 0 ? e / w : 0) }')" "$crashes")"
    echo "$line"
    summary+=("$line")
    if [[ "$crashes" -ne 0 ]]; then
        failed=1
        grep -E 'panicked at|ERROR: libFuzzer|SUMMARY|Test unit written to' "$log" | head -20 >&2 || true
    fi
done

echo "== fuzz summary ($(date -u +%Y-%m-%dT%H:%MZ), ${limit[*]}, sanitizer $SANITIZER)"
printf '%s\n' "${summary[@]}"
exit "$failed"
