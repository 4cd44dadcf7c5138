//! One rendering of events as log lines, shared by the headless printer and
//! the TUI's log pane, so both front-ends say the same thing.

use super::{Event, Level, RunState};
use crate::util::thousands;

/// The log line an event stands for, with its level; `None` for events that
/// are not log material (streamed tokens, heatmap updates, statuses other than
/// preparation). Some events take several lines, joined with `\n`.
///
/// Every step is rendered; which steps to show (the CLI shows one per
/// `log_every`, the TUI none: it has a chart) is the front-end's choice, and
/// so are prefixes and streams (the CLI writes preparation lines as
/// `[prep] …`, warnings as `warning: …`).
pub fn log_line(ev: &Event) -> Option<(Level, String)> {
    let info = |text: String| Some((Level::Info, text));
    match ev {
        Event::Status { state: RunState::Preparing, detail } => info(detail.clone()),
        Event::Status { .. } | Event::Generated { .. } | Event::MemoryUpdated { .. } => None,
        Event::Started { run_dir, preset, params, tokens_per_step, train_tokens, valid_tokens, resumed_from, .. } => {
            let what = match resumed_from {
                Some(s) => format!("resumed {preset} at step {s} in {}", run_dir.display()),
                None => format!("run {} ({preset}, {} params)", run_dir.display(), thousands(*params as u64)),
            };
            info(format!(
                "{what}\ndata: {} training tokens, {} validation tokens, {} tokens per step",
                thousands(*train_tokens as u64),
                thousands(*valid_tokens as u64),
                thousands(*tokens_per_step as u64)
            ))
        }
        Event::Step(m) => info(format!(
            "step {:>6}  loss {:.4}{}  ppl {:>8.2}  lr {:.2e}  {:>6.0} tok/s  tokens {:>11}  elapsed {}  eta {}",
            m.step,
            m.loss,
            m.fsp.map(|f| format!("  fsp {f:.4}")).unwrap_or_default(),
            m.loss.exp(),
            m.lr,
            m.tok_per_sec,
            thousands(m.tokens),
            clock(m.elapsed_secs),
            m.eta_secs.map(clock).unwrap_or_else(|| "?".into())
        )),
        Event::Eval(e) => info(format!(
            "eval step {:>6}  val loss {:.4}  ppl {:.2}  bpc {:.4}{}",
            e.step,
            e.loss,
            e.ppl,
            e.bpc,
            if e.quick {
                format!("  (first look: {} windows)", e.windows)
            } else if e.best {
                "  (best)".into()
            } else {
                String::new()
            }
        )),
        Event::Sample { step, text, .. } => info(format!("sample @{step}: {}", text.replace('\n', " "))),
        Event::Recall { step, report } => info(format!("recall @{step}: {}", report.lines().join("\n"))),
        Event::Ternary { step, shares } => info(format!("ternary @{step}: {}", crate::model::lm::ternary_summary(shares))),
        Event::CheckpointSaved { step, path } => info(format!("saved {} (step {step})", path.display())),
        Event::Log { level, text, .. } => Some((*level, text.clone())),
        Event::Error(e) => Some((Level::Error, e.clone())),
        Event::Finished(s) => info(format!(
            "finished: {} steps, {} tokens in {}, {:.0} tok/s mean;{} final val loss {} (best {}) ppl {} bpc {}; run {}",
            s.steps,
            thousands(s.tokens),
            clock(s.elapsed_secs),
            s.mean_tok_per_sec,
            s.fsp.map(|f| format!(" fsp {f:.4};")).unwrap_or_default(),
            four(s.final_val_loss),
            four(s.best_val_loss),
            four(s.final_val_ppl),
            four(s.final_val_bpc),
            s.run_dir.display()
        )),
    }
}

/// Whole seconds as "12m05s" or "1h02m" (truncated, not rounded).
pub fn clock(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, s % 3600 / 60)
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

fn four(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.4}")).unwrap_or_else(|| "-".into())
}
