//! Plain-text tables with aligned columns.

use std::fmt::Write as _;

/// A table: header rows, then body rows, then footer rows, separated by rules.
/// The first column is left-aligned, the others right-aligned.
#[derive(Default)]
pub(crate) struct Table {
    header: Vec<Vec<String>>,
    body: Vec<Vec<String>>,
    footer: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn header(&mut self, row: Vec<String>) {
        self.header.push(row);
    }

    pub(crate) fn row(&mut self, row: Vec<String>) {
        self.body.push(row);
    }

    pub(crate) fn footer(&mut self, row: Vec<String>) {
        self.footer.push(row);
    }

    /// The table as text, every line ending with a newline.
    pub(crate) fn render(&self) -> String {
        let all = || self.header.iter().chain(&self.body).chain(&self.footer);
        let columns = all().map(Vec::len).max().unwrap_or(0);
        let mut widths = vec![0; columns];
        for row in all() {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let total = widths.iter().sum::<usize>() + 2 * columns.saturating_sub(1);
        let rule = "-".repeat(total);
        let mut out = String::new();
        let sections = [&self.header, &self.body, &self.footer];
        for (i, section) in sections.iter().enumerate() {
            if section.is_empty() {
                continue;
            }
            if i > 0 && !out.is_empty() {
                out.push_str(&rule);
                out.push('\n');
            }
            for row in section.iter() {
                let mut line = String::new();
                for (c, width) in widths.iter().enumerate() {
                    let cell = row.get(c).map_or("", String::as_str);
                    if c == 0 {
                        let _ = write!(line, "{cell:<width$}");
                    } else {
                        let _ = write!(line, "  {cell:>width$}");
                    }
                }
                out.push_str(line.trim_end());
                out.push('\n');
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_columns() {
        let mut t = Table::default();
        t.header(vec!["name".into(), "value".into()]);
        t.row(vec!["a".into(), "1".into()]);
        t.footer(vec!["total".into(), "100".into()]);
        assert_eq!(
            t.render(),
            "name   value\n------------\na          1\n------------\ntotal    100\n"
        );
    }
}
