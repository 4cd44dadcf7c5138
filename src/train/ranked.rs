//! A session's part in a run trained by several ranks (collective.rs): the
//! step's gradient, loss and FSP sums, and the agreement to stop. Alone, each
//! is the identity.

use super::session::Session;
use std::time::Instant;

impl Session {
    /// Rank 0, or the only process: the one that evaluates, samples and writes the run's files.
    pub(super) fn is_root(&self) -> bool {
        self.group.as_ref().is_none_or(|g| g.rank() == 0)
    }

    /// Sums this rank's share of the step (its gradients in `grads`, already
    /// divided by the step's micro-batch count, and its loss and FSP terms)
    /// over the ranks: every rank then holds the step's mean gradient, loss
    /// and FSP value. Returns them with the milliseconds the sums took.
    pub(super) fn reduce_step(&mut self, loss: f64, fsp: Option<f64>) -> (f64, Option<f64>, Option<f64>) {
        let Some(g) = &self.group else {
            return (loss, fsp, None);
        };
        let t0 = Instant::now();
        g.sum_f32(&self.grads, &mut self.reduced);
        std::mem::swap(&mut self.grads, &mut self.reduced);
        // a non-finite loss on any rank makes the sum non-finite: every rank skips the step
        let mut sums = [0.0f64; 2];
        g.sum_f64(&[loss, fsp.unwrap_or(0.0)], &mut sums);
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        (sums[0], fsp.map(|_| sums[1]), Some(ms))
    }

    /// Whether the run stops before the next step: `local` (a stop command or
    /// the budget) on any rank stops them all at the same step, so none waits
    /// for a sum the others never join.
    pub(super) fn agree_stop(&self, local: bool) -> bool {
        let Some(g) = &self.group else {
            return local;
        };
        let mut any = [0.0f64];
        g.sum_f64(&[f64::from(u8::from(local))], &mut any);
        any[0] > 0.0
    }
}
