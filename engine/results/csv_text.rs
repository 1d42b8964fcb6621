//! The CSV text every results file shares: numbers written in their shortest exact
//! form (empty when undefined), records split once (RFC 4180) with the line each
//! starts on, and cells typed one by one with errors that name file and line.

use std::str::FromStr;

use crate::base::diagnostic::Diagnostic;

/// A number for a CSV cell: shortest exact form, empty when undefined (NaN).
pub fn cell(value: f64) -> String {
    if value.is_nan() { String::new() } else { value.to_string() }
}

/// A number that may be undefined, for a CSV cell: empty when `None`.
pub fn optional_cell(value: Option<f64>) -> String {
    value.map_or_else(String::new, cell)
}

/// `Some` of a defined number, `None` of NaN (what [`cell`] leaves empty).
pub fn defined(value: f64) -> Option<f64> {
    (!value.is_nan()).then_some(value)
}

/// A CSV file as split: its header and its rows, each row with the line it
/// starts on.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Records {
    /// The first record's cells.
    pub header: Vec<String>,
    /// The other records, with their lines.
    pub rows: Vec<(usize, Vec<String>)>,
}

impl Records {
    /// Splits `text` (`shown` names it in errors): an unclosed quote is refused
    /// at its line, an empty text as such (`expected` says what its header is).
    pub fn split(text: &str, shown: &str, expected: &str) -> Result<Records, Diagnostic> {
        let mut rows = records(text)
            .map_err(|line| Diagnostic::bad_input("unclosed quote").at(format!("{shown}:{line}")))?;
        if rows.is_empty() {
            return Err(Diagnostic::bad_input(format!("empty; expected {expected}")).at(shown));
        }
        let (_, header) = rows.remove(0);
        Ok(Records { header, rows })
    }

    /// Refuses a row whose cells are not as many as the header's columns.
    pub fn rectangular(&self, shown: &str) -> Result<(), Diagnostic> {
        match self.rows.iter().find(|(_, row)| row.len() != self.header.len()) {
            Some((line, row)) => Err(Diagnostic::bad_input(format!(
                "{} cells, but the header has {} columns",
                row.len(),
                self.header.len()
            ))
            .at(format!("{shown}:{line}"))),
            None => Ok(()),
        }
    }

    /// Refuses a header other than `expected` (its columns joined by commas).
    pub fn expect_header(&self, expected: &str, shown: &str) -> Result<(), Diagnostic> {
        if self.header.join(",") == expected {
            return Ok(());
        }
        Err(Diagnostic::bad_input(format!("expected the header `{expected}`")).at(format!("{shown}:1")))
    }

    /// Splits the text of a file whose header is exactly `header` and whose
    /// rows have as many cells as it has columns (see [`Records::split`]).
    pub fn with_header(text: &str, shown: &str, header: &str) -> Result<Records, Diagnostic> {
        let records = Records::split(text, shown, &format!("the header `{header}`"))?;
        records.expect_header(header, shown)?;
        records.rectangular(shown)?;
        Ok(records)
    }

    /// Each row's cells, to be typed in order (see [`Cells`]).
    pub fn cells<'a>(&'a self, shown: &'a str) -> impl Iterator<Item = Cells<'a>> + 'a {
        self.rows.iter().map(move |(line, cells)| Cells {
            shown,
            line: *line,
            header: &self.header,
            cells,
            next: 0,
        })
    }
}

/// The records of a CSV text (RFC 4180: quoted cells may hold commas, quotes
/// doubled and line breaks), each with the line it starts on; an unclosed quote
/// is an error at its line.
fn records(text: &str) -> Result<Vec<(usize, Vec<String>)>, usize> {
    let mut records = Vec::new();
    let (mut record, mut cell) = (Vec::new(), String::new());
    let (mut line, mut start, mut quoted) = (1, 1, false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => record.push(std::mem::take(&mut cell)),
            '\r' if !quoted && chars.peek() == Some(&'\n') => {}
            '\n' if !quoted => {
                record.push(std::mem::take(&mut cell));
                records.push((start, std::mem::take(&mut record)));
                line += 1;
                start = line;
            }
            c => {
                if c == '\n' {
                    line += 1;
                }
                cell.push(c);
            }
        }
    }
    if quoted {
        return Err(start);
    }
    if !cell.is_empty() || !record.is_empty() {
        record.push(cell);
        records.push((start, record));
    }
    Ok(records)
}

/// One row's cells, typed in the order of its columns: each call takes the
/// next cell, and an error names the file, the line and the column.
pub(crate) struct Cells<'a> {
    shown: &'a str,
    line: usize,
    header: &'a [String],
    cells: &'a [String],
    next: usize,
}

impl<'a> Cells<'a> {
    /// A problem with this row.
    pub fn error(&self, message: impl Into<String>) -> Diagnostic {
        Diagnostic::bad_input(message).at(format!("{}:{}", self.shown, self.line))
    }

    /// The next cell as it is.
    pub fn text(&mut self) -> &'a str {
        let text = self.cells.get(self.next).map_or("", String::as_str);
        self.next += 1;
        text
    }

    /// Whether the next `n` cells are all empty (none is taken).
    pub fn empty_ahead(&self, n: usize) -> bool {
        self.cells.iter().skip(self.next).take(n).all(|c| c.is_empty())
    }

    /// Takes `n` cells, known to be empty.
    pub fn skip(&mut self, n: usize) {
        self.next += n;
    }

    /// The column of the cell taken last, for errors.
    pub fn last_column(&self) -> &'a str {
        self.header.get(self.next - 1).map_or("", String::as_str)
    }

    /// The next cell, a whole number.
    pub fn whole<T: FromStr>(&mut self) -> Result<T, Diagnostic> {
        let text = self.text();
        text.parse().map_err(|_| self.error(format!("{} `{text}` is not a whole number", self.last_column())))
    }

    /// The next cell, a finite number (never empty).
    pub fn number(&mut self) -> Result<f64, Diagnostic> {
        match self.optional()? {
            Some(value) => Ok(value),
            None => Err(self.error(format!("{} is empty; expected a number", self.last_column()))),
        }
    }

    /// The next cell, a finite number or empty (undefined).
    pub fn optional(&mut self) -> Result<Option<f64>, Diagnostic> {
        let text = self.text();
        if text.is_empty() {
            return Ok(None);
        }
        match text.parse::<f64>() {
            Ok(value) if value.is_finite() => Ok(Some(value)),
            _ => Err(self.error(format!("{} `{text}` is not a finite number", self.last_column()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_typed_in_order_and_errors_name_the_column() {
        let text = "a,b,c,d\n1,0.5,,x\n\"q,\"\"uo\"\"\nted\",-1,inf,\n";
        let records = Records::split(text, "t.csv", "a header").unwrap();
        assert_eq!(
            records.rows[1],
            (3, vec!["q,\"uo\"\nted".to_string(), "-1".into(), "inf".into(), "".into()])
        );
        let mut rows = records.cells("t.csv");
        let mut first = rows.next().unwrap();
        assert_eq!((first.whole::<u64>(), first.number(), first.optional()), (Ok(1), Ok(0.5), Ok(None)));
        assert_eq!(first.number().unwrap_err().to_string(), "error: t.csv:2: d `x` is not a finite number");
        let mut second = rows.next().unwrap();
        assert_eq!(
            second.whole::<u64>().unwrap_err().to_string(),
            "error: t.csv:3: a `q,\"uo\"\nted` is not a whole number"
        );
        assert_eq!(second.whole::<i32>(), Ok(-1));
        assert_eq!(
            second.optional().unwrap_err().to_string(),
            "error: t.csv:3: c `inf` is not a finite number"
        );
        assert!(second.empty_ahead(1));
        assert_eq!(second.number().unwrap_err().to_string(), "error: t.csv:3: d is empty; expected a number");
        assert_eq!(
            (cell(f64::NAN), cell(0.1 + 0.2), optional_cell(None)),
            (String::new(), "0.30000000000000004".into(), String::new())
        );
    }

    #[test]
    fn malformed_text_is_refused_at_its_line() {
        let error = |text: &str| Records::split(text, "t.csv", "`a,b`").unwrap_err().to_string();
        assert_eq!(error(""), "error: t.csv: empty; expected `a,b`");
        assert_eq!(error("a,b\n1,\"2\n"), "error: t.csv:2: unclosed quote");
        let records = Records::split("a,b\n1,2\n3\n", "t.csv", "`a,b`").unwrap();
        assert_eq!(
            records.rectangular("t.csv").unwrap_err().to_string(),
            "error: t.csv:3: 1 cells, but the header has 2 columns"
        );
        assert_eq!(
            records.expect_header("a,c", "t.csv").unwrap_err().to_string(),
            "error: t.csv:1: expected the header `a,c`"
        );
        assert_eq!(records.expect_header("a,b", "t.csv"), Ok(()));
        assert_eq!(records.rows[0], (2, vec!["1".to_string(), "2".into()]));
        let quoted = Records::split("a\n\"x,\"\"y\"\"\nz\"\r\n", "t.csv", "`a`").unwrap();
        assert_eq!(quoted.rows, [(2, vec!["x,\"y\"\nz".to_string()])]);
    }
}
