//! Keeps the pool's other workers polling for work while one thread runs a
//! long sequence of short parallel products. Decoding one stream forks a few
//! dozen matrix–vector products per token, each worth tens of microseconds;
//! between them the other worker fell asleep, and waking it (a futex, an
//! inter-processor interrupt on a virtual machine) cost as much as its share
//! of the product.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

static POLLING: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// How many streams this thread is running (`f` somewhere on its stack).
    static IN_STREAM: Cell<usize> = const { Cell::new(0) };
}

/// A poller that finds no work for this long polls from short sleeps until
/// it finds some: a stream between products is busy for microseconds, so this
/// only slows a poller whose stream has stalled (waiting on its caller, or its
/// thread descheduled by the host), which must not end it: the stream would
/// then decode at the sleeping pool's pace to its end.
const IDLE_LIMIT: Duration = Duration::from_millis(2);
const BACKOFF: Duration = Duration::from_millis(1);

/// Workers of any pool polling right now (for tests and diagnostics).
pub fn polling_workers() -> usize {
    POLLING.load(Ordering::Relaxed)
}

/// Runs `f` on the calling thread while every other worker of the current
/// rayon pool polls for work instead of sleeping. Outside a pool, in a pool
/// of one thread, or inside another stream, just runs `f`.
pub fn with_workers_awake<R>(f: impl FnOnce() -> R) -> R {
    let Some(me) = rayon::current_thread_index() else { return f() };
    if rayon::current_num_threads() < 2 || IN_STREAM.with(Cell::get) > 0 {
        return f();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    // one job per worker, each bound to its thread: the caller's own returns
    // at once, and so does any that lands on a thread running a stream (that
    // stream would sit below it on the stack, unable to finish until it did)
    rayon::spawn_broadcast(move |ctx| {
        if ctx.index() == me || IN_STREAM.with(Cell::get) > 0 {
            return;
        }
        POLLING.fetch_add(1, Ordering::Relaxed);
        // the clock is read once per 1,024 empty polls, not on every one
        let (mut idle, mut idle_since) = (0u32, None::<Instant>);
        while !flag.load(Ordering::Acquire) {
            if rayon::yield_now() == Some(rayon::Yield::Executed) {
                (idle, idle_since) = (0, None);
                continue;
            }
            idle = idle.wrapping_add(1);
            if idle.is_multiple_of(1024) {
                let now = Instant::now();
                match idle_since {
                    None => idle_since = Some(now),
                    // a stream stalled (or its thread descheduled by the host):
                    // keep serving it, from short sleeps instead of a busy core
                    Some(t) if now - t > IDLE_LIMIT => std::thread::sleep(BACKOFF),
                    Some(_) => {}
                }
            }
            std::hint::spin_loop();
        }
        POLLING.fetch_sub(1, Ordering::Relaxed);
    });
    // released on return and on unwind alike
    struct Release(Arc<AtomicBool>);
    impl Drop for Release {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Release);
            IN_STREAM.with(|c| c.set(c.get() - 1));
        }
    }
    IN_STREAM.with(|c| c.set(c.get() + 1));
    let _release = Release(stop);
    f()
}
