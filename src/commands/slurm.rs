//! `hpcready slurm`: prints an sbatch script that measures a node, runs the all-reduce across
//! every node and writes the report, offline, with Apptainer when asked.

use super::emit;
use crate::cli::{Sampling, SlurmArgs};
use crate::error::input_error;

/// Quotes a value for a shell script: single quotes, embedded ones escaped.
fn sh(v: &str) -> String {
    format!("'{}'", v.replace('\'', r"'\''"))
}

/// A value safe on an `#SBATCH` line (no spaces, quotes or newlines).
fn sbatch_value(flag: &str, v: &str) -> anyhow::Result<String> {
    if v.is_empty()
        || !v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:,+=/@".contains(c))
    {
        return Err(input_error(
            flag,
            format!(
                "`{v}` cannot go on an #SBATCH line: use letters, digits and - _ . : , + = / @"
            ),
        ));
    }
    Ok(v.to_string())
}

/// The script.
pub fn script(args: &SlurmArgs, binary: &str) -> anyhow::Result<String> {
    let time = sbatch_value("--time", &args.time)?;
    let nodes = args.nodes;
    let gpus_per_node = args.gpus_per_node.unwrap_or(0);
    let ranks = if args.smoke {
        1
    } else {
        args.ranks_per_node.unwrap_or(if gpus_per_node > 0 {
            gpus_per_node
        } else if nodes == 1 {
            2
        } else {
            1
        })
    };
    let mut s = String::from("#!/bin/bash\n");
    s.push_str("# Written by `hpcready slurm`. Submit with: sbatch THIS_FILE\n");
    s.push_str(if args.smoke {
        "#SBATCH --job-name=hpcready-smoke\n"
    } else {
        "#SBATCH --job-name=hpcready\n"
    });
    s.push_str(&format!("#SBATCH --nodes={nodes}\n"));
    s.push_str(&format!("#SBATCH --ntasks-per-node={ranks}\n"));
    if gpus_per_node > 0 {
        s.push_str(&format!("#SBATCH --gpus-per-node={gpus_per_node}\n"));
    }
    if let Some(p) = &args.partition {
        s.push_str(&format!(
            "#SBATCH --partition={}\n",
            sbatch_value("--partition", p)?
        ));
    }
    if let Some(a) = &args.account {
        s.push_str(&format!(
            "#SBATCH --account={}\n",
            sbatch_value("--account", a)?
        ));
    }
    s.push_str(&format!("#SBATCH --time={time}\n"));
    s.push_str("#SBATCH --exclusive\n");
    s.push_str("#SBATCH --output=hpcready-%j.out\n\n");
    s.push_str("set -uo pipefail\n\n");
    s.push_str(
        "# Compute nodes have no internet: nothing in this job downloads, and the libraries a\n\
         # training job uses are told so too (the report's checklist looks for these).\n\
         export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 WANDB_MODE=offline\n\n",
    );
    s.push_str(&format!("HPCREADY=${{HPCREADY:-{}}}\n", sh(binary)));
    s.push_str(if args.smoke {
        "OUT=${HPCREADY_OUT:-$PWD/reports/smoke-$SLURM_JOB_ID}\n"
    } else {
        "OUT=${HPCREADY_OUT:-$PWD/reports/slurm-$SLURM_JOB_ID}\n"
    });
    s.push_str("mkdir -p \"$OUT\"\n\n");
    match &args.container {
        Some(sif) => {
            let sif = sif.display().to_string();
            s.push_str(&format!("SIF={}\n", sh(&sif)));
            s.push_str(
                "# GPUs inside the container: --nv on NVIDIA nodes, --rocm on AMD ones.\n\
                 GPU_FLAG=\"\"\n\
                 command -v nvidia-smi >/dev/null 2>&1 && GPU_FLAG=--nv\n\
                 command -v rocm-smi >/dev/null 2>&1 && GPU_FLAG=--rocm\n\
                 RUN=(apptainer exec $GPU_FLAG --bind \"$OUT\" --bind \"$(dirname \"$HPCREADY\")\" \"$SIF\" \"$HPCREADY\")\n\n",
            );
        }
        None => s.push_str("RUN=(\"$HPCREADY\")\n\n"),
    }
    if args.smoke {
        s.push_str(&smoke_steps(args)?);
        return Ok(s);
    }
    let suite = args.suite.name();
    let smoke = if args.sampling == Sampling::Smoke {
        " --sampling smoke"
    } else {
        ""
    };
    let python = args
        .torch
        .as_ref()
        .map(|p| format!(" --python {}", sh(p)))
        .unwrap_or_default();
    s.push_str(&format!(
        "# 1. One node's compute benchmarks and porting checklist: one process, all its GPUs.\n\
         srun --nodes=1 --ntasks=1 --cpus-per-task=\"${{SLURM_CPUS_ON_NODE:-1}}\" \"${{RUN[@]}}\" run --suite {suite}{smoke}{python} --out \"$OUT/node.json\" \\\n  || echo \"hpcready: the node benchmarks failed (see above)\" >&2\n\n"
    ));
    let mpi = match &args.mpi {
        Some(p) => format!(" --mpi={}", sbatch_value("--mpi", p)?),
        None => String::new(),
    };
    s.push_str(&format!(
        "# 2. All-reduce across every rank of every node ({} ranks). The binary must be built\n\
         #    with --features mpi; if MPI sees one rank per process, set srun's --mpi plugin\n\
         #    (`srun --mpi=list`).\n\
         srun{mpi} --nodes={nodes} --ntasks-per-node={ranks} \"${{RUN[@]}}\" run --bench allreduce --suite {suite}{smoke} --out \"$OUT/allreduce.json\" \\\n  || echo \"hpcready: the all-reduce failed (see above)\" >&2\n\n",
        nodes * ranks
    ));
    if let Some(py) = &args.torch {
        let compile = if args.compile { " --compile" } else { "" };
        let bind = match &args.cpu_bind {
            Some(b) => format!(" --cpu-bind={}", sbatch_value("--cpu-bind", b)?),
            None => String::new(),
        };
        let gpus = if gpus_per_node > 0 {
            " --gpus-per-task=1"
        } else {
            ""
        };
        if args.scaling {
            let mut counts: Vec<u32> = std::iter::successors(Some(1u32), |k| k.checked_mul(2))
                .take_while(|&k| k < nodes)
                .collect();
            counts.push(nodes);
            let list = counts
                .iter()
                .map(|k| k.to_string())
                .collect::<Vec<_>>()
                .join(" ");
            s.push_str(&format!(
                "# 2b. Scaling through the user's PyTorch: the torch.distributed all-reduce and the\n\
                 #    data-parallel training step at {list} node(s), one task per GPU, a results\n\
                 #    file per node count (the rendezvous directory must be shared by the nodes).\n\
                 for k in {list}; do\n\
                 \x20 srun --nodes=$k --ntasks-per-node={ranks}{gpus}{bind} \"${{RUN[@]}}\" run --backend torch --bench allreduce,train --python {} --suite {suite}{smoke}{compile} --out \"$OUT/scaling-${{k}}n.json\" \\\n\
                 \x20   || echo \"hpcready: the torch step at $k node(s) failed (see above)\" >&2\n\
                 done\n\n",
                sh(py)
            ));
        } else {
            s.push_str(&format!(
            "# 2b. Through the user's PyTorch, one task per GPU on every node ({} ranks):\n\
             #    torch.distributed all-reduce (NCCL/RCCL; gloo on CPUs) and the training step\n\
             #    alone then data-parallel (DDP). The binary reads srun's variables and sets up\n\
             #    the rendezvous in this directory (it must be shared by the nodes). The report's\n\
             #    checklist says which network NCCL/RCCL chose.\n\
             srun --nodes={nodes} --ntasks-per-node={ranks}{gpus}{bind} \"${{RUN[@]}}\" run --backend torch --bench allreduce,train --python {} --suite {suite}{smoke}{compile} --out \"$OUT/torch.json\" \\\n  || echo \"hpcready: the torch step failed (see above)\" >&2\n\n",
            nodes * ranks,
            sh(py)
        ));
        }
    }
    s.push_str(&format!(
        "# 3. The report, from whatever finished.\n\
         parts=()\n\
         for f in \"$OUT/node.json\" \"$OUT/allreduce.json\" \"$OUT/torch.json\" \"$OUT\"/scaling-*n.json; do [ -s \"$f\" ] && parts+=(\"$f\"); done\n\
         if [ ${{#parts[@]}} -eq 0 ]; then echo \"hpcready: nothing was measured\" >&2; exit 1; fi\n\
         \"${{RUN[@]}}\" report \"${{parts[@]}}\" --baseline {} --out \"$OUT\"\n\
         echo \"hpcready: report in $OUT/report.html\"\n",
        sh(&args.baseline)
    ));
    Ok(s)
}

/// The steps of the pre-job check: smoke on every node, then the fleet report.
fn smoke_steps(args: &SlurmArgs) -> anyhow::Result<String> {
    let nodes = args.nodes;
    let mut flags = String::new();
    if let Some(g) = args.gpus_per_node {
        flags.push_str(&format!(" --gpus-per-node {g}"));
    }
    if let Some(t) = args.smoke_timeout {
        flags.push_str(&format!(" --timeout {t}"));
    }
    if let Some(py) = &args.torch {
        flags.push_str(&format!(" --python {}", sh(py)));
    }
    let baseline = sh(&args.baseline);
    Ok(format!(
        "# 1. Every node checked at once, one task per node, no rendezvous: its GPUs against\n\
         #    those expected, their health, the kernel log, and every device measured in its own\n\
         #    process with a time limit. Each node writes $OUT/<host>.json as it goes.\n\
         srun --nodes={nodes} --ntasks-per-node=1 --cpus-per-task=\"${{SLURM_CPUS_ON_NODE:-1}}\" \"${{RUN[@]}}\" smoke --baseline {baseline}{flags} --out \"$OUT\" \\\n  || echo \"hpcready: smoke did not finish on every node (see above)\" >&2\n\n\
         # 2. The fleet report over the node files: how many nodes are ready, why the others\n\
         #    are not, and failing-nodes.txt for the training job's `sbatch --exclude`.\n\
         shopt -s nullglob\n\
         files=(\"$OUT\"/*.json)\n\
         if [ ${{#files[@]}} -eq 0 ]; then echo \"hpcready: no node wrote its file\" >&2; exit 1; fi\n\
         \"${{RUN[@]}}\" report \"${{files[@]}}\" --out \"$OUT/report\"\n\
         echo \"hpcready: fleet report in $OUT/report/fleet.html; exclude: $OUT/report/failing-nodes.txt\"\n\
         if [ {nodes} -gt ${{#files[@]}} ]; then\n\
         \x20 echo \"hpcready: only ${{#files[@]}} of {nodes} nodes wrote a file: the others did not run smoke\" >&2\n\
         fi\n"
    ))
}

/// `hpcready slurm`.
pub fn slurm(args: &SlurmArgs) -> anyhow::Result<()> {
    crate::profiles::lookup(&args.baseline)?;
    if let Some(sif) = &args.container
        && !sif.is_file()
    {
        return Err(input_error(
            format!("--container {}", sif.display()),
            "no such image file (build or pull it on the login node first, e.g. \
             `apptainer pull app.sif docker://…`)",
        ));
    }
    let binary = match &args.binary {
        Some(b) => b.clone(),
        None => std::env::current_exe()
            .map_err(|e| anyhow::anyhow!("cannot tell where this hpcready is: {e}"))?,
    };
    let binary = std::fs::canonicalize(&binary).map_err(|e| {
        input_error(
            format!("--binary {}", binary.display()),
            format!("not found: {e}"),
        )
    })?;
    emit(&script(args, &binary.display().to_string())?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::suites::Suite;

    fn args() -> SlurmArgs {
        SlurmArgs {
            nodes: 2,
            gpus_per_node: Some(4),
            ranks_per_node: None,
            partition: Some("standard-g".into()),
            account: Some("project_465000001".into()),
            time: "01:00:00".into(),
            container: None,
            mpi: None,
            suite: Suite::Standard,
            baseline: "aws-p5.48xlarge".into(),
            binary: None,
            torch: None,
            cpu_bind: None,
            smoke: false,
            smoke_timeout: None,
            scaling: false,
            compile: false,
            sampling: Sampling::Suite,
        }
    }

    #[test]
    fn the_torch_step_runs_one_task_per_gpu_with_the_binding() {
        let mut a = args();
        a.torch = Some("/scratch/venv/bin/python".into());
        a.cpu_bind = Some("mask_cpu:0xfe000000000000,0xfe00000000000000".into());
        let s = script(&a, "/bin/hpcready").unwrap();
        assert!(
            s.contains(
                "srun --nodes=2 --ntasks-per-node=4 --gpus-per-task=1 \
                 --cpu-bind=mask_cpu:0xfe000000000000,0xfe00000000000000 \"${RUN[@]}\" run \
                 --backend torch --bench allreduce,train --python '/scratch/venv/bin/python'"
            ),
            "{s}"
        );
        assert!(
            s.contains("\"$OUT/torch.json\" \"$OUT\"/scaling-*n.json; do"),
            "{s}"
        );
        assert!(
            s.contains("run --suite standard --python '/scratch/venv/bin/python' --out"),
            "{s}"
        );
        a.cpu_bind = Some("bad mask".into());
        assert!(script(&a, "/bin/hpcready").is_err());
    }

    #[test]
    fn the_script_has_the_layout_and_every_step() {
        let s = script(&args(), "/users/me/bin/hpcready").unwrap();
        for line in [
            "#SBATCH --nodes=2",
            "#SBATCH --ntasks-per-node=4",
            "#SBATCH --gpus-per-node=4",
            "#SBATCH --partition=standard-g",
            "#SBATCH --account=project_465000001",
            "#SBATCH --time=01:00:00",
            "export HF_HUB_OFFLINE=1",
            "HPCREADY=${HPCREADY:-'/users/me/bin/hpcready'}",
            "run --suite standard --out \"$OUT/node.json\"",
            "srun --nodes=2 --ntasks-per-node=4 \"${RUN[@]}\" run --bench allreduce --suite standard",
            "report \"${parts[@]}\" --baseline 'aws-p5.48xlarge' --out \"$OUT\"",
        ] {
            assert!(s.contains(line), "missing `{line}` in\n{s}");
        }
        assert!(!s.contains("apptainer"));
    }

    #[test]
    fn container_and_mpi_plugin() {
        let mut a = args();
        a.container = Some("/scratch/app.sif".into());
        a.mpi = Some("pmix".into());
        a.gpus_per_node = None;
        a.nodes = 1;
        let s = script(&a, "/bin/hpcready").unwrap();
        assert!(s.contains("SIF='/scratch/app.sif'"));
        assert!(s.contains("RUN=(apptainer exec $GPU_FLAG"));
        assert!(s.contains("srun --mpi=pmix --nodes=1 --ntasks-per-node=2"));
        assert!(!s.contains("--gpus-per-node"));
    }

    #[test]
    fn the_scaling_job_runs_the_torch_step_at_each_node_count() {
        let mut a = args();
        a.nodes = 12;
        a.torch = Some("python3".into());
        a.scaling = true;
        a.compile = true;
        let s = script(&a, "/bin/hpcready").unwrap();
        for line in [
            "for k in 1 2 4 8 12; do",
            "  srun --nodes=$k --ntasks-per-node=4 --gpus-per-task=1 \"${RUN[@]}\" run --backend \
             torch --bench allreduce,train --python 'python3' --suite standard --compile --out \
             \"$OUT/scaling-${k}n.json\" \\",
            "\"$OUT\"/scaling-*n.json; do",
        ] {
            assert!(s.contains(line), "missing `{line}` in\n{s}");
        }
        assert!(!s.contains("torch.json\" \\"), "{s}");
    }

    #[test]
    fn the_smoke_job_checks_every_node_then_writes_the_fleet_report() {
        let mut a = args();
        a.smoke = true;
        a.nodes = 64;
        a.gpus_per_node = Some(8);
        a.smoke_timeout = Some(90);
        a.torch = Some("/scratch/venv/bin/python".into());
        let s = script(&a, "/bin/hpcready").unwrap();
        for line in [
            "#SBATCH --job-name=hpcready-smoke",
            "#SBATCH --nodes=64",
            "#SBATCH --ntasks-per-node=1",
            "#SBATCH --gpus-per-node=8",
            "OUT=${HPCREADY_OUT:-$PWD/reports/smoke-$SLURM_JOB_ID}",
            "srun --nodes=64 --ntasks-per-node=1 --cpus-per-task=\"${SLURM_CPUS_ON_NODE:-1}\" \
             \"${RUN[@]}\" smoke --baseline 'aws-p5.48xlarge' --gpus-per-node 8 --timeout 90 \
             --python '/scratch/venv/bin/python' --out \"$OUT\"",
            "\"${RUN[@]}\" report \"${files[@]}\" --out \"$OUT/report\"",
            "  echo \"hpcready: only ${#files[@]} of 64 nodes",
        ] {
            assert!(s.contains(line), "missing `{line}` in\n{s}");
        }
        assert!(!s.contains("allreduce") && !s.contains("--suite"), "{s}");
        // Left out, smoke expects the baseline's GPUs and Slurm is asked for none.
        a.gpus_per_node = None;
        let s = script(&a, "/bin/hpcready").unwrap();
        assert!(!s.contains("gpus-per-node"), "{s}");
    }

    #[test]
    fn unsafe_values_are_refused() {
        let mut a = args();
        a.partition = Some("gpu\n#SBATCH --qos=high".into());
        let e = script(&a, "/bin/hpcready").unwrap_err();
        assert_eq!(crate::error::exit_code(&e), 2);
        assert!(format!("{e:#}").starts_with("--partition"));
        assert_eq!(sh("a'b"), r"'a'\''b'");
    }
}
