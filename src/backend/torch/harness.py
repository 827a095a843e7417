"""hpcready's PyTorch harness: measures the user's own PyTorch for the hpcready binary.

The binary embeds this file, writes it to a private temporary file and runs it with the user's
Python (`--python CMD`). They speak JSON lines: one request per line on stdin, one answer per
line on stdout. Nothing but answers goes to stdout (library chatter is sent to stderr, which the
binary keeps for error messages). Needs torch >= 2.3 and nothing else; downloads nothing.

Requests (`op`): hello, warmup, prepare, run, verify, release, quit, and across ranks
dist_init, dist_allreduce, dist_train. Every answer has `ok`; a failed request answers
`ok: false` with `error` and the traceback's last lines, and the harness carries on with the next
request. The binary reads each answer as a typed struct (src/backend/torch/protocol.rs) that
refuses missing and unknown keys; tests/data/harness/ holds a golden answer per op that both
sides are tested against. Non-finite numbers cross as the strings "NaN", "inf", "-inf" (JSON
has none), as in results files.

Importing this module does nothing but define it (the tests import it); main() sets up the
answer stream and imports torch.
"""

import json
import math
import os
import sys
import time
import traceback

PROTOCOL = 1
OLDEST_TORCH = (2, 3)

torch = None
_answers = None


def private_answers():
    """Answers go to a private copy of the process's stdout. File descriptor 1 itself, where C
    libraries print (NCCL/RCCL with NCCL_DEBUG set, for one), and Python's sys.stdout go to
    stderr, which the binary keeps for error messages: nothing else can ever land in the answer
    stream."""
    global _answers
    _answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr


def finite(obj):
    """`obj` with every non-finite float replaced by "NaN", "inf" or "-inf"."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return "NaN" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    return obj


def encode(obj):
    """One answer line: strict JSON (a NaN would make it unreadable), non-finite as strings."""
    return json.dumps(finite(obj), allow_nan=False)


def answer(obj):
    _answers.write(encode(obj) + "\n")
    _answers.flush()


class Unsupported(Exception):
    """This torch or device does not run the case: not a failure, answered as `unsupported`."""


def torch_version_tuple(v):
    parts = []
    for p in v.split("+")[0].split(".")[:2]:
        digits = "".join(ch for ch in p if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def accelerator():
    """The kind of device torch drives here: cuda, rocm, xpu or cpu."""
    if torch.cuda.is_available():
        return "rocm" if getattr(torch.version, "hip", None) else "cuda"
    xpu = getattr(torch, "xpu", None)
    if xpu is not None and xpu.is_available():
        return "xpu"
    return "cpu"


def devices(kind):
    out = []
    if kind in ("cuda", "rocm"):
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            arch = getattr(p, "gcnArchName", None) or f"sm_{p.major}{p.minor}"
            out.append({"index": i, "name": p.name, "memory_bytes": p.total_memory, "arch": arch})
    elif kind == "xpu":
        for i in range(torch.xpu.device_count()):
            p = torch.xpu.get_device_properties(i)
            out.append({"index": i, "name": p.name, "memory_bytes": p.total_memory, "arch": ""})
    return out


def cpu_bf16_native():
    """Whether torch runs bf16 matmul on this CPU through oneDNN's bf16 kernels (x86 with
    AVX-512 BW/VL/DQ or AMX, Arm with BF16), the dispatch condition torch itself checks; without
    them it falls back to a scalar loop about a hundred times slower than f32 (AMD Zen 3). None
    when this torch cannot say. Test hook: HPCREADY_HARNESS_CPU_BF16=emulated."""
    if os.environ.get("HPCREADY_HARNESS_CPU_BF16") == "emulated":
        return False
    try:
        return bool(torch.backends.mkldnn.is_available()
                    and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except Exception:
        return None


def hello(_req):
    kind = accelerator()
    info = {
        "ok": True,
        "protocol": PROTOCOL,
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "hip": getattr(torch.version, "hip", None),
        "accelerator": kind,
        "devices": devices(kind),
        "cpu_threads": torch.get_num_threads(),
        "cudnn": None,
        "nccl": None,
        "blas": None,
        "cpu_bf16_native": cpu_bf16_native(),
    }
    if kind in ("cuda", "rocm"):
        try:
            info["cudnn"] = str(torch.backends.cudnn.version())
        except Exception:
            pass
        try:
            v = torch.cuda.nccl.version()
            info["nccl"] = ".".join(str(x) for x in v) if isinstance(v, tuple) else str(v)
        except Exception:
            pass
        try:
            info["blas"] = str(torch.backends.cuda.preferred_blas_library()).split(".")[-1]
        except Exception:
            pass
    else:
        import re

        config = torch.__config__.show()
        blas = re.search(r"BLAS_INFO=([^,\s]+)", config)
        isa = re.search(r"CPU capability usage: (\S+)", config)
        if blas:
            info["blas"] = blas.group(1) + (f" ({isa.group(1)})" if isa else "")
    return info


def device_of(req):
    kind = accelerator()
    index = req.get("device", 0)
    if kind in ("cuda", "rocm"):
        return torch.device("cuda", index)
    if kind == "xpu":
        return torch.device("xpu", index)
    return torch.device("cpu")


def synchronize(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    elif dev.type == "xpu":
        torch.xpu.synchronize(dev)


class Timer:
    """Times calls on a device: events on a GPU (one pair per call, read after one synchronize),
    the host clock around each call on the CPU (whose calls return when done)."""

    def __init__(self, dev):
        self.dev = dev
        self.events = []
        self.host = 0.0
        self.source = "device-events" if dev.type in ("cuda", "xpu") else "wall-clock"

    def start(self):
        if self.dev.type == "cuda":
            e = torch.cuda.Event(enable_timing=True)
            e.record()
            self.events.append([e, None])
        elif self.dev.type == "xpu":
            e = torch.xpu.Event(enable_timing=True)
            e.record()
            self.events.append([e, None])
        else:
            self.t0 = time.perf_counter()

    def stop(self):
        if self.dev.type in ("cuda", "xpu"):
            e = (torch.cuda if self.dev.type == "cuda" else torch.xpu).Event(enable_timing=True)
            e.record()
            self.events[-1][1] = e
        else:
            self.host += time.perf_counter() - self.t0

    def seconds(self):
        synchronize(self.dev)
        return self.host + sum(s.elapsed_time(e) for s, e in self.events) / 1e3


STORAGE = {"f32": "float32", "tf32": "float32", "f16": "float16", "bf16": "bfloat16",
           "f64": "float64", "fp8": "float8_e4m3fn"}
# Normwise error bounds: output rounding of the type plus accumulation, with margin (fp8
# products are exact in the reference, which takes the fp8 inputs; the output is bf16).
TOLERANCE = {"f64": 1e-12, "f32": 1e-4, "tf32": 5e-3, "f16": 5e-3, "bf16": 2e-2, "fp8": 2e-2}


def fp8_type(dev):
    """E4M3 as the device computes it: `float8_e4m3fnuz` on AMD MI300 (gfx94x), else
    `float8_e4m3fn`."""
    if dev.type == "cuda" and getattr(torch.version, "hip", None):
        arch = getattr(torch.cuda.get_device_properties(dev), "gcnArchName", "")
        if arch.startswith("gfx94"):
            return torch.float8_e4m3fnuz
    return torch.float8_e4m3fn


def set_tf32(on):
    torch.backends.cuda.matmul.allow_tf32 = on
    torch.backends.cudnn.allow_tf32 = on
    torch.set_float32_matmul_precision("high" if on else "highest")


class Flush:
    """A buffer zeroed before every timed call, outside the timed region, so each call starts
    with cold caches (mamf-finder: 256 MiB, MI300X's last-level cache)."""

    def __init__(self, dev, nbytes):
        self.buf = torch.empty(max(nbytes // 4, 1), dtype=torch.int32, device=dev)

    def __call__(self):
        self.buf.zero_()


def checker(tol):
    return {"max": 0.0, "checked": 0, "first": None, "tol": tol}


def check(c, got, ref, scale, where):
    err = abs(got - ref) / max(scale, sys.float_info.min)
    if math.isnan(err):
        err = math.inf
    c["checked"] += 1
    c["max"] = max(c["max"], err)
    if not err <= c["tol"] and c["first"] is None:
        c["first"] = f"{where}: got {got}, expected {ref}"


def verdict(c, total, reference):
    return {
        "passed": c["first"] is None and c["checked"] > 0,
        "max_rel_error": c["max"],
        "tolerance": c["tol"],
        "checked": c["checked"],
        "total": total,
        "reference": reference,
        "first_failure": c["first"],
    }


class Matmul:
    """`torch.mm(A, B, out=C)` as mamf-finder runs it: A = randn(m, k), B = randn(n, k).t()."""

    def __init__(self, req, dev):
        s = req["shape"]
        self.m, self.n, self.k = s["m"], s["n"], s["k"]
        self.dtype = req["dtype"]
        fp8 = self.dtype == "fp8"
        dt = fp8_type(dev) if fp8 else getattr(torch, STORAGE[self.dtype])
        set_tf32(self.dtype == "tf32")
        g = torch.Generator(device="cpu").manual_seed(1)
        self.a = torch.randn(self.m, self.k, generator=g, dtype=torch.float32).to(dev, dt)
        self.b = torch.randn(self.n, self.k, generator=g, dtype=torch.float32).to(dev, dt).t()
        self.c = torch.empty(self.m, self.n, dtype=torch.bfloat16 if fp8 else dt, device=dev)
        if fp8:
            # torch._scaled_mm (torch >= 2.5 for this signature), unit scales, bf16 output.
            one = torch.tensor(1.0, device=dev)
            self.mm = lambda: torch._scaled_mm(self.a, self.b, scale_a=one, scale_b=one,
                                               out_dtype=torch.bfloat16)
            try:
                self.mm()
            except (RuntimeError, TypeError, AttributeError) as e:
                raise Unsupported(
                    f"fp8 matmul (torch._scaled_mm): {str(e).splitlines()[0]}") from e
        else:
            self.mm = lambda: torch.mm(self.a, self.b, out=self.c)
        self.dev = dev
        self.flush = Flush(dev, req.get("flush_bytes", 0))
        call = (f"torch._scaled_mm {dt} → bf16, unit scales" if fp8 else
                f"torch.mm {self.dtype} (TF32 {'on' if self.dtype == 'tf32' else 'off'})")
        flush_mib = req.get("flush_bytes", 0) >> 20
        self.variant = f"{call}, cache flush of {flush_mib} MiB before each call"
        self.flops = 2.0 * self.m * self.n * self.k

    def run(self, iterations):
        t = Timer(self.dev)
        for _ in range(iterations):
            self.flush()
            t.start()
            self.mm()
            t.stop()
        return t.seconds(), t.source

    def verify(self):
        self.c.fill_(float("nan"))
        out = self.mm()
        if out is not None and out is not self.c:
            self.c = out
        synchronize(self.dev)
        g = torch.Generator(device="cpu").manual_seed(7)
        rows = torch.randint(0, self.m, (48,), generator=g).tolist() + [0, self.m - 1]
        cols = torch.randint(0, self.n, (48,), generator=g).tolist() + [0, self.n - 1]
        c = checker(TOLERANCE[self.dtype])
        for i, j in zip(rows, cols):
            a = self.a[i, :].double().cpu()
            b = self.b[:, j].double().cpu()
            ref = float((a * b).sum())
            scale = float((a.abs() * b.abs()).sum())
            check(c, float(self.c[i, j]), ref, scale, f"C[{i},{j}]")
        return verdict(c, self.m * self.n, "float64 dot products at sampled entries")


SDPA_BACKENDS = {
    "math": "MATH",
    "flash": "FLASH_ATTENTION",
    "efficient": "EFFICIENT_ATTENTION",
    "cudnn": "CUDNN_ATTENTION",
}
# Profiler op names of each backend, to say which one the default dispatch chose.
SDPA_OPS = [
    ("_scaled_dot_product_flash_attention", "flash"),
    ("_scaled_dot_product_efficient_attention", "efficient"),
    ("_scaled_dot_product_cudnn_attention", "cudnn"),
    ("_scaled_dot_product_attention_math", "math"),
]


class Attention:
    """`scaled_dot_product_attention` forward, or forward and backward, with one SDPA backend
    pinned (or the default dispatch, whose choice is read from the profiler)."""

    def __init__(self, req, dev):
        from torch.nn.attention import SDPBackend, sdpa_kernel

        s = req["shape"]
        self.b, self.h, self.s, self.d = s["b"], s["h"], s["s"], s["d"]
        self.causal = s["causal"]
        self.backward = s.get("backward", False)
        self.dtype = req["dtype"]
        self.dev = dev
        self.kernel = req.get("kernel") or "default"
        dt = getattr(torch, STORAGE[self.dtype])
        set_tf32(False)
        g = torch.Generator(device="cpu").manual_seed(2)
        shape = (self.b, self.h, self.s, self.d)
        self.q, self.k, self.v = (
            torch.randn(shape, generator=g, dtype=torch.float32)
            .to(dev, dt)
            .requires_grad_(self.backward)
            for _ in range(3))
        self.grad = torch.randn(shape, generator=g, dtype=torch.float32).to(dev, dt)
        if self.kernel == "default":
            self.context = None
        else:
            if self.kernel not in SDPA_BACKENDS:
                raise ValueError(f"unknown SDPA backend {self.kernel}")
            self.context = lambda: sdpa_kernel([getattr(SDPBackend, SDPA_BACKENDS[self.kernel])])
        self.flush = Flush(dev, req.get("flush_bytes", 0))
        ran = self.kernel
        # One call now: an unsupported pinned backend raises here ("No available kernel").
        try:
            if self.kernel == "default":
                ran = self.default_choice()
            else:
                self.call()
        except RuntimeError as e:
            raise Unsupported(
                f"SDPA {self.kernel} backend: {str(e).splitlines()[0]}") from e
        # The binary names a pinned backend's method (torch/sdpa-flash …) and the default
        # dispatch's (torch/sdpa); the variant says which backend the default dispatch chose.
        passes = "forward and backward" if self.backward else "forward"
        self.variant = (f"scaled_dot_product_attention {passes}, "
                        + (f"{self.kernel} backend pinned" if self.kernel != "default"
                           else f"default dispatch, which ran the {ran} backend"))
        fwd = 4.0 * self.b * self.h * self.s * self.s * self.d / (2 if self.causal else 1)
        self.flops = fwd * (3.5 if self.backward else 1.0)

    def default_choice(self):
        with torch.profiler.profile() as prof:
            self.call()
            synchronize(self.dev)
        names = " ".join(e.name for e in prof.events())
        for op, name in SDPA_OPS:
            if op in names:
                return name
        return "default"

    def call(self):
        import contextlib

        from torch.nn.functional import scaled_dot_product_attention as sdpa

        with (self.context() if self.context else contextlib.nullcontext()):
            out = sdpa(self.q, self.k, self.v, is_causal=self.causal)
            if self.backward:
                out.backward(self.grad)
        return out

    def run(self, iterations):
        t = Timer(self.dev)
        for _ in range(iterations):
            self.flush()
            if self.backward:
                self.q.grad = self.k.grad = self.v.grad = None
            t.start()
            self.call()
            t.stop()
        return t.seconds(), t.source

    def verify(self):
        with torch.no_grad():
            q, k, v = (x.detach() for x in (self.q, self.k, self.v))
            import contextlib

            from torch.nn.functional import scaled_dot_product_attention as sdpa

            with (self.context() if self.context else contextlib.nullcontext()):
                out = sdpa(q, k, v, is_causal=self.causal)
            synchronize(self.dev)
        g = torch.Generator(device="cpu").manual_seed(9)
        c = checker(TOLERANCE[self.dtype])
        picks = [(0, 0, 0), (self.b - 1, self.h - 1, self.s - 1)]
        for _ in range(6):
            picks.append(tuple(int(torch.randint(0, n, (1,), generator=g))
                               for n in (self.b, self.h, self.s)))
        for bi, hi, row in picks:
            kk = k[bi, hi].double().cpu()
            vv = v[bi, hi].double().cpu()
            qq = q[bi, hi, row].double().cpu()
            cols = row + 1 if self.causal else self.s
            scores = (kk[:cols] @ qq) / math.sqrt(self.d)
            p = torch.softmax(scores, dim=0)
            ref = p @ vv[:cols]
            scale = p @ vv[:cols].abs()
            got = out[bi, hi, row].double().cpu()
            for j in range(self.d):
                check(c, float(got[j]), float(ref[j]), float(scale[j]), f"O[{bi},{hi},{row},{j}]")
        return verdict(c, self.b * self.h * self.s * self.d,
                       "float64 softmax(q·kᵀ/√d)·v on sampled rows (forward output)")


def ffn_size(hidden):
    """SwiGLU's hidden size as Llama sets it: 8/3 of the width, rounded up to 256."""
    return ((8 * hidden // 3) + 255) // 256 * 256


def build_model(L, d, H, V, T):
    nn = torch.nn
    F = torch.nn.functional

    class RMSNorm(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(d))

        def forward(self, x):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.weight

    def rope(x, cos, sin):
        x1, x2 = x[..., ::2], x[..., 1::2]
        return torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).flatten(-2)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn_norm = RMSNorm(d)
            self.qkv = nn.Linear(d, 3 * d, bias=False)
            self.proj = nn.Linear(d, d, bias=False)
            self.mlp_norm = RMSNorm(d)
            f = ffn_size(d)
            self.gate_up = nn.Linear(d, 2 * f, bias=False)
            self.down = nn.Linear(f, d, bias=False)

        def forward(self, x, cos, sin):
            B, T_, _ = x.shape
            q, k, v = self.qkv(self.attn_norm(x)).view(B, T_, 3, H, d // H).unbind(2)
            q, k = rope(q, cos, sin), rope(k, cos, sin)
            y = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2),
                                               v.transpose(1, 2), is_causal=True)
            x = x + self.proj(y.transpose(1, 2).reshape(B, T_, d))
            g, u = self.gate_up(self.mlp_norm(x)).chunk(2, dim=-1)
            return x + self.down(F.silu(g) * u)

    class Decoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(V, d)
            self.blocks = nn.ModuleList(Block() for _ in range(L))
            self.norm = RMSNorm(d)
            self.head = nn.Linear(d, V, bias=False)
            q = d // H
            inv = 1.0 / (10000 ** (torch.arange(0, q, 2).float() / q))
            ang = torch.outer(torch.arange(T).float(), inv)
            self.register_buffer("cos", ang.cos()[None, :, None, :], persistent=False)
            self.register_buffer("sin", ang.sin()[None, :, None, :], persistent=False)
            for m in self.modules():
                if isinstance(m, nn.Linear) or isinstance(m, nn.Embedding):
                    nn.init.normal_(m.weight, std=0.02)

        def forward(self, idx):
            x = self.embed(idx)
            T_ = idx.shape[1]
            for b in self.blocks:
                x = b(x, self.cos[:, :T_], self.sin[:, :T_])
            return self.head(self.norm(x))

    return Decoder()


def fsdp2():
    """FSDP2's `fully_shard`: public in torch.distributed.fsdp since torch 2.6, under
    torch.distributed._composable.fsdp before."""
    try:
        from torch.distributed.fsdp import fully_shard
    except ImportError:
        try:
            from torch.distributed._composable.fsdp import fully_shard
        except ImportError as e:
            raise Unsupported(f"FSDP2 (fully_shard) needs torch 2.4 or later: {e}") from e
    return fully_shard


def adamw(params, lr, dev):
    """AdamW as the step uses it, fused (one kernel for every parameter) where the device
    supports it; (optimizer, fused)."""
    params = list(params)
    kw = dict(lr=lr, betas=(0.9, 0.95), weight_decay=0.0)
    if dev.type != "cpu":
        try:
            return torch.optim.AdamW(params, fused=True, **kw), True
        except (RuntimeError, TypeError, ValueError):
            pass
    return torch.optim.AdamW(params, **kw), False


def flops_per_token(n, layers, hidden, seq):
    """Model FLOPs per token of a training step, 6N + 12·L·H·Q·T (PaLM; torchtitan and
    llm-foundry count the same): N parameters without the token embedding, L layers, H·Q the
    width, T the sequence."""
    return 6 * n + 12 * layers * hidden * seq


TRAIN_STEPS = 300
TRAIN_TARGET = 0.25


def loss_check(first_loss, vocab, step_loss, steps=TRAIN_STEPS):
    """A step that trains: the loss starts near ln(vocab) (within 15%) and falls below a quarter
    of it within `steps` steps. `step_loss()` runs one step and returns its loss; a loss that
    is not finite (diverged) fails at once. Returns the verification."""
    ln_v = math.log(vocab)
    target = TRAIN_TARGET * ln_v
    start_ok = math.isfinite(first_loss) and abs(first_loss - ln_v) <= 0.15 * ln_v
    losses = []
    for _ in range(steps):
        losses.append(step_loss())
        if losses[-1] < target or not math.isfinite(losses[-1]):
            break
    last = losses[-1]
    passed = start_ok and last < target
    first = None
    if not start_ok:
        first = (f"the first loss {first_loss:.3f} is not near ln({vocab}) = {ln_v:.3f}: the "
                 f"model or data is wrong")
    elif not math.isfinite(last):
        first = f"the loss diverged to {last} at step {len(losses)}: this step does not train"
    elif not passed:
        first = (f"the loss fell only to {last:.3f} in {len(losses)} steps (target < "
                 f"{target:.3f}): this step does not train")
    return {
        "passed": passed,
        "max_rel_error": last / ln_v,
        "tolerance": TRAIN_TARGET,
        "checked": len(losses),
        "total": steps,
        "reference": (f"loss from {first_loss:.3f} (ln {vocab} = {ln_v:.3f}) to {last:.3f} "
                      f"after {len(losses)} steps on a learnable synthetic sequence"),
        "first_failure": first,
    }


class Train:
    """A real training step of a Llama-style decoder (RMSNorm, rotary embeddings, SwiGLU, fused
    SDPA) on synthetic tokens: bf16 autocast (or f32), AdamW, cross-entropy. The tokens are 64
    of the vocabulary, each followed by a fixed other one, so a model that trains drives the
    loss from ln(vocab) below a quarter of it within dozens of steps (ln 64 alone, knowing only
    which tokens occur, is not enough); verification checks exactly that. FLOPs per token:
    6N + 12·L·H·Q·T (PaLM, as torchtitan and llm-foundry count), N the parameters without the
    token embedding."""

    def __init__(self, req, dev, ddp=None, shard=False):
        """`ddp`: the Distributed group to train data-parallel across, each rank its own tokens,
        with `req["batch"]` the micro-batch every rank uses: DistributedDataParallel, or with
        `shard` FSDP2 (`fully_shard` on every block, then the whole model: parameters, gradients
        and optimizer state sharded across the ranks, as torchtitan and llm-foundry train)."""
        s = req["shape"]
        self.L, self.d, self.H = s["layers"], s["hidden"], s["heads"]
        self.V, self.T = s["vocab"], s["seq"]
        self.dev = dev
        self.dtype = req["dtype"]
        self.autocast = self.dtype == "bf16"
        set_tf32(False)
        torch.manual_seed(3)
        self.core = build_model(self.L, self.d, self.H, self.V, self.T).to(dev)
        # torch.compile per transformer block (inductor), in place, before any wrapping: what
        # torchtitan does; the first (untimed) steps pay for the compilation.
        self.compiled = bool(req.get("compile"))
        if self.compiled:
            if not hasattr(torch.nn.Module, "compile"):
                raise Unsupported("torch.compile of a module in place needs torch 2.2 or later")
            for b in self.core.blocks:
                b.compile()
        self.model = self.core
        self.sharded = ddp is not None and shard
        if self.sharded:
            fully_shard = fsdp2()
            from torch.distributed.device_mesh import init_device_mesh

            # Parameters are all-gathered before each block's forward and backward, gradients
            # reduce-scattered after its backward (NCCL/RCCL; gloo on the CPU).
            mesh = init_device_mesh(dev.type, (ddp.world,))
            for b in self.core.blocks:
                fully_shard(b, mesh=mesh)
            fully_shard(self.core, mesh=mesh)
        elif ddp is not None:
            from torch.nn.parallel import DistributedDataParallel

            # Gradients are all-reduced by NCCL/RCCL (gloo on the CPU) during the backward pass.
            self.model = DistributedDataParallel(
                self.core, device_ids=[dev.index] if dev.type == "cuda" else None)
        # Test hook: HPCREADY_HARNESS_FROZEN=1 sets the learning rate to 0 (a step that does
        # not train), which verification must catch.
        lr = 3e-3 if sum(p.numel() for p in self.model.parameters()) < 5e7 else 6e-4
        if os.environ.get("HPCREADY_HARNESS_FROZEN") == "1":
            lr = 0.0
        self.opt, self.fused = adamw(self.model.parameters(), lr, dev)
        # The learnable sequence: 64 tokens of the vocabulary (all of it when smaller), each
        # followed by a fixed other one of them. An untrained model's loss is ln(vocab); one
        # that trains learns the 64 successors, whatever the vocabulary.
        g = torch.Generator(device="cpu").manual_seed(4)
        k = min(self.V, 64)
        self.alphabet = torch.randperm(self.V, generator=g)[:k]
        succ = torch.full((self.V,), -1, dtype=torch.long)
        succ[self.alphabet] = self.alphabet[torch.randperm(k, generator=g)]
        self.perm = succ.to(dev)
        self.alphabet = self.alphabet.to(dev)
        self.gen = torch.Generator(device="cpu").manual_seed(5 + (ddp.rank if ddp else 0))
        self.n = sum(p.numel() for p in self.core.parameters()) - self.core.embed.weight.numel()
        self.ddp = ddp is not None
        self.first_loss = None
        self.batch = None
        last = None
        tries = [x for x in (64, 32, 16, 8, 4, 2, 1) if x <= s["batch"]]
        if req.get("batch"):
            tries = [int(req["batch"])]
        for b in tries:
            try:
                self.batch = b
                self.first_loss = self.loss_only()
                self.step()
                break
            except getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError) as e:
                last = e
                self.batch = None
                self.opt.zero_grad(set_to_none=True)
                if dev.type == "cuda":
                    torch.cuda.empty_cache()
        if self.batch is None:
            raise RuntimeError(f"no micro-batch fits the device's memory: {last}")
        self.peak_memory = 0
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats(dev)

    @property
    def flops_per_token(self):
        """6N + 12·L·H·Q·T (PaLM): N the parameters without the token embedding."""
        return flops_per_token(self.n, self.L, self.d, self.T)

    @property
    def tokens(self):
        return self.batch * self.T

    @property
    def flops(self):
        return float(self.flops_per_token * self.tokens)

    @property
    def variant(self):
        across = ("FSDP2 (fully_shard per block) across ranks, each its own tokens; "
                  if self.sharded else
                  "DistributedDataParallel across ranks, each its own tokens; " if self.ddp
                  else "")
        return (across
                + f"Llama-style decoder, {self.n / 1e6:.1f} M parameters without the "
                f"embedding, {self.L} layers, width {self.d}, {self.H} heads, vocabulary "
                f"{self.V}, sequence {self.T}, micro-batch {self.batch}, "
                f"{'bf16 autocast' if self.autocast else 'f32'}, "
                f"{'AdamW fused' if self.fused else 'AdamW (not fused on this device)'}, "
                f"{'torch.compile per block (inductor)' if self.compiled else 'eager'}; "
                f"FLOPs per token 6N + 12·L·H·Q·T (PaLM)")

    def batch_tokens(self):
        pick = torch.randint(0, len(self.alphabet), (self.batch, 1), generator=self.gen)
        start = self.alphabet[pick.to(self.dev)]
        seq = [start]
        for _ in range(self.T):
            seq.append(self.perm[seq[-1]])
        x = torch.cat(seq, dim=1)
        return x[:, :-1], x[:, 1:]

    def forward_loss(self, x, y):
        import contextlib

        ctx = (torch.autocast(self.dev.type, dtype=torch.bfloat16) if self.autocast
               else contextlib.nullcontext())
        with ctx:
            logits = self.model(x)
        return torch.nn.functional.cross_entropy(logits.float().view(-1, self.V), y.reshape(-1))

    def loss_only(self):
        with torch.no_grad():
            x, y = self.batch_tokens()
            return float(self.forward_loss(x, y))

    def step(self):
        x, y = self.batch_tokens()
        loss = self.forward_loss(x, y)
        loss.backward()
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        return loss

    def run(self, iterations):
        t = Timer(self.dev)
        for _ in range(iterations):
            t.start()
            self.step()
            t.stop()
        secs = t.seconds()
        if self.dev.type == "cuda":
            self.peak_memory = max(self.peak_memory, torch.cuda.max_memory_allocated(self.dev))
        return secs, t.source

    def verify(self, step_loss=None):
        """The loss check (`loss_check`) over steps of this model; `step_loss` gives each step's
        loss (data-parallel: the largest over ranks), by default this rank's."""
        step_loss = step_loss or (lambda: float(self.step().detach()))
        return loss_check(self.first_loss, self.V, step_loss)

    def figures(self):
        return {"parameters": self.n, "micro_batch": self.batch, "tokens_per_step": self.tokens,
                "flops_per_token": self.flops / self.tokens, "peak_memory_bytes": self.peak_memory,
                "first_loss": self.first_loss}


class Distributed:
    """torch.distributed across the ranks a launcher started: NCCL (RCCL on ROCm) on GPUs, gloo
    on the CPU. All-reduce (sum) timed as nccl-tests does: per sample a barrier, then
    back-to-back calls and one synchronize, the slowest rank's time; every element of every rank
    checked against the exact sum. NCCL/RCCL's INFO lines about the network go to a private file
    the harness reads back (what transport the library chose, and why)."""

    def __init__(self, req):
        import datetime
        import tempfile

        import torch.distributed as dist

        self.dist = dist
        self.rank, self.world = int(req["rank"]), int(req["world"])
        self.host_memory = int(req.get("host_memory", 0))
        kind = accelerator()
        self.nccl_log = None
        if kind in ("cuda", "rocm"):
            count = torch.cuda.device_count()
            self.dev = torch.device("cuda", int(req.get("local_rank", 0)) % count)
            torch.cuda.set_device(self.dev)
            self.backend = "nccl"
            # The user's own NCCL_DEBUG_FILE wins; else INFO lines of the network setup go to a
            # file of ours (never to stdout).
            if "NCCL_DEBUG_FILE" not in os.environ:
                fd, self.nccl_log = tempfile.mkstemp(prefix="hpcready-nccl-", suffix=".log")
                os.close(fd)
                os.environ["NCCL_DEBUG_FILE"] = self.nccl_log
                os.environ["NCCL_DEBUG"] = "INFO"
                os.environ["NCCL_DEBUG_SUBSYS"] = "INIT,NET"
            # gloo carries the small host-side exchanges (host names, device ids) so that a bad
            # GPU binding is found before NCCL builds its communicator.
            backend = "cpu:gloo,cuda:nccl"
        else:
            self.dev = torch.device("cpu")
            self.backend = "gloo"
            backend = "gloo"
        dist.init_process_group(
            backend, init_method=f"tcp://{req['master_addr']}:{req['master_port']}",
            rank=self.rank, world_size=self.world,
            timeout=datetime.timedelta(seconds=float(req.get("timeout_s", 300))))

    def gather_text(self, text):
        """Every rank's `text` (up to 255 bytes), gathered as integer tensors on the host
        (all_gather_object would need numpy, which the harness does not require)."""
        raw = list(text.encode()[:255])
        mine = torch.zeros(256, dtype=torch.int32)
        if raw:
            mine[:len(raw)] = torch.tensor(raw, dtype=torch.int32)
        gathered = [torch.zeros_like(mine) for _ in range(self.world)]
        self.dist.all_gather(gathered, mine)
        return [bytes(int(b) for b in g.tolist() if b).decode(errors="replace") for g in gathered]

    def info(self):
        import socket

        hosts = self.gather_text(socket.gethostname())
        gpu = ""
        if self.dev.type == "cuda":
            p = torch.cuda.get_device_properties(self.dev)
            # The UUID, not the index: with one GPU visible per rank every index is 0.
            gpu = str(getattr(p, "uuid", "") or "")
        gpus = self.gather_text(gpu)
        if self.dev.type == "cuda":
            seen = {}
            for r, (h, g) in enumerate(zip(hosts, gpus)):
                if not g:
                    continue
                if (h, g) in seen:
                    raise RuntimeError(
                        f"launch mismatch: ranks {seen[(h, g)]} and {r} both use the same GPU "
                        f"of {h} ({g}): give each rank its own GPU (srun --gpus-per-task 1, or "
                        f"no more ranks per node than GPUs)")
                seen[(h, g)] = r
        # Each rank's memory for buffers: its GPU's, or its share of the host's; the smallest
        # over ranks, so that every rank keeps the same sizes.
        if self.dev.type == "cuda":
            budget = torch.cuda.get_device_properties(self.dev).total_memory
        else:
            budget = self.host_memory // max(hosts.count(hosts[self.rank]), 1)
        budget = torch.tensor([budget if budget > 0 else 2**62], dtype=torch.int64)
        self.dist.all_reduce(budget, op=self.dist.ReduceOp.MIN)
        # The first collective on the device builds the NCCL/RCCL communicator.
        one = torch.ones(1, device=self.dev)
        self.dist.all_reduce(one)
        synchronize(self.dev)
        if int(one.item()) != self.world:
            raise RuntimeError(f"a 1-element all-reduce over {self.world} ranks gave {one.item()}")
        v = None
        if self.backend == "nccl":
            try:
                n = torch.cuda.nccl.version()
                v = ".".join(str(x) for x in n) if isinstance(n, tuple) else str(n)
            except Exception:
                pass
        return {"ok": True, "backend": self.backend, "world": self.world, "rank": self.rank,
                "device": str(self.dev), "gpus": gpus, "library_version": v, "hosts": hosts,
                "budget": int(budget.item()),
                "net_log": self.net_log()}

    def net_log(self):
        """The library's lines about plugins, the network and the transport it chose."""
        if not self.nccl_log:
            return []
        keys = ("NET/", "Using network", "plugin", "Plugin", "NCCL WARN", "Bootstrap")
        try:
            with open(self.nccl_log, errors="replace") as f:
                lines = [line.rstrip("\n") for line in f if any(k in line for k in keys)]
        except OSError:
            return []
        return lines[:80]

    def pattern(self, n, rank):
        """Rank r's element i: small integers, so every sum is exact in f32."""
        i = torch.arange(n, device=self.dev)
        return ((i % 17) * 3 + (rank % 13) - 20).to(torch.float32)

    def allreduce(self, req):
        dist = self.dist
        n = max(int(req["bytes"]) // 4, 1)
        iterations, samples = int(req["iterations"]), int(req["samples"])
        inplace = bool(req.get("inplace", True))
        fault = req.get("fault")
        if fault == "hang":
            time.sleep(1e6)
        if fault == "crash":
            sys.stderr.write("injected crash (HPCREADY_FAULT)\n")
            sys.stderr.flush()
            os._exit(9)
        if inplace:
            def op(x):
                dist.all_reduce(x)
                return x
        else:
            # torch.distributed's all_reduce is in place only; the functional all_reduce returns
            # a new tensor (torch copies the input, then reduces the copy in place).
            c10d = torch.ops._c10d_functional
            group = dist.group.WORLD.group_name

            def op(x):
                return c10d.wait_tensor(c10d.all_reduce(x, "sum", group))
        buf = torch.zeros(n, dtype=torch.float32, device=self.dev)
        for _ in range(2):  # warm-up: the first call of a size sets up its buffers
            op(buf)
        times = []
        start = None
        for _ in range(samples):
            dist.barrier()
            synchronize(self.dev)
            if start is None:
                start = time.time()
            t = Timer(self.dev)
            t.start()
            for _ in range(iterations):
                op(buf)
            t.stop()
            mine = torch.tensor([t.seconds() / iterations], dtype=torch.float64, device=self.dev)
            dist.all_reduce(mine, op=dist.ReduceOp.MAX)
            times.append(float(mine))
        window = [start if start is not None else time.time(), time.time()]
        del buf
        # Verification: every element of every rank against the exact sum over ranks; out of
        # place, the input must come back unchanged as well.
        data = self.pattern(n, self.rank)
        out = op(data)
        if fault == "corrupt":
            out[min(255, n - 1)] += 1.0
        i = torch.arange(n, device=self.dev)
        expected = (((i % 17) * 3 - 20) * self.world
                    + sum(r % 13 for r in range(self.world))).to(torch.float32)
        bad = out != expected
        if not inplace:
            bad |= data != self.pattern(n, self.rank)
        wrong = bad.sum().to(torch.int64).reshape(1)
        first = torch.tensor([int(torch.nonzero(bad)[0]) if int(wrong) > 0 else n],
                             dtype=torch.int64, device=self.dev)
        dist.all_reduce(wrong)
        dist.all_reduce(first, op=dist.ReduceOp.MIN)
        return {"ok": True, "samples": times, "iterations": iterations, "wrong": int(wrong),
                "first_wrong": int(first), "checked": n * self.world, "window": window,
                "call": ("torch.distributed.all_reduce (in place)" if inplace else
                         "functional all_reduce (torch.ops._c10d_functional: the input is "
                         "copied, then reduced in place)")}

    def timed(self, t, iterations, samples):
        """Samples of `iterations` steps of `t` (seconds per step), each after a barrier, the
        slowest rank's time; and the wall-clock window (Unix seconds) the samples ran in, from
        the first sample's start to the last one's end, for the binary's energy counter."""
        times = []
        start = None
        for _ in range(samples):
            self.dist.barrier()
            synchronize(self.dev)
            if start is None:
                start = time.time()
            secs, _ = t.run(iterations)
            mine = torch.tensor([secs / iterations], dtype=torch.float64)
            self.dist.all_reduce(mine, op=self.dist.ReduceOp.MAX)
            times.append(float(mine))
        return times, [start if start is not None else time.time(), time.time()]

    def all_passed(self, v):
        """A verification that passed on every rank (rank 0's text otherwise)."""
        ok = torch.tensor([1 if v["passed"] else 0], dtype=torch.int64)
        self.dist.all_reduce(ok, op=self.dist.ReduceOp.MIN)
        if v["passed"] and int(ok) == 0:
            v = dict(v, passed=False, first_failure="the check failed on another rank")
        return v

    def train(self, req):
        """The training step alone on every rank's device at once (no communication: the
        baseline, with the node's shared CPU, memory and power loaded as in the data-parallel
        run), then wrapped in DistributedDataParallel at the same micro-batch. Both timed as the
        slowest rank's; both verified: the loss falls (data-parallel: the mean over ranks, all
        ranks stopping together) and, data-parallel, every rank's parameters stay identical."""
        iterations, samples = int(req["iterations"]), int(req["samples"])
        phase = req["phase"]
        if phase == "single":
            t = Train(dict(req, batch=0), self.dev)
            # Every rank at the smallest micro-batch any rank fits (the variant, tokens and
            # FLOPs follow the batch).
            b = torch.tensor([t.batch], dtype=torch.int64)
            self.dist.all_reduce(b, op=self.dist.ReduceOp.MIN)
            t.batch = int(b)
        else:
            t = Train(dict(req, batch=int(req["batch"])), self.dev, ddp=self,
                      shard=phase == "fsdp")
        for _ in range(2):
            t.step()
        times, window = self.timed(t, iterations, samples)
        if phase == "single":
            v = t.verify()
        elif phase == "fsdp":
            v = self.verify_fsdp(t)
        else:
            v = self.verify_ddp(t, req.get("fault") == "corrupt")
        v = self.all_passed(v)
        out = {"ok": True, "samples": times, "iterations": iterations,
               "variant": t.variant, "flops": t.flops, "figures": t.figures(), "verification": v,
               "window": window}
        del t
        if self.dev.type == "cuda":
            torch.cuda.empty_cache()
        return out

    def largest_loss(self, t):
        """One step on every rank; the largest loss over ranks (so all stop at the same step)."""
        loss = torch.tensor([float(t.step().detach())], dtype=torch.float64)
        self.dist.all_reduce(loss, op=self.dist.ReduceOp.MAX)
        return float(loss)

    def verify_fsdp(self, t):
        """The loss falls below a quarter of ln(vocab) within 300 steps, the largest loss over
        ranks deciding. The parameters are sharded (each rank updates its own shard), so there
        is no copy on every rank to compare."""
        v = t.verify(lambda: self.largest_loss(t))
        v["reference"] = (f"largest loss over ranks {v['reference'][len('loss '):]} "
                          f"(FSDP2, parameters sharded across {self.world} ranks)")
        return v

    def verify_ddp(self, t, corrupt):
        """The loss falls below a quarter of ln(vocab) within 300 steps (the largest loss over
        ranks decides, so that every rank stops at the same step), and every rank's parameters
        are bit-for-bit the same afterwards."""
        def largest_loss():
            loss = torch.tensor([float(t.step().detach())], dtype=torch.float64)
            self.dist.all_reduce(loss, op=self.dist.ReduceOp.MAX)
            return float(loss)

        v = t.verify(largest_loss)
        if corrupt:  # test hook: one rank's weights drift
            with torch.no_grad():
                next(t.core.parameters()).view(-1)[0] += 1e-3
        flat = torch.cat([p.detach().double().flatten().cpu() for p in t.core.parameters()])
        w = (torch.arange(flat.numel(), dtype=torch.float64) % 7) + 1
        sig = torch.stack([flat.sum(), flat.abs().sum(), (flat * w).sum()])
        hi, lo = sig.clone(), sig.clone()
        self.dist.all_reduce(hi, op=self.dist.ReduceOp.MAX)
        self.dist.all_reduce(lo, op=self.dist.ReduceOp.MIN)
        same = bool(torch.equal(hi, lo))
        v["reference"] = (f"largest loss over ranks {v['reference'][len('loss '):]} "
                          f"(data-parallel); every rank's parameters "
                          f"{'identical' if same else 'DIFFERENT'}")
        if v["passed"] and not same:
            v["passed"] = False
            v["first_failure"] = "the ranks' parameters differ after the data-parallel steps"
        return v

    def close(self):
        try:
            self.dist.destroy_process_group()
        except Exception:
            pass
        if self.nccl_log:
            try:
                os.unlink(self.nccl_log)
            except OSError:
                pass


class Harness:
    def __init__(self):
        self.case = None
        self.dist = None

    def dist_init(self, req):
        self.dist = Distributed(req)
        return self.dist.info()

    def dist_allreduce(self, req):
        if self.dist is None:
            raise ValueError("dist_allreduce before dist_init")
        return self.dist.allreduce(req)

    def dist_train(self, req):
        if self.dist is None:
            raise ValueError("dist_train before dist_init")
        return self.dist.train(req)

    def warmup(self, req):
        """Sustained work before the first case (a cold accelerator scores higher): bf16
        matmuls on a GPU, f32 on the CPU, for the seconds asked."""
        dev = device_of(req)
        n = 4096 if dev.type != "cpu" else 512
        dt = torch.bfloat16 if dev.type != "cpu" else torch.float32
        a = torch.randn(n, n, device=dev, dtype=dt)
        end = time.perf_counter() + float(req.get("seconds", 0))
        calls = 0
        while time.perf_counter() < end:
            torch.mm(a, a)
            calls += 1
            if calls % 8 == 0:
                synchronize(dev)
        synchronize(dev)
        return {"ok": True, "calls": calls}

    def prepare(self, req):
        self.case = None
        try:
            self.case = self.build(req)
        except Unsupported as e:
            return {"ok": True, "unsupported": str(e)}
        return {"ok": True, "variant": self.case.variant, "flops": self.case.flops}

    def build(self, req):
        """The case `req` asks for, or Unsupported saying why this torch or device cannot."""
        dev = device_of(req)
        bench, dtype = req["bench"], req["dtype"]
        if dtype not in STORAGE:
            raise Unsupported(f"{dtype} is not a type torch computes in")
        if dtype == "tf32" and not (dev.type == "cuda" and accelerator() == "cuda"
                                    and torch.cuda.get_device_capability(dev)[0] >= 8):
            raise Unsupported("TF32 needs an NVIDIA GPU of compute capability 8.0 or later")
        if bench == "matmul":
            return Matmul(req, dev)
        if bench == "attention":
            return Attention(req, dev)
        if bench == "train":
            if dtype not in ("bf16", "f32"):
                raise Unsupported("training runs in bf16 autocast or f32")
            return Train(req, dev)
        raise Unsupported(f"the torch backend does not run {bench}")

    def run(self, req):
        seconds, source = self.case.run(int(req["iterations"]))
        out = {"ok": True, "seconds": seconds, "timing": source}
        if hasattr(self.case, "figures"):
            out["figures"] = self.case.figures()
        return out

    def verify(self, _req):
        return {"ok": True, "verification": self.case.verify()}

    def release(self, _req):
        self.case = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        return {"ok": True}


def fault(op):
    """Test hook: HPCREADY_HARNESS_FAULT=OP:crash|hang:MARKER makes the first such request crash
    the process or hang, once: it fires only while the file MARKER does not exist, and creates
    it."""
    spec = os.environ.get("HPCREADY_HARNESS_FAULT", "")
    parts = spec.split(":", 2)
    if len(parts) != 3 or parts[0] != op or os.path.exists(parts[2]):
        return
    open(parts[2], "w").close()
    if parts[1] == "crash":
        sys.stderr.write("injected crash (HPCREADY_HARNESS_FAULT)\n")
        sys.stderr.flush()
        os._exit(9)
    if parts[1] == "hang":
        time.sleep(1e6)


def main():
    global torch
    private_answers()
    try:
        import torch as t
    except Exception as e:
        answer({"ok": False, "error": f"this Python cannot import torch: {type(e).__name__}: {e}",
                "fatal": True})
        return 3
    torch = t
    if torch_version_tuple(torch.__version__) < OLDEST_TORCH:
        answer({"ok": False, "fatal": True,
                "error": f"torch {torch.__version__} is older than the oldest supported, "
                         f"{'.'.join(map(str, OLDEST_TORCH))}"})
        return 3
    h = Harness()
    ops = {"hello": hello, "warmup": h.warmup, "prepare": h.prepare, "run": h.run,
           "verify": h.verify, "release": h.release, "dist_init": h.dist_init,
           "dist_allreduce": h.dist_allreduce, "dist_train": h.dist_train}
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            op = req.get("op")
            if op == "quit":
                if h.dist is not None:
                    h.dist.close()
                answer({"ok": True})
                return 0
            fault(op)
            if op not in ops:
                raise ValueError(f"unknown op {op!r}")
            if op in ("run", "verify") and h.case is None:
                raise ValueError(f"{op} before a successful prepare")
            answer(ops[op](req))
        except Exception as e:
            tb = traceback.format_exc().strip().splitlines()
            answer({"ok": False, "error": f"{type(e).__name__}: {e}", "traceback": tb[-6:]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
