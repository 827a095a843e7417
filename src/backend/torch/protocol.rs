//! The harness protocol, typed: one [`Request`] per line to `harness.py`, tagged by `op`, and
//! one answer type per op, serde both ways. Every answer field the binary uses is required and
//! unknown fields are refused, so a key renamed on either side is an error naming the op, never
//! a silent zero in `results.json`. Non-finite numbers cross as the strings `"NaN"`, `"inf"`,
//! `"-inf"`, as in results files ([`crate::float`]).
//!
//! The golden answers under `tests/data/harness/` are read into these types by the unit tests
//! here, and the harness's pytest checks its real answers against the same files, so the two
//! sides cannot drift apart unnoticed.

use crate::bench::Shape;
use crate::bench::verify::Verification;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// One request to the harness.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// What torch this is ([`crate::node::TorchInfo`]).
    Hello,
    /// Sustained matmuls before the first case.
    Warmup {
        /// torch's device index.
        device: usize,
        /// How long.
        seconds: f64,
    },
    /// Builds one case ([`Prepared`]).
    Prepare(Prepare),
    /// Times the prepared case ([`RunAnswer`]).
    Run {
        /// Calls (steps) timed.
        iterations: u64,
    },
    /// Checks the prepared case ([`VerifyAnswer`]).
    Verify,
    /// Frees the prepared case.
    Release,
    /// Ends the harness.
    Quit,
    /// Joins torch.distributed ([`DistInitAnswer`]).
    DistInit(DistInit),
    /// One all-reduce size across ranks ([`AllreduceAnswer`]).
    DistAllreduce(DistAllreduce),
    /// One training step across ranks ([`DistTrainAnswer`]).
    DistTrain(DistTrain),
}

impl Request {
    /// The op's name, for messages.
    pub fn op(&self) -> &'static str {
        match self {
            Request::Hello => "hello",
            Request::Warmup { .. } => "warmup",
            Request::Prepare(_) => "prepare",
            Request::Run { .. } => "run",
            Request::Verify => "verify",
            Request::Release => "release",
            Request::Quit => "quit",
            Request::DistInit(_) => "dist_init",
            Request::DistAllreduce(_) => "dist_allreduce",
            Request::DistTrain(_) => "dist_train",
        }
    }
}

/// `prepare`: one case on one device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prepare {
    /// `matmul`, `attention` or `train`.
    pub bench: crate::bench::BenchKind,
    /// `bf16`, `f32` …
    pub dtype: crate::bench::DType,
    /// The case's shape.
    pub shape: Shape,
    /// torch's device index (ignored on the CPU).
    pub device: usize,
    /// Bytes of cache flushed before each call.
    pub flush_bytes: u64,
    /// The SDPA backend pinned (`flash`, `math` …); none: the default dispatch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<SdpaBackend>,
    /// A training step under `torch.compile` (each block compiled, inductor).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub compile: bool,
}

/// An SDPA backend the harness pins with `torch.nn.attention.sdpa_kernel` (`default`: torch's
/// own dispatch, nothing pinned).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SdpaBackend {
    /// torch's dispatch.
    Default,
    /// FlashAttention-2 (CUDA; CK or AOTriton on ROCm; torch's own on the CPU).
    Flash,
    /// Memory-efficient attention (xFormers' kernels).
    Efficient,
    /// cuDNN's fused attention (CUDA only).
    Cudnn,
    /// The unfused reference.
    Math,
}

impl SdpaBackend {
    /// Every backend, by name.
    pub const ALL: [SdpaBackend; 5] = [
        Self::Default,
        Self::Flash,
        Self::Efficient,
        Self::Cudnn,
        Self::Math,
    ];

    /// Its name, as `sdpa_kernel` and the method name say it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Flash => "flash",
            Self::Efficient => "efficient",
            Self::Cudnn => "cudnn",
            Self::Math => "math",
        }
    }

    /// The backend named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.name() == s)
    }
}

/// `dist_init`: this rank joins the process group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistInit {
    /// This rank.
    pub rank: usize,
    /// Ranks in the job.
    pub world: usize,
    /// This rank on its node.
    pub local_rank: usize,
    /// The rendezvous host.
    pub master_addr: String,
    /// The rendezvous port.
    pub master_port: u16,
    /// torch.distributed's own timeout, seconds.
    pub timeout_s: u64,
    /// The host's available memory, bytes (the CPU's buffer budget).
    pub host_memory: u64,
}

/// A fault a test injects on one rank (test-hooks builds only ever set it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// The rank stops answering.
    Hang,
    /// The rank's process dies.
    Crash,
    /// The rank's result is wrong.
    Corrupt,
}

/// `dist_allreduce`: one size, in or out of place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistAllreduce {
    /// Message size.
    pub bytes: u64,
    /// In place (`all_reduce`) or out of place (functional).
    pub inplace: bool,
    /// Back-to-back calls per sample.
    pub iterations: u64,
    /// Samples.
    pub samples: u64,
    /// Test hook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<Fault>,
}

/// Which training step across ranks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The step alone on every rank's device at once (the data-parallel baseline).
    Single,
    /// DistributedDataParallel at the same micro-batch.
    Ddp,
    /// FSDP2 (`fully_shard` per block) at the same micro-batch: parameters, gradients and
    /// optimizer state sharded, as production trains models that do not fit one GPU.
    Fsdp,
}

impl Phase {
    /// The method this phase is recorded under.
    pub fn method(self) -> &'static str {
        match self {
            Phase::Single => TRAIN_METHOD,
            Phase::Ddp => "torch/train-llama-ddp",
            Phase::Fsdp => "torch/train-llama-fsdp",
        }
    }
}

/// `dist_train`: one training step across ranks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistTrain {
    /// Alone or data-parallel.
    pub phase: Phase,
    /// The model.
    pub shape: Shape,
    /// `bf16` or `f32`.
    pub dtype: crate::bench::DType,
    /// Steps per sample.
    pub iterations: u64,
    /// Samples.
    pub samples: u64,
    /// The micro-batch every rank uses (0: the largest that fits, lowered to the smallest over
    /// ranks).
    pub batch: u64,
    /// Test hook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<Fault>,
    /// The step under `torch.compile` (each block compiled, inductor).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub compile: bool,
}

/// The method of a single-process training step.
pub const TRAIN_METHOD: &str = "torch/train-llama";

/// The method a torch case is recorded under, whether it prepares or not: `torch/matmul`,
/// `torch/sdpa` (the default dispatch) or `torch/sdpa-<backend>` (one pinned),
/// `torch/train-llama`.
pub fn method(bench: crate::bench::BenchKind, kernel: Option<SdpaBackend>) -> String {
    use crate::bench::BenchKind;
    match (bench, kernel) {
        (BenchKind::Attention, None | Some(SdpaBackend::Default)) => "torch/sdpa".into(),
        (BenchKind::Attention, Some(k)) => format!("torch/sdpa-{}", k.name()),
        (BenchKind::Train, _) => TRAIN_METHOD.into(),
        (b, _) => format!("torch/{b}"),
    }
}

/// `warmup`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarmupAnswer {
    /// Matmuls run.
    pub calls: u64,
}

/// `prepare`'s answer: the case is ready, or the device or torch cannot run it (and why).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Prepared {
    /// Not a failure: this torch or device does not run the case.
    Unsupported {
        /// Why.
        unsupported: String,
    },
    /// Ready to run.
    Ready(Ready),
}

/// A prepared case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ready {
    /// How it runs (the call, the backend the default dispatch chose, the model).
    pub variant: String,
    /// FLOPs per call (per step), as the harness counts them.
    #[serde(with = "crate::float")]
    pub flops: f64,
}

/// `run`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunAnswer {
    /// Seconds for all the iterations.
    #[serde(with = "crate::float")]
    pub seconds: f64,
    /// `events` (device timestamps) or `wall` (the host's clock).
    pub timing: String,
    /// A training step's figures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub figures: Option<TrainFigures>,
}

/// A training step's model and memory.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainFigures {
    /// Parameters without the token embedding.
    pub parameters: u64,
    /// Sequences per step.
    pub micro_batch: u64,
    /// Tokens per step.
    pub tokens_per_step: u64,
    /// 6N + 12·L·H·Q·T.
    #[serde(with = "crate::float")]
    pub flops_per_token: f64,
    /// Peak device memory torch allocated (0 on the CPU).
    pub peak_memory_bytes: u64,
    /// The loss before the first step.
    #[serde(with = "crate::float")]
    pub first_loss: f64,
}

impl TrainFigures {
    /// The results' training figures at the median step time.
    pub fn at(&self, step_s: f64) -> crate::results::TrainInfo {
        crate::results::TrainInfo {
            tokens_per_s: self.tokens_per_step as f64 / step_s,
            step_s,
            parameters: self.parameters,
            micro_batch: self.micro_batch,
            tokens_per_step: self.tokens_per_step,
            flops_per_token: self.flops_per_token,
            peak_memory_bytes: self.peak_memory_bytes,
            first_loss: self.first_loss,
            data_parallel: None,
        }
    }
}

/// `verify`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyAnswer {
    /// The check.
    pub verification: Verification,
}

/// `release`'s and `quit`'s answer: nothing but `ok`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Done {}

/// `dist_init`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistInitAnswer {
    /// `nccl` (RCCL on ROCm) or `gloo`.
    pub backend: String,
    /// Ranks.
    pub world: usize,
    /// This rank.
    pub rank: usize,
    /// torch's device for this rank.
    pub device: String,
    /// Every rank's GPU UUID (empty on the CPU).
    pub gpus: Vec<String>,
    /// NCCL/RCCL's version.
    pub library_version: Option<String>,
    /// Every rank's host name.
    pub hosts: Vec<String>,
    /// The smallest memory for buffers over ranks, bytes.
    pub budget: u64,
    /// NCCL/RCCL's INFO lines about the network.
    pub net_log: Vec<String>,
}

/// `dist_allreduce`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllreduceAnswer {
    /// Seconds per call, the slowest rank's, one per sample.
    #[serde(with = "crate::float::list")]
    pub samples: Vec<f64>,
    /// Calls per sample.
    pub iterations: u64,
    /// Elements wrong over every rank.
    pub wrong: u64,
    /// The first wrong element (the element count when none).
    pub first_wrong: u64,
    /// Elements checked over every rank.
    pub checked: u64,
    /// The torch call timed.
    pub call: String,
    /// When the timed samples ran, Unix seconds (start, end), for the energy counter.
    #[serde(default)]
    pub window: Option<[f64; 2]>,
}

/// `dist_train`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistTrainAnswer {
    /// Seconds per step, the slowest rank's, one per sample.
    #[serde(with = "crate::float::list")]
    pub samples: Vec<f64>,
    /// Steps per sample.
    pub iterations: u64,
    /// The model and how it runs, at the micro-batch every rank used.
    pub variant: String,
    /// FLOPs per step.
    #[serde(with = "crate::float")]
    pub flops: f64,
    /// The model and memory.
    pub figures: TrainFigures,
    /// The check (every rank's).
    pub verification: Verification,
    /// When the timed samples ran, Unix seconds (start, end): the binary reads the energy it
    /// recorded over that window. Absent from harnesses before energy was measured.
    #[serde(default)]
    pub window: Option<[f64; 2]>,
}

/// Reads an `ok` answer of `op` as its type: a mismatch names the op and what is wrong.
pub fn read<A: DeserializeOwned>(op: &str, mut answer: serde_json::Value) -> Result<A, String> {
    if let Some(o) = answer.as_object_mut() {
        o.remove("ok");
    }
    serde_json::from_value(answer.clone()).map_err(|e| {
        let text = answer.to_string();
        format!(
            "the PyTorch harness's answer to `{op}` does not match this hpcready ({e}): {}",
            text.chars().take(300).collect::<String>()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn golden(op: &str) -> serde_json::Value {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/harness")
            .join(format!("{op}.json"));
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    /// `v` without its null fields (an absent optional field is written as neither).
    fn no_nulls(v: serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(o) => o
                .into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, no_nulls(v)))
                .collect(),
            other => other,
        }
    }

    /// Each golden answer reads into its type and writes back to the same JSON (less `ok`).
    fn round_trip<A: DeserializeOwned + Serialize>(op: &str) -> A {
        let g = golden(op);
        let a: A = read(op, g.clone()).unwrap();
        let mut back = no_nulls(serde_json::to_value(&a).unwrap());
        back.as_object_mut()
            .unwrap()
            .insert("ok".into(), serde_json::Value::Bool(true));
        assert_eq!(back, no_nulls(g), "{op}");
        a
    }

    #[test]
    fn every_golden_answer_reads_into_its_type_and_back() {
        let info: crate::node::TorchInfo = read("hello", golden("hello")).unwrap();
        assert_eq!(info.accelerator, crate::node::TorchAccelerator::Cpu);
        assert_eq!(round_trip::<WarmupAnswer>("warmup").calls, 11);
        let p: Prepared = round_trip("prepare");
        assert!(matches!(p, Prepared::Ready(_)));
        let p: Prepared = round_trip("prepare-unsupported");
        assert!(matches!(p, Prepared::Unsupported { .. }));
        let r: RunAnswer = round_trip("run");
        assert!(r.figures.is_some());
        let v: VerifyAnswer = round_trip("verify");
        assert!(v.verification.passed);
        let v: VerifyAnswer = round_trip("verify-diverged");
        assert!(v.verification.max_rel_error.is_nan());
        round_trip::<Done>("release");
        round_trip::<DistInitAnswer>("dist_init");
        round_trip::<AllreduceAnswer>("dist_allreduce");
        let t: DistTrainAnswer = round_trip("dist_train");
        assert!(t.figures.first_loss.is_finite());
    }

    #[test]
    fn a_renamed_or_missing_key_is_an_error_naming_the_op() {
        let mut g = golden("run");
        let o = g.as_object_mut().unwrap();
        let secs = o.remove("seconds").unwrap();
        o.insert("secs".into(), secs);
        let e = read::<RunAnswer>("run", g).unwrap_err();
        assert!(e.contains("answer to `run` does not match"), "{e}");
        let mut g = golden("dist_allreduce");
        g.as_object_mut().unwrap().remove("wrong");
        let e = read::<AllreduceAnswer>("dist_allreduce", g).unwrap_err();
        assert!(e.contains("missing field `wrong`"), "{e}");
    }

    #[test]
    fn requests_are_tagged_by_op_and_read_back() {
        let reqs = [
            Request::Hello,
            Request::Run { iterations: 3 },
            Request::Prepare(Prepare {
                bench: crate::bench::BenchKind::Attention,
                dtype: crate::bench::DType::Bf16,
                shape: Shape::Attention {
                    b: 1,
                    h: 8,
                    s: 256,
                    d: 64,
                    causal: true,
                    backward: false,
                },
                device: 0,
                flush_bytes: 8 << 20,
                kernel: Some(SdpaBackend::Flash),
                compile: false,
            }),
            Request::DistAllreduce(DistAllreduce {
                bytes: 1024,
                inplace: true,
                iterations: 2,
                samples: 3,
                fault: Some(Fault::Corrupt),
            }),
        ];
        for r in reqs {
            let v = serde_json::to_value(&r).unwrap();
            assert_eq!(v["op"], r.op());
            assert_eq!(serde_json::from_value::<Request>(v).unwrap(), r);
        }
        let v = serde_json::to_value(Request::Hello).unwrap();
        assert_eq!(v, serde_json::json!({"op": "hello"}));
    }

    #[test]
    fn torch_methods_are_the_same_prepared_or_not() {
        use crate::bench::BenchKind;
        assert_eq!(method(BenchKind::Matmul, None), "torch/matmul");
        assert_eq!(
            method(BenchKind::Attention, Some(SdpaBackend::Default)),
            "torch/sdpa"
        );
        assert_eq!(
            method(BenchKind::Attention, Some(SdpaBackend::Flash)),
            "torch/sdpa-flash"
        );
        assert_eq!(method(BenchKind::Train, None), TRAIN_METHOD);
    }
}
