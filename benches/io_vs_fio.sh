#!/usr/bin/env bash
# The I/O bench against fio on the same directory, same pattern and size, alternating rounds:
# sequential checkpoint write (16 MiB calls, fsync at the end) and read (page cache dropped
# first), and a shuffled epoch of 128 KiB reads. Goal (issue "Energy and storage"): ours ≥ 0.9×
# fio's bandwidth on each. Timings are printed, never a pass/fail.
#
#   benches/io_vs_fio.sh [DIR] [SIZE]        (default: $SCRATCH, else .; 1G)
#   ROUNDS=3 …; HPCREADY_BIN=path/to/hpcready to skip the release build
#
# fio, same method: --rw=write --bs=16M --end_fsync=1 (the fsync is in its time); --rw=read
# --bs=16M and --rw=randread --bs=128k with --invalidate=1 (posix_fadvise DONTNEED before the
# job, as ours) and fio's random map (every block once: an epoch); psync, one job. Sizes: fio's
# and ours' K/M/G are both binary.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-${SCRATCH:-.}}
size=${2:-1G}
rounds=${ROUNDS:-3}
command -v fio >/dev/null || { echo "fio is not installed (Debian: apt-get install fio)" >&2; exit 2; }
[ -d "$dir" ] || { echo "$dir: no such directory" >&2; exit 2; }
if [ -n "${HPCREADY_BIN:-}" ]; then bin=$HPCREADY_BIN; else cargo build --release --quiet; bin=target/release/hpcready; fi
tmp=$(mktemp -d)
work="$dir/fio-hpcready-$$"
mkdir -p "$work"
trap 'rm -rf "$tmp" "$work"' EXIT
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1); dir: $dir ($(df -T "$dir" | awk 'NR==2 {print $2}')); size $size; $(fio --version)"

for r in $(seq 1 "$rounds"); do
  "$bin" run --bench io --dir "$dir" --checkpoint-bytes "$size" --no-energy \
    --out "$tmp/ours-$r.json" > /dev/null 2>&1
  common=(--directory="$work" --filename=ckpt --size="$size" --ioengine=psync --output-format=json)
  fio --name=write --rw=write --bs=16M --end_fsync=1 "${common[@]}" > "$tmp/fio-write-$r.json"
  fio --name=read --rw=read --bs=16M --invalidate=1 "${common[@]}" > "$tmp/fio-read-$r.json"
  fio --name=rand --rw=randread --bs=128k --invalidate=1 "${common[@]}" > "$tmp/fio-rand-$r.json"
  rm -f "$work/ckpt"
done

python3 - "$tmp" "$rounds" <<'PY'
import json, statistics, sys
tmp, rounds = sys.argv[1], int(sys.argv[2])
def ours(op):
    v = []
    for r in range(1, rounds + 1):
        run = json.load(open(f"{tmp}/ours-{r}.json"))["storage"]
        v += [p["rate"] for p in run["phases"] if p["op"] == op]
    return statistics.median(v)
def fio(kind, key):
    return statistics.median(
        json.load(open(f"{tmp}/fio-{kind}-{r}.json"))["jobs"][0][key]["bw_bytes"]
        for r in range(1, rounds + 1))
print(f"{'pattern':34} {'hpcready':>12} {'fio':>12} {'ratio':>7}  (goal >= 0.90; medians of {rounds})")
for name, op, kind, key in [
    ("checkpoint write (16 MiB, fsync)", "checkpoint-write", "write", "write"),
    ("checkpoint read (16 MiB, cold)", "checkpoint-read", "read", "read"),
    ("random 128 KiB reads (one epoch)", "random-read", "rand", "read"),
]:
    a, b = ours(op), fio(kind, key)
    print(f"{name:34} {a/1e6:>9.0f} MB/s {b/1e6:>9.0f} MB/s {a/b:>6.2f}x")
PY
