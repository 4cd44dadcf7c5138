//! The terminal while the TUI owns it: raw mode and the alternate screen,
//! restored once on every way out (return, error, panic); panics of other
//! threads are kept for the log pane instead of being printed over the screen.

use anyhow::{Context, Result};
use crossterm::event::{DisableBracketedPaste, EnableBracketedPaste};
use crossterm::terminal::{disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

static TUI_ACTIVE: AtomicBool = AtomicBool::new(false);
static UI_THREAD: OnceLock<Mutex<Option<std::thread::ThreadId>>> = OnceLock::new();
/// Panics of other threads while the TUI owns the terminal: shown in the log, not printed.
static THREAD_PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Leaves raw mode and the alternate screen, once: a second "leave" would send
/// the cursor back to where the TUI started, over a panic message printed since.
fn restore_terminal() {
    if TUI_ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = disable_raw_mode();
        let _ = crossterm::execute!(std::io::stdout(), DisableBracketedPaste, LeaveAlternateScreen, crossterm::cursor::Show);
    }
}

/// Installed once: on the UI thread it restores the terminal before the
/// default report; on other threads (while the TUI is up) it keeps the message
/// for the log pane instead of writing over the screen.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !TUI_ACTIVE.load(Ordering::SeqCst) {
                return prev(info);
            }
            let me = std::thread::current().id();
            let ui = UI_THREAD.get().and_then(|m| m.lock().ok().and_then(|g| *g));
            if ui == Some(me) {
                restore_terminal();
                prev(info);
            } else {
                let name = std::thread::current().name().unwrap_or("unnamed").to_string();
                // the trainer's own panic comes back as Event::Error; others would vanish silently
                if name != "trainer" {
                    let msg = info
                        .payload()
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| info.payload().downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "unknown panic".into());
                    let loc = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
                    if let Ok(mut v) = THREAD_PANICS.lock() {
                        v.push(format!("thread '{name}' panicked{loc}: {msg}"));
                    }
                }
            }
        }));
    });
}

/// Raw mode + alternate screen for as long as it lives; restores on drop
/// (normal return, `?` errors and unwinding panics alike).
pub struct TerminalGuard;

impl TerminalGuard {
    pub fn enter() -> Result<Self> {
        install_panic_hook();
        if let Ok(mut g) = UI_THREAD.get_or_init(|| Mutex::new(None)).lock() {
            *g = Some(std::thread::current().id());
        }
        enable_raw_mode().context("cannot switch the terminal to raw mode")?;
        TUI_ACTIVE.store(true, Ordering::SeqCst);
        let guard = TerminalGuard;
        crossterm::execute!(std::io::stdout(), EnterAlternateScreen, EnableBracketedPaste, crossterm::cursor::Hide)
            .context("cannot enter the alternate screen")?;
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// The other threads' panics since the last call, as log lines.
pub fn take_thread_panics() -> Vec<String> {
    THREAD_PANICS.lock().map(|mut v| std::mem::take(&mut *v)).unwrap_or_default()
}
