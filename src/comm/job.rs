//! The job this process belongs to, read once from the launcher's variables ([`Launch::read`])
//! and handed to both collective paths: MPI checks its world against the launcher's rank count
//! ([`Job::mpi_launched`]), torch.distributed takes the rank, world, local rank and rendezvous
//! ([`Launch::torch_job`]). For torch, the binary sets up the rendezvous — the one torchrun gives
//! (`MASTER_ADDR`/`MASTER_PORT`), or rank 0's host and a free port that rank 0 picks and
//! publishes in a file named after the job in the working directory (on a cluster, a shared file
//! system), which the other ranks read — and each rank's progress files.

use crate::error::input_error;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Which launcher started the processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Launcher {
    /// `torchrun` (torch elastic).
    Torchrun,
    /// Open MPI's `mpirun`.
    OpenMpi,
    /// Slurm's `srun`.
    Srun,
    /// MPICH's Hydra `mpiexec` (or another PMI launcher).
    Pmi,
    /// `RANK`, `WORLD_SIZE`, `MASTER_ADDR` and `MASTER_PORT` set by hand or another tool.
    Manual,
}

impl Launcher {
    /// In words, as messages and results name it.
    pub fn name(self) -> &'static str {
        match self {
            Launcher::Torchrun => "torchrun",
            Launcher::OpenMpi => "mpirun (Open MPI)",
            Launcher::Srun => "srun",
            Launcher::Pmi => "mpiexec (MPICH/PMI)",
            Launcher::Manual => "RANK/WORLD_SIZE",
        }
    }

    /// Whether it starts the ranks of an MPI job (torchrun's processes are not).
    pub fn is_mpi(self) -> bool {
        matches!(self, Launcher::OpenMpi | Launcher::Srun | Launcher::Pmi)
    }
}

impl std::fmt::Display for Launcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What the launcher's variables say about this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launch {
    /// No launcher: one process.
    Alone,
    /// A Slurm batch script: one process of a job of `tasks` tasks (`SLURM_NTASKS`), not a
    /// step.
    BatchScript {
        /// The job's task count.
        tasks: usize,
    },
    /// One rank of a job.
    Job(Job),
}

/// This process's place in the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Which launcher.
    pub launcher: Launcher,
    /// The variable the rank count was read from (`OMPI_COMM_WORLD_SIZE`, …).
    pub size_var: &'static str,
    /// `WORLD_SIZE` as the environment has it (torch.distributed reads it), when set.
    pub torch_world: Option<usize>,
    /// This rank.
    pub rank: usize,
    /// Ranks in the job.
    pub world: usize,
    /// This rank's index on its node (picks its GPU).
    pub local_rank: usize,
    /// How the ranks meet.
    pub rendezvous: Rendezvous,
    /// What names this job's files in the working directory (the rendezvous, each rank's
    /// progress); empty when the launcher gives nothing to name them by.
    pub job: String,
}

/// How the ranks find rank 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rendezvous {
    /// torchrun's (or the user's) `MASTER_ADDR` and `MASTER_PORT`.
    Given { addr: String, port: u16 },
    /// Rank 0 publishes its host and a free port in `.hpcready-rdzv-KEY`.
    File { key: String },
}

impl Launch {
    /// The launcher's view of this process, from the variables each sets: torchrun (`RANK`,
    /// `WORLD_SIZE`, `LOCAL_RANK`, `MASTER_ADDR`, `MASTER_PORT`, `TORCHELASTIC_RUN_ID`), Open MPI
    /// (`OMPI_COMM_WORLD_*`, the job id), Slurm (`SLURM_PROCID`, `SLURM_STEP_NUM_TASKS`,
    /// `SLURM_LOCALID`, job and step id), MPICH/PMI (`PMI_RANK`, `PMI_SIZE`, `PMI_KVSNAME`).
    /// `SLURM_NTASKS` alone is not a step: a batch script sees the whole job's task count while
    /// it runs as one process.
    ///
    /// torchrun inside `srun` (one torchrun per node) is torchrun's job: its `WORLD_SIZE` counts
    /// every process, Slurm's only the torchruns.
    pub fn read(var: impl Fn(&str) -> Option<String>) -> Launch {
        let num = |k: &str| var(k).and_then(|v| v.trim().parse::<usize>().ok());
        let given = || {
            let addr = var("MASTER_ADDR").filter(|a| !a.is_empty())?;
            let port = var("MASTER_PORT")?.trim().parse::<u16>().ok()?;
            Some(Rendezvous::Given { addr, port })
        };
        let file = |key: Option<String>| key.map(|key| Rendezvous::File { key });
        let torch_world = num("WORLD_SIZE");
        let elastic =
            var("TORCHELASTIC_RUN_ID").or_else(|| var("LOCAL_WORLD_SIZE").map(|_| String::new()));
        let (slurm_var, slurm_world) = match num("SLURM_STEP_NUM_TASKS") {
            Some(n) => ("SLURM_STEP_NUM_TASKS", Some(n)),
            None => (
                "SLURM_NTASKS",
                var("SLURM_STEP_ID")
                    .is_some()
                    .then(|| num("SLURM_NTASKS"))
                    .flatten(),
            ),
        };
        let (launcher, size_var, rank, world, local, rdzv, job) =
            if let (Some(_), Some(r), Some(w)) = (&elastic, num("RANK"), torch_world) {
                let job = elastic.clone().filter(|j| !j.is_empty() && j != "none");
                let local = num("LOCAL_RANK").unwrap_or(0);
                (Launcher::Torchrun, "WORLD_SIZE", r, w, local, given(), job)
            } else if let (Some(r), Some(w)) =
                (num("OMPI_COMM_WORLD_RANK"), num("OMPI_COMM_WORLD_SIZE"))
            {
                let job = var("OMPI_MCA_ess_base_jobid").or_else(|| var("PMIX_NAMESPACE"));
                let local = num("OMPI_COMM_WORLD_LOCAL_RANK").unwrap_or(0);
                let rdzv = given().or_else(|| file(job.clone()));
                (
                    Launcher::OpenMpi,
                    "OMPI_COMM_WORLD_SIZE",
                    r,
                    w,
                    local,
                    rdzv,
                    job,
                )
            } else if let (Some(r), Some(w)) = (num("SLURM_PROCID"), slurm_world) {
                let job = var("SLURM_JOB_ID")
                    .map(|j| format!("{j}.{}", var("SLURM_STEP_ID").unwrap_or_else(|| "0".into())));
                let local = num("SLURM_LOCALID").unwrap_or(0);
                let rdzv = given().or_else(|| file(job.clone()));
                (Launcher::Srun, slurm_var, r, w, local, rdzv, job)
            } else if let (Some(r), Some(w)) = (num("PMI_RANK"), num("PMI_SIZE")) {
                let job = var("PMI_KVSNAME");
                let local = num("MPI_LOCALRANKID").unwrap_or(0);
                let rdzv = given().or_else(|| file(job.clone()));
                (Launcher::Pmi, "PMI_SIZE", r, w, local, rdzv, job)
            } else if let (Some(r), Some(w), Some(g)) = (num("RANK"), torch_world, given()) {
                // Set by hand (or by another launcher): only with the rendezvous that comes with
                // them, so that variables left over in a shell never make a single process wait
                // for others.
                let local = num("LOCAL_RANK").unwrap_or(0);
                (Launcher::Manual, "WORLD_SIZE", r, w, local, Some(g), None)
            } else {
                if var("SLURM_JOB_ID").is_some()
                    && let Some(n) = num("SLURM_NTASKS").filter(|&n| n > 1)
                {
                    return Launch::BatchScript { tasks: n };
                }
                return Launch::Alone;
            };
        let job = job.unwrap_or_else(|| match &rdzv {
            Some(Rendezvous::Given { addr, port }) => format!("{addr}_{port}"),
            _ => String::new(),
        });
        Launch::Job(Job {
            launcher,
            size_var,
            torch_world,
            rank,
            world,
            local_rank: local,
            rendezvous: rdzv.unwrap_or(Rendezvous::File { key: String::new() }),
            job,
        })
    }

    /// The launcher's variables of this process's environment.
    pub fn from_env() -> Launch {
        Launch::read(|k| std::env::var(k).ok())
    }

    /// The job, when a launcher started several processes.
    pub fn several(&self) -> Option<&Job> {
        match self {
            Launch::Job(j) if j.world > 1 => Some(j),
            _ => None,
        }
    }

    /// The job torch.distributed joins, `Ok(None)` outside a launcher. Launches that cannot
    /// form the job the user meant are refused with the fix: a `WORLD_SIZE` left in the
    /// environment that disagrees with the launcher's rank count (torch would see that many
    /// ranks, the launcher started another), a Slurm batch script that runs the command as one
    /// process of a job of several tasks, and variables that disagree.
    pub fn torch_job(&self) -> anyhow::Result<Option<Job>> {
        let j = match self {
            Launch::Alone => return Ok(None),
            Launch::BatchScript { tasks } => {
                return Err(input_error(
                    format!("SLURM_NTASKS={tasks}"),
                    format!(
                        "this is the job's batch script, one process of a job of {tasks} tasks: \
                         start the ranks with srun (`srun hpcready run --backend torch --bench \
                         allreduce`), which runs one per task"
                    ),
                ));
            }
            Launch::Job(j) => j,
        };
        let (launcher, world, rank) = (j.launcher, j.world, j.rank);
        if j.launcher.is_mpi()
            && let Some(tw) = j.torch_world.filter(|&tw| tw != world)
        {
            return Err(input_error(
                format!("WORLD_SIZE={tw}"),
                format!(
                    "{launcher} started {world} ranks, but WORLD_SIZE={tw} in the environment \
                     says torch.distributed would see {tw}: the ranks would not form one job. \
                     Unset WORLD_SIZE, RANK and LOCAL_RANK (a script exported them), or launch \
                     with torchrun"
                ),
            ));
        }
        if rank >= world {
            return Err(input_error(
                launcher.name(),
                format!(
                    "this process is rank {rank} of {world}: the launcher's variables disagree"
                ),
            ));
        }
        Ok(Some(j.clone()))
    }
}

impl Job {
    /// The rank count an MPI launcher announced (`srun`, `mpirun`, `mpiexec`), which MPI's own
    /// world must match; `None` for torchrun's or hand-set variables.
    pub fn mpi_launched(&self) -> Option<Launched> {
        self.launcher.is_mpi().then_some(Launched {
            launcher: self.launcher.name(),
            var: self.size_var,
            ranks: self.world,
        })
    }
}

/// The rendezvous file of a job key, in `dir`.
pub fn rendezvous_file(dir: &Path, key: &str) -> PathBuf {
    let safe: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(format!(".hpcready-rdzv-{safe}"))
}

/// Rank 0's address and port: given, or published by rank 0 (this process when `rank == 0`:
/// it picks a free port) and read by the others within `deadline`.
pub fn meet(env: &Job, dir: &Path, deadline: Duration) -> anyhow::Result<(String, u16)> {
    let key = match &env.rendezvous {
        Rendezvous::Given { addr, port } => return Ok((addr.clone(), *port)),
        Rendezvous::File { key } if key.is_empty() => {
            return Err(input_error(
                env.launcher.name(),
                "this launcher gives no job id to meet by: set MASTER_ADDR (rank 0's host) and \
                 MASTER_PORT (a free port) for every rank, or launch with srun, Open MPI's \
                 mpirun or torchrun",
            ));
        }
        Rendezvous::File { key } => key,
    };
    let path = rendezvous_file(dir, key);
    if env.rank == 0 {
        let port = std::net::TcpListener::bind(("0.0.0.0", 0))
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| anyhow::anyhow!("finding a free port for the rendezvous: {e}"))?;
        let host = crate::node::hostname();
        crate::results::io::write_atomic(&path, format!("{host} {port}\n").as_bytes())?;
        return Ok((host, port));
    }
    let end = Instant::now() + deadline;
    loop {
        if let Ok(text) = std::fs::read_to_string(&path)
            && let Some((host, port)) = text.trim().split_once(' ')
            && let Ok(port) = port.parse::<u16>()
        {
            return Ok((host.to_string(), port));
        }
        if Instant::now() > end {
            return Err(anyhow::anyhow!(
                "rank {}: rank 0 did not publish the rendezvous in {} within {} s (is the \
                 working directory on a file system every node shares?)",
                env.rank,
                path.display(),
                deadline.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The file where `rank` of `job` records how far it got.
fn progress_file(dir: &Path, job: &str, rank: usize) -> PathBuf {
    let mut p = rendezvous_file(dir, job).into_os_string();
    p.push(format!(".rank{rank}"));
    PathBuf::from(p)
}

/// Records that this rank reached step `step` (0: about to join the process group; then one
/// per measured size and placement), so that rank 0 can name the ranks that never arrived when
/// a step fails. Best effort: a rank that cannot write is only left unnamed.
pub fn arrive(env: &Job, dir: &Path, step: usize) {
    if !env.job.is_empty() {
        let _ = crate::results::io::write_atomic(
            &progress_file(dir, &env.job, env.rank),
            format!("{step}\n").as_bytes(),
        );
    }
}

/// The ranks that did not reach `step`, from their progress files; `None` when it cannot be
/// told (no job name, or no other rank's file is visible: the directory is not shared).
pub fn missing(env: &Job, dir: &Path, step: usize) -> Option<Vec<usize>> {
    if env.job.is_empty() {
        return None;
    }
    let reached: Vec<Option<usize>> = (0..env.world)
        .map(|r| {
            std::fs::read_to_string(progress_file(dir, &env.job, r))
                .ok()
                .and_then(|t| t.trim().parse().ok())
        })
        .collect();
    if reached
        .iter()
        .enumerate()
        .all(|(r, s)| r == env.rank || s.is_none())
    {
        return None;
    }
    Some(
        reached
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_none_or(|s| s < step))
            .map(|(r, _)| r)
            .collect(),
    )
}

/// Waits up to `max` until rank 0 has removed this rank's progress file (it does once it has
/// named the ranks that did not arrive).
pub fn wait_for_cleanup(env: &Job, dir: &Path, max: Duration) {
    if env.job.is_empty() {
        return;
    }
    let mine = progress_file(dir, &env.job, env.rank);
    let end = Instant::now() + max;
    while mine.exists() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Removes this rank's progress file, and on rank 0 the rendezvous file and every rank's
/// progress file.
pub fn clean(env: &Job, dir: &Path) {
    if env.job.is_empty() {
        return;
    }
    let _ = std::fs::remove_file(progress_file(dir, &env.job, env.rank));
    if env.rank == 0 {
        if let Rendezvous::File { key } = &env.rendezvous {
            let _ = std::fs::remove_file(rendezvous_file(dir, key));
        }
        for r in 1..env.world {
            let _ = std::fs::remove_file(progress_file(dir, &env.job, r));
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn launch(pairs: &[(&str, &str)]) -> Launch {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Launch::read(|k| m.get(k).cloned())
    }

    fn env(pairs: &[(&str, &str)]) -> Option<Job> {
        launch(pairs).torch_job().unwrap()
    }

    fn refused(pairs: &[(&str, &str)]) -> String {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let e = Launch::read(|k| m.get(k).cloned()).torch_job().unwrap_err();
        assert_eq!(crate::error::exit_code(&e), 2);
        format!("{e:#}")
    }

    #[test]
    fn torchrun_inside_srun_is_torchruns_job() {
        // One torchrun per node under `srun -N 2 --ntasks-per-node 1`, 4 processes each.
        let t = env(&[
            ("SLURM_PROCID", "1"),
            ("SLURM_STEP_NUM_TASKS", "2"),
            ("SLURM_STEP_ID", "0"),
            ("SLURM_JOB_ID", "9"),
            ("RANK", "6"),
            ("WORLD_SIZE", "8"),
            ("LOCAL_RANK", "2"),
            ("LOCAL_WORLD_SIZE", "4"),
            ("TORCHELASTIC_RUN_ID", "job9"),
            ("MASTER_ADDR", "nid001"),
            ("MASTER_PORT", "29500"),
        ])
        .unwrap();
        assert_eq!(
            (t.launcher, t.rank, t.world, t.local_rank, t.job.as_str()),
            (Launcher::Torchrun, 6, 8, 2, "job9")
        );
    }

    #[test]
    fn launches_that_cannot_form_the_job_are_refused() {
        let e = refused(&[
            ("SLURM_PROCID", "0"),
            ("SLURM_STEP_NUM_TASKS", "4"),
            ("SLURM_STEP_ID", "0"),
            ("WORLD_SIZE", "1"),
            ("RANK", "0"),
        ]);
        assert!(
            e.contains("WORLD_SIZE=1") && e.contains("srun started 4 ranks"),
            "{e}"
        );
        assert!(e.contains("Unset"), "{e}");
        let e = refused(&[
            ("SLURM_JOB_ID", "12"),
            ("SLURM_NTASKS", "8"),
            ("SLURM_PROCID", "0"),
        ]);
        assert!(e.contains("batch script") && e.contains("srun"), "{e}");
        let e = refused(&[("OMPI_COMM_WORLD_RANK", "4"), ("OMPI_COMM_WORLD_SIZE", "4")]);
        assert!(e.contains("rank 4 of 4"), "{e}");
    }

    #[test]
    fn progress_files_name_the_ranks_that_did_not_arrive() {
        let dir = tempfile::tempdir().unwrap();
        let mut e = env(&[
            ("OMPI_COMM_WORLD_RANK", "0"),
            ("OMPI_COMM_WORLD_SIZE", "4"),
            ("OMPI_MCA_ess_base_jobid", "5"),
        ])
        .unwrap();
        // Nobody else's file is visible: cannot tell.
        arrive(&e, dir.path(), 3);
        assert_eq!(missing(&e, dir.path(), 3), None);
        for (r, step) in [(1, 3), (2, 2)] {
            e.rank = r;
            arrive(&e, dir.path(), step);
        }
        e.rank = 0;
        assert_eq!(missing(&e, dir.path(), 3), Some(vec![2, 3]));
        assert_eq!(missing(&e, dir.path(), 2), Some(vec![3]));
        clean(&e, dir.path());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn launchers_are_read() {
        let o = env(&[
            ("OMPI_COMM_WORLD_RANK", "2"),
            ("OMPI_COMM_WORLD_SIZE", "4"),
            ("OMPI_COMM_WORLD_LOCAL_RANK", "2"),
            ("OMPI_MCA_ess_base_jobid", "1107623937"),
        ])
        .unwrap();
        assert_eq!((o.rank, o.world, o.local_rank), (2, 4, 2));
        assert_eq!(
            o.rendezvous,
            Rendezvous::File {
                key: "1107623937".into()
            }
        );
        let s = env(&[
            ("SLURM_PROCID", "5"),
            ("SLURM_STEP_NUM_TASKS", "8"),
            ("SLURM_LOCALID", "1"),
            ("SLURM_JOB_ID", "4242"),
            ("SLURM_STEP_ID", "3"),
        ])
        .unwrap();
        assert_eq!(
            (s.launcher, s.rank, s.world, s.local_rank),
            (Launcher::Srun, 5, 8, 1)
        );
        assert_eq!(
            s.rendezvous,
            Rendezvous::File {
                key: "4242.3".into()
            }
        );
        let t = env(&[
            ("RANK", "1"),
            ("WORLD_SIZE", "2"),
            ("MASTER_ADDR", "nid001"),
            ("MASTER_PORT", "29500"),
        ])
        .unwrap();
        assert_eq!(
            t.rendezvous,
            Rendezvous::Given {
                addr: "nid001".into(),
                port: 29500
            }
        );
        assert!(env(&[("PATH", "/bin")]).is_none());
        // RANK and WORLD_SIZE left in a shell, without a rendezvous: not a job.
        assert!(env(&[("RANK", "0"), ("WORLD_SIZE", "4")]).is_none());
    }

    #[test]
    fn rank_0_publishes_and_the_others_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut e = env(&[
            ("OMPI_COMM_WORLD_RANK", "0"),
            ("OMPI_COMM_WORLD_SIZE", "2"),
            ("OMPI_MCA_ess_base_jobid", "77"),
        ])
        .unwrap();
        let (host, port) = meet(&e, dir.path(), Duration::from_secs(1)).unwrap();
        e.rank = 1;
        assert_eq!(
            meet(&e, dir.path(), Duration::from_secs(1)).unwrap(),
            (host, port)
        );
        let lost = Job {
            rendezvous: Rendezvous::File { key: "88".into() },
            job: "88".into(),
            ..e
        };
        let err = meet(&lost, dir.path(), Duration::from_millis(100)).unwrap_err();
        assert!(
            err.to_string().contains("did not publish the rendezvous"),
            "{err}"
        );
    }
}
