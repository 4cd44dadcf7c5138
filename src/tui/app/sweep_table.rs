//! The runs screen's sweep view (`t` on a run of a sweep folder): one table
//! of the sweep, a row per run with the overridden keys as columns, sorted by
//! a column the user picks (`s` next column, `d` flips the order).

use crate::report::Table;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug)]
pub struct SweepView {
    pub dir: PathBuf,
    pub table: Table,
    /// The column sorted by, if any, and whether descending.
    pub sort: Option<usize>,
    pub descending: bool,
}

impl SweepView {
    /// The sweep holding the run folder `run_dir`, if it is one of a sweep's.
    pub fn open(run_dir: &Path) -> Option<Result<SweepView, String>> {
        let dir = run_dir.parent().filter(|p| crate::sweep::layout::is_sweep_dir(p))?;
        Some(
            crate::sweep::table::sweep_table(dir, None)
                .map(|table| SweepView { dir: dir.to_path_buf(), table, sort: None, descending: false })
                .map_err(|e| format!("{}: {e}", dir.display())),
        )
    }

    /// Sorts by the next column (after the last, back to the first).
    pub fn next_sort(&mut self) {
        let n = self.table.headers.len();
        if n == 0 {
            return;
        }
        self.sort = Some(self.sort.map_or(0, |c| (c + 1) % n));
        self.apply();
    }

    pub fn flip(&mut self) {
        self.descending = !self.descending;
        self.apply();
    }

    fn apply(&mut self) {
        if let Some(c) = self.sort {
            let name = self.table.headers[c].clone();
            // the column exists: it was taken from the headers
            let _ = self.table.sort_by(&name, self.descending);
        }
    }

    /// What the pane's title says of the order.
    pub fn order(&self) -> String {
        match self.sort {
            Some(c) => format!("sorted by {} {}", self.table.headers[c], if self.descending { "↓" } else { "↑" }),
            None => "in run order".into(),
        }
    }
}
