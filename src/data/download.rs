//! Fetching TinyStories (`roneneldan/TinyStories`) from the Hugging Face Hub
//! into the standard Hugging Face cache, so `huggingface_hub`, `datasets` and
//! this crate share one copy.
//!
//! The protocol is the one `huggingface_hub` speaks:
//! 1. `HEAD {endpoint}/datasets/{repo}/resolve/main/{file}` without following
//!    the (absolute) redirect to the CDN; the answer carries `x-repo-commit`,
//!    `x-linked-etag` / `etag` (for LFS files the SHA-256 of the content) and
//!    `x-linked-size` / `content-length`.
//! 2. If `snapshots/<commit>/<file>` or `blobs/<etag>` is already there, it is
//!    reused. Otherwise `GET` (redirects followed) into `blobs/<etag>.incomplete`,
//!    resuming with `Range: bytes=N-` when that file already holds N bytes
//!    (a server that answers 200 instead of 206 restarts it from zero).
//! 3. The size, and the SHA-256 when the etag is a 64-hex digest, are checked
//!    before `blobs/<etag>.incomplete` is renamed to `blobs/<etag>`; then
//!    `snapshots/<commit>/<file>` links to it and `refs/main` names the commit.
//!    A file that fails a check is deleted, never moved into place. A file
//!    the Hub gave neither a size nor a SHA-256 for is kept but marked
//!    unverified (`blobs/<etag>.unverified`), and every caller is told.
//! 4. A file already in the cache is checked again before it is reused: against
//!    the Hub's size and SHA-256, or offline against the SHA-256 its blob is
//!    named by. A cached file that fails is fetched again (offline: an error).
//!
//! Every download has an overall deadline besides the per-read timeout:
//! [`default_deadline`] (scaled to the size), or `FLASHLM_DOWNLOAD_DEADLINE`
//! seconds. When it passes the partial file is kept for the next call to resume.
//!
//! Cache: `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else
//! `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`, laid out as
//! `datasets--roneneldan--TinyStories/{blobs,snapshots/<rev>/<file>,refs/main}`.
//! `HF_ENDPOINT` replaces <https://huggingface.co>; `HF_HUB_OFFLINE=1` makes no
//! network call at all (the cache answers, or a clear error does).
//!
//! Why `ureq` and not the `hf-hub` crate: hf-hub's sync API (ureq inside) does
//! keep the cache layout and reports progress through its own `Progress`
//! trait (with indicatif always compiled in), but it does not check the
//! SHA-256 of what it downloaded against the etag, does not honour
//! `HF_HUB_OFFLINE`, and exposes neither connect/read timeouts nor a retry
//! bound, and those are exactly what this command must guarantee (a corrupt
//! file is never a corpus; no network fails within 30 s). The protocol itself
//! is one HEAD and one ranged GET, so a small blocking client is the smaller
//! dependency. ureq 3 is built with rustls and without gzip, so
//! `Content-Length` and `Range` offsets are byte offsets into the file itself.

use sha2::{Digest, Sha256};
use std::cell::Cell;
use std::fs::{self, File, OpenOptions};
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The Hub dataset repository holding TinyStories.
pub const TINYSTORIES_REPO: &str = "roneneldan/TinyStories";
/// Where the Hub lives unless `HF_ENDPOINT` says otherwise.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// What to do instead when the Hub cannot be reached.
pub const ALTERNATIVES: &str = "without the download you can still train: on the built-in story corpus (just run without --corpus) \
     or on your own text (--corpus FILE)";

/// Connect timeout for every request.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest silence tolerated while reading an answer or the body.
const READ_TIMEOUT: Duration = Duration::from_secs(20);
/// The whole metadata request (resolve + connect + answer).
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Waits before the first and the second retry; there is no third.
const BACKOFF: [Duration; 2] = [Duration::from_millis(300), Duration::from_millis(900)];
/// No retry starts once a call has spent this long failing, so an unreachable
/// Hub is reported within 30 s even when every attempt times out.
const RETRY_WINDOW: Duration = Duration::from_secs(12);

/// The overall deadline of a download of `size` bytes (unknown: as for 2 GB):
/// ten minutes plus the time the file takes at 200 kB/s, the pace of a poor
/// connection; a stalled or dripping server is given up on after that.
pub fn default_deadline(size: Option<u64>) -> Duration {
    let bytes = size.unwrap_or(2_000_000_000);
    Duration::from_secs(600 + bytes / 200_000)
}

/// How far a downloaded (or reused) file was checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verified {
    /// Its SHA-256 matches the one the Hub announced (or the blob is named by).
    Sha256,
    /// Only its size could be checked: the Hub sent no SHA-256.
    Size,
    /// Neither: the Hub sent no size and no SHA-256. Kept, and said so.
    Unverified,
}

/// A file in the cache and how far it was checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetched {
    pub path: PathBuf,
    pub verified: Verified,
}

/// TinyStories release: V1 (`TinyStories-*.txt`, GPT-3.5 and GPT-4 stories)
/// or V2 (`TinyStoriesV2-GPT4-*.txt`, GPT-4 only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TsVersion {
    V1,
    V2,
}

/// Which files of a release.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Split {
    Train,
    Valid,
    Both,
}

/// What `data download tinystories` fetches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DownloadSpec {
    pub version: TsVersion,
    pub split: Split,
}

/// The Hub file names of a release, train before valid.
pub fn tinystories_files(version: TsVersion, split: Split) -> Vec<&'static str> {
    let (train, valid) = match version {
        TsVersion::V1 => ("TinyStories-train.txt", "TinyStories-valid.txt"),
        TsVersion::V2 => ("TinyStoriesV2-GPT4-train.txt", "TinyStoriesV2-GPT4-valid.txt"),
    };
    match split {
        Split::Train => vec![train],
        Split::Valid => vec![valid],
        Split::Both => vec![train, valid],
    }
}

/// Everything that can go wrong fetching a file; each message names the URL
/// or file and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("cannot reach the Hugging Face Hub at {url}: {reason}\n{ALTERNATIVES}; or retry when online (HF_ENDPOINT selects a mirror)")]
    Unreachable { url: String, reason: String },

    #[error("file not found on the Hub: {url}")]
    NotFound { url: String },

    #[error("the Hub answered HTTP {status}{} for {url}{}", reason_phrase(*status), status_hint(*status))]
    Status { url: String, status: u16 },

    #[error("{url} does not look like a Hugging Face Hub file (its answer has no {what} header); check HF_ENDPOINT (now {endpoint})")]
    NotAHub { url: String, endpoint: String, what: &'static str },

    #[error(
        "download of {url} broke off at {done} of {total} bytes after {attempts} attempts: {reason}\n\
         the partial file {} is kept: run the same command again to resume",
        partial.display()
    )]
    Interrupted { url: String, done: u64, total: u64, attempts: u32, reason: String, partial: PathBuf },

    #[error(
        "{file} from {url}: size mismatch, expected {expected} bytes, got {got}; the partial download was deleted, run the command again"
    )]
    SizeMismatch { file: String, url: String, expected: u64, got: u64 },

    #[error(
        "{file} from {url}: SHA-256 mismatch, expected {expected}, got {got}; the corrupt download was deleted, run the command again"
    )]
    HashMismatch { file: String, url: String, expected: String, got: String },

    #[error(
        "download of {url} did not finish within its deadline of {secs} s ({done} bytes so far); \
         the partial file {} is kept: run the same command again to resume (FLASHLM_DOWNLOAD_DEADLINE=SECONDS allows more time)",
        partial.display()
    )]
    Deadline { url: String, secs: u64, done: u64, partial: PathBuf },

    #[error(
        "{} in the cache is corrupted: its SHA-256 is {got}, its blob name says {expected}; \
         delete it and download it again (with the Hub reachable and HF_HUB_OFFLINE unset)",
        path.display()
    )]
    CorruptCache { path: PathBuf, expected: String, got: String },

    #[error(
        "HF_HUB_OFFLINE is set and {file} of {repo} is not complete in the cache {}\n\
         unset HF_HUB_OFFLINE to download it, or {ALTERNATIVES}",
        cache.display()
    )]
    Offline { repo: String, file: String, cache: PathBuf },

    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => " (Bad Request)",
        401 => " (Unauthorized)",
        403 => " (Forbidden)",
        416 => " (Range Not Satisfiable)",
        429 => " (Too Many Requests)",
        500 => " (Internal Server Error)",
        502 => " (Bad Gateway)",
        503 => " (Service Unavailable)",
        504 => " (Gateway Timeout)",
        _ => "",
    }
}

fn status_hint(status: u16) -> &'static str {
    match status {
        401 | 403 => "; the repository may be private or gated (this downloader sends no token)",
        429 => "; rate limited, wait a minute and run the command again",
        500..=599 => "; the Hub has trouble right now, run the command again later",
        _ => "",
    }
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> DownloadError + 'a {
    move |source| DownloadError::Io { action, path: path.to_path_buf(), source }
}

/// Where to download from and where the cache is; [`HubConfig::from_env`]
/// reads the variables `huggingface_hub` reads.
#[derive(Clone, Debug)]
pub struct HubConfig {
    /// The Hub's base URL, no trailing slash.
    pub endpoint: String,
    /// The hub cache folder (the one holding `datasets--…` folders).
    pub hub_cache: PathBuf,
    /// Make no network call; answer from the cache or fail.
    pub offline: bool,
    /// Longest a download may take (`None`: [`default_deadline`] of its size).
    pub deadline: Option<Duration>,
}

impl HubConfig {
    /// `HF_ENDPOINT`, `HF_HUB_CACHE` / `HF_HOME` / `XDG_CACHE_HOME` / `HOME`,
    /// `HF_HUB_OFFLINE` (1, true, yes or on).
    pub fn from_env() -> HubConfig {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        let endpoint = var("HF_ENDPOINT").map(|v| v.to_string_lossy().into_owned()).unwrap_or_else(|| DEFAULT_ENDPOINT.into());
        let hf_home = var("HF_HOME").map(PathBuf::from).unwrap_or_else(|| {
            let cache = var("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| var("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(".")).join(".cache"));
            cache.join("huggingface")
        });
        let hub_cache = var("HF_HUB_CACHE").map(PathBuf::from).unwrap_or_else(|| hf_home.join("hub"));
        let offline = var("HF_HUB_OFFLINE")
            .map(|v| matches!(v.to_string_lossy().trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
            .unwrap_or(false);
        let deadline = var("FLASHLM_DOWNLOAD_DEADLINE")
            .and_then(|v| v.to_string_lossy().trim().parse::<f64>().ok())
            .filter(|s| *s > 0.0 && s.is_finite())
            .map(Duration::from_secs_f64);
        HubConfig { endpoint: endpoint.trim_end_matches('/').to_string(), hub_cache, offline, deadline }
    }

    /// The cache folder of a dataset repository.
    pub fn repo_dir(&self, repo: &str) -> PathBuf {
        self.hub_cache.join(format!("datasets--{}", repo.replace('/', "--")))
    }

    /// The URL a file resolves from (on the `main` revision).
    pub fn url(&self, repo: &str, file: &str) -> String {
        format!("{}/datasets/{repo}/resolve/main/{file}", self.endpoint.trim_end_matches('/'))
    }

    /// A file already complete in the cache (no network): the snapshot of
    /// `refs/main`, else the newest snapshot that holds it.
    pub fn cached(&self, repo: &str, file: &str) -> Option<PathBuf> {
        let dir = self.repo_dir(repo);
        if let Ok(commit) = fs::read_to_string(dir.join("refs/main")) {
            let p = dir.join("snapshots").join(commit.trim()).join(file);
            if p.is_file() {
                return Some(p);
            }
        }
        let mut found: Vec<(std::time::SystemTime, PathBuf)> = fs::read_dir(dir.join("snapshots"))
            .ok()?
            .flatten()
            .map(|e| e.path().join(file))
            .filter(|p| p.is_file())
            .map(|p| (fs::metadata(&p).and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH), p))
            .collect();
        found.sort();
        found.pop().map(|(_, p)| p)
    }

    /// Fetch `file` of the dataset `repo` (or reuse it from the cache) and
    /// return its snapshot path, complete and verified as far as the Hub
    /// allows ([`HubConfig::fetch`] says how far). `progress(done, total)` is
    /// called as bytes arrive (done counts resumed bytes too).
    pub fn download(&self, repo: &str, file: &str, progress: &dyn Fn(u64, Option<u64>)) -> Result<PathBuf, DownloadError> {
        self.fetch(repo, file, progress).map(|f| f.path)
    }

    /// [`HubConfig::download`], saying how far the file was checked.
    pub fn fetch(&self, repo: &str, file: &str, progress: &dyn Fn(u64, Option<u64>)) -> Result<Fetched, DownloadError> {
        let from_cache = || -> Result<Option<Fetched>, DownloadError> {
            match self.cached(repo, file) {
                Some(path) => Ok(Some(Fetched { verified: check_cached(&path)?, path })),
                None => Ok(None),
            }
        };
        if self.offline {
            return from_cache()?.ok_or_else(|| DownloadError::Offline {
                repo: repo.into(),
                file: file.into(),
                cache: self.hub_cache.clone(),
            });
        }
        let url = self.url(repo, file);
        let agent = agent();
        let started = Instant::now();
        let mut attempts = 0u32;
        let meta = loop {
            attempts += 1;
            match head(&agent, &url, &self.endpoint) {
                Ok(m) => break m,
                Err(e) if retriable(&e) && attempts <= BACKOFF.len() as u32 && started.elapsed() < RETRY_WINDOW => {
                    std::thread::sleep(BACKOFF[attempts as usize - 1]);
                }
                // Like huggingface_hub: no connection, but a complete copy → use it.
                Err(e @ DownloadError::Unreachable { .. }) => return from_cache()?.ok_or(e),
                Err(e) => return Err(e),
            }
        };
        let limit = self.deadline.unwrap_or_else(|| default_deadline(meta.size));
        let deadline = Until { at: started + limit, secs: limit.as_secs_f64().ceil() as u64 };

        let dir = self.repo_dir(repo);
        let snapshot = dir.join("snapshots").join(&meta.commit).join(file);
        let blob = dir.join("blobs").join(&meta.etag);
        // a cached copy is reused only if it still passes the checks a download would
        for is_blob in [false, true] {
            let cached = if is_blob { &blob } else { &snapshot };
            if !cached.is_file() {
                continue;
            }
            match check_against(&url, file, meta.size, &meta.etag, cached) {
                Ok(verified) => {
                    if is_blob {
                        link_snapshot(&blob, &snapshot, file)?;
                    }
                    write_ref(&dir, &meta.commit)?;
                    progress(m_len(&snapshot), Some(m_len(&snapshot)));
                    return Ok(Fetched { path: snapshot, verified });
                }
                Err(_) => {
                    // corrupted or another version: neither copy is trusted again
                    let _ = fs::remove_file(&snapshot);
                    let _ = fs::remove_file(&blob);
                }
            }
        }
        fs::create_dir_all(blob.parent().unwrap()).map_err(io_err("create", &dir))?;
        let verified = fetch_blob(&agent, &url, file, &meta, &blob, progress, attempts, &deadline)?;
        progress(m_len(&blob), Some(m_len(&blob)));
        link_snapshot(&blob, &snapshot, file)?;
        write_ref(&dir, &meta.commit)?;
        Ok(Fetched { path: snapshot, verified })
    }
}

fn m_len(p: &Path) -> u64 {
    fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// Fetch `file` of the dataset `repo` from `endpoint` into the HF cache under
/// `hf_home` (`hf_home/hub/datasets--…`); returns the snapshot path of the
/// complete, verified file. With `offline`, no network call is made.
pub fn download_file(
    endpoint: &str,
    hf_home: &Path,
    repo: &str,
    file: &str,
    offline: bool,
    progress: &dyn Fn(u64, Option<u64>),
) -> Result<PathBuf, DownloadError> {
    let cfg = HubConfig { endpoint: endpoint.trim_end_matches('/').to_string(), hub_cache: hf_home.join("hub"), offline, deadline: None };
    cfg.download(repo, file, progress)
}

/// Fetch the files of `spec` with the settings of [`HubConfig::from_env`];
/// `progress(file, done, total)`. Returns the paths in [`tinystories_files`] order.
pub fn download_tinystories(spec: DownloadSpec, progress: &dyn Fn(&str, u64, Option<u64>)) -> Result<Vec<PathBuf>, DownloadError> {
    download_tinystories_with(&HubConfig::from_env(), spec, progress)
}

/// [`download_tinystories`] with explicit settings.
pub fn download_tinystories_with(
    cfg: &HubConfig,
    spec: DownloadSpec,
    progress: &dyn Fn(&str, u64, Option<u64>),
) -> Result<Vec<PathBuf>, DownloadError> {
    tinystories_files(spec.version, spec.split).into_iter().map(|f| cfg.download(TINYSTORIES_REPO, f, &|d, t| progress(f, d, t))).collect()
}

/// The (train, valid) files of a release that are already complete in the
/// cache of [`HubConfig::from_env`] (no network); `None` without the train file.
pub fn find_cached_tinystories(version: TsVersion) -> Option<(PathBuf, Option<PathBuf>)> {
    find_cached_tinystories_in(&HubConfig::from_env(), version)
}

/// [`find_cached_tinystories`] with explicit settings.
pub fn find_cached_tinystories_in(cfg: &HubConfig, version: TsVersion) -> Option<(PathBuf, Option<PathBuf>)> {
    let files = tinystories_files(version, Split::Both);
    let train = cfg.cached(TINYSTORIES_REPO, files[0])?;
    Some((train, cfg.cached(TINYSTORIES_REPO, files[1])))
}

// ---------------------------------------------------------------------------
// HTTP

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_per_read(Some(READ_TIMEOUT))
        .timeout_recv_response(Some(READ_TIMEOUT))
        .user_agent(concat!("flashlm-tui/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

fn transport(url: &str, e: ureq::Error) -> DownloadError {
    DownloadError::Unreachable { url: url.into(), reason: e.to_string() }
}

fn retriable(e: &DownloadError) -> bool {
    match e {
        DownloadError::Unreachable { .. } | DownloadError::Interrupted { .. } => true,
        DownloadError::Status { status, .. } => *status == 429 || *status >= 500,
        _ => false,
    }
}

fn status_error(url: &str, status: u16) -> DownloadError {
    if status == 404 {
        DownloadError::NotFound { url: url.into() }
    } else {
        DownloadError::Status { url: url.into(), status }
    }
}

/// What the Hub says about a file.
#[derive(Debug)]
struct Meta {
    commit: String,
    /// Without quotes or `W/`; the SHA-256 for LFS files.
    etag: String,
    size: Option<u64>,
}

fn header<'a>(r: &'a ureq::http::Response<ureq::Body>, name: &str) -> Option<&'a str> {
    r.headers().get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

/// HEAD without following absolute redirects (the CDN answer lacks the Hub's
/// headers); relative ones (a renamed repository) are followed.
fn head(agent: &ureq::Agent, url: &str, endpoint: &str) -> Result<Meta, DownloadError> {
    let mut current = url.to_string();
    let mut status = 0;
    for _ in 0..5 {
        let resp = agent
            .head(&current)
            .header("Accept-Encoding", "identity")
            .config()
            .max_redirects(0)
            .timeout_global(Some(HEAD_TIMEOUT))
            .build()
            .call()
            .map_err(|e| transport(url, e))?;
        status = resp.status().as_u16();
        if (300..400).contains(&status) {
            if let Some(loc) = header(&resp, "location").filter(|l| l.starts_with('/')) {
                let base = current.find("://").and_then(|i| current[i + 3..].find('/').map(|j| i + 3 + j)).unwrap_or(current.len());
                current = format!("{}{loc}", &current[..base]);
                continue;
            }
        } else if status >= 400 {
            return Err(status_error(url, status));
        }
        let not_hub = |what| DownloadError::NotAHub { url: url.into(), endpoint: endpoint.into(), what };
        let commit = header(&resp, "x-repo-commit").ok_or_else(|| not_hub("x-repo-commit"))?.to_string();
        let etag = header(&resp, "x-linked-etag").or_else(|| header(&resp, "etag")).ok_or_else(|| not_hub("etag"))?;
        let etag = etag.trim_start_matches("W/").trim_matches('"').to_string();
        // a redirect's content-length is that of the redirect's own body
        let length = if (200..300).contains(&status) { header(&resp, "content-length") } else { None };
        let size = header(&resp, "x-linked-size").or(length).and_then(|s| s.parse::<u64>().ok());
        if !is_safe_name(&commit) || !is_safe_name(&etag) {
            return Err(not_hub("usable x-repo-commit/etag"));
        }
        return Ok(Meta { commit, etag, size });
    }
    // Relative redirects going round in circles.
    Err(DownloadError::Status { url: url.into(), status })
}

/// Commits and etags become path components: no separators, no `..`.
fn is_safe_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Download into `<blob>.incomplete` (resuming what is there), verify, and
/// rename to `blob`. Retries transport failures and cut bodies (each retry
/// resumes), at most `BACKOFF.len()` times per call including `used` HEAD
/// retries, and never past `deadline`.
#[allow(clippy::too_many_arguments)]
fn fetch_blob(
    agent: &ureq::Agent,
    url: &str,
    file: &str,
    meta: &Meta,
    blob: &Path,
    progress: &dyn Fn(u64, Option<u64>),
    mut attempts: u32,
    deadline: &Until,
) -> Result<Verified, DownloadError> {
    let partial = PathBuf::from(format!("{}.incomplete", blob.display()));
    let mut made_progress_at = Instant::now();
    let announced = loop {
        let before = m_len(&partial);
        match get_into(agent, url, meta, &partial, progress, deadline) {
            Ok(announced) => break announced,
            Err(e) => {
                let now = m_len(&partial);
                if now > before {
                    made_progress_at = Instant::now();
                }
                if matches!(e, DownloadError::Deadline { .. }) || deadline.passed() {
                    return Err(deadline.error(url, now, &partial));
                }
                let can_retry = retriable(&e) && (attempts as usize) <= BACKOFF.len() && made_progress_at.elapsed() < RETRY_WINDOW;
                if !can_retry {
                    return Err(match e {
                        DownloadError::Interrupted { reason, total, .. } => DownloadError::Interrupted {
                            url: url.into(),
                            done: now,
                            total: meta.size.unwrap_or(total),
                            attempts,
                            reason,
                            partial,
                        },
                        other => other,
                    });
                }
                std::thread::sleep(BACKOFF[attempts as usize - 1]);
                attempts += 1;
            }
        }
    };
    let verified = verify(url, file, meta, meta.size.or(announced), &partial)?;
    fs::rename(&partial, blob).map_err(io_err("move the verified download to", blob))?;
    let mark = unverified_mark(blob);
    if verified == Verified::Unverified {
        let note = "the Hub announced neither the size nor the SHA-256 of this file: it is kept but could not be checked\n";
        fs::write(&mark, note).map_err(io_err("write", &mark))?;
    } else {
        let _ = fs::remove_file(&mark);
    }
    Ok(verified)
}

/// Beside a blob that could not be checked: says so to every later reader.
fn unverified_mark(blob: &Path) -> PathBuf {
    PathBuf::from(format!("{}.unverified", blob.display()))
}

/// When a download must have finished.
struct Until {
    at: Instant,
    /// The limit, for the message.
    secs: u64,
}

impl Until {
    fn passed(&self) -> bool {
        Instant::now() >= self.at
    }

    fn error(&self, url: &str, done: u64, partial: &Path) -> DownloadError {
        DownloadError::Deadline { url: url.into(), secs: self.secs, done, partial: partial.into() }
    }
}

/// One GET into `partial`, from its current length. Returns the file's
/// length as this answer announced it (content-length or content-range), if it did.
fn get_into(
    agent: &ureq::Agent,
    url: &str,
    meta: &Meta,
    partial: &Path,
    progress: &dyn Fn(u64, Option<u64>),
    deadline: &Until,
) -> Result<Option<u64>, DownloadError> {
    let mut have = m_len(partial);
    if let Some(size) = meta.size {
        if have > size {
            // Not a prefix of this file: start over.
            fs::remove_file(partial).map_err(io_err("delete", partial))?;
            have = 0;
        } else if have == size && size > 0 {
            return Ok(Some(size));
        }
    }
    let left = deadline.at.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(deadline.error(url, have, partial));
    }
    let mut req = agent.get(url);
    if have > 0 {
        req = req.header("Range", format!("bytes={have}-"));
    }
    // ureq's global timeout covers the body too, so even a server that never
    // sends another byte cannot hold the download past its deadline
    let resp = req.config().timeout_global(Some(left)).build().call().map_err(|e| {
        if deadline.passed() {
            deadline.error(url, have, partial)
        } else {
            transport(url, e)
        }
    })?;
    let status = resp.status().as_u16();
    let append = match status {
        206 if have > 0 && content_range_start(&resp) == Some(have) => true,
        200 | 206 => false,
        416 => {
            // The partial file is no prefix the server recognises: start over next time.
            let _ = fs::remove_file(partial);
            return Err(DownloadError::Interrupted {
                url: url.into(),
                done: 0,
                total: 0,
                attempts: 0,
                reason: "the server refused the resume range".into(),
                partial: partial.into(),
            });
        }
        s => return Err(status_error(url, s)),
    };
    let announced = if append { content_range_total(&resp) } else { header(&resp, "content-length").and_then(|s| s.parse::<u64>().ok()) };
    let expected = meta.size.or(announced);
    let mut out = if append {
        OpenOptions::new().append(true).open(partial).map_err(io_err("open", partial))?
    } else {
        have = 0;
        File::create(partial).map_err(io_err("create", partial))?
    };
    let mut body = resp.into_body().into_reader();
    let mut buf = vec![0u8; 256 * 1024];
    let mut done = have;
    progress(done, expected);
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                out.flush().map_err(io_err("write", partial))?;
                if deadline.passed() {
                    return Err(deadline.error(url, done, partial));
                }
                return Err(DownloadError::Interrupted {
                    url: url.into(),
                    done,
                    total: expected.unwrap_or(0),
                    attempts: 0,
                    reason: e.to_string(),
                    partial: partial.into(),
                });
            }
        };
        out.write_all(&buf[..n]).map_err(io_err("write", partial))?;
        done += n as u64;
        progress(done, expected);
        if deadline.passed() {
            out.flush().map_err(io_err("write", partial))?;
            return Err(deadline.error(url, done, partial));
        }
    }
    out.sync_all().map_err(io_err("write", partial))?;
    if expected.is_some_and(|s| done < s) {
        return Err(DownloadError::Interrupted {
            url: url.into(),
            done,
            total: expected.unwrap_or(0),
            attempts: 0,
            reason: "the connection closed early".into(),
            partial: partial.into(),
        });
    }
    Ok(announced)
}

/// `Content-Range: bytes N-M/T` → N.
fn content_range_start(r: &ureq::http::Response<ureq::Body>) -> Option<u64> {
    header(r, "content-range")?.strip_prefix("bytes ")?.split('-').next()?.trim().parse().ok()
}

/// `Content-Range: bytes N-M/T` → T.
fn content_range_total(r: &ureq::http::Response<ureq::Body>) -> Option<u64> {
    header(r, "content-range")?.rsplit_once('/')?.1.trim().parse().ok()
}

/// Size (the Hub's, else the one the download announced), then SHA-256
/// (when the etag is one); a failure deletes `partial`.
fn verify(url: &str, file: &str, meta: &Meta, size: Option<u64>, partial: &Path) -> Result<Verified, DownloadError> {
    let verified = check_against(url, file, meta.size.or(size), &meta.etag, partial);
    if verified.is_err() {
        let _ = fs::remove_file(partial);
    }
    verified
}

/// `path` against a size and an etag (a SHA-256 when it is 64 hex digits).
fn check_against(url: &str, file: &str, size: Option<u64>, etag: &str, path: &Path) -> Result<Verified, DownloadError> {
    let got = m_len(path);
    if let Some(expected) = size.filter(|&s| s != got) {
        return Err(DownloadError::SizeMismatch { file: file.into(), url: url.into(), expected, got });
    }
    if is_sha256(etag) {
        let got = sha256_file(path)?;
        if !got.eq_ignore_ascii_case(etag) {
            return Err(DownloadError::HashMismatch { file: file.into(), url: url.into(), expected: etag.into(), got });
        }
        return Ok(Verified::Sha256);
    }
    Ok(if size.is_some() { Verified::Size } else { Verified::Unverified })
}

/// A cached snapshot file with no Hub to ask (offline, unreachable): checked
/// against the SHA-256 its blob is named by, when it is.
fn check_cached(path: &Path) -> Result<Verified, DownloadError> {
    let blob = fs::canonicalize(path).map_err(io_err("read", path))?;
    let name = blob.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if !is_sha256(&name) || unverified_mark(&blob).exists() {
        return Ok(Verified::Unverified);
    }
    let got = sha256_file(path)?;
    if !got.eq_ignore_ascii_case(&name) {
        return Err(DownloadError::CorruptCache { path: path.into(), expected: name, got });
    }
    Ok(Verified::Sha256)
}

fn sha256_file(path: &Path) -> Result<String, DownloadError> {
    let mut f = File::open(path).map_err(io_err("open", path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io_err("read", path))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(crate::util::hex(&h.finalize()))
}

/// `snapshots/<commit>/<file>` → `../../blobs/<etag>` (a relative symlink, as
/// huggingface_hub makes; a copy where links are unavailable).
fn link_snapshot(blob: &Path, snapshot: &Path, file: &str) -> Result<(), DownloadError> {
    let parent = snapshot.parent().unwrap();
    fs::create_dir_all(parent).map_err(io_err("create", parent))?;
    if fs::symlink_metadata(snapshot).is_ok() {
        fs::remove_file(snapshot).map_err(io_err("replace", snapshot))?;
    }
    let depth = 2 + file.matches('/').count();
    let mut target = PathBuf::new();
    for _ in 0..depth {
        target.push("..");
    }
    target.push("blobs");
    target.push(blob.file_name().unwrap());
    #[cfg(unix)]
    if std::os::unix::fs::symlink(&target, snapshot).is_ok() {
        return Ok(());
    }
    let _ = target;
    fs::copy(blob, snapshot).map(drop).map_err(io_err("copy the download to", snapshot))
}

fn write_ref(dir: &Path, commit: &str) -> Result<(), DownloadError> {
    let path = dir.join("refs/main");
    if fs::read_to_string(&path).is_ok_and(|c| c.trim() == commit) {
        return Ok(());
    }
    fs::create_dir_all(dir.join("refs")).map_err(io_err("create", &path))?;
    fs::write(&path, commit).map_err(io_err("write", &path))
}

// ---------------------------------------------------------------------------
// Progress on stderr

/// A progress line on stderr: a redrawn bar (bytes, MB/s, ETA) when stderr is a
/// terminal, else one line per 10 %. Feed it from the `progress` callbacks.
pub struct ProgressLine {
    label: String,
    tty: bool,
    start: Instant,
    /// Bytes already there when this session started (resumed).
    base: Cell<Option<u64>>,
    last_draw: Cell<Option<Instant>>,
    last_tenth: Cell<u64>,
}

impl ProgressLine {
    pub fn new(label: &str) -> ProgressLine {
        ProgressLine {
            label: label.into(),
            tty: std::io::stderr().is_terminal(),
            start: Instant::now(),
            base: Cell::new(None),
            last_draw: Cell::new(None),
            last_tenth: Cell::new(0),
        }
    }

    pub fn update(&self, done: u64, total: Option<u64>) {
        let base = self.base.get().unwrap_or(done);
        self.base.set(Some(base));
        let secs = self.start.elapsed().as_secs_f64().max(1e-3);
        let rate = done.saturating_sub(base) as f64 / secs;
        let mb = |b: u64| b as f64 / 1e6;
        let eta = match total {
            Some(t) if rate > 0.0 && t > done => format!("ETA {}", fmt_eta((t - done) as f64 / rate)),
            _ => String::new(),
        };
        let of = total.map(|t| format!("/{:.1}", mb(t))).unwrap_or_default();
        if self.tty {
            let now = Instant::now();
            let finished = total.is_some_and(|t| done >= t);
            if !finished && self.last_draw.get().is_some_and(|t| now.duration_since(t) < Duration::from_millis(100)) {
                return;
            }
            self.last_draw.set(Some(now));
            let bar = match total {
                Some(t) if t > 0 => {
                    let filled = ((done.min(t) as f64 / t as f64) * 24.0) as usize;
                    format!("[{}{}] ", "#".repeat(filled), "-".repeat(24 - filled))
                }
                _ => String::new(),
            };
            eprint!("\r\x1b[2K{} {bar}{:.1}{of} MB  {:.1} MB/s  {eta}", self.label, mb(done), rate / 1e6);
        } else if let Some(t) = total.filter(|&t| t > 0) {
            let tenth = done.min(t) * 10 / t;
            if tenth > self.last_tenth.get() {
                self.last_tenth.set(tenth);
                eprintln!("{}: {}% ({:.1}{of} MB, {:.1} MB/s) {eta}", self.label, tenth * 10, mb(done), rate / 1e6);
            }
        }
    }

    /// Ends the terminal line.
    pub fn finish(&self) {
        if self.tty && self.last_draw.get().is_some() {
            eprintln!();
        }
    }
}

fn fmt_eta(s: f64) -> String {
    let s = s.round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, s / 60 % 60)
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}
