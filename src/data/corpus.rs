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
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(DataError::Missing { path: path.to_path_buf() }),
        Err(e) => return Err(DataError::io("read", path, e)),
    };
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
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(DataError::Missing { path: path.to_path_buf() }),
        Err(e) => return Err(DataError::io("read", path, e)),
    };
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

/// A stable content hash of a story list: SHA-256 (hex) over every story's
/// byte length and bytes, so no choice of separator can make two different
/// story lists collide.
pub fn corpus_hash(stories: &[String]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"flashlm-corpus-v1\n");
    for s in stories {
        h.update((s.len() as u64).to_le_bytes());
        h.update(s.as_bytes());
    }
    super::hex(&h.finalize())
}
