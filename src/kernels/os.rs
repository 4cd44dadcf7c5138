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

/// Swaps the two paths in one atomic step (Linux `renameat2` with
/// `RENAME_EXCHANGE`), so a folder can be replaced with no instant at which
/// neither the old nor the new one is in place. `ErrorKind::Unsupported`
/// where the OS or the filesystem cannot do it.
pub fn rename_exchange(a: &std::path::Path, b: &std::path::Path) -> std::io::Result<()> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::ffi::OsStrExt;
        let ca = std::ffi::CString::new(a.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
        let cb = std::ffi::CString::new(b.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
        // SAFETY: both arguments are NUL-terminated strings that live across
        // the call; the call only reads them.
        let r = unsafe { libc::renameat2(libc::AT_FDCWD, ca.as_ptr(), libc::AT_FDCWD, cb.as_ptr(), libc::RENAME_EXCHANGE) };
        if r == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::EINVAL) | Some(libc::ENOSYS) => Err(std::io::Error::new(std::io::ErrorKind::Unsupported, e)),
            _ => Err(e),
        };
    }
    #[allow(unreachable_code)]
    {
        let _ = (a, b);
        Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "atomic exchange of two paths"))
    }
}

/// Ignores SIGPIPE, so a closed stdout (`train … | head -1`) shows up as a
/// write error the caller can survive instead of ending the process.
pub fn ignore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: setting a signal disposition to SIG_IGN installs no handler code.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// The soft limit on this process's address space (`RLIMIT_AS`) in bytes;
/// `None` when unlimited or unknown.
pub fn address_space_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit writes one `rlimit` through a pointer to a live,
        // properly aligned local; it reads nothing else.
        let ok = unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut r) } == 0;
        if ok && r.rlim_cur != libc::RLIM_INFINITY {
            // rlim_t is u64 on Linux but not on every unix
            #[allow(clippy::unnecessary_cast)]
            return Some(r.rlim_cur as u64);
        }
    }
    None
}

/// Reaps child `pid` if it has ended, without blocking: `Some((status,
/// peak_rss_kib))` with the raw wait status and the child's own peak resident
/// set size (`wait4`'s rusage), `None` while it runs. For callers that
/// measure a child process (the tests do); the caller must not wait for it again.
pub fn try_reap_with_peak_rss(pid: u32) -> std::io::Result<Option<(i32, i64)>> {
    #[cfg(unix)]
    {
        let mut status = 0;
        // SAFETY: rusage is plain old data; all-zero bytes are a valid value.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: wait4 writes one int and one rusage through pointers to live locals.
        let r = unsafe { libc::wait4(pid as libc::pid_t, &mut status, libc::WNOHANG, &mut ru) };
        return match r {
            0 => Ok(None),
            r if r < 0 => Err(std::io::Error::last_os_error()),
            _ => Ok(Some((status, ru.ru_maxrss))),
        };
    }
    #[allow(unreachable_code)]
    {
        let _ = pid;
        Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "wait4"))
    }
}
