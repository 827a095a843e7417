#!/usr/bin/env bash
# Our MPI all-reduce against bare MPI_Allreduce in C (benches/mpi/allreduce.c, compiled here
# with mpicc), on the same ranks and sizes, timed the same way; prints both and the ratio
# (bare time / our time: 1.00 = as fast, goal ≥ 0.95 at every size ≥ 64 KiB). Each side runs
# RUNS times (default 3) alternately and keeps its best median per size. Timing is reported,
# never a pass/fail: the script fails only when a side does not run or its check fails.
#
# Usage: benches/mpi/vs_bare_mpi.sh [--smoke] [-np N]
# Env: HPCREADY_BIN (a binary built with --features mpi; default: builds release), RUNS,
#      MPIRUN_ARGS (default: --oversubscribe, and --allow-run-as-root as root).
set -euo pipefail
cd "$(dirname "$0")/../.."
np=4
smoke=0
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) smoke=1 ;;
    -np) np="$2"; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
if [ "$smoke" = 1 ]; then
  sizes="8,65536,1048576"; traffic=$((1 << 20)); samples=3; sampling="--sampling smoke"; runs=${RUNS:-1}
else
  sizes=$(python3 -c 'print(",".join(str(8 << i) for i in range(0, 26)))')
  traffic=$((64 << 20)); samples=10; sampling="--suite standard"; runs=${RUNS:-3}
fi
bin=${HPCREADY_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release --features mpi --quiet
  bin=target/release/hpcready
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mpicc -O2 -o "$work/allreduce" benches/mpi/allreduce.c
extra=(--oversubscribe)
[ "$(id -u)" -eq 0 ] && extra+=(--allow-run-as-root)
read -r -a user_args <<< "${MPIRUN_ARGS:-}"
[ ${#user_args[@]} -gt 0 ] && extra=("${user_args[@]}")
for r in $(seq 1 "$runs"); do
  # shellcheck disable=SC2086
  mpirun "${extra[@]}" -np "$np" "$bin" run --bench allreduce --sizes "$sizes" $sampling \
    --out "$work/ours-$r.json" > /dev/null
  mpirun "${extra[@]}" -np "$np" "$work/allreduce" "$traffic" "$samples" ${sizes//,/ } \
    > "$work/bare-$r.txt"
done
python3 - "$work" "$runs" "$np" <<'PY'
import json, sys, glob
work, runs, np_ = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ours, bare = {}, {}
for r in range(1, runs + 1):
    res = json.load(open(f"{work}/ours-{r}.json"))
    for m in res["measurements"]:
        if not m["verification"]["passed"]:
            sys.exit(f"our all-reduce failed its check: {m['error']}")
        k = (m["shape"]["bytes"], "in" if m["shape"]["inplace"] else "out")
        t = m["stats"]["median"] * 1e6
        ours[k] = min(ours.get(k, t), t)
    for line in open(f"{work}/bare-{r}.txt"):
        b, p, t = line.split()
        k = (int(b), p)
        bare[k] = min(bare.get(k, float(t)), float(t))
lib = res["ranks"]["library"]
print(f"all-reduce, {np_} ranks, {lib}, best of {runs} runs (median per run)")
print(f"{'bytes':>10} {'place':>5} {'hpcready µs':>12} {'bare MPI µs':>12} {'ratio':>6} {'busbw GB/s':>11}")
worst = None
for k in sorted(ours):
    if k not in bare:
        continue
    o, b = ours[k], bare[k]
    n = int(np_)
    busbw = k[0] / (o * 1e-6) / 1e9 * 2 * (n - 1) / n
    ratio = b / o
    print(f"{k[0]:>10} {k[1]:>5} {o:>12.2f} {b:>12.2f} {ratio:>6.3f} {busbw:>11.3f}")
    if k[0] >= 65536:
        worst = ratio if worst is None else min(worst, ratio)
if worst is not None:
    print(f"worst ratio at ≥ 64 KiB: {worst:.3f} (goal ≥ 0.95)")
PY
