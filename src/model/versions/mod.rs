//! One folder per model version, named after the version (`v5_2_…` is v5.2):
//! its config (the preset's `model:` section and what the model is built
//! from), the model (the `LanguageModel` impl), its workspace and its
//! incremental decoder. v7.1 and v7.2 share one model, the Hebbian memory off
//! or on, hence one folder `v7_1_v7_2_cortex`; v7 (`v7_cortex`) is a
//! different architecture of the same family name.
//!
//! The list below registers them: each line declares the folder's module and
//! the [`ModelSpec`] variant that presets use to name it.

use super::registry::register_versions;

register_versions! {
    /// v4 Bolt: gated causal depthwise conv + SwiGLU, BIT-A ternary block linears (spec §4).
    v4_bolt => Bolt(BoltConfig),
    /// v5 Thunderbolt: token shift + gated linear recurrence + per-position group
    /// norm + ReLU² FFN, BIT-B ternary (spec §5).
    v5_thunderbolt => Thunderbolt(ThunderboltConfig),
    /// v5.2 Nova-Ignition: RoPE multi-head causal attention + GEGLU, dropout (spec §6).
    v5_2_nova_ignition => Nova(NovaConfig),
    /// v6 SUPERNOVA: shift mixer + P-RCSM + SwiGLU, BIT-C ternary (spec §7).
    v6_supernova => Supernova(SupernovaConfig),
    /// v7 CORTEX: ternary decayed-sum mixer + SwiGLU + exit heads (spec §8).
    v7_cortex => CortexV7(CortexV7Config),
    /// v7.1 CORTEX-III (gated causal depthwise conv) and, with `memory`, v7.2 CORTEX-VI (spec §9–§10).
    v7_1_v7_2_cortex => Cortex(CortexConfig),
    /// CPUFlow v5-LN (normalised cumsum scan + LayerNorm + ReLU FFN) and, with
    /// `memory`, CPUFlow v9.7 (+ RAM-Net sparse product-key memory) (spec §12–§13).
    cpuflow => CpuFlow(CpuFlowConfig),
    /// v10 FSP: small GPT (RMSNorm, interleaved RoPE, SwiGLU, tied head), trained with FSP (later.md §14).
    v10_fsp => GptFsp(GptFspConfig),
}
