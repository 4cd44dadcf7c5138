use flashlm_tui::cli::{self, Dispatch};
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    flashlm_tui::kernels::os::default_sigpipe();
    let result = cli::main().and_then(|d| match d {
        Dispatch::Done => Ok(()),
        Dispatch::Tui(opts) => run_tui(*opts),
    });
    // a terminal that hung up cannot be written to: say what we can, never panic
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => match e.downcast_ref::<cli::Interrupted>() {
            Some(i) => {
                let _ = writeln!(std::io::stderr(), "flashlm-tui: {e}");
                ExitCode::from((128 + i.signal) as u8)
            }
            None => {
                let _ = writeln!(std::io::stderr(), "error: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

/// Runs the terminal UI, then reports what happened on the restored terminal.
fn run_tui(opts: flashlm_tui::launch::Options) -> anyhow::Result<()> {
    let out = flashlm_tui::tui::run(opts)?;
    if let Some(s) = &out.summary {
        let _ = writeln!(std::io::stdout(), "{s}");
    }
    if let Some(n) = &out.note {
        let _ = writeln!(std::io::stderr(), "flashlm-tui: {n}");
    }
    match (out.error, out.signal) {
        (Some(e), _) => Err(anyhow::anyhow!("training failed: {e}")),
        (None, Some(signal)) => Err(cli::Interrupted { signal }.into()),
        (None, None) => Ok(()),
    }
}
