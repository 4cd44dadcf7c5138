//! [`Collective`] over MPI (the `mpi` feature): the world communicator of a
//! job started by `mpirun`/`srun`. MPI is started with `MPI_THREAD_SERIALIZED`:
//! the trainer thread makes every call while the run lasts, the main thread
//! only starts MPI, aborts the job when its rank fails, and finalizes it.

use super::collective::{Collective, Ranks};
use mpi::collective::SystemOperation;
use mpi::environment::{Threading, Universe};
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::CommunicatorCollectives;
use std::sync::Arc;

/// Whether a launcher started this process as one of an MPI job's ranks.
pub fn launched() -> bool {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"].iter().any(|v| std::env::var_os(v).is_some())
}

/// A started MPI: finalized when dropped (after the trainer thread has ended).
pub struct Mpi {
    _universe: Universe,
    pub rank: usize,
    pub size: usize,
    /// Ranks on this host (they share its cores).
    pub local_size: usize,
}

impl Mpi {
    /// Starts MPI, or says why it cannot.
    pub fn init() -> Result<Mpi, String> {
        let (universe, threading) =
            mpi::initialize_with_threading(Threading::Serialized).ok_or("MPI was already initialized in this process")?;
        if !matches!(threading, Threading::Serialized | Threading::Multiple) {
            return Err(format!(
                "this MPI library provides thread level {threading:?}; training calls MPI from its trainer thread and needs MPI_THREAD_SERIALIZED"
            ));
        }
        let world = universe.world();
        let (rank, size) = (world.rank() as usize, world.size() as usize);
        // the launcher's count when it tells it, else the ranks sharing this host's memory
        let env = ["OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS_PER_NODE"]
            .iter()
            .find_map(|v| std::env::var(v).ok().and_then(|s| s.trim().parse::<usize>().ok()))
            .filter(|&n| n >= 1);
        let local_size = match env {
            Some(n) => n,
            None => world.split_shared(world.rank()).size() as usize,
        };
        Ok(Mpi { _universe: universe, rank, size, local_size })
    }

    /// What the trainer needs to join the group.
    pub fn ranks(&self) -> Ranks {
        Ranks { rank: self.rank, size: self.size, connect: Arc::new(|| Box::new(World(SimpleCommunicator::world()))) }
    }

    /// Ends every rank of the job (one rank failed: the others must not wait for it).
    pub fn abort(&self, code: i32) -> ! {
        SimpleCommunicator::world().abort(code)
    }
}

struct World(SimpleCommunicator);

impl Collective for World {
    fn rank(&self) -> usize {
        self.0.rank() as usize
    }

    fn size(&self) -> usize {
        self.0.size() as usize
    }

    fn sum_f32(&self, send: &[f32], recv: &mut [f32]) {
        self.0.all_reduce_into(send, recv, SystemOperation::sum());
    }

    fn sum_f64(&self, send: &[f64], recv: &mut [f64]) {
        self.0.all_reduce_into(send, recv, SystemOperation::sum());
    }
}
