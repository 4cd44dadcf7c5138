//! Read-only memory maps of u16 arrays (token files): the mapping and the
//! view as `&[u16]` are the only unsafe steps of the data layer, kept here.

use std::fs::File;

/// A file of little-endian u16 values, mapped read-only and seen as `&[u16]`.
#[derive(Debug)]
pub struct MappedU16 {
    map: memmap2::Mmap,
}

impl MappedU16 {
    /// Maps `file`; `Ok(None)` where the mapping cannot be viewed as u16
    /// (odd length, misaligned address, big-endian host): read it instead.
    pub fn map(file: &File) -> std::io::Result<Option<MappedU16>> {
        if cfg!(target_endian = "big") {
            return Ok(None);
        }
        // SAFETY: the mapping is read-only, and the project's writers replace
        // token files by rename, never in place, so the mapped bytes do not change.
        let map = unsafe { memmap2::Mmap::map(file) }?;
        let aligned = (map.as_ptr() as usize).is_multiple_of(std::mem::align_of::<u16>());
        Ok((aligned && map.len() % 2 == 0).then_some(MappedU16 { map }))
    }

    /// The file's bytes as they are.
    pub fn as_bytes(&self) -> &[u8] {
        &self.map
    }

    pub fn as_slice(&self) -> &[u16] {
        // SAFETY: `map` checked the alignment and the even length, and the
        // host is little-endian, so the bytes are `len / 2` valid u16 values.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr() as *const u16, self.map.len() / 2) }
    }
}
