//! `train` as one rank of an MPI job (`mpirun -np N flashlm-tui train …`):
//! starts MPI when a launcher started this process, and says how this rank
//! behaves: rank 0 prints and writes the run, the others print errors only;
//! a rank that fails ends the whole job rather than leave the others waiting.

use anyhow::{bail, Result};

/// This process's place in an MPI job (alone: rank 0 of 1).
pub(super) struct Job {
    #[cfg(feature = "mpi")]
    mpi: Option<crate::train::mpi::Mpi>,
}

impl Job {
    /// A process on its own, not part of any MPI job (a sweep's runs).
    pub(super) fn alone() -> Job {
        Job {
            #[cfg(feature = "mpi")]
            mpi: None,
        }
    }

    /// Joins the MPI job this process was launched in, if any.
    #[cfg(feature = "mpi")]
    pub(super) fn start() -> Result<Job> {
        if !crate::train::mpi::launched() {
            return Ok(Job { mpi: None });
        }
        let mpi = crate::train::mpi::Mpi::init().map_err(|e| anyhow::anyhow!("cannot start MPI: {e}"))?;
        Ok(Job { mpi: Some(mpi) })
    }

    /// Without MPI support an `mpirun -np N` would train N separate runs: refused.
    #[cfg(not(feature = "mpi"))]
    pub(super) fn start() -> Result<Job> {
        // the ranks the launcher says the job has
        let size = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE"].iter().find_map(|v| std::env::var(v).ok()?.trim().parse::<usize>().ok());
        if let Some(n) = size.filter(|&n| n > 1) {
            bail!("started as one of {n} MPI ranks, but this build has no MPI support: build with `cargo build --release --features mpi` (needs an MPI library and libclang)");
        }
        Ok(Job {})
    }

    /// Whether this process is one of an MPI job's ranks.
    pub(super) fn in_job(&self) -> bool {
        #[cfg(feature = "mpi")]
        return self.mpi.is_some();
        #[cfg(not(feature = "mpi"))]
        return false;
    }

    pub(super) fn rank(&self) -> usize {
        #[cfg(feature = "mpi")]
        return self.mpi.as_ref().map_or(0, |m| m.rank);
        #[cfg(not(feature = "mpi"))]
        return 0;
    }

    pub(super) fn size(&self) -> usize {
        #[cfg(feature = "mpi")]
        return self.mpi.as_ref().map_or(1, |m| m.size);
        #[cfg(not(feature = "mpi"))]
        return 1;
    }

    /// Ranks sharing this host's cores.
    pub(super) fn local_size(&self) -> usize {
        #[cfg(feature = "mpi")]
        return self.mpi.as_ref().map_or(1, |m| m.local_size);
        #[cfg(not(feature = "mpi"))]
        return 1;
    }

    /// What the trainer needs to join the other ranks.
    pub(super) fn ranks(&self) -> Option<crate::train::collective::Ranks> {
        #[cfg(feature = "mpi")]
        return self.mpi.as_ref().map(|m| m.ranks());
        #[cfg(not(feature = "mpi"))]
        return None;
    }

    /// The run failed on this rank: with other ranks, end the job (they would
    /// wait for this one's gradients forever); alone, return to report it.
    pub(super) fn fail_all(&self, why: &str) {
        #[cfg(feature = "mpi")]
        if let Some(m) = self.mpi.as_ref().filter(|m| m.size > 1) {
            eprintln!("flashlm-tui: rank {} of {} failed: {why}; ending every rank", m.rank, m.size);
            m.abort(1);
        }
        let _ = why;
    }
}

/// Refuses what a rank cannot do.
pub(super) fn check_args(a: &super::TrainArgs, job: &Job) -> Result<()> {
    if job.size() > 1 && a.corpus.as_ref().is_some_and(|c| c.as_os_str() == "-") {
        bail!("--corpus - reads standard input, which only one rank of an MPI job gets; save the text to a file every rank can read");
    }
    Ok(())
}
