//! Tables of runs for the terminal: sorted by a column, rendered as aligned
//! text, GitHub Markdown or CSV (`runs --sort … --format …`).

/// How a table is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Columns aligned with spaces.
    Table,
    /// A GitHub Markdown table.
    #[default]
    Markdown,
    /// Comma-separated values, a header line first.
    Csv,
}

/// Headers, rows of text cells, and which columns hold text (left-aligned,
/// sorted as text); the others sort by the number their cells show.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub text_columns: Vec<usize>,
}

/// The number a cell shows: `1,234`, `0.5`, `+0.12`, `1m15s`, `2h03m`; `None` for `–` and text.
pub fn cell_number(cell: &str) -> Option<f64> {
    let c = cell.trim().replace(',', "");
    if let Ok(v) = c.parse::<f64>() {
        return v.is_finite().then_some(v);
    }
    let dur = |c: &str, a: char, b: char, unit: f64| -> Option<f64> {
        let (x, rest) = c.split_once(a)?;
        let y = rest.strip_suffix(b)?;
        Some(x.parse::<f64>().ok()? * unit * 60.0 + y.parse::<f64>().ok()? * unit)
    };
    dur(&c, 'h', 'm', 60.0).or_else(|| dur(&c, 'm', 's', 1.0))
}

impl Table {
    /// Sorts the rows by the column named `name` (case-insensitive), numbers
    /// by value; empty cells (`–`) last either way.
    pub fn sort_by(&mut self, name: &str, descending: bool) -> Result<(), String> {
        let Some(col) = self.headers.iter().position(|h| h.eq_ignore_ascii_case(name.trim())) else {
            return Err(format!(
                "no column `{name}`; the columns are: {}",
                self.headers.iter().map(|h| format!("\"{h}\"")).collect::<Vec<_>>().join(", ")
            ));
        };
        let text = self.text_columns.contains(&col);
        let empty = |c: &str| c.is_empty() || c == "–";
        self.rows.sort_by(|a, b| {
            let (x, y) = (&a[col], &b[col]);
            match (empty(x), empty(y)) {
                (true, true) => return std::cmp::Ordering::Equal,
                (true, false) => return std::cmp::Ordering::Greater,
                (false, true) => return std::cmp::Ordering::Less,
                _ => {}
            }
            let ord = match (text, cell_number(x), cell_number(y)) {
                (false, Some(u), Some(v)) => u.total_cmp(&v),
                _ => x.cmp(y),
            };
            if descending {
                ord.reverse()
            } else {
                ord
            }
        });
        Ok(())
    }

    pub fn render(&self, f: Format) -> String {
        match f {
            Format::Table => self.aligned(),
            Format::Markdown => self.markdown(),
            Format::Csv => self.csv(),
        }
    }

    fn aligned(&self) -> String {
        let n = self.headers.len();
        let width: Vec<usize> = (0..n)
            .map(|i| self.rows.iter().map(|r| r[i].chars().count()).chain([self.headers[i].chars().count()]).max().unwrap_or(0))
            .collect();
        let line = |cells: &[String]| {
            let parts: Vec<String> = cells
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let pad = " ".repeat(width[i] - c.chars().count());
                    if self.text_columns.contains(&i) {
                        format!("{c}{pad}")
                    } else {
                        format!("{pad}{c}")
                    }
                })
                .collect();
            format!("{}\n", parts.join("  ").trim_end())
        };
        let mut s = line(&self.headers);
        for r in &self.rows {
            s.push_str(&line(r));
        }
        s
    }

    fn markdown(&self) -> String {
        let esc = |c: &String| c.replace('|', "\\|");
        let mut s = format!("| {} |\n", self.headers.iter().map(esc).collect::<Vec<_>>().join(" | "));
        let align: Vec<&str> = (0..self.headers.len()).map(|i| if self.text_columns.contains(&i) { "---" } else { "---:" }).collect();
        s.push_str(&format!("|{}|\n", align.join("|")));
        for r in &self.rows {
            s.push_str(&format!("| {} |\n", r.iter().map(esc).collect::<Vec<_>>().join(" | ")));
        }
        s
    }

    fn csv(&self) -> String {
        let field = |(i, c): (usize, &String)| {
            // numbers without thousands separators, empty cells empty
            let plain = c.replace(',', "");
            let c = if c == "–" {
                String::new()
            } else if !self.text_columns.contains(&i) && plain.parse::<f64>().is_ok() {
                plain
            } else {
                c.clone()
            };
            if c.contains([',', '"', '\n']) {
                format!("\"{}\"", c.replace('"', "\"\""))
            } else {
                c
            }
        };
        let mut s = format!("{}\n", self.headers.iter().map(|h| field((usize::MAX, h))).collect::<Vec<_>>().join(","));
        for r in &self.rows {
            s.push_str(&format!("{}\n", r.iter().enumerate().map(field).collect::<Vec<_>>().join(",")));
        }
        s
    }
}
