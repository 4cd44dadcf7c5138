//! Building blocks, one file each, forward and backward side by side.

pub mod attention;
pub mod bitlinear;
pub mod decayed_sum;
pub mod dropout;
pub mod embedding;
pub mod exit_head;
pub mod gated_conv;
pub mod geglu;
pub mod groupnorm;
pub mod head;
pub mod hebbian;
pub mod layernorm;
pub mod rcsm;
pub mod recurrence;
pub mod relu2_ffn;
pub mod rmsnorm;
pub mod shift_mixer;
pub mod swiglu;
pub mod token_shift;
