//! The TinyStories downloader against a tiny Hub lookalike on 127.0.0.1: the
//! resolve URL answers HEAD/GET with a 302 to a CDN path (as the Hub does for
//! LFS files) carrying x-repo-commit, x-linked-etag (SHA-256) and x-linked-size;
//! the CDN path honours Range. Each test scripts what the CDN does to its GETs.

use flashlm_tui::data::download::{
    download_file, download_tinystories_with, find_cached_tinystories_in, DownloadError, DownloadSpec, HubConfig, Split, TsVersion,
    Verified, TINYSTORIES_REPO,
};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const COMMIT: &str = "f54c09fd23315a6f9c86f9dc80f725de7d8f9c64";
const VALID: &str = "TinyStoriesV2-GPT4-valid.txt";
const TRAIN: &str = "TinyStoriesV2-GPT4-train.txt";

/// What the CDN does to one GET.
#[derive(Clone, Copy, Debug)]
enum Reply {
    /// Serve (honouring Range) but close after this many body bytes.
    CutAfter(usize),
    /// Serve the right length with one byte flipped.
    WrongBody,
    /// Answer 200 with the whole file whatever the Range.
    IgnoreRange,
    /// Send no content-length and close after this many body bytes.
    CutNoLength(usize),
    /// Send the headers, then one body byte per this many milliseconds.
    Drip(u64),
}

/// What the resolve URL announces about a file.
#[derive(Clone, Debug)]
struct Announce {
    /// x-linked-size
    size: bool,
    /// x-linked-etag: the SHA-256 of the file, of other bytes (`Some(false)`), or none (`None`: only a weak etag)
    sha: Option<bool>,
}

impl Default for Announce {
    fn default() -> Self {
        Announce { size: true, sha: Some(true) }
    }
}

#[derive(Default)]
struct State {
    files: HashMap<String, Vec<u8>>,
    /// Replies for the next CDN GETs, in order; then normal service.
    script: VecDeque<Reply>,
    /// "METHOD path [range]" per request.
    log: Vec<String>,
    announce: Announce,
}

struct Hub {
    endpoint: String,
    state: Arc<Mutex<State>>,
}

impl Hub {
    fn start(files: &[(&str, Vec<u8>)], script: &[Reply]) -> Hub {
        Hub::start_announcing(files, script, Announce::default())
    }

    fn start_announcing(files: &[(&str, Vec<u8>)], script: &[Reply], announce: Announce) -> Hub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            files: files.iter().map(|(n, b)| (n.to_string(), b.clone())).collect(),
            script: script.iter().copied().collect(),
            log: Vec::new(),
            announce,
        }));
        let (st, ep) = (state.clone(), endpoint.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (st, ep) = (st.clone(), ep.clone());
                std::thread::spawn(move || serve(conn, &st, &ep));
            }
        });
        Hub { endpoint, state }
    }

    fn log(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }
}

fn sha256(b: &[u8]) -> String {
    Sha256::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

fn serve(mut conn: TcpStream, st: &Mutex<State>, endpoint: &str) {
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
    let mut range: Option<u64> = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.trim().eq_ignore_ascii_case("range") {
                range = v.trim().strip_prefix("bytes=").and_then(|r| r.strip_suffix('-')).and_then(|n| n.parse().ok());
            }
        }
    }
    let reply = {
        let mut s = st.lock().unwrap();
        s.log.push(format!("{method} {path}{}", range.map(|r| format!(" bytes={r}-")).unwrap_or_default()));
        if method == "GET" && path.starts_with("/cdn/") {
            s.script.pop_front()
        } else {
            None
        }
    };
    let body_of = |name: &str| st.lock().unwrap().files.get(name).cloned();
    let announce = st.lock().unwrap().announce.clone();
    let mut out = Vec::new();
    let prefix = format!("/datasets/{TINYSTORIES_REPO}/resolve/main/");
    if let Some(name) = path.strip_prefix(&prefix) {
        match body_of(name) {
            None => out.extend(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"),
            Some(body) => {
                let etag = match announce.sha {
                    Some(true) => format!("x-linked-etag: \"{}\"\r\n", sha256(&body)),
                    Some(false) => format!("x-linked-etag: \"{}\"\r\n", sha256(b"other bytes")),
                    None => String::new(),
                };
                let size = if announce.size { format!("x-linked-size: {}\r\n", body.len()) } else { String::new() };
                out.extend(
                    format!(
                        "HTTP/1.1 302 Found\r\nlocation: {endpoint}/cdn/{name}\r\nx-repo-commit: {COMMIT}\r\n\
                         {etag}{size}etag: W/\"5-abc\"\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    )
                    .as_bytes(),
                )
            }
        }
    } else if let Some(body) = path.strip_prefix("/cdn/").and_then(body_of) {
        let mut body = body;
        if let Some(Reply::WrongBody) = reply {
            let mid = body.len() / 2;
            body[mid] ^= 0x20;
        }
        let start = match (reply, range) {
            (Some(Reply::IgnoreRange), _) | (_, None) => 0,
            (_, Some(r)) => r.min(body.len() as u64) as usize,
        };
        let head = if start > 0 {
            format!(
                "HTTP/1.1 206 Partial Content\r\ncontent-range: bytes {start}-{}/{}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len() - 1,
                body.len(),
                body.len() - start
            )
        } else {
            format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len())
        };
        let head = match reply {
            Some(Reply::CutNoLength(_)) => "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n".to_string(),
            _ => head,
        };
        out.extend(head.as_bytes());
        if let (Some(Reply::Drip(ms)), "GET") = (reply, method.as_str()) {
            let _ = conn.write_all(&out);
            for b in &body[start..] {
                std::thread::sleep(Duration::from_millis(ms));
                if conn.write_all(&[*b]).is_err() {
                    return; // the client gave up
                }
            }
            return;
        }
        if method == "GET" {
            let rest = &body[start..];
            let n = match reply {
                Some(Reply::CutAfter(n)) | Some(Reply::CutNoLength(n)) => n.min(rest.len()),
                _ => rest.len(),
            };
            out.extend(&rest[..n]);
        }
    } else {
        out.extend(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    }
    let _ = conn.write_all(&out);
    let _ = conn.flush();
    // Dropping `conn` closes it: a cut body ends before its content-length.
}

/// Deterministic story-like text of `n` bytes.
fn text(n: usize, seed: u8) -> Vec<u8> {
    let words = ["Once", "upon", "a", "time", "Lily", "saw", "a", "big", "red", "ball.", "<|endoftext|>\n"];
    let mut out = Vec::with_capacity(n + 16);
    let mut i = seed as usize;
    while out.len() < n {
        out.extend(words[i % words.len()].as_bytes());
        out.push(b' ');
        i = i.wrapping_mul(7).wrapping_add(3);
    }
    out.truncate(n);
    out
}

fn repo_dir(home: &Path) -> PathBuf {
    home.join("hub/datasets--roneneldan--TinyStories")
}

fn dl(hub: &str, home: &Path, file: &str) -> Result<PathBuf, DownloadError> {
    download_file(hub, home, TINYSTORIES_REPO, file, false, &|_, _| {})
}

#[test]
fn download_full_into_hf_cache_layout_then_reuses_it() {
    let body = text(300_000, 1);
    let hub = Hub::start(&[(VALID, body.clone())], &[]);
    let home = tempfile::tempdir().unwrap();
    let seen = Mutex::new(Vec::new());
    let path =
        download_file(&hub.endpoint, home.path(), TINYSTORIES_REPO, VALID, false, &|d, t| seen.lock().unwrap().push((d, t))).unwrap();

    let dir = repo_dir(home.path());
    assert_eq!(path, dir.join("snapshots").join(COMMIT).join(VALID));
    assert_eq!(std::fs::read(&path).unwrap(), body);
    let blob = dir.join("blobs").join(sha256(&body));
    assert_eq!(std::fs::read(&blob).unwrap(), body, "the blob is named by its SHA-256 etag");
    assert_eq!(
        std::fs::read_link(&path).unwrap(),
        Path::new("../../blobs").join(sha256(&body)),
        "relative symlink as huggingface_hub makes"
    );
    assert_eq!(std::fs::read_to_string(dir.join("refs/main")).unwrap().trim(), COMMIT);
    assert!(!PathBuf::from(format!("{}.incomplete", blob.display())).exists());
    let seen = seen.into_inner().unwrap();
    assert_eq!(seen.last(), Some(&(300_000, Some(300_000))));
    assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0), "progress never goes back: {seen:?}");
    let log = hub.log();
    assert!(log[0].starts_with("HEAD /datasets/roneneldan/TinyStories/resolve/main/"), "{log:?}");
    assert!(log.iter().any(|l| l == &format!("GET /cdn/{VALID}")), "the GET follows the redirect to the CDN: {log:?}");

    // Complete in the cache: a second call asks only the metadata, downloads nothing.
    let n = hub.log().len();
    assert_eq!(dl(&hub.endpoint, home.path(), VALID).unwrap(), path);
    let again = hub.log()[n..].to_vec();
    assert!(again.iter().all(|l| l.starts_with("HEAD ")), "{again:?}");
}

#[test]
fn download_interrupted_then_resumed_with_range() {
    let body = text(1_000_000, 2);
    // Every GET of the first call is cut after 100 kB (3 attempts: the first plus 2 retries, each resuming).
    let hub = Hub::start(&[(VALID, body.clone())], &[Reply::CutAfter(100_000); 3]);
    let home = tempfile::tempdir().unwrap();
    let err = dl(&hub.endpoint, home.path(), VALID).unwrap_err();
    assert!(matches!(err, DownloadError::Interrupted { done: 300_000, total: 1_000_000, .. }), "{err}");
    assert!(err.to_string().contains("run the same command again to resume"), "{err}");
    let blob = repo_dir(home.path()).join("blobs").join(sha256(&body));
    let partial = PathBuf::from(format!("{}.incomplete", blob.display()));
    assert_eq!(std::fs::metadata(&partial).unwrap().len(), 300_000, "the partial data is kept as <blob>.incomplete");
    assert!(!blob.exists() && !repo_dir(home.path()).join("snapshots").exists(), "nothing partial is placed");

    let path = dl(&hub.endpoint, home.path(), VALID).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), body);
    assert!(!partial.exists());
    let gets: Vec<String> = hub.log().into_iter().filter(|l| l.starts_with("GET /cdn/")).collect();
    let cdn = format!("GET /cdn/{VALID}");
    assert_eq!(
        gets,
        [cdn.clone(), format!("{cdn} bytes=100000-"), format!("{cdn} bytes=200000-"), format!("{cdn} bytes=300000-")],
        "retries and the next call resume with Range"
    );
}

#[test]
fn download_server_ignoring_range_restarts_cleanly() {
    let body = text(200_000, 3);
    let hub = Hub::start(&[(VALID, body.clone())], &[Reply::IgnoreRange]);
    let home = tempfile::tempdir().unwrap();
    let blobs = repo_dir(home.path()).join("blobs");
    std::fs::create_dir_all(&blobs).unwrap();
    // A stale partial file that is no prefix of the file: must not survive.
    std::fs::write(blobs.join(format!("{}.incomplete", sha256(&body))), vec![b'x'; 5000]).unwrap();
    let path = dl(&hub.endpoint, home.path(), VALID).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), body, "200 instead of 206: the download starts over");
    assert!(hub.log().contains(&format!("GET /cdn/{VALID} bytes=5000-")));
}

#[test]
fn download_corrupt_body_detected_by_sha256() {
    let body = text(120_000, 4);
    let hub = Hub::start(&[(VALID, body.clone())], &[Reply::WrongBody]);
    let home = tempfile::tempdir().unwrap();
    let err = dl(&hub.endpoint, home.path(), VALID).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DownloadError::HashMismatch { .. }), "{msg}");
    assert!(msg.contains(&format!("expected {}", sha256(&body))) && msg.contains("got ") && msg.contains(VALID), "{msg}");
    let blobs = repo_dir(home.path()).join("blobs");
    let left: Vec<_> = std::fs::read_dir(&blobs).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "neither the blob nor the .incomplete file is left: {left:?}");
    assert!(!repo_dir(home.path()).join("snapshots").exists());
}

#[test]
fn download_404_reported() {
    let hub = Hub::start(&[], &[]);
    let home = tempfile::tempdir().unwrap();
    let err = dl(&hub.endpoint, home.path(), "TinyStories-nope.txt").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("file not found on the Hub: {}/datasets/roneneldan/TinyStories/resolve/main/TinyStories-nope.txt", hub.endpoint)
    );
    assert_eq!(hub.log().len(), 1, "a 404 is not retried");
}

#[test]
fn download_refused_connection_fails_fast_naming_alternatives() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port(); // closed again: nothing listens
    let home = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let err = dl(&format!("http://127.0.0.1:{port}"), home.path(), VALID).unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(30), "took {:?}", t.elapsed());
    let msg = err.to_string();
    assert!(matches!(err, DownloadError::Unreachable { .. }), "{msg}");
    assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
    assert!(msg.contains("built-in story corpus (just run without --corpus)") && msg.contains("--corpus FILE"), "{msg}");
    assert!(!repo_dir(home.path()).join("snapshots").exists());
}

#[test]
fn download_offline_uses_cache_without_network_and_fails_clearly_without() {
    let (train, valid) = (text(150_000, 5), text(20_000, 6));
    let hub = Hub::start(&[(TRAIN, train.clone()), (VALID, valid.clone())], &[]);
    let home = tempfile::tempdir().unwrap();
    let cfg = HubConfig { endpoint: hub.endpoint.clone(), hub_cache: home.path().join("hub"), offline: false, deadline: None };
    let spec = DownloadSpec { version: TsVersion::V2, split: Split::Both };
    let got = download_tinystories_with(&cfg, spec, &|_, _, _| {}).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(std::fs::read(&got[0]).unwrap(), train);
    assert_eq!(find_cached_tinystories_in(&cfg, TsVersion::V2), Some((got[0].clone(), Some(got[1].clone()))));
    assert_eq!(find_cached_tinystories_in(&cfg, TsVersion::V1), None);

    let n = hub.log().len();
    let offline = download_file(&hub.endpoint, home.path(), TINYSTORIES_REPO, VALID, true, &|_, _| {}).unwrap();
    assert_eq!(offline, got[1]);
    assert_eq!(hub.log().len(), n, "offline makes no request");

    let empty = tempfile::tempdir().unwrap();
    let err = download_file(&hub.endpoint, empty.path(), TINYSTORIES_REPO, VALID, true, &|_, _| {}).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("HF_HUB_OFFLINE") && msg.contains(VALID) && msg.contains("--corpus FILE"), "{msg}");
    assert_eq!(hub.log().len(), n, "offline makes no request");
}

#[test]
fn download_cli_reads_hf_env_and_prints_the_train_command() {
    let (train, valid) = (text(50_000, 7), text(10_000, 8));
    let hub = Hub::start(&[(TRAIN, train), (VALID, valid)], &[]);
    let home = tempfile::tempdir().unwrap();
    let run = |offline: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_flashlm-tui"))
            .args(["data", "download", "tinystories"])
            .env("HF_ENDPOINT", &hub.endpoint)
            .env("HF_HOME", home.path())
            .env("HF_HUB_OFFLINE", offline)
            .env_remove("HF_HUB_CACHE")
            .output()
            .unwrap()
    };
    let out = run("0");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let snap = repo_dir(home.path()).join("snapshots").join(COMMIT);
    assert!(
        stdout.contains(&format!(
            "flashlm-tui train --preset v7.2-cortex-vi --corpus {} --valid {}",
            snap.join(TRAIN).display(),
            snap.join(VALID).display()
        )),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("{TRAIN}: 100%")), "non-terminal stderr gets 10 % lines: {stderr}");

    let n = hub.log().len();
    let out = run("1");
    assert!(out.status.success() && hub.log().len() == n, "HF_HUB_OFFLINE=1 answers from the cache without a request");
}

fn cfg(hub: &Hub, home: &Path, deadline: Option<Duration>) -> HubConfig {
    HubConfig { endpoint: hub.endpoint.clone(), hub_cache: home.join("hub"), offline: false, deadline }
}

fn cdn_gets(hub: &Hub) -> usize {
    hub.log().iter().filter(|l| l.starts_with("GET /cdn/")).count()
}

#[test]
fn download_with_neither_size_nor_sha_is_kept_but_marked_unverified() {
    let body = text(100_000, 9);
    // the Hub announces no size and no SHA-256, and the CDN cuts the body in half without a length
    let hub = Hub::start_announcing(&[(VALID, body.clone())], &[Reply::CutNoLength(50_000)], Announce { size: false, sha: None });
    let home = tempfile::tempdir().unwrap();
    let got = cfg(&hub, home.path(), None).fetch(TINYSTORIES_REPO, VALID, &|_, _| {}).unwrap();
    assert_eq!(got.verified, Verified::Unverified);
    assert_eq!(std::fs::read(&got.path).unwrap().len(), 50_000, "nothing could tell the cut body from the file");
    let mark = repo_dir(home.path()).join("blobs/5-abc.unverified");
    assert!(mark.is_file(), "the blob is marked unverified for later readers");
    // reused from the cache: still unverified, and said so
    let again = cfg(&hub, home.path(), None).fetch(TINYSTORIES_REPO, VALID, &|_, _| {}).unwrap();
    assert_eq!((again.path, again.verified), (got.path, Verified::Unverified));
    let offline = HubConfig { offline: true, ..cfg(&hub, home.path(), None) };
    assert_eq!(offline.fetch(TINYSTORIES_REPO, VALID, &|_, _| {}).unwrap().verified, Verified::Unverified);

    // the command line says so
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flashlm-tui"))
        .args(["data", "download", "tinystories", "--split", "valid"])
        .env("HF_ENDPOINT", &hub.endpoint)
        .env("HF_HOME", home.path())
        .env_remove("HF_HUB_CACHE")
        .env_remove("HF_HUB_OFFLINE")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains(&format!("warning: {VALID} is unverified: the Hub sent neither its size nor its SHA-256")), "{err}");
}

#[test]
fn download_cut_short_of_the_length_its_answer_announced_is_an_error() {
    let body = text(100_000, 10);
    // no size from the Hub, but every GET announces its length and breaks off before it
    let hub = Hub::start_announcing(&[(VALID, body.clone())], &[Reply::CutAfter(20_000); 3], Announce { size: false, sha: None });
    let home = tempfile::tempdir().unwrap();
    let err = dl(&hub.endpoint, home.path(), VALID).unwrap_err();
    assert!(matches!(err, DownloadError::Interrupted { done: 60_000, total: 100_000, .. }), "{err}");
    assert!(!repo_dir(home.path()).join("snapshots").exists(), "nothing partial is placed");
    // the next call resumes and completes; the file is checked by size
    let got = cfg(&hub, home.path(), None).fetch(TINYSTORIES_REPO, VALID, &|_, _| {}).unwrap();
    assert_eq!(std::fs::read(&got.path).unwrap(), body);
    assert_eq!(got.verified, Verified::Size);
}

#[test]
fn download_whose_sha_etag_is_wrong_is_refused() {
    let body = text(80_000, 11);
    let hub = Hub::start_announcing(&[(VALID, body)], &[], Announce { size: true, sha: Some(false) });
    let home = tempfile::tempdir().unwrap();
    let err = dl(&hub.endpoint, home.path(), VALID).unwrap_err();
    assert!(matches!(err, DownloadError::HashMismatch { .. }), "{err}");
    assert!(err.to_string().contains(&format!("expected {}", sha256(b"other bytes"))), "{err}");
    assert!(!repo_dir(home.path()).join("snapshots").exists());
}

#[test]
fn a_dripping_server_trips_the_overall_deadline() {
    let body = text(10_000, 12);
    // a byte every 300 ms keeps every read inside its timeout: only the overall deadline ends it
    let hub = Hub::start(&[(VALID, body.clone())], &[Reply::Drip(300), Reply::Drip(300)]);
    let home = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let err = cfg(&hub, home.path(), Some(Duration::from_secs(2))).fetch(TINYSTORIES_REPO, VALID, &|_, _| {}).unwrap_err();
    let took = t.elapsed();
    assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(6), "took {took:?}");
    assert!(matches!(err, DownloadError::Deadline { secs: 2, .. }), "{err}");
    assert!(err.to_string().contains("FLASHLM_DOWNLOAD_DEADLINE") && err.to_string().contains("kept"), "{err}");
    assert_eq!(cdn_gets(&hub), 1, "a download past its deadline is not retried");
    let partial = repo_dir(home.path()).join("blobs").join(format!("{}.incomplete", sha256(&body)));
    assert!(std::fs::metadata(&partial).unwrap().len() > 0, "what arrived is kept to resume");

    // the command line takes the deadline from FLASHLM_DOWNLOAD_DEADLINE
    let t = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flashlm-tui"))
        .args(["data", "download", "tinystories", "--split", "valid"])
        .env("HF_ENDPOINT", &hub.endpoint)
        .env("HF_HOME", home.path())
        .env("FLASHLM_DOWNLOAD_DEADLINE", "1")
        .env_remove("HF_HUB_CACHE")
        .env_remove("HF_HUB_OFFLINE")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("within its deadline of 1 s"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(5), "took {:?}", t.elapsed());
}

#[test]
fn a_corrupted_cached_blob_is_checked_and_fetched_again() {
    let body = text(150_000, 13);
    let hub = Hub::start(&[(VALID, body.clone())], &[]);
    let home = tempfile::tempdir().unwrap();
    let got = cfg(&hub, home.path(), None).fetch(TINYSTORIES_REPO, VALID, &|_, _| {}).unwrap();
    assert_eq!(got.verified, Verified::Sha256);
    let blob = repo_dir(home.path()).join("blobs").join(sha256(&body));
    let flip = || {
        let mut b = std::fs::read(&blob).unwrap();
        b[1000] ^= 1; // same size, other contents
        std::fs::write(&blob, b).unwrap();
    };
    flip();
    let n = cdn_gets(&hub);
    let again = cfg(&hub, home.path(), None).fetch(TINYSTORIES_REPO, VALID, &|_, _| {}).unwrap();
    assert_eq!(std::fs::read(&again.path).unwrap(), body, "the corrupted copy was replaced");
    assert_eq!(cdn_gets(&hub), n + 1, "by a new download");
    // offline there is nothing to fetch from: a clear error, not a corrupted corpus
    flip();
    let offline = HubConfig { offline: true, ..cfg(&hub, home.path(), None) };
    let err = offline.fetch(TINYSTORIES_REPO, VALID, &|_, _| {}).unwrap_err();
    assert!(matches!(err, DownloadError::CorruptCache { .. }) && err.to_string().contains("corrupted"), "{err}");
}
