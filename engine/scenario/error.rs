//! Errors in scenario and trace files, rendered as `file:line:col`, the field path,
//! the offending line with a caret under the offending text, and what was expected.

use std::fmt;

use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;

use crate::base::diagnostic::Diagnostic;

use super::maps;
use super::spans::{self, SpanIndex};
use super::validate::{IntegerRange, SCENARIO_INTEGERS, TRACE_INTEGERS, integer_range};

/// Nesting deeper than this is refused (valid scenarios need about 6 levels).
const RECURSION_LIMIT: usize = 64;

/// One problem in an input file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file, as the user named it.
    pub file: String,
    /// 1-based line; 0 when the problem concerns the whole file.
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
    /// Field path, e.g. `failures.events[0].worker` (empty at the top level).
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// What was expected instead, when that helps.
    pub expected: Option<String>,
    /// Where the problem was reached from (e.g. the scenario replaying a trace).
    pub note: Option<String>,
    /// The source line, for display.
    source_line: Option<String>,
    /// Characters to underline from `col`.
    width: usize,
}

impl ScenarioError {
    /// A problem with the file as a whole (unreadable, empty).
    pub fn whole_file(file: &str, message: impl Into<String>) -> Self {
        ScenarioError {
            file: file.to_string(),
            line: 0,
            col: 0,
            path: String::new(),
            message: message.into(),
            expected: None,
            note: None,
            source_line: None,
            width: 0,
        }
    }

    /// A problem with the text in `range` (byte offsets into `source`).
    pub fn at_range(
        file: &str,
        source: &str,
        range: (usize, usize),
        path: &str,
        message: impl Into<String>,
        expected: Option<String>,
    ) -> Self {
        let mut start = floor_char_boundary(source, range.0.min(source.len()));
        let end = floor_char_boundary(source, range.1.clamp(start, source.len()));
        // Point at the offending token, not the whitespace before it.
        start += source[start..].len() - source[start..].trim_start().len();
        let end = end.max(start);
        let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = source[start..].find('\n').map_or(source.len(), |i| start + i);
        let line = 1 + source[..start].matches('\n').count();
        let col = 1 + source[line_start..start].chars().count();
        let width = source[start..end.min(line_end)].chars().count().max(1);
        ScenarioError {
            file: file.to_string(),
            line,
            col,
            path: path.to_string(),
            message: message.into(),
            expected,
            note: None,
            source_line: Some(source[line_start..line_end].trim_end_matches('\r').to_string()),
            width,
        }
    }

    /// A problem at a 1-based line and column (as `ron` reports them).
    fn at_position(
        file: &str,
        source: &str,
        start: (usize, usize),
        end: (usize, usize),
        path: &str,
        message: String,
        expected: Option<String>,
    ) -> Self {
        let a = offset_of(source, start);
        let b = if end > start { offset_of(source, end) } else { a };
        Self::at_range(file, source, (a, b), path, message, expected)
    }
}

/// Byte offset of a 1-based (line, column-in-characters) position.
fn offset_of(source: &str, (line, col): (usize, usize)) -> usize {
    let line_start = if line <= 1 {
        0
    } else {
        source.match_indices('\n').nth(line - 2).map_or(source.len(), |(i, _)| i + 1)
    };
    source[line_start..]
        .char_indices()
        .nth(col.saturating_sub(1))
        .map_or(source.len(), |(i, _)| line_start + i)
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Shows at most this many characters of a long source line around the error.
const LINE_WINDOW: usize = 100;

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Diagnostic::from(self).fmt(f)
    }
}

impl From<&ScenarioError> for Diagnostic {
    fn from(error: &ScenarioError) -> Diagnostic {
        let mut diagnostic = Diagnostic::bad_input(error.message.clone());
        diagnostic.at = Some(if error.line > 0 {
            format!("{}:{}:{}", error.file, error.line, error.col)
        } else {
            error.file.clone()
        });
        diagnostic.field = Some(error.path.clone()).filter(|p| !p.is_empty());
        match error.excerpt() {
            Some(excerpt) => diagnostic.excerpt = Some(excerpt),
            None => diagnostic.hints.extend(error.expected.as_ref().map(|e| format!("expected {e}"))),
        }
        diagnostic.hints.extend(error.note.as_ref().map(|n| format!("note: {n}")));
        diagnostic
    }
}

impl From<ScenarioErrors> for Diagnostic {
    fn from(errors: ScenarioErrors) -> Diagnostic {
        Diagnostic::all(errors.0.iter().map(Diagnostic::from).collect())
            .unwrap_or_else(|| Diagnostic::bad_input("the input has problems"))
    }
}

impl ScenarioError {
    /// The offending line with carets under the offending text, and what was
    /// expected after them (none without a source line).
    fn excerpt(&self) -> Option<String> {
        let line = self.source_line.as_ref()?;
        // Printable characters only, so binary input cannot upset the terminal.
        let chars: Vec<char> =
            line.chars().map(|c| if c.is_control() && c != '\t' { '\u{FFFD}' } else { c }).collect();
        let caret_at = self.col - 1;
        let first = if chars.len() <= LINE_WINDOW {
            0
        } else {
            caret_at.saturating_sub(LINE_WINDOW / 2).min(chars.len() - LINE_WINDOW)
        };
        let last = (first + LINE_WINDOW).min(chars.len());
        let mut shown: String = chars[first..last].iter().collect();
        let mut pad: String =
            chars[first..caret_at.min(last)].iter().map(|&c| if c == '\t' { '\t' } else { ' ' }).collect();
        if first > 0 {
            shown.insert(0, '…');
            pad.insert(0, ' ');
        }
        if last < chars.len() {
            shown.push('…');
        }
        let gutter = self.line.to_string().len();
        let carets = "^".repeat(self.width.min(LINE_WINDOW));
        let mut excerpt =
            format!("\n{:gutter$} |\n{} | {}\n{:gutter$} | {pad}{carets}", "", self.line, shown, "");
        if let Some(expected) = &self.expected {
            excerpt.push_str(&format!(" expected {expected}"));
        }
        Some(excerpt)
    }
}

impl ScenarioError {
    /// The byte range this error underlines in `source`, the text it was found in.
    pub fn byte_range(&self, source: &str) -> (usize, usize) {
        if self.line == 0 {
            return (0, 0);
        }
        let start = offset_of(source, (self.line, self.col));
        let end = source[start..].char_indices().nth(self.width).map_or(source.len(), |(i, _)| start + i);
        (start, end)
    }

    /// The line of text the error shows (for a `--set` error: the argument).
    pub fn shown_line(&self) -> Option<&str> {
        self.source_line.as_deref()
    }

    /// The same problem, underlining `range` of `source`, known as `file`.
    pub fn reanchored(&self, file: &str, source: &str, range: (usize, usize)) -> ScenarioError {
        let mut error = ScenarioError::at_range(
            file,
            source,
            range,
            &self.path,
            self.message.clone(),
            self.expected.clone(),
        );
        error.note = self.note.clone();
        error
    }
}

/// Every problem found in one input (parse errors stop at the first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioErrors(pub Vec<ScenarioError>);

impl ScenarioErrors {
    /// Problems in file order (then line and column).
    pub fn sorted(mut errors: Vec<ScenarioError>) -> Self {
        errors.sort_by(|a, b| (&a.file, a.line, a.col).cmp(&(&b.file, b.line, b.col)));
        ScenarioErrors(errors)
    }

    /// A list of one.
    pub fn single(error: ScenarioError) -> Self {
        ScenarioErrors(vec![error])
    }
}

impl fmt::Display for ScenarioErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            writeln!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioErrors {}

/// What a file holds: messages about it differ (an empty file, integer ranges).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// A scenario.
    Scenario,
    /// A failure trace, as `faultline trace` writes it.
    Trace,
}

impl FileKind {
    /// Its integer fields and their ranges.
    fn integers(self) -> &'static [(&'static str, IntegerRange)] {
        match self {
            FileKind::Scenario => SCENARIO_INTEGERS,
            FileKind::Trace => TRACE_INTEGERS,
        }
    }

    /// The message for a file with nothing but whitespace in it.
    fn empty_file(self, file: &str) -> ScenarioError {
        match self {
            FileKind::Scenario => {
                ScenarioError::whole_file(file, "the file is empty; the smallest scenario is `()`")
            }
            FileKind::Trace => {
                let mut error = ScenarioError::whole_file(file, "the trace file is empty");
                error.expected = Some("a trace written by `faultline trace SCENARIO > FILE`".into());
                error
            }
        }
    }
}

/// The file's text, or an error at the first byte that is not UTF-8. A leading
/// byte-order mark (some Windows editors write one) is dropped: editors hide it, so
/// columns count from the character after it.
pub fn utf8_text(bytes: &[u8], file: &str, kind: FileKind) -> Result<String, ScenarioErrors> {
    match std::str::from_utf8(bytes).map(|text| text.strip_prefix('\u{FEFF}').unwrap_or(text)) {
        Ok(text) if text.trim().is_empty() => Err(ScenarioErrors::single(kind.empty_file(file))),
        Ok(text) => Ok(text.to_string()),
        Err(e) => {
            let valid = std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default();
            let line = 1 + valid.matches('\n').count();
            let col = 1 + valid.rsplit('\n').next().unwrap_or("").chars().count();
            let mut error = ScenarioError::whole_file(
                file,
                format!("byte {} is not UTF-8 text (this looks like a binary file)", e.valid_up_to()),
            );
            error.line = line;
            error.col = col;
            error.expected = Some("a RON text file".into());
            Err(ScenarioErrors::single(error))
        }
    }
}

/// The RON options faultline reads with: `Some(..)` may be left out around optional
/// values, and a variant holding a struct takes its fields directly
/// (`AdaHessian(lr: 0.1)`).
pub fn ron_options() -> ron::Options {
    use ron::extensions::Extensions;
    ron::Options::default()
        .with_default_extension(Extensions::IMPLICIT_SOME | Extensions::UNWRAP_VARIANT_NEWTYPES)
        .with_recursion_limit(RECURSION_LIMIT)
}

/// A field path in faultline's notation from serde's segments (variants are left
/// out: `failures.events[0].worker`, not `failures.events[0].Crash.worker`). A map
/// key that failed to parse is written as `bad_key`, the text at the error.
fn path_text(path: &serde_path_to_error::Path, bad_key: &str) -> (String, Option<String>) {
    let mut text = String::new();
    let mut last_variant = None;
    for segment in path.iter() {
        last_variant = None;
        match segment {
            Segment::Seq { index } => text = spans::index(&text, index),
            // Struct fields arrive as map keys; identifier-like keys are fields.
            Segment::Map { key } if key.starts_with(|c: char| c.is_ascii_alphabetic()) => {
                text = spans::field(&text, key)
            }
            Segment::Map { key } => text = spans::index(&text, key),
            Segment::Enum { variant } => last_variant = Some(variant.clone()),
            Segment::Unknown => text = spans::index(&text, bad_key),
        }
    }
    (text, last_variant)
}

/// The byte range of the number (with its sign) that starts at or just after
/// `offset`; `ron` points past a minus sign.
fn number_at(source: &str, offset: usize) -> (usize, usize) {
    let rest = &source[offset..];
    let mut start = offset + rest.len() - rest.trim_start().len();
    if source[..start].ends_with(['-', '+']) {
        start -= 1;
    }
    let body = source[start..].strip_prefix(['-', '+']).unwrap_or(&source[start..]);
    let len = body.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(body.len());
    (start, source.len() - body.len() + len)
}

/// What a parse error about an integer at `path` should say was expected: the
/// field's range from the table, or for a field the table lacks (which a test rules
/// out for faultline's own fields) a general hint when the number is too large.
fn integer_expected(kind: FileKind, path: &str, code: &ron::Error) -> Option<String> {
    use ron::Error::{ExpectedInteger, IntegerOutOfBounds, InvalidIntegerDigit};
    if !matches!(code, IntegerOutOfBounds | ExpectedInteger | InvalidIntegerDigit { .. }) {
        return None;
    }
    match integer_range(kind.integers(), path) {
        Some(range) => Some(range.expected(None)),
        None if matches!(code, IntegerOutOfBounds) => Some("a whole number in this field's range".into()),
        None => None,
    }
}

/// Parses RON text into `T`, reporting the first problem with its position and path.
pub fn parse_ron<T: DeserializeOwned>(source: &str, file: &str, kind: FileKind) -> Result<T, ScenarioErrors> {
    let options = ron_options();
    let mut deserializer = ron::Deserializer::from_str_with_options(source, &options).map_err(|e| {
        ScenarioErrors::single(ScenarioError::at_position(
            file,
            source,
            (e.span.start.line, e.span.start.col),
            (e.span.end.line, e.span.end.col),
            "",
            e.code.to_string(),
            None,
        ))
    })?;
    let value = match serde_path_to_error::deserialize::<_, T>(&mut deserializer) {
        Ok(value) => value,
        Err(error) => {
            let code = error.inner().clone();
            let span = deserializer.span_error(code.clone()).span;
            let mut range = (
                offset_of(source, (span.start.line, span.start.col)),
                offset_of(source, (span.end.line, span.end.col)),
            );
            let number = number_at(source, range.0);
            let key = Some(&source[number.0..number.1]).filter(|k| !k.is_empty()).unwrap_or("?");
            let (path, variant) = path_text(error.path(), key);
            let mut message = code.to_string();
            // A variant that takes settings, written bare (`Dynamic`): say how.
            let expected = variant
                .filter(|_| message.starts_with("Expected opening `(`"))
                .map(|v| format!("`{v}(...)` with its settings in parentheses; `{v}()` keeps the defaults"))
                .or_else(|| maps::expected(&message))
                .or_else(|| integer_expected(kind, &path, &code));
            // ron says "Integer is out of bounds" and points past a minus sign.
            if matches!(code, ron::Error::IntegerOutOfBounds) && number.1 > number.0 {
                range = number;
                message = format!("{} is out of range", &source[number.0..number.1]);
            }
            return Err(ScenarioErrors::single(ScenarioError::at_range(
                file, source, range, &path, message, expected,
            )));
        }
    };
    deserializer.end().map_err(|code| {
        let span = deserializer.span_error(code.clone()).span;
        ScenarioErrors::single(ScenarioError::at_position(
            file,
            source,
            (span.start.line, span.start.col),
            (span.end.line, span.end.col),
            "",
            code.to_string(),
            Some("the end of the file after the scenario's closing `)`".into()),
        ))
    })?;
    Ok(value)
}

/// Turns checks made after parsing into positioned errors.
pub struct Positioner<'a> {
    file: &'a str,
    source: &'a str,
    /// Built at the first error: a valid input (e.g. a long trace) never pays for it.
    index: std::cell::OnceCell<SpanIndex>,
}

impl<'a> Positioner<'a> {
    /// Indexes `source`, once, when the first error needs a position.
    pub fn new(file: &'a str, source: &'a str) -> Self {
        Positioner { file, source, index: std::cell::OnceCell::new() }
    }

    /// An error at the value of `path` (or its nearest written ancestor).
    pub fn error(&self, path: &str, message: String, expected: Option<String>) -> ScenarioError {
        let index = self.index.get_or_init(|| SpanIndex::build(self.source));
        let range = index.find(path).unwrap_or((0, 0));
        ScenarioError::at_range(self.file, self.source, range, path, message, expected)
    }
}
