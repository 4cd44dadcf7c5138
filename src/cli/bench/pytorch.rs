//! The PyTorch figure `bench` sets its speed beside: this machine's when the
//! user has measured it (`--pytorch-tok-s`, `--pytorch-file`, or
//! `pytorch-tok-s.txt` in the cache folder), else the preset's reference
//! figure, named with the machine it was measured on.

use super::BenchArgs;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// A PyTorch training speed and where it was measured.
#[derive(Clone, Debug, PartialEq)]
pub struct PytorchFigure {
    pub tok_s: f64,
    pub machine: String,
    /// Measured on this machine (given by the user).
    pub here: bool,
}

/// This preset's figure in a figures file: lines `<preset> <tok/s>`, an
/// optional `machine: <name>` line, blank lines and `#` comments.
pub fn parse_file(text: &str, preset: &str) -> Result<Option<(f64, Option<String>)>, String> {
    let mut machine = None;
    let mut found = None;
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if let Some(m) = line.strip_prefix("machine:") {
            machine = Some(m.trim().to_string());
            continue;
        }
        let mut parts = line.split_whitespace();
        let (Some(name), Some(v), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!("line {}: expected `<preset> <tok/s>` or `machine: <name>`, got {line:?}", i + 1));
        };
        let v: f64 = v.replace(',', "").parse().map_err(|_| format!("line {}: {v:?} is not a number of tok/s", i + 1))?;
        if !(v > 0.0 && v.is_finite()) {
            return Err(format!("line {}: tok/s must be > 0, got {v}", i + 1));
        }
        if name == preset {
            found = Some(v);
        }
    }
    Ok(found.map(|v| (v, machine)))
}

/// The default figures file, in the cache folder.
pub fn default_file() -> PathBuf {
    crate::data::cache_dir().join("pytorch-tok-s.txt")
}

/// The figure to compare with, if any.
pub fn figure(a: &BenchArgs, preset: &crate::preset::Preset) -> Result<Option<PytorchFigure>> {
    if let Some(v) = a.pytorch_tok_s {
        anyhow::ensure!(v > 0.0 && v.is_finite(), "--pytorch-tok-s must be > 0, got {v}");
        return Ok(Some(PytorchFigure { tok_s: v, machine: "this machine".into(), here: true }));
    }
    let file = a.pytorch_file.clone().or_else(|| Some(default_file()).filter(|f| f.is_file()));
    if let Some(f) = file {
        if let Some(fig) = from_file(&f, &preset.name)? {
            return Ok(Some(fig));
        }
    }
    Ok(preset.reference.as_ref().map(|r| PytorchFigure { tok_s: r.pytorch_tok_s, machine: r.pytorch_machine.clone(), here: false }))
}

fn from_file(path: &Path, preset: &str) -> Result<Option<PytorchFigure>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read the PyTorch figures", path.display()))?;
    let parsed = parse_file(&text, preset).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(parsed.map(|(tok_s, m)| PytorchFigure {
        tok_s,
        machine: m.map(|m| format!("this machine ({m})")).unwrap_or_else(|| "this machine".into()),
        here: true,
    }))
}

/// The line `bench` prints: the ratio, and whose figure it is.
pub fn ratio_line(fig: &PytorchFigure, ours: f64) -> String {
    let ratio = ours / fig.tok_s;
    if fig.here {
        format!("PyTorch on {}: {:.0} tok/s → ratio {ratio:.2}×", fig.machine, fig.tok_s)
    } else {
        format!(
            "PyTorch reference {:.0} tok/s was measured on {}, not on this machine → ratio {ratio:.2}× (only a guide: time PyTorch here and pass --pytorch-tok-s or --pytorch-file)",
            fig.tok_s, fig.machine
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_file_gives_this_preset_and_machine() {
        let text = "# measured here\nmachine: 2-core Xeon\nv7.2-cortex-vi 4,731\nv7.1-cortex-iii 5342 # fp32\n";
        assert_eq!(parse_file(text, "v7.2-cortex-vi").unwrap(), Some((4731.0, Some("2-core Xeon".into()))));
        assert_eq!(parse_file(text, "v4-bolt").unwrap(), None);
        assert!(parse_file("v7.2 fast", "v7.2").unwrap_err().contains("line 1"));
        assert!(parse_file("v7.2 0", "v7.2").unwrap_err().contains("> 0"));
    }

    #[test]
    fn the_ratio_line_names_the_machine() {
        let here = PytorchFigure { tok_s: 4000.0, machine: "this machine".into(), here: true };
        assert_eq!(ratio_line(&here, 6000.0), "PyTorch on this machine: 4000 tok/s → ratio 1.50×");
        let there = PytorchFigure { tok_s: 3900.0, machine: "a 2-core AMD EPYC (Zen 4, AVX-512)".into(), here: false };
        let l = ratio_line(&there, 7800.0);
        assert!(l.contains("measured on a 2-core AMD EPYC (Zen 4, AVX-512), not on this machine") && l.contains("2.00×"), "{l}");
    }
}
