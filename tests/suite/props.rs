//! Hostile input never panics, hangs or allocates without bound: arbitrary
//! bytes and mutated valid files (bit flips, truncations, inserted bytes,
//! huge declared lengths) through the preset parser, the checkpoint loader
//! (meta.json and the safetensors files, resealed so the parsers behind the
//! checksums are reached), the token cache reader and the tokenizer loader.
//! Each must answer Ok or Err, within a second, and no single allocation may
//! exceed [`ALLOC_LIMIT`] (declared sizes are checked against the input first).

use super::common::*;
use flashlm_tui::data::tok::Tok;
use flashlm_tui::data::token_cache::{self, CacheKey, Part, HEADER_BYTES};
use flashlm_tui::preset::Preset;
use flashlm_tui::train::checkpoint;
use proptest::prelude::*;
use proptest::sample::Index;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The largest single allocation a parser may make on these small inputs.
const ALLOC_LIMIT: usize = 64 << 20;
/// The longest one input may take.
const TIME_LIMIT: Duration = Duration::from_secs(2);

/// Records the largest allocation request of the threads that armed it (the
/// rest of the suite only pays a thread-local read per allocation).
struct Watch;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    // try_with: allocations during thread teardown must not touch dead TLS
    let _ = ARMED.try_with(|a| {
        if a.get() {
            let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
        }
    });
}

// SAFETY: every call goes straight to the system allocator; `note` only
// updates this thread's counters and never allocates.
unsafe impl GlobalAlloc for Watch {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: the caller's contract for `layout` is passed on unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: as in `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with this `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: as in `dealloc`; `new_size` is the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static WATCH: Watch = Watch;

/// Runs `f` on hostile input: it must return (no panic: proptest reports one)
/// within [`TIME_LIMIT`] and allocate nothing larger than [`ALLOC_LIMIT`] at once.
fn bounded<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, TestCaseError> {
    LARGEST.with(|l| l.set(0));
    ARMED.with(|a| a.set(true));
    let t = Instant::now();
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    ARMED.with(|a| a.set(false));
    let (took, largest) = (t.elapsed(), LARGEST.with(|l| l.get()));
    let out = out.map_err(|p| {
        let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
        TestCaseError::fail(format!("{what} panicked: {}", msg.unwrap_or_default()))
    })?;
    prop_assert!(took < TIME_LIMIT, "{} took {:?}", what, took);
    prop_assert!(largest <= ALLOC_LIMIT, "{} allocated {} bytes at once", what, largest);
    Ok(out)
}

/// One change to a file's bytes.
#[derive(Clone, Debug)]
enum Mutation {
    Flip(Index, u8),
    Truncate(Index),
    Insert(Index, Vec<u8>),
    /// A little-endian u64 written over 8 bytes: a declared length or count.
    Length(Index, u64),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let huge = prop_oneof![Just(u64::MAX), Just(u64::MAX / 2), Just(1u64 << 40), Just(u32::MAX as u64), 0u64..1 << 20];
    prop_oneof![
        4 => (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => (any::<Index>(), proptest::collection::vec(any::<u8>(), 1..16)).prop_map(|(i, b)| Mutation::Insert(i, b)),
        2 => (any::<Index>(), huge).prop_map(|(i, v)| Mutation::Length(i, v)),
    ]
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    proptest::collection::vec(mutation(), 1..4)
}

/// `focus`: how many leading bytes the positions fall in (headers are where lengths live).
fn apply(bytes: &mut Vec<u8>, muts: &[Mutation], focus: Option<usize>) {
    for m in muts {
        let span = |len: usize| focus.map_or(len, |f| f.min(len)).max(1);
        match m {
            Mutation::Flip(i, bit) if !bytes.is_empty() => {
                let at = i.index(span(bytes.len())).min(bytes.len() - 1);
                bytes[at] ^= 1 << bit;
            }
            Mutation::Truncate(i) => {
                let at = i.index(bytes.len() + 1);
                bytes.truncate(at);
            }
            Mutation::Insert(i, b) => {
                let at = i.index(span(bytes.len()) + 1).min(bytes.len());
                bytes.splice(at..at, b.iter().copied());
            }
            Mutation::Length(i, v) if bytes.len() >= 8 => {
                let at = i.index(span(bytes.len() - 7)).min(bytes.len() - 8);
                bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
            }
            _ => {}
        }
    }
}

/// A fixed seed: the same cases on every run (`PROPTEST_CASES` raises the count).
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(cases);
    ProptestConfig {
        cases,
        failure_persistence: None,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x5EED_F1A5),
        ..ProptestConfig::default()
    }
}

#[test]
fn the_watch_catches_a_large_allocation_and_a_panic() {
    let big = bounded("a large buffer", || vec![1u8; ALLOC_LIMIT + 1].len());
    assert!(big.unwrap_err().to_string().contains("allocated"), "the allocation bound can fail");
    let panic = bounded("a panic", || panic!("boom"));
    assert!(panic.unwrap_err().to_string().contains("panicked: boom"));
}

// ------------------------------------------------------------------ presets

fn preset_texts() -> &'static Vec<String> {
    static T: OnceLock<Vec<String>> = OnceLock::new();
    T.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("presets");
        let mut v: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap()).collect();
        v.sort();
        v
    })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn preset_parser_survives_arbitrary_text(text in "\\PC{0,400}") {
        let _ = bounded("Preset::parse", || Preset::parse(&text, "fuzz.ron").map(drop))?;
    }

    #[test]
    fn preset_parser_survives_mutated_presets(which in any::<Index>(), muts in mutations()) {
        let mut bytes = preset_texts()[which.index(preset_texts().len())].clone().into_bytes();
        apply(&mut bytes, &muts, None);
        let text = String::from_utf8_lossy(&bytes);
        let _ = bounded("Preset::parse", || Preset::parse(&text, "fuzz.ron").map(drop))?;
    }
}

#[test]
fn preset_parser_survives_deep_nesting() {
    for open in ["(", "[", "{", "Some("] {
        let text = open.repeat(100_000);
        assert!(Preset::parse(&text, "deep.ron").is_err());
    }
}

// ------------------------------------------------------------------ checkpoints

/// A real checkpoint of the tiny preset (trained once per test binary).
fn checkpoint_dir() -> &'static PathBuf {
    static D: OnceLock<PathBuf> = OnceLock::new();
    D.get_or_init(|| {
        let root = tempfile::tempdir().unwrap().keep();
        let ev = collect(flashlm_tui::train::start(run_config(tiny_preset(&[]), &root)));
        run_dir(&ev).join("last")
    })
}

/// A copy of the checkpoint with `name` replaced by `bytes`; with `reseal`,
/// meta.json gets the new size and SHA-256, so the loader parses what the checksum
/// would otherwise have refused.
fn tampered(name: &str, bytes: &[u8], reseal: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(checkpoint_dir()).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
    }
    std::fs::write(dir.path().join(name), bytes).unwrap();
    if reseal && name != checkpoint::META {
        let mp = dir.path().join(checkpoint::META);
        let mut meta: serde_json::Value = serde_json::from_slice(&std::fs::read(&mp).unwrap()).unwrap();
        meta["files"][name] = serde_json::json!({ "size": bytes.len(), "sha256": flashlm_tui::util::sha256_hex(bytes) });
        std::fs::write(&mp, serde_json::to_vec(&meta).unwrap()).unwrap();
    }
    dir
}

fn checkpoint_file(name: &str) -> Vec<u8> {
    std::fs::read(checkpoint_dir().join(name)).unwrap()
}

proptest! {
    #![proptest_config(config(96))]

    #[test]
    fn checkpoint_loader_survives_mutated_safetensors(optimizer in any::<bool>(), muts in mutations(), header_only in any::<bool>()) {
        let name = if optimizer { checkpoint::OPTIMIZER } else { checkpoint::WEIGHTS };
        let mut bytes = checkpoint_file(name);
        // the 8-byte length and the JSON header are where the declared sizes are
        let header = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        apply(&mut bytes, &muts, header_only.then_some(header));
        let dir = tampered(name, &bytes, true);
        let _ = bounded("checkpoint::load_model", || checkpoint::load_model(dir.path()).map(drop))?;
    }

    #[test]
    fn checkpoint_loader_survives_mutated_meta_state_and_tokenizer(which in 0usize..4, muts in mutations(), reseal in any::<bool>()) {
        let name = [checkpoint::META, checkpoint::STATE, checkpoint::TOKENIZER, checkpoint::PRESET][which];
        let mut bytes = checkpoint_file(name);
        apply(&mut bytes, &muts, None);
        let dir = tampered(name, &bytes, reseal);
        let _ = bounded("checkpoint::load_model", || checkpoint::load_model(dir.path()).map(drop))?;
    }

    #[test]
    fn safetensors_reader_survives_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512), len in any::<u64>()) {
        let mut with_len = len.to_le_bytes().to_vec();
        with_len.extend_from_slice(&bytes);
        for input in [&bytes, &with_len] {
            let _ = bounded("read_f32_tensors", || flashlm_tui::weights::read_f32_tensors(input, "fuzz.safetensors").map(drop))?;
        }
    }
}

// ------------------------------------------------------------------ token caches

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn token_cache_reader_survives_mutated_and_arbitrary_files(
        tokens in proptest::collection::vec(0u16..300, 0..2000),
        muts in mutations(),
        header_only in any::<bool>(),
        junk in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.u16");
        let key = CacheKey::new("c0ffee", "{}", 300, Part::Train);
        token_cache::write(&p, &key, &tokens).unwrap();
        let mut bytes = std::fs::read(&p).unwrap();
        apply(&mut bytes, &muts, header_only.then_some(HEADER_BYTES));
        for input in [&bytes, &junk] {
            std::fs::write(&p, input).unwrap();
            let got = bounded("token_cache::open", || token_cache::open(&p, &key).map(|s| s.as_slice().to_vec()))?;
            if let Ok(read) = got {
                // whatever passes the checks is exactly what was written
                prop_assert_eq!(&read, &tokens);
            }
        }
    }
}

// ------------------------------------------------------------------ tokenizers

fn tokenizer_json() -> &'static String {
    static J: OnceLock<String> = OnceLock::new();
    J.get_or_init(|| String::from_utf8(checkpoint_file(checkpoint::TOKENIZER)).unwrap())
}

fn load_tokenizer(json: &str) -> Result<(), String> {
    let tok = Tok::from_json(json, Path::new("fuzz.json")).map_err(|e| e.to_string())?;
    tok.check_specials("fuzz.json").map_err(|e| e.to_string())?;
    tok.check_vocab(512).map(drop).map_err(|e| e.to_string())
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn tokenizer_loader_survives_mutated_tokenizers(muts in mutations()) {
        let mut bytes = tokenizer_json().clone().into_bytes();
        apply(&mut bytes, &muts, None);
        let json = String::from_utf8_lossy(&bytes);
        let _ = bounded("Tok::from_json", || load_tokenizer(&json))?;
    }

    #[test]
    fn tokenizer_loader_survives_arbitrary_text(text in "\\PC{0,300}") {
        let _ = bounded("Tok::from_json", || load_tokenizer(&text))?;
    }
}

#[test]
fn tokenizer_loader_survives_hostile_json() {
    for json in [
        r#"{"model":{"type":"BPE","vocab":{"a":4294967295},"merges":["a b"]}}"#,
        r#"{"model":{"type":"BPE","vocab":{},"merges":["x y"]}}"#,
        r#"{"model":{"type":"WordPiece","vocab":{"a":18446744073709551615}}}"#,
        r#"{"added_tokens":[{"id":4294967295,"content":"x"}],"model":{"type":"BPE","vocab":{},"merges":[]}}"#,
        r#"{"version":"1.0","model":{"type":"WordLevel","vocab":{"a":99999999},"unk_token":"b"}}"#,
        r#"{"model":{"type":"BPE","vocab":{},"merges":[]},"decoder":{"type":"ByteLevel",]}"#,
        r#"{"model":{"type":"BPE","vocab":{},"merges":[]},"decoder":{"type":"ByteLevel""#,
        &"[".repeat(100_000),
    ] {
        let r = std::panic::catch_unwind(|| load_tokenizer(json));
        assert!(matches!(r, Ok(Err(_))), "{json:.80}: {r:?}");
    }
}
