//! Every parameter lives in one flat `Vec<f32>` (llm.c's ParameterTensors); a table
//! maps reference `state_dict` names to shapes and offsets. Gradients and AdamW
//! moments use the same layout.

use std::ops::Range;

#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    pub shape: Vec<usize>,
    pub offset: usize,
}

impl TensorInfo {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn range(&self) -> Range<usize> {
        self.offset..self.offset + self.len()
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Layout {
    pub tensors: Vec<TensorInfo>,
    pub total: usize,
}

impl Layout {
    /// Appends a tensor and returns its range in the flat buffer.
    pub fn add(&mut self, name: impl Into<String>, shape: &[usize]) -> Range<usize> {
        let info = TensorInfo { name: name.into(), shape: shape.to_vec(), offset: self.total };
        self.total += info.len();
        let r = info.range();
        self.tensors.push(info);
        r
    }

    pub fn get(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }
}

/// Splits `buf` into disjoint mutable slices for ranges given in ascending
/// order (an array in, an array out: no allocation in the training step).
pub fn carve_mut<'a, const N: usize>(mut buf: &'a mut [f32], ranges: &[Range<usize>; N]) -> [&'a mut [f32]; N] {
    let mut pos = 0;
    std::array::from_fn(|i| {
        let r = &ranges[i];
        assert!(r.start >= pos, "carve_mut: ranges must ascend and not overlap");
        let tail = std::mem::take(&mut buf);
        let (_, rest) = tail.split_at_mut(r.start - pos);
        let (piece, rest) = rest.split_at_mut(r.len());
        buf = rest;
        pos = r.end;
        piece
    })
}
