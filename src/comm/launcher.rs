//! What the launcher says about the job: how many ranks `srun`, `mpirun` or `mpiexec` started,
//! read from the variables each sets. When that disagrees with what MPI sees, the job was
//! launched wrong (most often a PMI plugin mismatch) and must stop before it runs N independent
//! single-rank benchmarks.

pub use super::job::Launched;
use crate::error::input_error;

/// The rank count an MPI launcher announced, if one started this process: Open MPI's
/// `mpirun` (`OMPI_COMM_WORLD_SIZE`), `srun` (`SLURM_STEP_NUM_TASKS`, or `SLURM_NTASKS` in a
/// step) and MPICH's Hydra or Slurm's PMI-2 (`PMI_SIZE`), as [`super::job::Launch::read`] reads
/// them. A batch script (`SLURM_NTASKS` outside a step) and torchrun are not MPI launches.
pub fn detect(var: impl Fn(&str) -> Option<String>) -> Option<Launched> {
    match super::job::Launch::read(var) {
        super::job::Launch::Job(j) => j.mpi_launched(),
        _ => None,
    }
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
        let l = detect(env(&[
            ("OMPI_COMM_WORLD_SIZE", "4"),
            ("OMPI_COMM_WORLD_RANK", "0"),
        ]))
        .unwrap();
        assert_eq!((l.var, l.ranks), ("OMPI_COMM_WORLD_SIZE", 4));
        let l = detect(env(&[
            ("SLURM_STEP_NUM_TASKS", "8"),
            ("SLURM_NTASKS", "16"),
            ("SLURM_PROCID", "0"),
        ]))
        .unwrap();
        assert_eq!((l.launcher, l.ranks), ("srun", 8));
        let l = detect(env(&[("PMI_SIZE", "2"), ("PMI_RANK", "1")])).unwrap();
        assert_eq!(l.ranks, 2);
    }

    #[test]
    fn a_batch_script_is_not_a_step() {
        // sbatch --ntasks=8 runs the script as one process with SLURM_NTASKS=8.
        assert_eq!(
            detect(env(&[("SLURM_NTASKS", "8"), ("SLURM_JOB_ID", "1")])),
            None
        );
        let l = detect(env(&[
            ("SLURM_NTASKS", "8"),
            ("SLURM_STEP_ID", "0"),
            ("SLURM_PROCID", "3"),
        ]))
        .unwrap();
        assert_eq!(l.var, "SLURM_NTASKS");
        assert_eq!(l.ranks, 8);
    }

    #[test]
    fn errors_say_how_to_fix() {
        let l = detect(env(&[("SLURM_STEP_NUM_TASKS", "2"), ("SLURM_PROCID", "0")])).unwrap();
        let e = format!("{:#}", mismatch(&l));
        assert!(e.contains("--mpi=pmix") && e.contains("MPI sees 1"), "{e}");
        let e = without_mpi(&l);
        assert_eq!(crate::error::exit_code(&e), 2);
        assert!(format!("{e:#}").contains("--features mpi"));
    }
}
