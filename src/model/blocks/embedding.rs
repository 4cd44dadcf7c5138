//! Token embedding lookup (the same table is the tied output head, see head.rs).

use rayon::prelude::*;

crate::vectorized! {
    /// out\[r\] = table[tokens\[r\]].
    pub fn embedding_forward(out: &mut [f32], tokens: &[u32], table: &[f32], d: usize) {
        out.par_chunks_mut(d).zip(tokens.par_iter()).for_each(|(o, &t)| {
            let t = t as usize;
            o.copy_from_slice(&table[t * d..(t + 1) * d]);
        });
    }
}

crate::vectorized! {
    /// dtable[tokens\[r\]] += dout\[r\]. Sequential: repeated tokens add into the same
    /// row, and a fixed order keeps the sum deterministic.
    pub fn embedding_backward(dtable: &mut [f32], dout: &[f32], tokens: &[u32], d: usize) {
        for (r, &t) in tokens.iter().enumerate() {
            let t = t as usize;
            for (g, &v) in dtable[t * d..(t + 1) * d].iter_mut().zip(&dout[r * d..(r + 1) * d]) {
                *g += v;
            }
        }
    }
}
