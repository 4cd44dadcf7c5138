//! The sampling screen: the prompt line with its history, the sampling
//! parameters, and the output streamed token by token; Enter generates from
//! the training run's weights if one trains, else from a checkpoint.

use super::checkpoint::model_source;
use super::editor::LineEditor;
use super::{Action, Effect};
use crate::engine::Command;
use crate::generate::SampleParams;
use crate::inference::ModelSource;
use crossterm::event::{KeyCode, KeyEvent};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleFocus {
    Prompt,
    Params,
    Output,
}

/// The run whose weights Enter samples from while it trains.
#[derive(Clone, Copy, Debug)]
pub struct Live {
    /// It has taken its first step (before that a sample waits for it).
    pub started: bool,
    pub step: u64,
}

/// The sampling pane: prompt line, parameters, streamed output.
#[derive(Clone, Debug)]
pub struct Sampling {
    pub prompt: LineEditor,
    pub history: Vec<String>,
    /// Position while browsing the history with ↑/↓ (None = editing a new line).
    pub hist_pos: Option<usize>,
    draft: String,
    pub params: SampleParams,
    /// Which parameter ←/→ selected.
    pub param_sel: usize,
    pub focus: SampleFocus,
    pub shown_prompt: String,
    pub output: String,
    pub id: u64,
    next_id: u64,
    pub running: bool,
    pub tokens: usize,
    /// When Enter asked for the generation.
    pub started: Option<Instant>,
    /// When its first token arrived: generation speed is timed from here, so
    /// the wait for a busy trainer or a model load does not count.
    pub first_token: Option<Instant>,
    /// Seconds from the first token to the last, and the tokens after the first.
    pub secs: Option<f64>,
    /// Where the current output came from.
    pub output_from: String,
    pub scroll: u16,
    /// What Enter generates from when no run is training.
    pub source: Option<ModelSource>,
    pub source_label: String,
}

pub const PARAM_NAMES: [&str; 6] = ["temperature", "top-k", "top-p", "repetition penalty", "max tokens", "seed"];

impl Sampling {
    pub fn new(prompt: &str, params: SampleParams) -> Self {
        Sampling {
            prompt: LineEditor::new(prompt),
            history: Vec::new(),
            hist_pos: None,
            draft: String::new(),
            params,
            param_sel: 0,
            focus: SampleFocus::Prompt,
            shown_prompt: String::new(),
            output: String::new(),
            id: 0,
            next_id: 1,
            running: false,
            tokens: 0,
            started: None,
            first_token: None,
            secs: None,
            output_from: String::new(),
            scroll: 0,
            source: None,
            source_label: String::new(),
        }
    }

    /// The value of parameter `i` as shown in the pane.
    pub fn param_value(&self, i: usize) -> String {
        let p = &self.params;
        match i {
            0 => format!("{:.2}", p.temperature),
            1 => {
                if p.top_k == 0 {
                    "off".into()
                } else {
                    p.top_k.to_string()
                }
            }
            2 => format!("{:.2}", p.top_p),
            3 => format!("{:.2}", p.repetition_penalty),
            4 => p.max_tokens.to_string(),
            _ => p.seed.to_string(),
        }
    }

    /// Steps parameter `i` up (`dir` = 1) or down (−1) within its valid range.
    pub fn adjust(&mut self, i: usize, dir: i32) {
        let p = &mut self.params;
        let d = dir as f32;
        match i {
            0 => p.temperature = ((p.temperature + 0.05 * d).clamp(0.0, 2.0) * 100.0).round() / 100.0,
            1 => p.top_k = (p.top_k as i64 + 5 * dir as i64).clamp(0, 1000) as usize,
            2 => p.top_p = ((p.top_p + 0.05 * d).clamp(0.05, 1.0) * 100.0).round() / 100.0,
            3 => p.repetition_penalty = ((p.repetition_penalty + 0.05 * d).clamp(0.5, 2.0) * 100.0).round() / 100.0,
            4 => {
                let step = if p.max_tokens >= 200 { 50 } else { 10 };
                p.max_tokens = (p.max_tokens as i64 + step * dir as i64).clamp(10, 4000) as usize
            }
            _ => p.seed = if dir > 0 { p.seed.saturating_add(1) } else { p.seed.saturating_sub(1) },
        }
    }

    /// Samples from `source` when no run is training; `label` says what it is.
    pub fn use_source(&mut self, source: ModelSource, label: String) {
        self.source = Some(source);
        self.source_label = label;
    }

    pub fn use_checkpoint(&mut self, checkpoint: PathBuf) {
        self.use_source(model_source(checkpoint.clone()), format!("checkpoint {}", checkpoint.display()));
    }

    /// The prompt has focus: printable keys are text, not commands.
    pub fn typing(&self) -> bool {
        self.focus == SampleFocus::Prompt
    }

    /// Whether `key` is text for the prompt: any key while it has focus,
    /// except that in an empty prompt `1`–`4` and `?` still switch screens
    /// and open the help (so a cleared prompt is never a trap).
    pub fn takes_key(&self, key: &KeyEvent) -> bool {
        if !self.typing() {
            return false;
        }
        let navigation = matches!(key.code, KeyCode::Char('1'..='4') | KeyCode::Char('?'));
        !(navigation && self.prompt.chars.is_empty())
    }

    /// Bracketed paste: into the prompt, if it has focus.
    pub fn paste(&mut self, text: &str) {
        if self.typing() {
            self.prompt.insert_str(text);
        }
    }

    /// Output of the generation `id` (older ones are ignored): all text so far, and whether it is done.
    pub fn on_generated(&mut self, id: u64, text: String, done: bool) {
        self.on_generated_at(id, text, done, Instant::now());
    }

    /// [`Sampling::on_generated`] at the time `now`.
    pub fn on_generated_at(&mut self, id: u64, text: String, done: bool, now: Instant) {
        if id != self.id {
            return;
        }
        self.output = text;
        if !done {
            self.tokens += 1;
            self.first_token.get_or_insert(now);
        }
        if done {
            self.running = false;
            self.secs = self.first_token.map(|t| now.saturating_duration_since(t).as_secs_f64());
        }
    }

    /// Tokens per second of the finished generation: the tokens after the
    /// first over the time since the first arrived.
    pub fn tok_per_sec(&self) -> Option<f64> {
        let secs = self.secs.filter(|s| *s > 0.0)?;
        (self.tokens > 1).then(|| (self.tokens - 1) as f64 / secs)
    }

    /// A key while typing the prompt; `live`: the run whose weights Enter samples, if one trains.
    pub fn prompt_key(&mut self, key: KeyEvent, live: Option<Live>) -> Effect {
        match key.code {
            KeyCode::Esc | KeyCode::Tab => self.focus = SampleFocus::Params,
            KeyCode::BackTab => self.focus = SampleFocus::Output,
            KeyCode::Enter => return self.submit(live),
            KeyCode::Up => {
                if self.history.is_empty() {
                    return Effect::None;
                }
                let pos = match self.hist_pos {
                    None => {
                        self.draft = self.prompt.text();
                        self.history.len() - 1
                    }
                    Some(p) => p.saturating_sub(1),
                };
                self.hist_pos = Some(pos);
                let t = self.history[pos].clone();
                self.prompt.set(&t);
            }
            KeyCode::Down => {
                if let Some(p) = self.hist_pos {
                    if p + 1 < self.history.len() {
                        self.hist_pos = Some(p + 1);
                        let t = self.history[p + 1].clone();
                        self.prompt.set(&t);
                    } else {
                        self.hist_pos = None;
                        let d = self.draft.clone();
                        self.prompt.set(&d);
                    }
                }
            }
            _ => {
                if self.prompt.edit(&key) {
                    self.hist_pos = None;
                }
            }
        }
        Effect::None
    }

    /// A key on the sampling screen outside the prompt.
    pub fn on_key(&mut self, key: KeyEvent, live: Option<Live>) -> Effect {
        match (self.focus, key.code) {
            (_, KeyCode::Tab) => {
                self.focus = match self.focus {
                    SampleFocus::Prompt => SampleFocus::Params,
                    SampleFocus::Params => SampleFocus::Output,
                    SampleFocus::Output => SampleFocus::Prompt,
                }
            }
            (_, KeyCode::BackTab) => {
                self.focus = match self.focus {
                    SampleFocus::Prompt => SampleFocus::Output,
                    SampleFocus::Params => SampleFocus::Prompt,
                    SampleFocus::Output => SampleFocus::Params,
                }
            }
            (_, KeyCode::Char('i')) | (_, KeyCode::Char('/')) => self.focus = SampleFocus::Prompt,
            (_, KeyCode::Enter) => return self.submit(live),
            (SampleFocus::Params, KeyCode::Left) => self.param_sel = (self.param_sel + PARAM_NAMES.len() - 1) % PARAM_NAMES.len(),
            (SampleFocus::Params, KeyCode::Right) => self.param_sel = (self.param_sel + 1) % PARAM_NAMES.len(),
            (SampleFocus::Params, KeyCode::Up | KeyCode::Char('+') | KeyCode::Char('=')) => self.adjust(self.param_sel, 1),
            (SampleFocus::Params, KeyCode::Down | KeyCode::Char('-')) => self.adjust(self.param_sel, -1),
            (SampleFocus::Output, KeyCode::Up | KeyCode::Char('k')) => self.scroll = self.scroll.saturating_sub(1),
            (SampleFocus::Output, KeyCode::Down | KeyCode::Char('j')) => self.scroll = self.scroll.saturating_add(1),
            (SampleFocus::Output, KeyCode::PageUp) => self.scroll = self.scroll.saturating_sub(10),
            (SampleFocus::Output, KeyCode::PageDown) => self.scroll = self.scroll.saturating_add(10),
            (SampleFocus::Output, KeyCode::Home) => self.scroll = 0,
            _ => {}
        }
        Effect::None
    }

    /// Enter in the sampling pane: from the training run's weights if one is
    /// training, else from the chosen checkpoint.
    fn submit(&mut self, live: Option<Live>) -> Effect {
        let prompt = self.prompt.text();
        if live.is_none() && self.source.is_none() {
            return Effect::Status("nothing to sample from: start a run (1) or pick a past run (3, Enter)".into());
        }
        if self.history.last() != Some(&prompt) && !prompt.is_empty() {
            self.history.push(prompt.clone());
        }
        self.hist_pos = None;
        self.id = self.next_id;
        self.next_id += 1;
        self.running = true;
        self.tokens = 0;
        self.output.clear();
        self.shown_prompt = prompt.clone();
        self.started = Some(Instant::now());
        self.first_token = None;
        self.secs = None;
        self.scroll = 0;
        let params = self.params.clone();
        let id = self.id;
        match (live, self.source.clone()) {
            (Some(live), _) => {
                self.output_from = if live.started {
                    format!("training weights at step {}", crate::preset::thousands(live.step))
                } else {
                    "training weights (queued until the first step)".into()
                };
                Effect::Act(Action::Engine(Command::Sample { id, prompt, params }))
            }
            (None, Some(source)) => {
                self.output_from = self.source_label.clone();
                Effect::Act(Action::SampleFrom { source, id, prompt, params })
            }
            (None, None) => Effect::None,
        }
    }
}
