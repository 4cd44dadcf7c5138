use std::process::ExitCode;

fn main() -> ExitCode {
    match flashlm_tui::cli::main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
