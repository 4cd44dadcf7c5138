//! Small helpers every layer may use: hex digests, digit grouping for
//! people, and one-line renderings of error chains.

use sha2::{Digest, Sha256};

/// Lower-case hex of some bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Lower-case hex SHA-256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// 5008896 → "5,008,896"
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// An error and its sources on one line, "outer: inner: innermost". A source
/// whose text the previous message already contains is skipped, so errors that
/// print their source themselves do not say it twice.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut last = out.clone();
    let mut next = err.source();
    while let Some(e) = next {
        let msg = e.to_string();
        if !msg.is_empty() && !last.contains(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        last = msg;
        next = e.source();
    }
    out
}

/// What a path that is not a regular file is, for error messages.
pub fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
    }
    if meta.is_dir() {
        "a folder"
    } else if meta.is_file() {
        "a regular file"
    } else {
        "a special file"
    }
}

/// The metadata of `path` (symlinks followed) if it is a regular file. Checked
/// before opening: opening a FIFO for reading blocks until a writer appears,
/// and a device may never end. Errors say what the path is instead ("is a
/// folder", "not a regular file: it is a FIFO (named pipe)"), or the OS's own
/// reason (a symlink loop is "Too many levels of symbolic links").
pub fn regular_file(path: &std::path::Path) -> std::io::Result<std::fs::Metadata> {
    let meta = std::fs::metadata(path)?;
    if meta.is_file() {
        return Ok(meta);
    }
    let msg = if meta.is_dir() { "is a folder, not a file".to_string() } else { format!("not a regular file: it is {}", file_kind(&meta)) };
    Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, msg))
}
