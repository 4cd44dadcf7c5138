//! Keeps the pool's other workers polling for work while one thread runs a
//! long sequence of short parallel products. Decoding one stream forks a few
//! dozen matrix–vector products per token, each worth tens of microseconds;
//! between them the other worker fell asleep, and waking it (a futex, an
//! inter-processor interrupt on a virtual machine) cost as much as its share
//! of the product.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

static POLLING: AtomicUsize = AtomicUsize::new(0);

/// Workers of any pool polling right now (for tests and diagnostics).
pub fn polling_workers() -> usize {
    POLLING.load(Ordering::Relaxed)
}

/// Runs `f` on the calling thread while every other worker of the current
/// rayon pool polls for work instead of sleeping. Outside a pool, or in a pool
/// of one thread, just runs `f`.
pub fn with_workers_awake<R>(f: impl FnOnce() -> R) -> R {
    let Some(me) = rayon::current_thread_index() else { return f() };
    if rayon::current_num_threads() < 2 {
        return f();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    // one job per worker, each bound to its thread: the caller's own returns
    // at once, so it can never end up polling itself while `f` waits below it
    rayon::spawn_broadcast(move |ctx| {
        if ctx.index() == me {
            return;
        }
        POLLING.fetch_add(1, Ordering::Relaxed);
        while !flag.load(Ordering::Acquire) {
            if rayon::yield_now() != Some(rayon::Yield::Executed) {
                std::hint::spin_loop();
            }
        }
        POLLING.fetch_sub(1, Ordering::Relaxed);
    });
    // released on return and on unwind alike
    struct Release(Arc<AtomicBool>);
    impl Drop for Release {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Release);
        }
    }
    let _release = Release(stop);
    f()
}
