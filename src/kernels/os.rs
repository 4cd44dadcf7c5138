//! The few operating-system calls that need `unsafe`, kept beside the other
//! unsafe code so the layers above stay safe Rust.

/// Restores the default action of SIGPIPE, so `flashlm-tui … | head` ends
/// quietly like other command-line tools instead of panicking on a closed
/// pipe. Call before any thread starts.
pub fn default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: setting a signal disposition to SIG_DFL installs no handler
    // code; called first thing in main, before other threads exist.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
