//! Every user-facing refusal, word for word (insta snapshots): bad input exits 2 with one
//! `error: INPUT: what is wrong and what to do` message. A lost line continuation (a run of
//! spaces mid-sentence) or a reworded message shows up as a diff. Update with
//! `INSTA_UPDATE=always cargo test --test errors` and review the `.snap` files.

use assert_cmd::Command;

/// The stderr of `hpcready ARGS` with `env`, run in an empty directory, which must exit 2.
fn refusal(args: &[&str], env: &[(&str, &str)]) -> String {
    refusal_with(&[], args, env)
}

/// [`refusal`] with `files` (name, bytes) written into the directory first.
fn refusal_with(files: &[(&str, &[u8])], args: &[&str], env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in files {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    refusal_in(dir.path(), args, env)
}

/// [`refusal`] run in `dir`.
fn refusal_in(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut c = Command::cargo_bin("hpcready").unwrap();
    c.args(args).current_dir(dir);
    for v in [
        "OMPI_COMM_WORLD_SIZE",
        "SLURM_JOB_ID",
        "SLURM_NTASKS",
        "SLURM_STEP_NUM_TASKS",
        "PMI_SIZE",
        "WORLD_SIZE",
        "RANK",
        "HPCREADY_PYTHON",
        "HPCREADY_CPU_ISA",
        "HPCREADY_SGEMM_KC",
    ] {
        c.env_remove(v);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.assert().code(2).get_output().clone();
    assert!(out.stdout.is_empty(), "{out:?}");
    String::from_utf8(out.stderr).unwrap()
}

const TORCH_ALLREDUCE: [&str; 9] = [
    "run",
    "--backend",
    "torch",
    "--bench",
    "allreduce",
    "--python",
    "python3",
    "--out",
    "ar.json",
];

#[test]
fn launcher_refusals() {
    insta::assert_snapshot!(
        "torch_world_size_left_over",
        refusal(
            &TORCH_ALLREDUCE,
            &[
                ("SLURM_PROCID", "0"),
                ("SLURM_STEP_NUM_TASKS", "4"),
                ("SLURM_STEP_ID", "0"),
                ("SLURM_JOB_ID", "7"),
                ("WORLD_SIZE", "1"),
                ("RANK", "0"),
            ],
        )
    );
    insta::assert_snapshot!(
        "torch_in_the_batch_script",
        refusal(
            &TORCH_ALLREDUCE,
            &[
                ("SLURM_JOB_ID", "7"),
                ("SLURM_NTASKS", "4"),
                ("SLURM_PROCID", "0"),
            ],
        )
    );
    #[cfg(not(feature = "mpi"))]
    insta::assert_snapshot!(
        "mpirun_without_mpi",
        refusal(
            &["run", "--bench", "allreduce", "--out", "ar.json"],
            &[("OMPI_COMM_WORLD_SIZE", "4"), ("OMPI_COMM_WORLD_RANK", "0")],
        )
    );
}

/// Environment variables that tune the CPU kernels, with values they cannot take.
#[test]
fn environment_refusals() {
    let run = [
        "run",
        "--backend",
        "cpu",
        "--bench",
        "matmul",
        "--out",
        "m.json",
    ];
    insta::assert_snapshot!(
        "cpu_isa_unknown",
        refusal(&run, &[("HPCREADY_CPU_ISA", "sse")])
    );
    insta::assert_snapshot!(
        "sgemm_depth_out_of_range",
        refusal(&run, &[("HPCREADY_SGEMM_KC", "8")])
    );
    insta::assert_snapshot!(
        "sgemm_depth_not_a_number",
        refusal(&run, &[("HPCREADY_SGEMM_KC", "deep")])
    );
}

#[test]
fn input_refusals() {
    for (name, args) in [
        ("report_missing_file", &["report", "missing.json"][..]),
        (
            "python_that_does_not_exist",
            &[
                "run",
                "--backend",
                "torch",
                "--python",
                "/nonexistent/python",
                "--out",
                "x.json",
            ],
        ),
        (
            "project_bad_params",
            &[
                "project",
                "--params",
                "7X",
                "--tokens",
                "1T",
                "--baseline",
                "h100-sxm",
            ],
        ),
        (
            "project_scaling_without_a_curve",
            &[
                "project",
                "--params",
                "7B",
                "--tokens",
                "1T",
                "--scaling",
                concat!(env!("CARGO_MANIFEST_DIR"), "/reports/example/results.json"),
            ],
        ),
        (
            "project_unknown_precision",
            &[
                "project", "--params", "7B", "--tokens", "1T", "--dtype", "fp4",
            ],
        ),
        (
            "unknown_dtype",
            &[
                "run", "--bench", "matmul", "--dtype", "q4", "--out", "x.json",
            ],
        ),
        (
            "unknown_baseline",
            &["baselines", "show", "no-such-machine"],
        ),
    ] {
        insta::assert_snapshot!(name, refusal(args, &[]));
    }
}

/// The history's and bundles' refusals.
#[test]
fn history_refusals() {
    insta::assert_snapshot!(
        "history_missing",
        refusal(&["history", "--history", "none.sqlite"], &[])
    );
    // A date that is not one, refused before the (missing) history is looked at.
    insta::assert_snapshot!(
        "history_since_not_a_date",
        refusal(
            &[
                "history",
                "--since",
                "last tuesday",
                "--history",
                "none.sqlite"
            ],
            &[]
        )
    );
    insta::assert_snapshot!(
        "history_damaged",
        refusal_with(
            &[("damaged.sqlite", &[0x5a; 8192])],
            &["history", "--history", "damaged.sqlite"],
            &[],
        )
    );
    // A run the history does not hold (one imported run makes the history).
    let dir = tempfile::tempdir().unwrap();
    let log = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/import/nccl-tests-2node.log");
    Command::cargo_bin("hpcready")
        .unwrap()
        .current_dir(dir.path())
        .args(["import", "nccl-tests"])
        .arg(&log)
        .args(["--out", "imp.json", "--history", "h.sqlite"])
        .assert()
        .success();
    insta::assert_snapshot!(
        "history_show_no_such_run",
        refusal_in(
            dir.path(),
            &["history", "show", "2", "--history", "h.sqlite"],
            &[]
        )
    );
    insta::assert_snapshot!(
        "bundle_not_targz",
        refusal(&["bundle", "run", "--out", "advisory.zip"], &[])
    );
    insta::assert_snapshot!(
        "bundle_exists",
        refusal_with(
            &[("advisory.tar.gz", b"")],
            &["bundle", "run", "--out", "advisory.tar.gz"],
            &[],
        )
    );
    insta::assert_snapshot!(
        "bundle_not_an_archive",
        refusal_with(
            &[("advisory.tar.gz", b"not gzip")],
            &["report", "advisory.tar.gz", "--out", "r"],
            &[],
        )
    );
}
