#!/usr/bin/env bash
# Our WGSL kernels against PyTorch on the same GPU, in one run: builds hpcready, verifies and
# times our kernels (FMA peak, copy, f32 matmul, f32 flash attention), then (when python3 has
# torch with a GPU) times torch.matmul (f32 with TF32 off, and f16), a device-to-device copy and
# torch.nn.functional.scaled_dot_product_attention (same dtypes and shapes), and prints one table
# with the ratio.
#
#   benches/gpu/vs_pytorch.sh [--device N|NAME] [SIZE ...]     (default sizes: 1024 2048 4096)
#
# Without a GPU it runs on whatever adapter is named (e.g. --device llvmpipe on CI) and prints
# our figures alone. Record real-GPU tables under reports/gpu/ with date, device, driver and
# this command line.
set -euo pipefail
cd "$(dirname "$0")/../.."
device=()
if [ "${1:-}" = "--device" ]; then device=(--device "$2"); shift 2; fi
sizes=("${@:-1024 2048 4096}")
sizes=(${sizes[@]})
csv_sizes=$(IFS=,; echo "${sizes[*]}")

# HPCREADY_BIN: a prebuilt binary (e.g. one carried to a GPU machine that has no Rust toolchain);
# HPCREADY_BENCHES: which of ours to run (default peak,membw,matmul,attention).
bin=${HPCREADY_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release --quiet
  bin=target/release/hpcready
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$bin" run --backend gpu "${device[@]}" --suite standard --bench "${HPCREADY_BENCHES:-peak,membw,matmul,attention}" \
  --sizes "$csv_sizes" --out "$out/ours.json" > /dev/null
# HPCREADY_RESULTS: also keep our results.json there.
if [ -n "${HPCREADY_RESULTS:-}" ]; then cp "$out/ours.json" "$HPCREADY_RESULTS"; fi

python3 - "$out/ours.json" "${sizes[@]}" <<'PY'
import json, statistics, sys, time
ours = json.load(open(sys.argv[1]))
sizes = [int(s) for s in sys.argv[2:]]
def label(bench, dtype, shape):
    return f"{bench} {dtype} " + " ".join(f"{k}={v}" for k, v in shape.items())
rows, shapes, failed = {}, {}, []
for m in ours["measurements"]:
    key = label(m["bench"], m["dtype"], m["shape"])
    if not m["verification"]["passed"]:
        failed.append(f"{key}: FAILED verification ({m['verification'].get('first_failure') or m.get('error')})")
        continue
    rows[key] = (m["throughput"]["value"], m["throughput"]["unit"], m["device"])
    shapes[key] = (m["bench"], m["dtype"], m["shape"])

torch_rows, torch_note = {}, "PyTorch: not run (python3 has no torch with a GPU)"
try:
    import torch
    if torch.cuda.is_available():
        dev = torch.device("cuda")
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        def timed(fn, reps=None):
            for _ in range(3): fn()
            torch.cuda.synchronize()
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            # Enough calls per sample to hide launch gaps (~2 ms), then the median of 20 samples.
            start.record(); fn(); end.record(); torch.cuda.synchronize()
            reps = max(1, int(2e-3 / max(start.elapsed_time(end) / 1e3, 1e-7)))
            samples = []
            for _ in range(20):
                start.record()
                for _ in range(reps): fn()
                end.record(); torch.cuda.synchronize()
                samples.append(start.elapsed_time(end) / 1e3 / reps)
            return statistics.median(samples)
        import torch.nn.functional as F
        for key, (bench, dtype, sh) in shapes.items():
            dt = torch.float16 if dtype == "f16" else torch.float32
            if bench == "matmul":
                a = (torch.rand(sh["m"], sh["k"], device=dev) * 2 - 1).to(dt)
                b = (torch.rand(sh["k"], sh["n"], device=dev) * 2 - 1).to(dt)
                t = timed(lambda: torch.matmul(a, b))
                torch_rows[key] = 2 * sh["m"] * sh["n"] * sh["k"] / t / 1e12
            elif bench == "membw":
                src = torch.empty(sh["bytes"] // 4, dtype=torch.float32, device=dev)
                dst = torch.empty_like(src)
                t = timed(lambda: dst.copy_(src))
                torch_rows[key] = 2 * sh["bytes"] / t / 1e9
            elif bench == "attention":
                q, k, v = ((torch.rand(sh["b"], sh["h"], sh["s"], sh["d"], device=dev) * 2 - 1).to(dt) for _ in range(3))
                t = timed(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=sh["causal"]))
                flops = 4 * sh["b"] * sh["h"] * sh["s"] ** 2 * sh["d"] / (2 if sh["causal"] else 1)
                torch_rows[key] = flops / t / 1e12
        torch_note = f"PyTorch {torch.__version__} on {torch.cuda.get_device_name(0)} (TF32 off), CUDA events, median of 20"
except ImportError:
    pass

device = next(iter(rows.values()))[2] if rows else "?"
print(f"hpcready {ours['tool']['version']} ({ours['tool']['git_revision']}) on {device}; {ours['started_at']}")
print(torch_note)
print(f"{'case':<48} {'ours':>16} {'pytorch':>16} {'ratio':>7}")
for key, (value, unit, _) in rows.items():
    theirs = torch_rows.get(key)
    ratio = f"{value / theirs:.3f}" if theirs else "—"
    theirs_s = f"{theirs:.4g} {unit}" if theirs else "—"
    print(f"{key:<48} {value:>9.4g} {unit:<6} {theirs_s:>16} {ratio:>7}")
for line in failed:
    print(line)
if failed:
    sys.exit(1)
PY
