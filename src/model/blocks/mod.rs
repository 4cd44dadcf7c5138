//! Building blocks, one file each, forward and backward side by side (llm.c
//! style): a forward takes the activations it must keep as explicit output
//! slices, its backward takes them back with ∂L/∂output and the scratch it
//! needs, so a training step allocates nothing and no autograd is involved.
//! Formulas and the spec section each block follows are in its module docs.
//!
//! # Backward convention
//!
//! * **Parameter gradients always accumulate** (`+=`) into their slice of the
//!   flat gradient buffer: micro-batches of an optimiser step add up there, and
//!   the trainer zeroes the buffer once per step.
//! * **Input gradients accumulate (`+=`) wherever the input is shared**, as in
//!   llm.c: the residual stream h feeds both its skip path and a sub-layer, so
//!   the pre-norms in front of every sub-layer ([`rmsnorm`], [`layernorm`]) add
//!   ∂L/∂h into the residual gradient that already holds the skip path's share.
//!   The same holds for [`embedding`] (the table is a parameter), the exit
//!   gate's ∂L/∂ê in [`exit_head`], P-RCSM's residual gradient and planner
//!   state ∂L/∂p ([`rcsm`], [`rcsm::gate`]), the planner summary's ∂L/∂e,
//!   the position table ([`cumstep_pos`]) and the RAM-Net memory's ∂L/∂a
//!   ([`ram_memory::ram_backward`], added after the scan wrote it).
//! * **The other blocks overwrite (`=`) their input gradient.** Their input is
//!   a normalised sub-layer input with no other consumer, so writing it saves
//!   a zeroing pass per sub-layer, and several reuse the buffer as scratch
//!   before the final write. These are: [`gated_conv::mixer_backward`] (and
//!   the conv inside it, `kernels::conv::conv_backward`, for ∂L/∂u),
//!   [`swiglu::ffn_backward`], [`geglu::geglu_backward`],
//!   [`relu2_ffn::relu2_ffn_backward`], [`relu_ffn::relu_ffn_backward`],
//!   [`norm_scan::scan_backward`], [`hebbian::memory_backward`],
//!   [`attention::attention_backward`], [`decayed_sum::time_mix_backward`],
//!   [`groupnorm::groupnorm_backward`], [`token_shift::token_shift_backward`],
//!   [`recurrence::recurrence_backward`], [`shift_mixer::shift_mixer_backward`],
//!   [`rcsm::bank::bank_backward`], [`rcsm::memory::slots_backward`],
//!   [`rcsm::gate::gate_backward`] (∂L/∂e; ∂L/∂p is added),
//!   [`rcsm::gate::planner_backward`] (∂L/∂ē; ∂L/∂p is added), P-RCSM's
//!   ∂L/∂p in [`rcsm::rcsm_backward`], and the head's ∂L/∂hf in
//!   [`head::head_ce_fused`].
//!
//! Each backward's doc says which of the two it does for every gradient it
//! writes. A version chains them as: the sub-layer's backward writes ∂L/∂a,
//! then the pre-norm's backward adds ∂L/∂h; only buffers that something adds
//! into start zeroed (the residual gradient before the final norm's backward,
//! the embedded tokens' gradient before the input norm's).

// embedding, positions and heads
pub mod cumstep_pos;
pub mod embedding;
pub mod exit_head;
pub mod fsp;
pub mod head;
// norms
pub mod groupnorm;
pub mod layernorm;
pub mod rmsnorm;
// ternary linears
pub mod bitlinear;
// token mixers
pub mod attention;
pub mod decayed_sum;
pub mod gated_conv;
pub mod hebbian;
pub mod norm_scan;
pub mod ram_memory;
pub mod rcsm;
pub mod recurrence;
pub mod shift_mixer;
pub mod token_shift;
// feed-forward networks
pub mod geglu;
pub mod relu2_ffn;
pub mod relu_ffn;
pub mod swiglu;
// what the pre-norm transformers share
pub mod transformer;
// regularisation
pub mod dropout;
