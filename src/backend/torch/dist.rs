//! torch.distributed across the ranks a launcher started (`mpirun`, `srun`, `torchrun`): each
//! rank runs the harness on its own device, and the binary sets up the rendezvous — the one
//! torchrun gives (`MASTER_ADDR`/`MASTER_PORT`), or rank 0's host and a free port that rank 0
//! picks and publishes in a file named after the job in the working directory (on a cluster, a
//! shared file system), which the other ranks read.

use crate::error::input_error;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// This process's place in the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RankEnv {
    /// Which launcher, in words.
    pub launcher: &'static str,
    /// This rank.
    pub rank: usize,
    /// Ranks in the job.
    pub world: usize,
    /// This rank's index on its node (picks its GPU).
    pub local_rank: usize,
    /// How the ranks meet.
    pub rendezvous: Rendezvous,
}

/// How the ranks find rank 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rendezvous {
    /// torchrun's (or the user's) `MASTER_ADDR` and `MASTER_PORT`.
    Given { addr: String, port: u16 },
    /// Rank 0 publishes its host and a free port in `.hpcready-rdzv-KEY`.
    File { key: String },
}

/// The launcher's view of this process, from the variables each sets: torchrun (`RANK`,
/// `WORLD_SIZE`, `LOCAL_RANK`, `MASTER_ADDR`, `MASTER_PORT`), Open MPI (`OMPI_COMM_WORLD_*`,
/// the job id), Slurm (`SLURM_PROCID`, `SLURM_STEP_NUM_TASKS`, `SLURM_LOCALID`, job and step id),
/// MPICH/PMI (`PMI_RANK`, `PMI_SIZE`, `PMI_KVSNAME`). `None` outside a launcher.
pub fn rank_env(var: impl Fn(&str) -> Option<String>) -> Option<RankEnv> {
    let num = |k: &str| var(k).and_then(|v| v.trim().parse::<usize>().ok());
    let given = || {
        let addr = var("MASTER_ADDR").filter(|a| !a.is_empty())?;
        let port = var("MASTER_PORT")?.trim().parse::<u16>().ok()?;
        Some(Rendezvous::Given { addr, port })
    };
    let file = |key: Option<String>| key.map(|key| Rendezvous::File { key });
    let (launcher, rank, world, local, rdzv) = if let (Some(r), Some(w)) =
        (num("OMPI_COMM_WORLD_RANK"), num("OMPI_COMM_WORLD_SIZE"))
    {
        (
            "mpirun (Open MPI)",
            r,
            w,
            num("OMPI_COMM_WORLD_LOCAL_RANK").unwrap_or(0),
            given()
                .or_else(|| file(var("OMPI_MCA_ess_base_jobid").or_else(|| var("PMIX_NAMESPACE")))),
        )
    } else if let (Some(r), Some(w)) = (
        num("SLURM_PROCID"),
        num("SLURM_STEP_NUM_TASKS").or_else(|| num("SLURM_NTASKS")),
    ) {
        let key = var("SLURM_JOB_ID")
            .map(|j| format!("{j}.{}", var("SLURM_STEP_ID").unwrap_or_else(|| "0".into())));
        (
            "srun",
            r,
            w,
            num("SLURM_LOCALID").unwrap_or(0),
            given().or_else(|| file(key)),
        )
    } else if let (Some(r), Some(w)) = (num("RANK"), num("WORLD_SIZE")) {
        ("torchrun", r, w, num("LOCAL_RANK").unwrap_or(0), given())
    } else if let (Some(r), Some(w)) = (num("PMI_RANK"), num("PMI_SIZE")) {
        (
            "mpiexec (MPICH/PMI)",
            r,
            w,
            num("MPI_LOCALRANKID").unwrap_or(0),
            given().or_else(|| file(var("PMI_KVSNAME"))),
        )
    } else {
        return None;
    };
    Some(RankEnv {
        launcher,
        rank,
        world,
        local_rank: local,
        rendezvous: rdzv.unwrap_or(Rendezvous::File { key: String::new() }),
    })
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
pub fn meet(env: &RankEnv, dir: &Path, deadline: Duration) -> anyhow::Result<(String, u16)> {
    let key = match &env.rendezvous {
        Rendezvous::Given { addr, port } => return Ok((addr.clone(), *port)),
        Rendezvous::File { key } if key.is_empty() => {
            return Err(input_error(
                env.launcher,
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Option<RankEnv> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        rank_env(|k| m.get(k).cloned())
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
            ("srun", 5, 8, 1)
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
        let lost = RankEnv {
            rendezvous: Rendezvous::File { key: "88".into() },
            ..e
        };
        let err = meet(&lost, dir.path(), Duration::from_millis(100)).unwrap_err();
        assert!(
            err.to_string().contains("did not publish the rendezvous"),
            "{err}"
        );
    }
}
