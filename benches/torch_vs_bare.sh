#!/usr/bin/env bash
# The framework path's overhead: hpcready's torch/matmul and torch/train-llama figures (through
# the binary, the JSON-lines harness and the sampling loop) against bare Python loops doing the
# same work in the same process-free way, same machine, alternating rounds. Goal: ours ≥ 0.97×
# the bare loop's rate (issue "Framework path").
#
#   PYTHON=target/torch-venv/bin/python benches/torch_vs_bare.sh [MATMUL_N]   (default 1024)
#   ROUNDS=5 … ; DEVICE=cuda:0 on a GPU node (default: cpu); HPCREADY_BIN=path/to/hpcready to
#   skip the release build (CI passes its test build: the script must keep running, and its
#   figures are only meant from a release binary)
#
# Bare matmul, same method: a cache flush before every call (outside the timing), one timed
# torch.mm per call (events on a GPU, the host clock on the CPU), median over ≥ 3 s of calls.
# Shown beside it, back-to-back calls without the flush (warm caches: not the method, for
# scale). Bare training: the harness's own model and step, called in a plain loop, median step.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1024}
rounds=${ROUNDS:-3}
device=${DEVICE:-cpu}
py=${PYTHON:-target/torch-venv/bin/python}
"$py" -c "import torch" || { echo "$py has no torch (pip install torch)" >&2; exit 2; }
if [ -n "${HPCREADY_BIN:-}" ]; then bin=$HPCREADY_BIN; else cargo build --release --quiet; bin=target/release/hpcready; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
backend_args=(--backend torch --python "$py")
[ "$device" = cpu ] || backend_args+=(--device "${device#cuda:}")

for r in $(seq 1 "$rounds"); do
  "$bin" run "${backend_args[@]}" --suite standard --bench matmul --dtype f32 --sizes "$n" \
    --out "$tmp/mm-$r.json" > /dev/null
  "$bin" run "${backend_args[@]}" --suite quick --bench train --dtype bf16 \
    --out "$tmp/train-$r.json" > /dev/null
  "$py" - "$tmp/bare-$r.json" "$n" "$device" <<'PY'
import json, statistics, sys, time
sys.path.insert(0, "src/backend/torch")
import torch
import harness
harness.torch = torch
out, n, device = sys.argv[1], int(sys.argv[2]), torch.device(sys.argv[3])
res = {}
def sync():
    if device.type == "cuda":
        torch.cuda.synchronize(device)
def timed(fn, flush=None, seconds=3.0):
    for _ in range(5):
        fn()
    sync()
    samples, t0 = [], time.perf_counter()
    while time.perf_counter() - t0 < seconds or len(samples) < 10:
        if flush is not None:
            flush()
        if device.type == "cuda":
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record(); fn(); e.record(); e.synchronize()
            samples.append(s.elapsed_time(e) / 1e3)
        else:
            s = time.perf_counter(); fn(); samples.append(time.perf_counter() - s)
    return statistics.median(samples)
torch.set_float32_matmul_precision("highest")
a = torch.randn(n, n, device=device)
b = torch.randn(n, n, device=device).t()
c = torch.empty(n, n, device=device)
# The same flush as ours: its size is in our measurement's variant ("cache flush of N MiB").
variant = json.load(open(out.replace("bare-", "mm-")))["measurements"][0]["variant"]
flush_mib = int(variant.split("cache flush of ")[1].split(" MiB")[0])
buf = torch.empty((flush_mib << 20) // 4, dtype=torch.int32, device=device)
mm = lambda: torch.mm(a, b, out=c)
res["matmul_flushed"] = 2 * n ** 3 / timed(mm, flush=buf.zero_) / 1e12
res["matmul_warm"] = 2 * n ** 3 / timed(mm) / 1e12
step = json.load(open(out.replace("bare-", "train-")))["measurements"][0]
t = harness.Train({"shape": step["shape"], "dtype": step["dtype"]}, device)
res["train_tokens_per_s"] = t.tokens / timed(t.step)
json.dump(res, open(out, "w"))
PY
done

"$py" - "$tmp" "$rounds" "$n" <<'PY'
import json, statistics, sys
tmp, rounds, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ours_mm, ours_tr, bare = [], [], []
for r in range(1, rounds + 1):
    mm = json.load(open(f"{tmp}/mm-{r}.json"))["measurements"][0]
    tr = json.load(open(f"{tmp}/train-{r}.json"))["measurements"][0]
    ours_mm.append(mm["throughput"]["value"])
    ours_tr.append(tr["train"]["tokens_per_s"])
    bare.append(json.load(open(f"{tmp}/bare-{r}.json")))
    variant = mm["variant"]
med = statistics.median
bf, bw = med(b["matmul_flushed"] for b in bare), med(b["matmul_warm"] for b in bare)
bt = med(b["train_tokens_per_s"] for b in bare)
print(f"{rounds} alternating rounds; ours: {variant}")
print(f"matmul f32 n={n}: ours {med(ours_mm)*1e3:.1f} GFLOP/s, bare same method "
      f"{bf*1e3:.1f} (ratio {med(ours_mm)/bf:.3f}); bare back-to-back without flush {bw*1e3:.1f}")
print(f"train (quick preset, bf16): ours {med(ours_tr):.0f} tokens/s, bare loop {bt:.0f} "
      f"(ratio {med(ours_tr)/bt:.3f})")
PY
