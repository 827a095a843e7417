"""pytest of hpcready's PyTorch harness (src/backend/torch/harness.py) on the CPU build of torch:
its pure parts (the answer encoding, the loss check, the FLOP formula, the cases it refuses) and
every op's real answer against the golden answers in tests/data/harness/, which the binary's
unit tests read into its typed protocol (src/backend/torch/protocol.rs). A key renamed on
either side fails one of the two.

Run: target/torch-venv/bin/python -m pytest tests/harness (CI does). With
HPCREADY_WRITE_GOLDEN=1 the real answers are written as the golden files instead (review them).
"""

import importlib.util
import json
import math
import os
import socket
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "data" / "harness"


def load_harness():
    spec = importlib.util.spec_from_file_location(
        "hpcready_harness", ROOT / "src" / "backend" / "torch" / "harness.py")
    h = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(h)
    return h


H = load_harness()
H.torch = torch

CI_MODEL = {"layers": 2, "hidden": 128, "heads": 4, "vocab": 512, "seq": 128, "batch": 4}


def kind(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)) or v in ("NaN", "inf", "-inf"):
        return "number"
    return type(v).__name__


def same_shape(got, want, where):
    """`got` has exactly `want`'s keys, recursively, and values of the same kind (null
    matches anything: an optional field)."""
    if isinstance(want, dict):
        assert isinstance(got, dict), f"{where}: {got!r} is not an object"
        assert set(got) == set(want), (
            f"{where}: keys differ: only in the answer {sorted(set(got) - set(want))}, only in "
            f"the golden file {sorted(set(want) - set(got))}")
        for k in want:
            same_shape(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list), f"{where}: {got!r} is not a list"
        if want and got:
            same_shape(got[0], want[0], f"{where}[0]")
    elif want is not None and got is not None:
        assert kind(got) == kind(want), f"{where}: {got!r} is not like {want!r}"


def against_golden(name, ans):
    """The answer as the binary reads it (one JSON line), checked against its golden file."""
    ans = json.loads(H.encode(ans))
    path = GOLDEN / f"{name}.json"
    if os.environ.get("HPCREADY_WRITE_GOLDEN") == "1":
        path.write_text(json.dumps(ans, indent=2, ensure_ascii=False) + "\n")
        return
    same_shape(ans, json.loads(path.read_text()), name)


# --- pure parts ---

def test_non_finite_numbers_cross_as_strings():
    line = H.encode({"a": float("nan"), "b": [float("inf"), -math.inf, 1.5], "c": {"d": 2}})
    assert json.loads(line) == {"a": "NaN", "b": ["inf", "-inf", 1.5], "c": {"d": 2}}
    assert "NaN," not in line


def test_torch_versions_compare_by_major_and_minor():
    assert H.torch_version_tuple("2.5.1+cu124") == (2, 5)
    assert H.torch_version_tuple("2.10.0a0+git") == (2, 10)
    assert H.torch_version_tuple("2.3") >= H.OLDEST_TORCH


def test_flops_per_token_is_palm():
    assert H.flops_per_token(590_464, 2, 128, 128) == 6 * 590_464 + 12 * 2 * 128 * 128


def falling(start, rate):
    loss = [start]

    def step():
        loss[0] *= rate
        return loss[0]
    return step


def test_loss_check_passes_a_step_that_trains():
    v = H.loss_check(math.log(512), 512, falling(math.log(512), 0.9))
    assert v["passed"] and v["first_failure"] is None
    assert v["max_rel_error"] < 0.25 and v["checked"] < H.TRAIN_STEPS


def test_loss_check_fails_a_frozen_step():
    v = H.loss_check(math.log(512), 512, lambda: math.log(512))
    assert not v["passed"] and v["checked"] == H.TRAIN_STEPS
    assert "does not train" in v["first_failure"]


def test_loss_check_fails_a_diverged_step_at_once_and_its_answer_is_json():
    losses = iter([5.0, float("nan")])
    v = H.loss_check(math.log(512), 512, lambda: next(losses))
    assert not v["passed"] and v["checked"] == 2
    assert "diverged" in v["first_failure"]
    assert json.loads(H.encode(v))["max_rel_error"] == "NaN"
    against_golden("verify-diverged", {"ok": True, "verification": v})


def test_loss_check_fails_a_model_that_starts_wrong():
    v = H.loss_check(0.5, 512, falling(0.5, 0.5))
    assert not v["passed"] and "not near ln(512)" in v["first_failure"]


def test_unsupported_cases_are_refused_by_exception():
    h = H.Harness()
    for req, why in [
        ({"bench": "matmul", "dtype": "f8", "shape": {"m": 8, "n": 8, "k": 8}}, "not a type"),
        ({"bench": "matmul", "dtype": "tf32", "shape": {"m": 8, "n": 8, "k": 8}}, "TF32"),
        ({"bench": "train", "dtype": "f16", "shape": CI_MODEL}, "bf16 autocast or f32"),
        ({"bench": "membw", "dtype": "f32", "shape": {"bytes": 8}}, "does not run membw"),
    ]:
        ans = h.prepare(dict(req, device=0, flush_bytes=0))
        assert why in ans["unsupported"], ans
        assert h.case is None
    against_golden("prepare-unsupported", ans)


def test_the_step_names_its_choices_and_compiles_when_asked():
    t = H.Train({"shape": CI_MODEL, "dtype": "f32", "batch": 2}, torch.device("cpu"))
    assert "AdamW (not fused on this device), eager;" in t.variant, t.variant
    c = H.Train({"shape": CI_MODEL, "dtype": "f32", "batch": 2, "compile": True},
                torch.device("cpu"))
    assert "torch.compile per block (inductor);" in c.variant, c.variant
    assert c.verify()["passed"]


def test_the_variant_follows_a_lowered_micro_batch():
    t = H.Train({"shape": CI_MODEL, "dtype": "f32", "batch": 0}, torch.device("cpu"))
    assert t.batch == 4 and "micro-batch 4" in t.variant
    t.batch = 2
    assert "micro-batch 2" in t.variant and t.tokens == 256
    assert t.flops == t.flops_per_token * 256


# --- every op against its golden answer ---

def test_hello_warmup_prepare_run_verify_release():
    h = H.Harness()
    against_golden("hello", H.hello({}))
    against_golden("warmup", h.warmup({"device": 0, "seconds": 0.01}))
    ans = h.prepare({"bench": "matmul", "dtype": "f32", "shape": {"m": 32, "n": 32, "k": 32},
                     "device": 0, "flush_bytes": 1 << 20})
    against_golden("prepare", ans)
    assert ans["flops"] == 2 * 32 ** 3
    ans = h.prepare({"bench": "train", "dtype": "f32", "shape": CI_MODEL, "device": 0,
                     "flush_bytes": 0})
    against_golden("run", h.run({"iterations": 1}))
    against_golden("verify", h.verify({}))
    against_golden("release", h.release({}))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_one_rank_dist_init_allreduce_train():
    h = H.Harness()
    try:
        against_golden("dist_init", h.dist_init({
            "rank": 0, "world": 1, "local_rank": 0, "master_addr": "127.0.0.1",
            "master_port": free_port(), "timeout_s": 60, "host_memory": 1 << 30}))
        ans = h.dist_allreduce({"bytes": 4096, "inplace": True, "iterations": 2, "samples": 2})
        assert ans["wrong"] == 0 and ans["checked"] == 1024
        against_golden("dist_allreduce", ans)
        ans = h.dist_train({"phase": "single", "shape": CI_MODEL, "dtype": "f32",
                            "iterations": 1, "samples": 1, "batch": 0})
        assert ans["verification"]["passed"], ans
        against_golden("dist_train", ans)
        # FSDP2 on one rank (gloo, a CPU mesh): sharded, verified by its falling loss.
        ans = h.dist_train({"phase": "fsdp", "shape": CI_MODEL, "dtype": "f32",
                            "iterations": 1, "samples": 1, "batch": 2})
        assert ans["verification"]["passed"], ans
        assert "FSDP2 (fully_shard per block)" in ans["variant"], ans["variant"]
        assert "AdamW (not fused on this device)" in ans["variant"], ans["variant"]
        assert "parameters sharded across 1 ranks" in ans["verification"]["reference"]
        against_golden("dist_train", ans)
    finally:
        if h.dist is not None:
            h.dist.close()
