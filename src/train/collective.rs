//! Data-parallel training: several processes (ranks) train one run, each on
//! its share of every step's micro-batches, their gradients summed before the
//! one AdamW step they all take. The trainer sees the group only through
//! [`Collective`]; `train/mpi.rs` (the `mpi` feature) is the implementation.
//!
//! The split rule ([`Share::of`]): a step's `accum` micro-batches of `batch`
//! windows are the units; rank r takes a contiguous run of ⌊accum/R⌋ of them,
//! one more when r < accum mod R (the remainder goes to the low ranks). More
//! ranks than micro-batches are refused. Every rank draws the whole step's
//! windows from the one sampler (cheap: indices only) and fills only its own,
//! so the step's global set of windows, their order and the dropout seeds are
//! those of one process; each rank scales its gradient sum by 1/accum (global),
//! so the summed gradient is the one-process mean.

use std::sync::Arc;

/// The ranks of a run, as the trainer uses them. Sums are the same bits on every rank.
pub trait Collective {
    /// This process's rank, 0-based; rank 0 writes the run's files.
    fn rank(&self) -> usize;
    /// Ranks in the run.
    fn size(&self) -> usize;
    /// Element-wise sum of `send` over the ranks, into `recv` (same length).
    fn sum_f32(&self, send: &[f32], recv: &mut [f32]);
    /// Element-wise sum of `send` over the ranks, into `recv` (same length).
    fn sum_f64(&self, send: &[f64], recv: &mut [f64]);
}

/// Makes the trainer's [`Collective`] on the trainer's own thread (an MPI
/// communicator handle is not `Send`).
pub type Connect = Arc<dyn Fn() -> Box<dyn Collective> + Send + Sync>;

/// A run's place in a group of ranks ([`crate::train::RunConfig::ranks`]).
#[derive(Clone)]
pub struct Ranks {
    pub rank: usize,
    pub size: usize,
    pub connect: Connect,
}

impl std::fmt::Debug for Ranks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ranks").field("rank", &self.rank).field("size", &self.size).finish()
    }
}

/// One rank's share of a step's micro-batches: `count` of them from `first`, of `total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Share {
    pub first: usize,
    pub count: usize,
    pub total: usize,
}

impl Share {
    /// The whole step (one process).
    pub fn whole(accum: usize) -> Share {
        Share { first: 0, count: accum, total: accum }
    }

    /// Rank `rank` of `size`'s share of `accum` micro-batches (module docs), or
    /// why there is none.
    pub fn of(accum: usize, rank: usize, size: usize) -> Result<Share, String> {
        if size == 0 || rank >= size {
            return Err(format!("rank {rank} of {size} ranks"));
        }
        if size > accum {
            return Err(format!(
                "{size} ranks but {accum} micro-batches per step: ranks share a step's micro-batches (the preset's accum), so use at most {accum} ranks or raise --accum to {size} or more"
            ));
        }
        let (base, extra) = (accum / size, accum % size);
        let first = rank * base + rank.min(extra);
        Ok(Share { first, count: base + usize::from(rank < extra), total: accum })
    }
}

/// Threads for one of `local_ranks` ranks on a host of `cores` cores: the cores
/// divided among them (at least one), never every core for each.
pub fn threads_per_rank(cores: usize, local_ranks: usize) -> usize {
    (cores / local_ranks.max(1)).max(1)
}
