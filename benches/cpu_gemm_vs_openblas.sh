#!/usr/bin/env bash
# CPU f32 GEMM, side by side: hpcready (faer, all cores) against NumPy's OpenBLAS on
# the same machine, plus our fraction of the measured FMA peak. Prints both and the ratio.
#
#   benches/cpu_gemm_vs_openblas.sh [SIZE ...]      (default: 2048)
#
# Rounds alternate between the two so that a change in machine load hits both. Each side's
# figure is the median time of its samples (hpcready: its own sampling loop, standard suite;
# NumPy: ≥ 3 s of samples after a warm-up), as TFLOP/s = 2n³/t; the table reports the median
# and the best of the rounds' figures. Needs python3; installs numpy with pip when missing (its wheels bundle OpenBLAS).
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("${@:-2048}")
rounds=${ROUNDS:-5}
threads=$(nproc)

python3 -c "import numpy" 2>/dev/null || python3 -m pip install --quiet numpy
cargo build --release --quiet
bin=target/release/hpcready
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

csv_sizes=$(IFS=,; echo "${sizes[*]}")
for r in $(seq 1 "$rounds"); do
  "$bin" run --suite standard --bench peak,matmul --dtype f32 --sizes "$csv_sizes" \
    --out "$tmp/ours-$r.json" > /dev/null
  python3 - "$tmp/numpy-$r.json" "${sizes[@]}" <<'PY'
import json, sys, time
import numpy as np
out, sizes = sys.argv[1], [int(s) for s in sys.argv[2:]]
res = {}
for n in sizes:
    rng = np.random.default_rng(1)
    a = rng.uniform(-1, 1, (n, n)).astype(np.float32)
    b = rng.uniform(-1, 1, (n, n)).astype(np.float32)
    c = np.empty((n, n), np.float32)
    np.matmul(a, b, out=c)
    ref = a[:8].astype(np.float64) @ b.astype(np.float64)
    assert np.max(np.abs(c[:8] - ref)) < 1e-3 * n ** 0.5, "numpy result is wrong"
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 0.3:
        np.matmul(a, b, out=c)
    samples, t0 = [], time.perf_counter()
    while time.perf_counter() - t0 < 3.0 or len(samples) < 10:
        s = time.perf_counter(); np.matmul(a, b, out=c); samples.append(time.perf_counter() - s)
    samples.sort()
    res[n] = samples[len(samples) // 2]
json.dump(res, open(out, "w"))
PY
done

python3 - "$tmp" "$rounds" "$threads" "${sizes[@]}" <<'PY'
import json, statistics, sys
import numpy as np
tmp, rounds, threads, sizes = sys.argv[1], int(sys.argv[2]), sys.argv[3], [int(s) for s in sys.argv[4:]]
ours, theirs, peaks = {n: [] for n in sizes}, {n: [] for n in sizes}, []
for r in range(1, rounds + 1):
    run = json.load(open(f"{tmp}/ours-{r}.json"))
    for m in run["measurements"]:
        if not m["verification"]["passed"]:
            sys.exit(f"hpcready measurement failed verification: {m['shape']}")
        if m["bench"] == "matmul":
            ours[m["shape"]["n"]].append(m["throughput"]["value"])
        elif m["bench"] == "peak" and m["shape"]["threads"] == int(threads):
            peaks.append(m["throughput"]["value"])
    for n, t in json.load(open(f"{tmp}/numpy-{r}.json")).items():
        theirs[int(n)].append(2 * int(n) ** 3 / t / 1e12)
blas = "OpenBLAS"
try:
    import numpy._core._multiarray_umath as mu  # noqa
    cfg = np.show_config(mode="dicts")
    blas = "{name} {version}".format(**cfg["Build Dependencies"]["blas"])
except Exception:
    pass
peak = statistics.median(peaks)
print(f"CPU: {run['node']['cpu']['model']}, {threads} threads; numpy {np.__version__} with {blas}; "
      f"{rounds} alternating rounds, medians")
print(f"measured f32 FMA peak (all threads): {peak * 1e3:.1f} GFLOP/s")
print(f"{'n':>6}  {'':>5}  {'hpcready GFLOP/s':>16}  {'numpy GFLOP/s':>13}  {'ratio':>6}  {'% of peak':>9}")
for n in sizes:
    for label, f in (("median", statistics.median), ("best", max)):
        o, t = f(ours[n]), f(theirs[n])
        print(f"{n:>6}  {label:>6}  {o * 1e3:>15.1f}  {t * 1e3:>13.1f}  {o / t:>6.3f}  {o / peak * 100:>8.1f}%")
PY
