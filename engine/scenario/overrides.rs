//! `--set path=value`: changing one field of a scenario from the command line, as
//! if the file said so, with the same checks and located errors.
//!
//! An override edits the scenario's *text*: the value of `path` is replaced where
//! the file writes it, or `field: value,` is inserted into the nearest written
//! ancestor (`--set training.data.overlap=0.25` on a file without `data` inserts
//! `data: (overlap: 0.25),` into `training: (…)`). The edited text is then parsed
//! and validated like any file. An error inside an inserted value is reported
//! against the `--set` argument's value, one in the field names it inserted (an
//! unknown field) against its path; any other error is mapped back to its place
//! in the file and notes which overrides were applied.

use super::error::ScenarioError;
use super::spans::SpanIndex;

/// One `--set path=value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Override {
    /// Field path, e.g. `training.tau` or `compute.speed[1]`.
    pub path: String,
    /// The new value, as RON text.
    pub value: String,
}

impl Override {
    /// Parses `path=value`; the message says what is wrong.
    pub fn parse(argument: &str) -> Result<Override, String> {
        let Some((path, value)) = argument.split_once('=') else {
            return Err(format!("--set {argument}: expected PATH=VALUE, e.g. --set training.tau=4"));
        };
        let (path, value) = (path.trim(), value.trim());
        let field_ok = |f: &str| {
            let name = f.split('[').next().unwrap_or("");
            name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && f[name.len()..]
                    .split_inclusive(']')
                    .all(|k| k.starts_with('[') && k.ends_with(']') && k.len() > 2)
        };
        if path.is_empty() || !path.split('.').all(field_ok) {
            return Err(format!(
                "--set {argument}: `{path}` is not a field path\n  = expected dotted field names, e.g. \
                 training.data.overlap or compute.speed[1]"
            ));
        }
        if value.is_empty() {
            return Err(format!(
                "--set {argument}: the value is empty\n  = expected a RON value, e.g. 4, 0.25, \"10ms\""
            ));
        }
        Ok(Override { path: path.to_string(), value: value.to_string() })
    }

    /// The argument as the user wrote it (normalized).
    pub fn argument(&self) -> String {
        format!("{}={}", self.path, self.value)
    }
}

/// One edit of the text: at `start`, `old` bytes became `new` bytes, of which
/// `value` (a sub-range) is the override's value.
#[derive(Clone, Copy, Debug)]
struct Edit {
    start: usize,
    old: usize,
    new: usize,
    value: (usize, usize),
    which: usize,
}

/// A byte range, start to end.
type Range = (usize, usize);

/// A scenario text with overrides applied, able to map positions back.
#[derive(Clone, Debug)]
pub struct Patched {
    /// The edited text.
    pub text: String,
    edits: Vec<Edit>,
}

/// Applies `overrides` in order to `source`. An override whose path cannot take
/// a value (its parent is written as a number, a string…) is refused: `Err` holds
/// which override and why.
pub fn apply(source: &str, overrides: &[Override]) -> Result<Patched, (usize, String)> {
    let mut text = source.to_string();
    let mut edits = Vec::new();
    for (which, o) in overrides.iter().enumerate() {
        let spans = SpanIndex::build(&text);
        let (start, old, replacement, value_at) = match spans.exact(&o.path) {
            Some((start, end)) => (start, end - start, o.value.clone(), 0),
            None => {
                let (at, inserted, value_at) = insert_field(&text, &spans, o).map_err(|m| (which, m))?;
                (at, 0, inserted, value_at)
            }
        };
        text.replace_range(start..start + old, &replacement);
        let value = (start + value_at, start + value_at + o.value.len());
        edits.push(Edit { start, old, new: replacement.len(), value, which });
    }
    Ok(Patched { text, edits })
}

/// The segments of `path` missing below its nearest written ancestor, and that
/// ancestor's path.
fn missing_part<'p>(path: &'p str, spans: &SpanIndex) -> (&'p str, Vec<&'p str>) {
    let mut ancestor = path;
    let mut missing = Vec::new();
    while spans.exact(ancestor).is_none() {
        match ancestor.rfind('.') {
            Some(cut) => {
                missing.push(&ancestor[cut + 1..]);
                ancestor = &ancestor[..cut];
            }
            None => {
                missing.push(ancestor);
                ancestor = "";
                break;
            }
        }
    }
    missing.reverse();
    (ancestor, missing)
}

/// Where the missing fields go (right after the `(` that opens the nearest
/// written ancestor), the text `a: (b: (c: VALUE)), ` for the missing segments
/// a.b.c, and where VALUE starts in it.
fn insert_field(text: &str, spans: &SpanIndex, o: &Override) -> Result<(usize, String, usize), String> {
    let (ancestor, missing) = missing_part(&o.path, spans);
    if missing.iter().any(|m| m.contains('[')) {
        return Err(format!(
            "{} is not in the file; list and map elements can only be changed where they are written \
             (set the whole list or map instead)",
            o.path
        ));
    }
    let (start, end) = spans.exact(ancestor).unwrap_or((0, text.len()));
    // The value must open with `(` (a structure) or `Name(` (a variant with fields).
    let opening = text[start..end]
        .find('(')
        .filter(|&i| text[start..start + i].chars().all(|c| c.is_alphanumeric() || c == '_'));
    let Some(opening) = opening else {
        return Err(format!(
            "`{}` is written as a value without fields, so `{}` cannot be set inside it",
            if ancestor.is_empty() { "the scenario" } else { ancestor },
            missing.join(".")
        ));
    };
    let mut inserted = String::new();
    for (i, segment) in missing.iter().enumerate() {
        inserted.push_str(segment);
        inserted.push_str(": ");
        if i + 1 < missing.len() {
            inserted.push('(');
        }
    }
    let value_at = inserted.len();
    inserted.push_str(&o.value);
    inserted.push_str(&")".repeat(missing.len().saturating_sub(1)));
    inserted.push_str(", ");
    Ok((start + opening + 1, inserted, value_at))
}

impl Patched {
    /// Maps a byte range of the edited text back: `Ok` a range of the original
    /// source, or `Err((which, range))` when it starts inside override `which`'s
    /// text: `Some` range within its value, `None` in the field names inserted
    /// before the value (so the path is at fault, not the value).
    pub fn map_back(&self, range: Range) -> Result<Range, (usize, Option<Range>)> {
        let (mut a, mut b) = range;
        for edit in self.edits.iter().rev() {
            let end = edit.start + edit.new;
            if a >= edit.start && a < end {
                let (v0, v1) = edit.value;
                let inside = match a {
                    a if a < v0 => None,
                    a if a < v1 => Some((a - v0, b.clamp(a, v1) - v0)),
                    // The closing brackets after it: the value is the nearest text the user wrote.
                    _ => Some((0, 0)),
                };
                return Err((edit.which, inside));
            }
            let back = |p: usize| match p {
                p if p >= end => p - edit.new + edit.old,
                p => p.min(edit.start),
            };
            a = if a >= end { a - edit.new + edit.old } else { a };
            b = back(b).max(a);
        }
        Ok((a, b))
    }
}

/// Rewrites an error found in the edited text so it points where the user wrote
/// the offending text: into the file, or into the `--set` argument.
pub fn relocate(
    error: ScenarioError,
    patched: &Patched,
    overrides: &[Override],
    file: &str,
    source: &str,
) -> ScenarioError {
    if error.file != file {
        return error; // e.g. a problem inside a replayed trace
    }
    let applied = overrides.iter().map(|o| format!("--set {}", o.argument())).collect::<Vec<_>>().join(" ");
    let range = error.byte_range(&patched.text);
    match patched.map_back(range) {
        Ok(range) => {
            let mut relocated = error.reanchored(file, source, range);
            relocated.note = Some(format!("with {applied}"));
            relocated
        }
        Err((which, range)) => {
            let argument = overrides[which].argument();
            let path = overrides[which].path.len();
            let range = range.map_or((0, path), |(a, b)| (path + 1 + a, path + 1 + b));
            error.reanchored("--set", &argument, range)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(source: &str, argument: &str) -> String {
        apply(source, &[Override::parse(argument).unwrap()]).unwrap().text
    }

    #[test]
    fn values_are_replaced_where_written_and_inserted_where_not() {
        assert_eq!(set("(workers: 4)", "workers=8"), "(workers: 8)");
        assert_eq!(set("(workers: 4)", "training.tau=2"), "(training: (tau: 2), workers: 4)");
        assert_eq!(
            set("(training: (tau: 3))", "training.data.overlap=0.5"),
            "(training: (data: (overlap: 0.5), tau: 3))"
        );
        assert_eq!(
            set("(training: (optimizer: AdaHessian(lr: 0.1)))", "training.optimizer.beta1=0.8"),
            "(training: (optimizer: AdaHessian(beta1: 0.8, lr: 0.1)))"
        );
        assert_eq!(
            set("#![enable(implicit_some)]\n()", "seeds=[1, 2]"),
            "#![enable(implicit_some)]\n(seeds: [1, 2], )"
        );
    }

    #[test]
    fn bad_arguments_say_how_to_write_them() {
        assert!(Override::parse("training.tau").unwrap_err().contains("expected PATH=VALUE"));
        assert!(Override::parse("training..tau=1").unwrap_err().contains("is not a field path"));
        assert!(Override::parse("tau=").unwrap_err().contains("the value is empty"));
        assert_eq!(Override::parse(" compute.speed[1] = 0.5 ").unwrap().argument(), "compute.speed[1]=0.5");
        let (which, error) = apply("(workers: 4)", &[Override::parse("workers.x=1").unwrap()]).unwrap_err();
        assert_eq!(which, 0);
        assert!(error.contains("`workers` is written as a value without fields"), "{error}");
    }

    #[test]
    fn positions_map_back_through_edits() {
        let source = "(workers: 4, seeds: [1])";
        let overrides = [Override::parse("workers=16").unwrap(), Override::parse("training.tau=2").unwrap()];
        let patched = apply(source, &overrides).unwrap();
        assert_eq!(patched.text, "(training: (tau: 2), workers: 16, seeds: [1])");
        let seeds = patched.text.find("[1]").unwrap();
        assert_eq!(patched.map_back((seeds, seeds + 3)), Ok((20, 23)));
        let sixteen = patched.text.find("16").unwrap();
        assert_eq!(patched.map_back((sixteen, sixteen + 2)), Err((0, Some((0, 2)))));
        let two = patched.text.find("2)").unwrap();
        assert_eq!(patched.map_back((two, two + 1)), Err((1, Some((0, 1)))));
        let tau = patched.text.find("tau").unwrap();
        assert_eq!(patched.map_back((tau, tau + 3)), Err((1, None)), "an inserted field name");
    }
}
