//! `kernels::awake`: the pool's other workers poll while a stream decodes, and
//! are released when it ends, however it ends. A hang here is a failure, so
//! each check runs on its own thread with a deadline.

use flashlm_tui::kernels::awake::{polling_workers, with_workers_awake};
use flashlm_tui::kernels::vec::{matvec_mat, Mat};
use std::time::{Duration, Instant};

/// Waits up to 30 s for `cond`.
fn eventually(cond: impl Fn() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(30) {
        if cond() {
            return true;
        }
        std::thread::yield_now();
    }
    false
}

/// Runs `f` on a fresh thread and fails the test if it takes over 60 s.
fn within_a_minute<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(60)).expect("the pool hung")
}

#[test]
fn workers_poll_during_the_stream_and_the_pool_is_free_after() {
    let got = within_a_minute(|| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let (rows, n) = (1024usize, 256usize); // above the parallel threshold
        let w: Vec<f32> = (0..rows * n).map(|i| (i % 13) as f32 - 6.0).collect();
        let x = vec![0.5f32; n];
        let mut serial = vec![0.0f32; rows];
        matvec_mat(&mut serial, Mat::F32(&w), &x, false);
        let par = pool.install(|| {
            with_workers_awake(|| {
                assert!(eventually(|| polling_workers() >= 1), "the other worker never started polling");
                let mut y = vec![0.0f32; rows];
                for _ in 0..200 {
                    matvec_mat(&mut y, Mat::F32(&w), &x, true);
                }
                y
            })
        });
        assert!(serial.iter().zip(&par).all(|(a, b)| a.to_bits() == b.to_bits()));
        // other tests may poll for a moment too, so wait for the count to drop
        assert!(eventually(|| polling_workers() == 0), "a worker is still polling");
        pool.install(|| rayon::join(|| 1, || 2))
    });
    assert_eq!(got, (1, 2));
}

#[test]
fn a_panic_in_the_stream_releases_the_workers() {
    let got = within_a_minute(|| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let caught = pool.install(|| std::panic::catch_unwind(|| with_workers_awake(|| panic!("decoder failed"))));
        assert!(caught.is_err());
        assert!(eventually(|| polling_workers() == 0), "a worker is still polling");
        pool.install(|| rayon::join(|| 3, || 4))
    });
    assert_eq!(got, (3, 4));
}

#[test]
fn outside_a_pool_it_just_runs() {
    assert_eq!(within_a_minute(|| with_workers_awake(|| 7)), 7);
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    assert_eq!(one.install(|| with_workers_awake(|| 8)), 8);
}

/// Two streams at once in one pool, each one's pollers able to land on the
/// other's thread: neither may wait for the other.
#[test]
fn two_streams_at_once_finish() {
    let got = within_a_minute(|| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(4).build().unwrap();
        let (rows, n) = (1024usize, 256usize);
        let w: Vec<f32> = (0..rows * n).map(|i| (i % 7) as f32).collect();
        let x = vec![1.0f32; n];
        let stream = || {
            with_workers_awake(|| {
                let mut y = vec![0.0f32; rows];
                for _ in 0..300 {
                    matvec_mat(&mut y, Mat::F32(&w), &x, true);
                }
                y[1]
            })
        };
        let pair = pool.install(|| rayon::join(stream, stream));
        // a stream inside a stream just runs
        let nested = pool.install(|| with_workers_awake(|| with_workers_awake(|| 5)));
        (pair, nested)
    });
    let row1: f32 = (0..256).map(|i| ((256 + i) % 7) as f32).sum();
    assert_eq!(got, ((row1, row1), 5));
}
