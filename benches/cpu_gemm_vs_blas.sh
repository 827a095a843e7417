#!/usr/bin/env bash
# CPU f32 GEMM, side by side on the same machine in one run: hpcready's CPU matmul (all cores;
# its own AVX-512 kernel, or faer without AVX-512) against NumPy's (OpenBLAS, bundled in its
# wheels) and PyTorch's CPU torch.mm (MKL on x86 wheels), plus our fraction of the measured
# FMA peak. Prints each, our ratio to the faster library, and the fraction of peak.
#
#   benches/cpu_gemm_vs_blas.sh [SIZE ...]      (default: 2048)
#   PYTHON=/path/to/venv/bin/python benches/cpu_gemm_vs_blas.sh
#   ISA=avx2 benches/cpu_gemm_vs_blas.sh        (all three capped at AVX2+FMA, below)
#   ROUNDS=10 HPCREADY_SGEMM_KC=384 benches/cpu_gemm_vs_blas.sh   (ours with another depth)
#
# ISA=avx2 measures what an AVX2-only node gets, on an AVX-512 machine: hpcready with
# HPCREADY_CPU_ISA=avx2 (its peak and GEMM kernels), OpenBLAS with OPENBLAS_CORETYPE=Haswell,
# MKL with MKL_ENABLE_INSTRUCTIONS=AVX2 and oneDNN with ONEDNN_MAX_CPU_ISA=AVX2.
#
# Rounds alternate between the three so that a change in machine load hits all. Each side's
# figure is the median time of its samples (hpcready: its own sampling loop, standard suite;
# NumPy and torch: ≥ 3 s of samples after a warm-up), as TFLOP/s = 2n³/t; the table reports the
# median and the best of the rounds' figures. Needs a Python with numpy (installed with pip
# when missing); torch is measured when that Python has it (pip install torch), else left out.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("${@:-2048}")
case "${ISA:-}" in
  "") ;;
  avx2) export HPCREADY_CPU_ISA=avx2 OPENBLAS_CORETYPE=Haswell MKL_ENABLE_INSTRUCTIONS=AVX2 \
          ONEDNN_MAX_CPU_ISA=AVX2 ;;
  *) echo "ISA=$ISA: only avx2 is known" >&2; exit 2 ;;
esac
rounds=${ROUNDS:-5}
threads=$(nproc)

py=${PYTHON:-python3}
"$py" -c "import numpy" 2>/dev/null || "$py" -m pip install --quiet numpy
if "$py" -c "import torch" 2>/dev/null; then torch=1; else
  torch=0; echo "note: $py has no torch; PyTorch's CPU matmul is left out (pip install torch)" >&2
fi
cargo build --release --quiet
bin=target/release/hpcready
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

csv_sizes=$(IFS=,; echo "${sizes[*]}")
for r in $(seq 1 "$rounds"); do
  "$bin" run --suite standard --bench peak,matmul --dtype f32 --sizes "$csv_sizes" \
    --out "$tmp/ours-$r.json" > /dev/null
  for lib in numpy $([ "$torch" = 1 ] && echo torch); do
  "$py" - "$tmp/$lib-$r.json" "$lib" "$threads" "${sizes[@]}" <<'PY'
import json, sys, time
import numpy as np
out, lib, threads, sizes = sys.argv[1], sys.argv[2], int(sys.argv[3]), [int(s) for s in sys.argv[4:]]
res = {}
for n in sizes:
    rng = np.random.default_rng(1)
    a = rng.uniform(-1, 1, (n, n)).astype(np.float32)
    b = rng.uniform(-1, 1, (n, n)).astype(np.float32)
    c = np.empty((n, n), np.float32)
    if lib == "torch":
        import torch
        torch.set_num_threads(threads)
        ta, tb, tc = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(c)
        mm = lambda: torch.mm(ta, tb, out=tc)
    else:
        mm = lambda: np.matmul(a, b, out=c)
    mm()
    ref = a[:8].astype(np.float64) @ b.astype(np.float64)
    assert np.max(np.abs(c[:8] - ref)) < 1e-3 * n ** 0.5, f"{lib} result is wrong"
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 0.3:
        mm()
    samples, t0 = [], time.perf_counter()
    while time.perf_counter() - t0 < 3.0 or len(samples) < 10:
        s = time.perf_counter(); mm(); samples.append(time.perf_counter() - s)
    samples.sort()
    res[n] = samples[len(samples) // 2]
json.dump(res, open(out, "w"))
PY
  done
done

"$py" - "$tmp" "$rounds" "$threads" "$torch" "${sizes[@]}" <<'PY'
import json, statistics, sys
import numpy as np
tmp, rounds, threads, has_torch = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] == "1"
sizes = [int(s) for s in sys.argv[5:]]
libs = ["numpy"] + (["torch"] if has_torch else [])
ours, theirs, peaks = {n: [] for n in sizes}, {l: {n: [] for n in sizes} for l in libs}, []
method = "?"
for r in range(1, rounds + 1):
    run = json.load(open(f"{tmp}/ours-{r}.json"))
    for m in run["measurements"]:
        if not m["verification"]["passed"]:
            sys.exit(f"hpcready measurement failed verification: {m['shape']}")
        if m["bench"] == "matmul":
            ours[m["shape"]["n"]].append(m["throughput"]["value"])
            method = f"{m['method']} ({m['variant']})"
        elif m["bench"] == "peak" and m["shape"]["threads"] == int(threads):
            peaks.append(m["throughput"]["value"])
    for l in libs:
        for n, t in json.load(open(f"{tmp}/{l}-{r}.json")).items():
            theirs[l][int(n)].append(2 * int(n) ** 3 / t / 1e12)
blas = "OpenBLAS"
try:
    cfg = np.show_config(mode="dicts")
    blas = "{name} {version}".format(**cfg["Build Dependencies"]["blas"])
except Exception:
    pass
desc = f"numpy {np.__version__} ({blas})"
if has_torch:
    import torch
    desc += f", torch {torch.__version__} (MKL: {torch.backends.mkl.is_available()})"
peak = statistics.median(peaks)
import os
cap = f" (capped: HPCREADY_CPU_ISA={os.environ['HPCREADY_CPU_ISA']}, OPENBLAS_CORETYPE=" \
      f"{os.environ.get('OPENBLAS_CORETYPE')}, MKL_ENABLE_INSTRUCTIONS=" \
      f"{os.environ.get('MKL_ENABLE_INSTRUCTIONS')})" if "HPCREADY_CPU_ISA" in os.environ else ""
print(f"CPU: {run['node']['cpu']['model']}, {threads} threads{cap}; ours {method}; {desc}; "
      f"{rounds} alternating rounds")
print(f"measured f32 FMA peak (all threads, median): {peak * 1e3:.1f} GFLOP/s")
head = "".join(f"  {l + ' GFLOP/s':>14}" for l in libs)
print(f"{'n':>6}  {'':>6}  {'ours GFLOP/s':>12}{head}  {'ours/best lib':>13}  {'% of peak':>9}")
for n in sizes:
    for label, f in (("median", statistics.median), ("best", max)):
        o = f(ours[n])
        t = {l: f(theirs[l][n]) for l in libs}
        cols = "".join(f"  {t[l] * 1e3:>14.1f}" for l in libs)
        print(f"{n:>6}  {label:>6}  {o * 1e3:>12.1f}{cols}  {o / max(t.values()):>13.3f}  "
              f"{o / peak * 100:>8.1f}%")
# Every round's figures, in the order they ran: a side whose rounds split into two groups
# (a bimodal median) shows here, beside the others' rounds at the same time.
for n in sizes:
    print(f"n={n}, each round (GFLOP/s): ours "
          + " ".join(f"{x * 1e3:.1f}" for x in ours[n])
          + "".join(f"; {l} " + " ".join(f"{x * 1e3:.1f}" for x in theirs[l][n]) for l in libs))
PY
