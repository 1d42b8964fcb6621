//! Where each value sits in a RON file, by field path, so that checks made after
//! parsing (a worker id too large, a window that ends before it starts) can point at
//! `file:line:col` like parse errors do.
//!
//! The walker only ever sees text that `ron` has already parsed successfully, so it
//! is lenient: it needs to find values, not to judge them.

use std::collections::BTreeMap;

/// Field path → byte range of the value in the source.
#[derive(Debug, Default)]
pub struct SpanIndex {
    spans: BTreeMap<String, (usize, usize)>,
}

impl SpanIndex {
    /// Indexes every value of `source` by its path (`training.strategies[1].gamma_m`).
    pub fn build(source: &str) -> SpanIndex {
        let mut walker = Walker { src: source.as_bytes(), pos: 0, spans: BTreeMap::new(), depth: 0 };
        walker.skip_trivia();
        while walker.peek() == Some(b'#') {
            walker.skip_attribute();
            walker.skip_trivia();
        }
        walker.value(String::new());
        // On text that is not valid RON (an override can make it so) a value may
        // seem to run past the end; keep every span inside the text.
        let mut spans = walker.spans;
        for span in spans.values_mut() {
            let end = floor_boundary(source, span.1.min(source.len()));
            *span = (floor_boundary(source, span.0.min(end)), end);
        }
        SpanIndex { spans }
    }

    /// The byte range of the value at `path`, if the text writes it.
    pub fn exact(&self, path: &str) -> Option<(usize, usize)> {
        self.spans.get(path).copied()
    }

    /// The byte range of the value at `path`, or of its nearest written ancestor
    /// (a field left at its default has no text of its own).
    pub fn find(&self, path: &str) -> Option<(usize, usize)> {
        let mut path = path;
        loop {
            if let Some(&span) = self.spans.get(path) {
                return Some(span);
            }
            let cut = path.rfind(['.', '['])?;
            path = &path[..cut];
        }
    }
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Appends a struct field to a path.
pub fn field(path: &str, name: &str) -> String {
    if path.is_empty() { name.to_string() } else { format!("{path}.{name}") }
}

/// Appends a list index or map key to a path.
pub fn index(path: &str, key: impl std::fmt::Display) -> String {
    format!("{path}[{key}]")
}

struct Walker<'a> {
    src: &'a [u8],
    pos: usize,
    spans: BTreeMap<String, (usize, usize)>,
    depth: usize,
}

impl Walker<'_> {
    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<u8> {
        self.src.get(self.pos + offset).copied()
    }

    /// Skips whitespace and comments (`//` to end of line, nested `/* */`).
    fn skip_trivia(&mut self) {
        loop {
            match (self.peek(), self.peek_at(1)) {
                (Some(c), _) if c.is_ascii_whitespace() => self.pos += 1,
                (Some(b'/'), Some(b'/')) => {
                    while self.peek().is_some_and(|c| c != b'\n') {
                        self.pos += 1;
                    }
                }
                (Some(b'/'), Some(b'*')) => {
                    let mut level = 0usize;
                    while let Some(c) = self.peek() {
                        if c == b'/' && self.peek_at(1) == Some(b'*') {
                            level += 1;
                            self.pos += 2;
                        } else if c == b'*' && self.peek_at(1) == Some(b'/') {
                            level -= 1;
                            self.pos += 2;
                            if level == 0 {
                                break;
                            }
                        } else {
                            self.pos += 1;
                        }
                    }
                }
                _ => return,
            }
        }
    }

    /// Skips `#![enable(...)]`.
    fn skip_attribute(&mut self) {
        let mut level = 0usize;
        while let Some(c) = self.peek() {
            self.pos += 1;
            match c {
                b'[' => level += 1,
                b']' => {
                    level = level.saturating_sub(1);
                    if level == 0 {
                        return;
                    }
                }
                _ => {}
            }
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.skip_trivia();
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn is_ident_byte(c: u8) -> bool {
        c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80
    }

    /// One value at `path`; records its range, outermost last so it wins.
    fn value(&mut self, path: String) {
        self.skip_trivia();
        let start = self.pos;
        self.depth += 1;
        if self.depth > 256 {
            return;
        }
        match self.peek() {
            Some(b'(') => self.parenthesized(&path),
            Some(b'[') => self.list(&path),
            Some(b'{') => self.map(&path),
            Some(b'"' | b'\'') => self.quoted(),
            Some(b'r') if matches!(self.peek_at(1), Some(b'"' | b'#')) => self.raw_string(),
            Some(b'b') if self.peek_at(1) == Some(b'"') => {
                self.pos += 1;
                self.quoted();
            }
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => {
                while self.peek().is_some_and(Self::is_ident_byte) {
                    self.pos += 1;
                }
                let after_name = self.pos;
                self.skip_trivia();
                if self.peek() == Some(b'(') {
                    self.parenthesized(&path);
                } else {
                    self.pos = after_name;
                }
            }
            Some(_) => {
                while self.peek().is_some_and(|c| {
                    !matches!(c, b',' | b')' | b']' | b'}' | b':' | b'/') && !c.is_ascii_whitespace()
                }) {
                    self.pos += 1;
                }
            }
            None => {}
        }
        self.depth -= 1;
        self.spans.insert(path, (start, self.pos.max(start)));
    }

    /// `(a: 1, b: 2)` (struct body) or `(1, 2)` (tuple body).
    fn parenthesized(&mut self, path: &str) {
        self.pos += 1;
        self.skip_trivia();
        if self.starts_struct_field() {
            loop {
                self.skip_trivia();
                if self.peek() == Some(b')') || self.peek().is_none() {
                    break;
                }
                let name_start = self.pos;
                while self.peek().is_some_and(Self::is_ident_byte) {
                    self.pos += 1;
                }
                if self.pos == name_start {
                    self.pos += 1; // not a field name: step over it rather than loop
                    continue;
                }
                let name = String::from_utf8_lossy(&self.src[name_start..self.pos]).into_owned();
                self.eat(b':');
                self.value(field(path, &name));
                self.eat(b',');
            }
        } else {
            self.elements(path, b')');
        }
        self.eat(b')');
    }

    /// Whether the next tokens are `identifier :` (but not `::`).
    fn starts_struct_field(&self) -> bool {
        let mut p = self.pos;
        if !self.src.get(p).is_some_and(|&c| c.is_ascii_alphabetic() || c == b'_') {
            return false;
        }
        while self.src.get(p).is_some_and(|&c| Self::is_ident_byte(c)) {
            p += 1;
        }
        while self.src.get(p).is_some_and(|c| c.is_ascii_whitespace()) {
            p += 1;
        }
        self.src.get(p) == Some(&b':') && self.src.get(p + 1) != Some(&b':')
    }

    fn list(&mut self, path: &str) {
        self.pos += 1;
        self.elements(path, b']');
        self.eat(b']');
    }

    /// Comma-separated values up to `close`, indexed `path[0]`, `path[1]`, ….
    fn elements(&mut self, path: &str, close: u8) {
        let mut i = 0;
        loop {
            self.skip_trivia();
            if self.peek() == Some(close) || self.peek().is_none() {
                break;
            }
            let before = self.pos;
            self.value(index(path, i));
            if self.pos == before {
                self.pos += 1; // not a value: step over it rather than loop
            }
            self.eat(b',');
            i += 1;
        }
    }

    fn map(&mut self, path: &str) {
        self.pos += 1;
        loop {
            self.skip_trivia();
            if self.peek() == Some(b'}') || self.peek().is_none() {
                break;
            }
            let key_start = self.pos;
            self.value(String::from("\u{0}key"));
            let key = String::from_utf8_lossy(&self.src[key_start..self.pos]);
            let key = key.trim().trim_matches('"').to_string();
            self.eat(b':');
            let before = self.pos;
            self.value(index(path, key));
            if self.pos == before {
                self.pos += 1;
            }
            self.eat(b',');
        }
        self.spans.remove("\u{0}key");
        self.eat(b'}');
    }

    /// A string or character literal: from its opening quote to the matching one,
    /// stepping over escapes.
    fn quoted(&mut self) {
        let Some(quote) = self.peek() else { return };
        self.pos += 1;
        while let Some(c) = self.peek() {
            self.pos += 1;
            if c == b'\\' {
                self.pos += 1;
            } else if c == quote {
                return;
            }
        }
    }

    fn raw_string(&mut self) {
        self.pos += 1;
        let mut hashes = 0;
        while self.peek() == Some(b'#') {
            hashes += 1;
            self.pos += 1;
        }
        self.pos += 1; // opening quote
        while self.pos < self.src.len() {
            if self.src[self.pos] == b'"'
                && self.src[self.pos + 1..].iter().take(hashes).filter(|&&c| c == b'#').count() == hashes
            {
                self.pos += 1 + hashes;
                return;
            }
            self.pos += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_values() {
        let src = r#"#![enable(implicit_some)]
// a comment with ( and [
(
    name: "with \"quotes\", ( and [",
    workers: 4, /* nested /* comment */ */
    network: (uplink: Constant("1ms"), downlink: LogNormal(median: "2ms", sigma: 0.5)),
    compute: (speed: {2: 0.5, 3: 2.0}),
    failures: (events: [
        Crash(worker: 7, at: "1s"),
        Straggler(worker: 1, from: 2, until: 3, factor: 2.0),
    ]),
    training: (strategies: [Uniform, Dynamic(gamma_m: 2.0)], model: (hidden: [16, 8])),
)"#;
        let index = SpanIndex::build(src);
        let text = |path: &str| {
            let (a, b) = index.find(path).unwrap();
            &src[a..b]
        };
        assert_eq!(text("name"), r#""with \"quotes\", ( and [""#);
        assert_eq!(text("workers"), "4");
        assert_eq!(text("network.uplink"), r#"Constant("1ms")"#);
        assert_eq!(text("network.downlink.sigma"), "0.5");
        assert_eq!(text("compute.speed[3]"), "2.0");
        assert_eq!(text("failures.events[0].worker"), "7");
        assert_eq!(text("failures.events[1].factor"), "2.0");
        assert_eq!(text("training.strategies[1].gamma_m"), "2.0");
        assert_eq!(text("training.strategies[1].gamma_w"), "Dynamic(gamma_m: 2.0)");
        assert_eq!(text("training.model.hidden[1]"), "8");
        // An omitted field falls back to its nearest written ancestor.
        assert!(text("training.tau").starts_with("(strategies"));
    }
}
