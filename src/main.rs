use flashlm_tui::cli::{self, Dispatch};
use std::process::ExitCode;

fn main() -> ExitCode {
    flashlm_tui::kernels::os::default_sigpipe();
    let result = cli::main().and_then(|d| match d {
        Dispatch::Done => Ok(()),
        Dispatch::Tui(opts) => run_tui(*opts),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => match e.downcast_ref::<cli::Interrupted>() {
            Some(i) => {
                eprintln!("flashlm-tui: {e}");
                ExitCode::from((128 + i.signal) as u8)
            }
            None => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

/// Runs the terminal UI, then reports what happened on the restored terminal.
fn run_tui(opts: flashlm_tui::launch::Options) -> anyhow::Result<()> {
    let out = flashlm_tui::tui::run(opts)?;
    if let Some(s) = &out.summary {
        println!("{s}");
    }
    if let Some(n) = &out.note {
        eprintln!("flashlm-tui: {n}");
    }
    match out.error {
        Some(e) => Err(anyhow::anyhow!("training failed: {e}")),
        None => Ok(()),
    }
}
