//! What the launcher says about the job: how many ranks `srun`, `mpirun` or `mpiexec` started,
//! read from the variables each sets. When that disagrees with what MPI sees, the job was
//! launched wrong (most often a PMI plugin mismatch) and must stop before it runs N independent
//! single-rank benchmarks.

use crate::error::input_error;

/// The rank count a launcher announced, and through which variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launched {
    /// `srun`, `mpirun (Open MPI)`, `mpiexec (MPICH/PMI)`.
    pub launcher: &'static str,
    /// The variable read.
    pub var: &'static str,
    /// Its value.
    pub ranks: usize,
}

/// The launcher's rank count, if a launcher started this process. Open MPI's `mpirun` sets
/// `OMPI_COMM_WORLD_SIZE`, MPICH's Hydra and Slurm's PMI-2 set `PMI_SIZE`, and `srun` sets
/// `SLURM_STEP_NUM_TASKS` (and `SLURM_NTASKS`) in each step. `SLURM_NTASKS` alone is not read
/// outside a step: a batch script sees the whole job's task count while it runs as one process.
pub fn detect(var: impl Fn(&str) -> Option<String>) -> Option<Launched> {
    let num = |k: &str| var(k).and_then(|v| v.trim().parse::<usize>().ok());
    if let Some(n) = num("OMPI_COMM_WORLD_SIZE") {
        return Some(Launched {
            launcher: "mpirun (Open MPI)",
            var: "OMPI_COMM_WORLD_SIZE",
            ranks: n,
        });
    }
    if let Some(n) = num("SLURM_STEP_NUM_TASKS") {
        return Some(Launched {
            launcher: "srun",
            var: "SLURM_STEP_NUM_TASKS",
            ranks: n,
        });
    }
    if var("SLURM_STEP_ID").is_some()
        && let Some(n) = num("SLURM_NTASKS")
    {
        return Some(Launched {
            launcher: "srun",
            var: "SLURM_NTASKS",
            ranks: n,
        });
    }
    num("PMI_SIZE").map(|n| Launched {
        launcher: "mpiexec (MPICH/PMI)",
        var: "PMI_SIZE",
        ranks: n,
    })
}

/// The error for a launcher that started several ranks that MPI sees as one each.
pub fn mismatch(l: &Launched) -> anyhow::Error {
    input_error(
        format!("{}={}", l.var, l.ranks),
        format!(
            "{} started {} ranks but MPI sees 1: the processes did not join one job, and each \
             would measure alone. This is a PMI mismatch between the launcher and the MPI \
             library hpcready was built with. With srun, pass the plugin that MPI needs \
             (`srun --mpi=pmix` for Open MPI, `srun --mpi=pmi2` for MPICH; `srun --mpi=list` \
             shows what the site has), or start the job with that MPI's own mpirun/mpiexec \
             inside the allocation",
            l.launcher, l.ranks
        ),
    )
}

/// The error for several ranks started around a binary built without MPI.
pub fn without_mpi(l: &Launched) -> anyhow::Error {
    input_error(
        format!("{}={}", l.var, l.ranks),
        format!(
            "{} started {} processes, but this hpcready was built without MPI, so each would \
             run alone and they would overwrite each other's results. Rebuild with \
             `cargo build --release --features mpi` (needs the site's MPI module and libclang) \
             for all-reduce across ranks; run the single-node benchmarks as one process \
             (`srun -n 1 hpcready run`), or let `hpcready slurm` write the job script",
            l.launcher, l.ranks
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn reads_each_launcher() {
        assert_eq!(detect(env(&[])), None);
        let l = detect(env(&[("OMPI_COMM_WORLD_SIZE", "4")])).unwrap();
        assert_eq!((l.var, l.ranks), ("OMPI_COMM_WORLD_SIZE", 4));
        let l = detect(env(&[
            ("SLURM_STEP_NUM_TASKS", "8"),
            ("SLURM_NTASKS", "16"),
        ]))
        .unwrap();
        assert_eq!((l.launcher, l.ranks), ("srun", 8));
        let l = detect(env(&[("PMI_SIZE", "2")])).unwrap();
        assert_eq!(l.ranks, 2);
    }

    #[test]
    fn a_batch_script_is_not_a_step() {
        // sbatch --ntasks=8 runs the script as one process with SLURM_NTASKS=8.
        assert_eq!(
            detect(env(&[("SLURM_NTASKS", "8"), ("SLURM_JOB_ID", "1")])),
            None
        );
        let l = detect(env(&[("SLURM_NTASKS", "8"), ("SLURM_STEP_ID", "0")])).unwrap();
        assert_eq!(l.ranks, 8);
    }

    #[test]
    fn errors_say_how_to_fix() {
        let l = detect(env(&[("SLURM_STEP_NUM_TASKS", "2")])).unwrap();
        let e = format!("{:#}", mismatch(&l));
        assert!(e.contains("--mpi=pmix") && e.contains("MPI sees 1"), "{e}");
        let e = without_mpi(&l);
        assert_eq!(crate::error::exit_code(&e), 2);
        assert!(format!("{e:#}").contains("--features mpi"));
    }
}
