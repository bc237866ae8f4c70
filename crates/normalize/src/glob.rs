//! Glob matching with the semantics of `sentry_relay.is_glob_match` as shipped in
//! sentry-relay 0.8.28: the pattern is compiled like the `globset` crate does (anchored,
//! `**` only recursive as a whole path component, `{a,b}` alternates, `[...]` classes,
//! backslash escapes) and matched as a regex.

use regex::Regex;

/// Options of one glob, mirroring relay's `GlobOptions`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GlobOptions {
    /// `**` matches across `/`, while `*` and `?` do not.
    pub double_star: bool,
    /// Replace `\` by `/` in both pattern and value before matching.
    pub path_normalize: bool,
    /// Let `*` match newlines (Sentry always passes `allow_newline=True`).
    pub allow_newline: bool,
}

/// A compiled glob pattern.
#[derive(Debug, Clone)]
pub struct Glob {
    regex: Option<Regex>,
    /// The same pattern as literal pieces around `*`s that match anything, when it has that
    /// shape: most enhancement rules do (`django.*`, `*/node_modules/*`), and plain string
    /// search is an order of magnitude cheaper than the regex on the ingest hot path.
    pieces: Option<Vec<String>>,
    /// `**/lit`, `lit/**` and `**/lit/**` with a literal middle: the path rules' shapes.
    dir: Option<DirGlob>,
    options: GlobOptions,
}

/// A literal path wrapped in recursive stars, matched by string search.
#[derive(Debug, Clone)]
struct DirGlob {
    /// `**/` before the literal: `(?:/?|.*/)`.
    any_parent: bool,
    /// `/**` after it: `/.*`.
    any_child: bool,
    literal: String,
    /// `/` + literal (+ `/` when `any_child`).
    slashed: String,
    /// literal + `/`.
    trailing: String,
}

impl DirGlob {
    fn new(tokens: &[Token]) -> Option<DirGlob> {
        let (any_parent, rest) = match tokens.split_first() {
            Some((Token::RecursivePrefix, rest)) => (true, rest),
            _ => (false, tokens),
        };
        let (any_child, middle) = match rest.split_last() {
            Some((Token::RecursiveSuffix, middle)) => (true, middle),
            _ => (false, rest),
        };
        if !(any_parent || any_child) || middle.is_empty() {
            return None;
        }
        let literal = middle
            .iter()
            .map(|token| match token {
                Token::Literal(c) => Some(*c),
                _ => None,
            })
            .collect::<Option<String>>()?;
        let slashed = if any_child {
            format!("/{literal}/")
        } else {
            format!("/{literal}")
        };
        Some(DirGlob {
            any_parent,
            any_child,
            trailing: format!("{literal}/"),
            literal,
            slashed,
        })
    }

    fn is_match(&self, value: &str) -> bool {
        match (self.any_parent, self.any_child) {
            // ^(?:/?|.*/)lit/.*$
            (true, true) => value.starts_with(&self.trailing) || value.contains(&self.slashed),
            // ^(?:/?|.*/)lit$
            (true, false) => value == self.literal || value.ends_with(&self.slashed),
            // ^lit/.*$
            _ => value.starts_with(&self.trailing),
        }
    }
}

/// The pattern as literal pieces separated by "matches anything" stars, if it is only
/// literals and `*` and a star matches any text (not `[^/]*` as with `double_star`).
fn literal_pieces(tokens: &[Token], options: GlobOptions) -> Option<Vec<String>> {
    let mut pieces = vec![String::new()];
    for token in tokens {
        match token {
            Token::Literal(c) => pieces.last_mut()?.push(*c),
            Token::ZeroOrMore if !options.double_star && options.allow_newline => {
                if !pieces.last()?.is_empty() || pieces.len() == 1 {
                    pieces.push(String::new());
                }
            }
            _ => return None,
        }
    }
    Some(pieces)
}

/// Whether `value` is `pieces[0] * pieces[1] * … * pieces[n-1]` (a star matches any text).
fn pieces_match(pieces: &[String], value: &str) -> bool {
    let (first, rest) = match pieces.split_first() {
        Some(split) => split,
        None => return value.is_empty(),
    };
    let Some(mut tail) = value.strip_prefix(first.as_str()) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return tail.is_empty();
    };
    for piece in middle {
        match tail.find(piece.as_str()) {
            Some(at) => tail = &tail[at + piece.len()..],
            None => return false,
        }
    }
    tail.len() >= last.len() && tail.ends_with(last.as_str())
}

impl Glob {
    /// Compiles `pattern`; an invalid pattern (e.g. an unclosed class) never matches,
    /// as in relay.
    pub fn new(pattern: &str, options: GlobOptions) -> Glob {
        let pattern = if options.path_normalize {
            pattern.replace('\\', "/")
        } else {
            pattern.to_string()
        };
        let tokens = tokenize(&pattern);
        let pieces = tokens
            .as_deref()
            .and_then(|tokens| literal_pieces(tokens, options));
        let dir = tokens
            .as_deref()
            .filter(|_| options.allow_newline)
            .and_then(DirGlob::new);
        let regex = tokens
            .map(|tokens| to_regex(&tokens, options))
            .and_then(|re| Regex::new(&re).ok());
        Glob {
            regex,
            pieces,
            dir,
            options,
        }
    }

    /// Whether `value` matches the whole pattern.
    pub fn is_match(&self, value: &str) -> bool {
        let Some(re) = &self.regex else {
            return false;
        };
        if self.options.path_normalize && value.contains('\\') {
            self.fast_or_regex(re, &value.replace('\\', "/"))
        } else {
            self.fast_or_regex(re, value)
        }
    }

    fn fast_or_regex(&self, re: &Regex, value: &str) -> bool {
        if let Some(pieces) = &self.pieces {
            pieces_match(pieces, value)
        } else if let Some(dir) = &self.dir {
            dir.is_match(value)
        } else {
            re.is_match(value)
        }
    }
}

/// One-shot helper: compiles and matches.
pub fn glob_match(value: &str, pattern: &str, options: GlobOptions) -> bool {
    Glob::new(pattern, options).is_match(value)
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Literal(char),
    Any,
    ZeroOrMore,
    RecursivePrefix,
    RecursiveSuffix,
    RecursiveZeroOrMore,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    Alternates(Vec<Vec<Token>>),
}

struct Parser<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    prev: Option<char>,
    cur: Option<char>,
    /// Stack of token lists; more than one entry while inside `{...}`.
    stack: Vec<Vec<Token>>,
    /// Finished branches of the alternation being parsed.
    alternates: Vec<Vec<Token>>,
    in_alternates: bool,
}

impl Parser<'_> {
    fn bump(&mut self) -> Option<char> {
        self.prev = self.cur;
        self.cur = self.chars.next();
        self.cur
    }

    fn peek(&mut self) -> Option<char> {
        self.chars.peek().copied()
    }

    fn tokens(&mut self) -> &mut Vec<Token> {
        // The stack always holds at least the top-level list.
        let last = self.stack.len() - 1;
        &mut self.stack[last]
    }

    fn push(&mut self, t: Token) {
        self.tokens().push(t);
    }

    fn parse(mut self) -> Option<Vec<Token>> {
        while let Some(c) = self.bump() {
            match c {
                '?' => self.push(Token::Any),
                '*' => self.parse_star(),
                '[' => self.parse_class()?,
                '{' => {
                    if self.in_alternates {
                        return None; // nested alternates are an error in globset
                    }
                    self.in_alternates = true;
                    self.stack.push(Vec::new());
                }
                '}' if self.in_alternates => {
                    let last = self.stack.pop()?;
                    self.alternates.push(last);
                    self.in_alternates = false;
                    let alts = std::mem::take(&mut self.alternates);
                    self.push(Token::Alternates(alts));
                }
                ',' if self.in_alternates => {
                    let last = self.stack.pop()?;
                    self.alternates.push(last);
                    self.stack.push(Vec::new());
                }
                '\\' => {
                    let next = self.bump()?;
                    self.push(Token::Literal(next));
                }
                c => self.push(Token::Literal(c)),
            }
        }
        if self.in_alternates {
            return None;
        }
        self.stack.pop()
    }

    fn parse_star(&mut self) {
        let prev = self.prev;
        if self.peek() != Some('*') {
            self.push(Token::ZeroOrMore);
            return;
        }
        self.bump();
        let at_start = self.tokens().is_empty();
        if at_start {
            if !matches!(self.peek(), None | Some('/')) {
                self.push(Token::ZeroOrMore);
                self.push(Token::ZeroOrMore);
                return;
            }
            self.push(Token::RecursivePrefix);
            self.bump();
            return;
        }
        if prev != Some('/') {
            self.push(Token::ZeroOrMore);
            self.push(Token::ZeroOrMore);
            return;
        }
        let is_suffix = match self.peek() {
            None => true,
            Some(',') | Some('}') if self.in_alternates => true,
            Some('/') => {
                self.bump();
                false
            }
            _ => {
                self.push(Token::ZeroOrMore);
                self.push(Token::ZeroOrMore);
                return;
            }
        };
        match self.tokens().pop() {
            Some(Token::RecursivePrefix) => self.push(Token::RecursivePrefix),
            Some(Token::RecursiveSuffix) => self.push(Token::RecursiveSuffix),
            _ => {
                if is_suffix {
                    self.push(Token::RecursiveSuffix)
                } else {
                    self.push(Token::RecursiveZeroOrMore)
                }
            }
        }
    }

    fn parse_class(&mut self) -> Option<()> {
        let negated = matches!(self.peek(), Some('!') | Some('^'));
        if negated {
            self.bump();
        }
        let mut ranges: Vec<(char, char)> = Vec::new();
        let mut first = true;
        let mut in_range = false;
        loop {
            let c = self.bump()?;
            match c {
                ']' if !first => break,
                '-' if !first && !in_range => in_range = true,
                c => {
                    if in_range {
                        let last = ranges.last_mut()?;
                        if last.0 > c {
                            return None;
                        }
                        last.1 = c;
                    } else {
                        ranges.push((c, c));
                    }
                    in_range = false;
                }
            }
            first = false;
        }
        if in_range {
            ranges.push(('-', '-'));
        }
        self.push(Token::Class { negated, ranges });
        Some(())
    }
}

fn tokenize(pattern: &str) -> Option<Vec<Token>> {
    let parser = Parser {
        chars: pattern.chars().peekable(),
        prev: None,
        cur: None,
        stack: vec![Vec::new()],
        alternates: Vec::new(),
        in_alternates: false,
    };
    parser.parse()
}

fn to_regex(tokens: &[Token], options: GlobOptions) -> String {
    let mut re = String::from(if options.allow_newline { "(?s)^" } else { "^" });
    if tokens.len() == 1 && tokens[0] == Token::RecursivePrefix {
        re.push_str(".*$");
        return re;
    }
    write_tokens(tokens, options, &mut re);
    re.push('$');
    re
}

fn write_tokens(tokens: &[Token], options: GlobOptions, re: &mut String) {
    for token in tokens {
        match token {
            Token::Literal(c) => re.push_str(&regex::escape(&c.to_string())),
            Token::Any => re.push_str(if options.double_star { "[^/]" } else { "." }),
            Token::ZeroOrMore => re.push_str(if options.double_star { "[^/]*" } else { ".*" }),
            Token::RecursivePrefix => re.push_str("(?:/?|.*/)"),
            Token::RecursiveSuffix => re.push_str("/.*"),
            Token::RecursiveZeroOrMore => re.push_str("(?:/|/.*/)"),
            Token::Class { negated, ranges } => {
                re.push('[');
                if *negated {
                    re.push('^');
                }
                for &(a, b) in ranges {
                    re.push_str(&regex::escape(&a.to_string()));
                    if a != b {
                        re.push('-');
                        re.push_str(&regex::escape(&b.to_string()));
                    }
                }
                re.push(']');
            }
            Token::Alternates(alts) => {
                re.push_str("(?:");
                for (i, alt) in alts.iter().enumerate() {
                    if i > 0 {
                        re.push('|');
                    }
                    write_tokens(alt, options, re);
                }
                re.push(')');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(double_star: bool, path_normalize: bool) -> GlobOptions {
        GlobOptions {
            double_star,
            path_normalize,
            allow_newline: true,
        }
    }

    /// Every string over `alphabet` up to `max` characters.
    fn strings(alphabet: &[char], max: usize) -> Vec<String> {
        let mut all = vec![String::new()];
        let mut layer = vec![String::new()];
        for _ in 0..max {
            layer = layer
                .iter()
                .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
                .collect();
            all.extend(layer.iter().cloned());
        }
        all
    }

    #[test]
    fn literal_fast_path_agrees_with_the_regex() {
        let patterns = strings(&['a', 'b', '*'], 5);
        let values = strings(&['a', 'b', '/', '\n'], 5);
        for options in [opts(false, false), opts(true, true)] {
            for pattern in &patterns {
                let glob = Glob::new(pattern, options);
                let Some(pieces) = &glob.pieces else { continue };
                let regex = glob.regex.as_ref().unwrap();
                for value in &values {
                    assert_eq!(
                        pieces_match(pieces, value),
                        regex.is_match(value),
                        "pattern {pattern:?} value {value:?} options {options:?}"
                    );
                }
            }
        }
        assert!(Glob::new("django.*", opts(false, false)).pieces.is_some());
        let dir_patterns = [
            "**/ab/**", "**/a/b", "ab/**", "/a/**", "**/a", "**/b/", "a/b/**",
        ];
        let dir_values = strings(&['a', 'b', '/'], 7);
        for pattern in dir_patterns {
            let glob = Glob::new(pattern, opts(true, true));
            let dir = glob.dir.as_ref().expect(pattern);
            let regex = glob.regex.as_ref().unwrap();
            for value in &dir_values {
                assert_eq!(
                    dir.is_match(value),
                    regex.is_match(value),
                    "pattern {pattern:?} value {value:?}"
                );
            }
        }
        assert!(Glob::new("**/foo", opts(true, true)).pieces.is_none());
    }

    #[test]
    fn relay_cases() {
        assert!(glob_match("hello.py", "*.py", opts(false, false)));
        assert!(!glob_match("hello.py", "*.js", opts(false, false)));
        assert!(glob_match("foo/hello.py", "*.py", opts(false, false)));
        assert!(!glob_match("foo/hello.py", "*.py", opts(true, false)));
        assert!(glob_match("foo/hello.py", "**/*.py", opts(true, false)));
        assert!(!glob_match("foo/hello.PY", "**/*.py", opts(true, false)));
        assert!(glob_match(
            "foo\\hello\\bar.py",
            "foo/**/*.py",
            opts(true, true)
        ));
        assert!(!glob_match(
            "foo\\hello\\bar.py",
            "foo/**/*.py",
            opts(true, false)
        ));
        assert!(glob_match(
            "1.18.4.2153-2aa83397b",
            "1.18.[0-4].*",
            opts(false, false)
        ));
        assert!(glob_match("foo\nbar", "foo*", opts(false, false)));
    }

    #[test]
    fn double_star_only_whole_component() {
        // `**.app` is two single stars: it cannot cross `/`.
        let o = opts(true, true);
        assert!(!glob_match(
            "/applications/myapp.app/contents/macos/myapp",
            "**.app/contents/**",
            o
        ));
        assert!(glob_match(
            "myapp.app/contents/macos/myapp",
            "**.app/contents/**",
            o
        ));
        assert!(glob_match("/usr/lib/x.so", "/usr/lib/**", o));
        assert!(glob_match(
            "/a/site-packages/b.py",
            "**/site-packages/**",
            o
        ));
        assert!(glob_match("site-packages/b.py", "**/site-packages/**", o));
        assert!(glob_match("c:/windows/system32/x.dll", "c:/windows/**", o));
        assert!(glob_match("anything/at/all", "**", o));
        assert!(glob_match(
            "x/https://unpkg.com/a/b.js",
            "**https://unpkg.com/**",
            opts(false, true)
        ));
    }

    #[test]
    fn classes_alternates_escapes() {
        let o = opts(false, false);
        assert!(
            glob_match("[KSCrash foo]", "?[[]KSCrash*", o)
                || glob_match("-[KSCrash foo]", "?[[]KSCrash*", o)
        );
        assert!(glob_match("-[KSCrash foo]", "?[[]KSCrash*", o));
        assert!(glob_match("a::{dtor}", "*::\\{dtor\\}", o));
        assert!(glob_match("b", "{a,b}", o));
        assert!(!glob_match("c", "{a,b}", o));
        assert!(glob_match("x", "[!a]", o));
        assert!(!glob_match("a", "[!a]", o));
        assert!(!glob_match("a", "[unclosed", o));
    }
}
