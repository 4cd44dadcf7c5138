//! Thread-local scratch buffers for kernels that need temporary space of a
//! size known only at the call: taken zeroed, given back on drop, so that a
//! training step allocates nothing once the first steps have sized them.

use std::cell::RefCell;
use std::ops::{Deref, DerefMut};

thread_local! {
    static FREE: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
}

/// A zeroed buffer of `len` floats, back to the free list of the thread that
/// drops it. Take and drop on the same thread (inside one function or one
/// rayon task, never collected across tasks) so each thread's list settles.
pub struct Scratch(Vec<f32>);

/// Takes the smallest free buffer that holds `len` floats (else the largest,
/// grown), zeroed to exactly `len`.
pub fn zeroed(len: usize) -> Scratch {
    let mut buf = FREE
        .try_with(|free| {
            let mut free = free.borrow_mut();
            let fits = free.iter().enumerate().filter(|(_, b)| b.capacity() >= len).min_by_key(|(_, b)| b.capacity());
            let pick = fits.or_else(|| free.iter().enumerate().max_by_key(|(_, b)| b.capacity())).map(|(i, _)| i);
            pick.map(|i| free.swap_remove(i)).unwrap_or_default()
        })
        .unwrap_or_default();
    buf.clear();
    buf.resize(len, 0.0);
    Scratch(buf)
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.0);
        // during thread teardown the list may be gone: then the buffer is freed
        let _ = FREE.try_with(|free| free.borrow_mut().push(buf));
    }
}

impl Deref for Scratch {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.0
    }
}

impl DerefMut for Scratch {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.0
    }
}
