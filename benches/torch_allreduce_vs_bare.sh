#!/usr/bin/env bash
# Our torch.distributed all-reduce (through the binary, the rendezvous and the JSON-lines
# harness) against a bare `torch.distributed.all_reduce` loop in plain Python, same ranks, same
# sizes, alternating rounds. Goal: ours ≥ 0.97× the bare loop's busbw at every size ≥ 1 MiB
# (issue "Framework path, communication"). Timings are printed, never a pass/fail.
#
#   PYTHON=target/torch-venv/bin/python benches/torch_allreduce_vs_bare.sh [SIZES]
#   NP=4 ROUNDS=3 … ; SIZES default 1048576,16777216,67108864; HPCREADY_BIN=path/to/hpcready to
#   skip the release build (CI passes its test build: the script must keep running; figures
#   come from a release binary)
#
# Both sides, per size: two warm-up calls, then per sample a barrier, back-to-back in-place
# all-reduces of f32 (events on a GPU, the host clock on the CPU), the slowest rank's time per
# call; the median of the samples. gloo on the CPU, NCCL/RCCL where torch sees GPUs.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${1:-1048576,16777216,67108864}
np=${NP:-4}
rounds=${ROUNDS:-3}
py=${PYTHON:-target/torch-venv/bin/python}
case "$py" in /*) ;; */*) py=$PWD/$py ;; esac   # the ranks run in a temporary directory
"$py" -c "import torch" || { echo "$py has no torch (pip install torch)" >&2; exit 2; }
command -v mpirun >/dev/null || { echo "mpirun is needed to start the ranks" >&2; exit 2; }
if [ -n "${HPCREADY_BIN:-}" ]; then
  bin=$(realpath "$HPCREADY_BIN")   # the ranks run in a temporary directory
else
  cargo build --release --quiet
  bin=$PWD/target/release/hpcready
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
launch=(mpirun --oversubscribe -np "$np")
[ "$(id -u)" -eq 0 ] && launch=(mpirun --allow-run-as-root --oversubscribe -np "$np")

cat > "$tmp/bare.py" <<'PY'
import datetime, json, os, statistics, sys, time
import torch
import torch.distributed as dist
out, sizes, iters_for = sys.argv[1], [int(s) for s in sys.argv[2].split(",")], sys.argv[3]
rank, world = int(os.environ["OMPI_COMM_WORLD_RANK"]), int(os.environ["OMPI_COMM_WORLD_SIZE"])
gpu = torch.cuda.is_available()
dev = torch.device("cuda", int(os.environ.get("OMPI_COMM_WORLD_LOCAL_RANK", 0)) % max(torch.cuda.device_count(), 1)) if gpu else torch.device("cpu")
if gpu:
    torch.cuda.set_device(dev)
dist.init_process_group("nccl" if gpu else "gloo", init_method="tcp://127.0.0.1:" + os.environ["BARE_PORT"],
                        rank=rank, world_size=world, timeout=datetime.timedelta(seconds=300))
plan = json.loads(iters_for)
res = {}
for size in sizes:
    iterations, samples = plan[str(size)]
    buf = torch.zeros(size // 4, dtype=torch.float32, device=dev)
    for _ in range(2):
        dist.all_reduce(buf)
    times = []
    for _ in range(samples):
        dist.barrier()
        if gpu:
            torch.cuda.synchronize(dev)
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            for _ in range(iterations):
                dist.all_reduce(buf)
            e.record(); e.synchronize()
            t = s.elapsed_time(e) / 1e3
        else:
            t0 = time.perf_counter()
            for _ in range(iterations):
                dist.all_reduce(buf)
            t = time.perf_counter() - t0
        mine = torch.tensor([t / iterations], dtype=torch.float64, device=dev)
        dist.all_reduce(mine, op=dist.ReduceOp.MAX)
        times.append(float(mine))
    med = statistics.median(times)
    res[size] = size / med / 1e9 * 2 * (world - 1) / world
dist.destroy_process_group()
if rank == 0:
    json.dump(res, open(out, "w"))
PY

for r in $(seq 1 "$rounds"); do
  (cd "$tmp" && "${launch[@]}" "$bin" run --backend torch --bench allreduce --python "$py" \
     --sizes "$sizes" --out "$tmp/ours-$r.json" > /dev/null 2> "$tmp/ours-$r.err") \
    || { cat "$tmp/ours-$r.err" >&2; exit 1; }
  # The bare loop runs ours' iterations and samples per size (read from our results).
  plan=$("$py" -c "
import json, sys
r = json.load(open('$tmp/ours-$r.json'))
print(json.dumps({str(m['shape']['bytes']): [m['iterations_per_sample'], len(m['samples_s'])]
                  for m in r['measurements'] if m['shape']['inplace']}))")
  port=$("$py" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
  BARE_PORT=$port "${launch[@]}" -x BARE_PORT "$py" "$tmp/bare.py" "$tmp/bare-$r.json" "$sizes" "$plan" \
    > /dev/null 2> "$tmp/bare-$r.err" || { cat "$tmp/bare-$r.err" >&2; exit 1; }
done

"$py" - "$tmp" "$rounds" "$np" <<'PY'
import json, statistics, sys
tmp, rounds, np = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ours, bare = {}, {}
for r in range(1, rounds + 1):
    for m in json.load(open(f"{tmp}/ours-{r}.json"))["measurements"]:
        if m["shape"]["inplace"] and m["verification"]["passed"]:
            ours.setdefault(m["shape"]["bytes"], []).append(m["collective"]["busbw_gbs"])
    for size, busbw in json.load(open(f"{tmp}/bare-{r}.json")).items():
        bare.setdefault(int(size), []).append(busbw)
print(f"{rounds} alternating rounds, {np} ranks, in place, busbw GB/s (median of rounds)")
for size in sorted(ours):
    o, b = statistics.median(ours[size]), statistics.median(bare[size])
    print(f"{size:>12} B: ours {o:.4g}, bare torch.distributed loop {b:.4g} (ratio {o / b:.3f})")
PY
