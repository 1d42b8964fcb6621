//! The CSV text every results file shares: numbers written in their shortest exact
//! form (empty when undefined), and records split once (RFC 4180) with the line
//! each starts on, errors naming file and line.

use crate::base::diagnostic::Diagnostic;

/// A number for a CSV cell: shortest exact form, empty when undefined (NaN).
pub fn cell(value: f64) -> String {
    if value.is_nan() { String::new() } else { value.to_string() }
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(records.header, ["a", "b"]);
        assert_eq!(records.rows[0], (2, vec!["1".to_string(), "2".into()]));
        let quoted = Records::split("a\n\"x,\"\"y\"\"\nz\"\r\n", "t.csv", "`a`").unwrap();
        assert_eq!(quoted.rows, [(2, vec!["x,\"y\"\nz".to_string()])]);
        assert_eq!((cell(f64::NAN), cell(0.1 + 0.2)), (String::new(), "0.30000000000000004".into()));
    }
}
