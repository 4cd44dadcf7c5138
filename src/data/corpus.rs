//! Corpus sources and story splitting (spec D15: a story is the unit that is
//! encoded whole and followed by `<eos>`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{stories, DataError};

/// The line that separates stories in the TinyStories `.txt` releases.
pub const STORY_SEPARATOR: &str = "<|endoftext|>";

/// Where the stories come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum CorpusSource {
    /// The built-in generated story corpus: `stories` stories from `seed`.
    BuiltIn { seed: u64, stories: usize },
    /// A UTF-8 text file, or a folder whose `*.txt` files are read in name order.
    Path(PathBuf),
}

impl CorpusSource {
    /// A short human description for logs and errors.
    pub fn describe(&self) -> String {
        match self {
            CorpusSource::BuiltIn { seed, stories } => format!("built-in corpus ({stories} stories, seed {seed})"),
            CorpusSource::Path(p) => p.display().to_string(),
        }
    }
}

/// Load the stories of a corpus.
///
/// A file is split on lines whose trimmed content is exactly
/// `<|endoftext|>`; a file without such a line is split on blank lines. Each
/// story keeps its internal newlines and is trimmed; empty stories are
/// dropped; a UTF-8 BOM is stripped and `\r\n` becomes `\n`. A folder yields
/// the stories of every `*.txt` file directly inside it, in file-name order.
pub fn load_stories(src: &CorpusSource) -> Result<Vec<String>, DataError> {
    match src {
        CorpusSource::BuiltIn { seed, stories: n } => {
            if *n == 0 {
                return Err(DataError::EmptyCorpus { what: src.describe() });
            }
            Ok(stories::stories(*seed, *n))
        }
        CorpusSource::Path(path) => load_path(path),
    }
}

fn load_path(path: &Path) -> Result<Vec<String>, DataError> {
    let meta = corpus_metadata(path)?;
    if !meta.is_dir() {
        let stories = load_file(path)?;
        if stories.is_empty() {
            return Err(DataError::EmptyCorpus { what: format!("file {}", path.display()) });
        }
        return Ok(stories);
    }
    let files = txt_files(path)?;
    if files.is_empty() {
        return Err(DataError::NoTxtFiles { path: path.to_path_buf() });
    }
    let mut all = Vec::new();
    for file in &files {
        all.extend(load_file(file)?);
    }
    if all.is_empty() {
        return Err(DataError::EmptyCorpus { what: format!("the .txt files of folder {}", path.display()) });
    }
    Ok(all)
}

/// The metadata of a corpus path: a regular file or a folder. Checked before
/// anything is opened (opening a FIFO blocks; a device never ends).
pub fn corpus_metadata(path: &Path) -> Result<std::fs::Metadata, DataError> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() || m.is_dir() => Ok(m),
        Ok(m) => Err(DataError::NotRegular { path: path.to_path_buf(), kind: crate::util::file_kind(&m) }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(DataError::Missing { path: path.to_path_buf() }),
        Err(e) => Err(DataError::io("read", path, e)),
    }
}

/// The longest line a corpus may hold: a "story" is split, hashed, sampled
/// for the tokenizer and encoded whole, so one endless line would cost many
/// times its size in memory.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Counts line lengths across pieces of a file; says which line is too long.
#[derive(Default)]
pub struct LineGuard {
    len: usize,
    line: u64,
}

impl LineGuard {
    /// Feeds the next bytes; `Err` with the 1-based number of a line longer than [`MAX_LINE_BYTES`].
    pub fn feed(&mut self, bytes: &[u8], path: &Path) -> Result<(), DataError> {
        let mut rest = bytes;
        loop {
            match rest.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    self.check(self.len + i, path)?;
                    self.len = 0;
                    self.line += 1;
                    rest = &rest[i + 1..];
                }
                None => {
                    self.len += rest.len();
                    return self.check(self.len, path);
                }
            }
        }
    }

    fn check(&self, len: usize, path: &Path) -> Result<(), DataError> {
        if len > MAX_LINE_BYTES {
            return Err(DataError::LineTooLong { path: path.to_path_buf(), line: self.line + 1, limit: MAX_LINE_BYTES });
        }
        Ok(())
    }
}

/// The `*.txt` files directly inside `dir`, sorted by file name.
pub fn txt_files(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let entries = std::fs::read_dir(dir).map_err(|e| DataError::io("list folder", dir, e))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| DataError::io("list folder", dir, e))?;
        let path = entry.path();
        let is_txt = path.extension().is_some_and(|x| x.eq_ignore_ascii_case("txt"));
        // Follows symlinks, so a linked corpus file counts; folders named *.txt do not.
        if is_txt && path.is_file() {
            files.push(path);
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

/// The stories of one file (possibly none).
pub fn load_file(path: &Path) -> Result<Vec<String>, DataError> {
    let meta = corpus_metadata(path)?;
    if meta.is_dir() {
        return Err(DataError::io("read", path, std::io::Error::new(std::io::ErrorKind::InvalidInput, "is a folder, not a file")));
    }
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(DataError::Missing { path: path.to_path_buf() }),
        Err(e) => return Err(DataError::io("read", path, e)),
    };
    LineGuard::default().feed(&bytes, path)?;
    let text =
        String::from_utf8(bytes).map_err(|e| DataError::NotUtf8 { path: path.to_path_buf(), offset: e.utf8_error().valid_up_to() })?;
    Ok(split_stories_text(&text))
}

/// Split text into stories (see [`load_stories`] for the rules).
pub fn split_stories_text(text: &str) -> Vec<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let normalised;
    let text = if text.contains('\r') {
        normalised = text.replace("\r\n", "\n");
        normalised.as_str()
    } else {
        text
    };

    let has_separator = text.split('\n').any(|line| line.trim() == STORY_SEPARATOR);
    split_stories_mode(text, has_separator)
}

/// Split BOM-free, `\n`-normalised text into stories on separator lines
/// (`has_separator`) or on blank lines.
pub fn split_stories_mode(text: &str, has_separator: bool) -> Vec<String> {
    let is_boundary = |line: &str| {
        if has_separator {
            line.trim() == STORY_SEPARATOR
        } else {
            line.trim().is_empty()
        }
    };

    // Walk the lines by byte offset and slice whole stories out of `text`,
    // so internal newlines survive untouched.
    let mut stories = Vec::new();
    let mut start = 0usize;
    let mut pos = 0usize;
    for line in text.split_inclusive('\n') {
        let content = line.strip_suffix('\n').unwrap_or(line);
        if is_boundary(content) {
            push_story(&mut stories, &text[start..pos]);
            start = pos + line.len();
        }
        pos += line.len();
    }
    push_story(&mut stories, &text[start..]);
    stories
}

fn push_story(stories: &mut Vec<String>, raw: &str) {
    let story = raw.trim();
    if !story.is_empty() {
        stories.push(story.to_string());
    }
}

/// Copies standard input into `dir/stdin/<sha256>.txt` (streamed in 1 MB
/// pieces, so memory stays flat whatever its size) and returns that file and
/// its length: a piped corpus is then read, split, hashed and cached like any file.
pub fn spool_stdin(dir: &Path) -> Result<(PathBuf, u64), DataError> {
    spool(&mut std::io::stdin().lock(), dir)
}

/// [`spool_stdin`] from any reader.
pub fn spool(input: &mut dyn std::io::Read, dir: &Path) -> Result<(PathBuf, u64), DataError> {
    use sha2::{Digest, Sha256};
    use std::io::Write;
    let folder = dir.join("stdin");
    std::fs::create_dir_all(&folder).map_err(|e| DataError::io("create folder", &folder, e))?;
    let tmp = folder.join(format!(".incoming-{}", std::process::id()));
    let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(|e| DataError::io("create", &tmp, e))?);
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(DataError::io("read", Path::new("<stdin>"), e)),
        };
        h.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(|e| DataError::io("write", &tmp, e))?;
        total += n as u64;
    }
    out.flush().map_err(|e| DataError::io("write", &tmp, e))?;
    drop(out);
    if total == 0 {
        let _ = std::fs::remove_file(&tmp);
        return Err(DataError::EmptyCorpus { what: "standard input".into() });
    }
    let path = folder.join(format!("{}.txt", crate::util::hex(&h.finalize())));
    std::fs::rename(&tmp, &path).map_err(|e| DataError::io("rename", &tmp, e))?;
    Ok((path, total))
}

/// A stable content hash of a story list: SHA-256 (hex) over every story's
/// byte length and bytes, so no choice of separator can make two different
/// story lists collide.
pub fn corpus_hash(stories: &[String]) -> String {
    let mut h = CorpusHasher::new();
    for s in stories {
        h.add(s);
    }
    h.finish()
}

/// [`corpus_hash`] fed one story at a time (for corpora read in blocks).
pub struct CorpusHasher(sha2::Sha256);

impl Default for CorpusHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl CorpusHasher {
    pub fn new() -> Self {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(b"flashlm-corpus-v1\n");
        CorpusHasher(h)
    }
    pub fn add(&mut self, story: &str) {
        use sha2::Digest;
        self.0.update((story.len() as u64).to_le_bytes());
        self.0.update(story.as_bytes());
    }
    pub fn finish(self) -> String {
        use sha2::Digest;
        crate::util::hex(&self.0.finalize())
    }
}
