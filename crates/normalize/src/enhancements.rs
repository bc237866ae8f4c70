//! Stack trace enhancement rules (`sentry.grouping.enhancer`): the rule language, Sentry's
//! built-in `newstyle:2023-01-11` rules, and the two ways rules apply: modifying frames
//! (`in_app`, `category`) before grouping, and updating frame components while grouping.

use crate::component::Component;
use crate::functions::{behavior_family, trim_function_name};
use crate::glob::{Glob, GlobOptions};
use serde_json::{Map, Value};
use std::sync::LazyLock;

/// The text of Sentry's `enhancement-configs/newstyle@2023-01-11.txt`.
pub const NEWSTYLE_2023_01_11: &str = include_str!("enhancements/newstyle@2023-01-11.txt");

/// The base id the default config refers to.
pub const NEWSTYLE_BASE_ID: &str = "newstyle:2023-01-11";

/// `Enhancements([], bases=["newstyle:2023-01-11"]).dumps()`: what Sentry stores in
/// `grouping_config.enhancements` for a project without custom rules.
pub const DEFAULT_ENHANCEMENTS_STRING: &str = "eJybzDRxc15qeXFJZU6qlZGBkbGugaGuoeEEAHJMCAM";

/// The parsed built-in rules, shared by every event.
pub static DEFAULT_ENHANCEMENTS: LazyLock<Enhancements> = LazyLock::new(|| {
    // The embedded file is a constant; a parse failure is caught by the unit tests.
    Enhancements::parse(NEWSTYLE_2023_01_11).unwrap_or_else(|e| panic!("built-in rules: {e}"))
});

/// A rule file could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid enhancement rule on line {line}: {message}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub message: String,
}

/// A frame field a matcher looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchKey {
    /// `path` / `stack.abs_path`: abs_path or filename, lowercased, path glob.
    Path,
    /// `package` / `stack.package`: lowercased, path glob.
    Package,
    /// `module` / `stack.module`.
    Module,
    /// `function` / `stack.function`: the trimmed function name.
    Function,
    /// `family`: native, javascript, other or all.
    Family,
    /// `app`: the frame's in_app flag.
    App,
    /// `category`: `data.category` as set by `category=` rules.
    Category,
    /// `error.type` of the exception the stack trace belongs to.
    Type,
    /// `error.value`.
    Value,
    /// `error.mechanism` (the mechanism's type).
    Mechanism,
}

impl MatchKey {
    fn from_name(name: &str) -> Option<MatchKey> {
        Some(match name {
            "stack.module" | "module" => MatchKey::Module,
            "stack.abs_path" | "path" => MatchKey::Path,
            "stack.package" | "package" => MatchKey::Package,
            "stack.function" | "function" => MatchKey::Function,
            "error.type" => MatchKey::Type,
            "error.value" => MatchKey::Value,
            "error.mechanism" => MatchKey::Mechanism,
            "category" => MatchKey::Category,
            "family" => MatchKey::Family,
            "app" => MatchKey::App,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            MatchKey::Path => "path",
            MatchKey::Package => "package",
            MatchKey::Module => "module",
            MatchKey::Function => "function",
            MatchKey::Family => "family",
            MatchKey::App => "app",
            MatchKey::Category => "category",
            MatchKey::Type => "type",
            MatchKey::Value => "value",
            MatchKey::Mechanism => "mechanism",
        }
    }

    fn is_exception(self) -> bool {
        matches!(self, MatchKey::Type | MatchKey::Value | MatchKey::Mechanism)
    }
}

/// One `key:pattern` test, possibly negated.
#[derive(Debug, Clone)]
pub struct FrameMatch {
    key: MatchKey,
    pattern: String,
    negated: bool,
    glob: Glob,
    app_ref: Option<bool>,
    /// `family:` flags, split once at parse time.
    families: Vec<String>,
}

impl FrameMatch {
    fn new(key: MatchKey, pattern: &str, negated: bool) -> FrameMatch {
        let pattern = match key {
            MatchKey::Path | MatchKey::Package => pattern.to_lowercase(),
            _ => pattern.to_string(),
        };
        let options = match key {
            MatchKey::Path | MatchKey::Package => GlobOptions {
                double_star: true,
                path_normalize: true,
                allow_newline: true,
            },
            _ => GlobOptions {
                double_star: false,
                path_normalize: false,
                allow_newline: true,
            },
        };
        let app_ref = if key == MatchKey::App {
            rule_bool(&pattern)
        } else {
            None
        };
        let families = if key == MatchKey::Family {
            pattern.split(',').map(str::to_string).collect()
        } else {
            Vec::new()
        };
        FrameMatch {
            glob: Glob::new(&pattern, options),
            key,
            pattern,
            negated,
            app_ref,
            families,
        }
    }

    /// `key:pattern`, quoted when the pattern has whitespace (as in Sentry's hints).
    pub fn description(&self) -> String {
        let words: Vec<&str> = self.pattern.split_whitespace().collect();
        if words.len() == 1 && words[0] == self.pattern {
            format!("{}:{}", self.key.name(), self.pattern)
        } else {
            format!("{}:\"{}\"", self.key.name(), self.pattern)
        }
    }

    fn matches(&self, frame: &MatchFrame, exc: Option<&ExceptionData>) -> bool {
        self.positive(frame, exc) != self.negated
    }

    fn positive(&self, frame: &MatchFrame, exc: Option<&ExceptionData>) -> bool {
        match self.key {
            MatchKey::Path | MatchKey::Package => {
                let (value, rooted) = if self.key == MatchKey::Path {
                    (&frame.path, &frame.rooted_path)
                } else {
                    (&frame.package, &frame.rooted_package)
                };
                let Some(value) = value else { return false };
                self.glob.is_match(value) || rooted.as_ref().is_some_and(|r| self.glob.is_match(r))
            }
            MatchKey::Family => self
                .families
                .iter()
                .any(|flag| flag == "all" || flag == frame.family),
            MatchKey::App => self.app_ref == Some(frame.in_app),
            MatchKey::Function => self.field_match(Some(&frame.function)),
            MatchKey::Module => self.field_match(frame.module.as_ref()),
            MatchKey::Category => self.field_match(frame.category.as_ref()),
            MatchKey::Type | MatchKey::Value | MatchKey::Mechanism => self.positive_exception(exc),
        }
    }

    fn positive_exception(&self, exc: Option<&ExceptionData>) -> bool {
        let field = exc.and_then(|e| match self.key {
            MatchKey::Type => e.ty.as_deref(),
            MatchKey::Value => e.value.as_deref(),
            _ => e.mechanism.as_deref(),
        });
        let field = field.filter(|s| !s.is_empty()).unwrap_or("<unknown>");
        self.glob.is_match(field)
    }

    fn field_match(&self, field: Option<&String>) -> bool {
        match field {
            None => false,
            Some(f) => *f == self.pattern || self.glob.is_match(f),
        }
    }
}

/// Python's `get_rule_bool`.
fn rule_bool(value: &str) -> Option<bool> {
    match value.to_lowercase().as_str() {
        "1" | "yes" | "true" => Some(true),
        "0" | "no" | "false" => Some(false),
        _ => None,
    }
}

/// A matcher of a rule: on the frame itself or on its caller/callee.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// Tests the frame.
    Frame(FrameMatch),
    /// `[ m ] |`: tests the previous frame (the caller).
    Caller(FrameMatch),
    /// `| [ m ]`: tests the next frame (the callee).
    Callee(FrameMatch),
}

impl Matcher {
    fn description(&self) -> String {
        match self {
            Matcher::Frame(m) => m.description(),
            Matcher::Caller(m) => format!("[ {} ] |", m.description()),
            Matcher::Callee(m) => format!("| [ {} ]", m.description()),
        }
    }

    fn is_exception(&self) -> bool {
        matches!(self, Matcher::Frame(m) if m.key.is_exception())
    }

    fn matches(&self, frames: &[MatchFrame], idx: usize, exc: Option<&ExceptionData>) -> bool {
        match self {
            Matcher::Frame(m) => m.matches(&frames[idx], exc),
            Matcher::Caller(m) => idx > 0 && m.matches(&frames[idx - 1], exc),
            Matcher::Callee(m) => idx + 1 < frames.len() && m.matches(&frames[idx + 1], exc),
        }
    }
}

/// Which frames a flag action touches relative to the matching one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// `^`: the frames after it (towards the crash).
    Up,
    /// `v`: the frames before it.
    Down,
}

/// What a rule does.
#[derive(Debug, Clone)]
pub enum Action {
    /// `[^v][+-](group|app|prefix|sentinel)`.
    Flag {
        /// group, app, prefix or sentinel.
        key: &'static str,
        /// `+` is true.
        flag: bool,
        /// `^`/`v`, or the frame itself.
        range: Option<Range>,
    },
    /// `name=value`.
    Var {
        /// max-frames, min-frames, invert-stacktrace or category.
        var: &'static str,
        /// The raw value.
        value: String,
    },
}

impl Action {
    fn is_modifier(&self) -> bool {
        match self {
            Action::Flag { key, .. } => *key == "app",
            Action::Var { var, .. } => *var == "category",
        }
    }

    fn is_updater(&self) -> bool {
        match self {
            Action::Flag { .. } => true,
            Action::Var { var, .. } => *var != "category",
        }
    }

    fn slice(&self, idx: usize, len: usize) -> std::ops::Range<usize> {
        match self {
            Action::Flag {
                range: Some(Range::Down),
                ..
            } => 0..idx,
            Action::Flag {
                range: Some(Range::Up),
                ..
            } => (idx + 1).min(len)..len,
            _ => idx..idx + 1,
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::Flag { key, flag, range } => {
                let r = match range {
                    Some(Range::Up) => "^",
                    Some(Range::Down) => "v",
                    None => "",
                };
                write!(f, "{r}{}{key}", if *flag { "+" } else { "-" })
            }
            Action::Var { var, value } => {
                // Python stores parsed values: ints print as ints, invert-stacktrace as a bool.
                let shown = match *var {
                    "max-frames" | "min-frames" => value
                        .parse::<i64>()
                        .map(|v| v.to_string())
                        .unwrap_or_default(),
                    "invert-stacktrace" => match rule_bool(value) {
                        Some(true) => "True".into(),
                        Some(false) => "False".into(),
                        None => "None".into(),
                    },
                    _ => value.clone(),
                };
                write!(f, "{var}={shown}")
            }
        }
    }
}

/// One rule: matchers and actions.
#[derive(Debug, Clone)]
pub struct Rule {
    matchers: Vec<Matcher>,
    actions: Vec<Action>,
    /// Families a frame must have for this rule to match it (a positive `family:`
    /// matcher on the frame itself), as [`family_bit`]s; all bits when unrestricted.
    /// Most default rules are `family:native` or `family:javascript`, so a stack trace
    /// without such frames skips them without testing a frame.
    families: u8,
}

/// The bit of a behaviour family (`behavior_family`) in a rule's family mask.
fn family_bit(family: &str) -> u8 {
    match family {
        "native" => 1,
        "javascript" => 2,
        "other" => 4,
        "all" => 7,
        _ => 0,
    }
}

/// The families of `frames`, as a mask of [`family_bit`]s.
fn families_of(frames: &[MatchFrame]) -> u8 {
    frames.iter().fold(0, |mask, f| mask | family_bit(f.family))
}

impl Rule {
    fn new(matchers: Vec<Matcher>, actions: Vec<Action>) -> Rule {
        let families = matchers
            .iter()
            .filter_map(|m| match m {
                Matcher::Frame(fm) if fm.key == MatchKey::Family && !fm.negated => Some(
                    fm.families
                        .iter()
                        .fold(0u8, |mask, flag| mask | family_bit(flag)),
                ),
                _ => None,
            })
            .fold(7u8, |mask, required| mask & required);
        Rule {
            matchers,
            actions,
            families,
        }
    }

    /// False when no frame of a stack trace with these families can match.
    fn may_match(&self, families: u8) -> bool {
        self.families & families != 0
    }
}

impl Rule {
    /// The text Sentry shows in hints: matchers, then actions.
    pub fn description(&self) -> String {
        let mut rv = self
            .matchers
            .iter()
            .map(Matcher::description)
            .collect::<Vec<_>>()
            .join(" ");
        for a in &self.actions {
            rv.push(' ');
            rv.push_str(&a.to_string());
        }
        rv
    }

    fn matching_frames(&self, frames: &[MatchFrame], exc: Option<&ExceptionData>) -> Vec<usize> {
        if self.matchers.is_empty() {
            return Vec::new();
        }
        for m in &self.matchers {
            if let Matcher::Frame(fm) = m {
                if fm.key.is_exception() && fm.positive_exception(exc) == fm.negated {
                    return Vec::new();
                }
            }
        }
        (0..frames.len())
            .filter(|&idx| {
                self.matchers
                    .iter()
                    .filter(|m| !m.is_exception())
                    .all(|m| m.matches(frames, idx, exc))
            })
            .collect()
    }

    fn subset(&self, keep: impl Fn(&Action) -> bool) -> Option<Rule> {
        let actions: Vec<Action> = self.actions.iter().filter(|a| keep(a)).cloned().collect();
        (!actions.is_empty()).then(|| Rule::new(self.matchers.clone(), actions))
    }
}

/// The exception fields exception matchers look at.
#[derive(Debug, Clone, Default, Hash)]
pub struct ExceptionData {
    /// `type`.
    pub ty: Option<String>,
    /// `value`.
    pub value: Option<String>,
    /// `mechanism.type`.
    pub mechanism: Option<String>,
}

/// The flattened view of a frame that matchers read (`create_match_frame`).
#[derive(Debug, Clone, Hash)]
pub struct MatchFrame {
    category: Option<String>,
    family: &'static str,
    function: String,
    in_app: bool,
    module: Option<String>,
    package: Option<String>,
    path: Option<String>,
    /// `/` + `package` when it is not absolute (path matchers try both).
    rooted_package: Option<String>,
    /// `/` + `path` when it is not absolute.
    rooted_path: Option<String>,
}

fn rooted(value: &Option<String>) -> Option<String> {
    value
        .as_ref()
        .filter(|v| !v.starts_with('/'))
        .map(|v| format!("/{v}"))
}

fn str_field<'a>(frame: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    frame.get(key).and_then(Value::as_str)
}

fn nonempty<'a>(frame: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    str_field(frame, key).filter(|s| !s.is_empty())
}

/// `get_function_name_for_frame`: the function, trimmed unless a raw function is present.
pub fn function_name_for_frame(
    frame: &Map<String, Value>,
    platform: Option<&str>,
) -> Option<String> {
    if nonempty(frame, "raw_function").is_some() {
        return str_field(frame, "function").map(str::to_string);
    }
    let f = nonempty(frame, "function")?;
    let platform = nonempty(frame, "platform").or(platform);
    Some(trim_function_name(f, platform))
}

impl MatchFrame {
    /// Builds the match view of one frame.
    pub fn new(frame: &Map<String, Value>, platform: Option<&str>) -> MatchFrame {
        let category = frame
            .get("data")
            .and_then(Value::as_object)
            .and_then(|d| d.get("category"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let frame_platform = nonempty(frame, "platform").or(platform);
        let package = str_field(frame, "package").map(str::to_lowercase);
        let path = nonempty(frame, "abs_path")
            .or_else(|| str_field(frame, "filename"))
            .map(str::to_lowercase);
        MatchFrame {
            category,
            family: behavior_family(frame_platform),
            function: function_name_for_frame(frame, platform)
                .filter(|f| !f.is_empty())
                .unwrap_or_else(|| "<unknown>".to_string()),
            in_app: frame
                .get("in_app")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            module: str_field(frame, "module").map(str::to_string),
            rooted_package: rooted(&package),
            rooted_path: rooted(&path),
            package,
            path,
        }
    }
}

/// Python's `set_in_app`: records the original value in `data.orig_in_app` once.
pub fn set_in_app(frame: &mut Map<String, Value>, value: bool) {
    let orig = frame.get("in_app").and_then(Value::as_bool);
    if orig == Some(value) {
        return;
    }
    let orig_num = match orig {
        Some(b) => Value::from(b as i64),
        None => Value::from(-1),
    };
    let data = frame.entry("data").or_insert(Value::Null);
    if data.is_null() {
        *data = Value::Object(Map::new());
    }
    if let Some(d) = data.as_object_mut() {
        if d.get("orig_in_app").is_none_or(Value::is_null) {
            d.insert("orig_in_app".into(), orig_num);
        }
    }
    frame.insert("in_app".into(), Value::Bool(value));
}

/// What the updater rules decided for the whole stack trace.
#[derive(Debug, Default)]
struct StacktraceState {
    max_frames: (i64, Option<String>),
    min_frames: (i64, Option<String>),
}

impl StacktraceState {
    fn hint(desc: &Option<String>, hint: String) -> String {
        match desc {
            Some(d) => format!("{hint} by stack trace rule ({d})"),
            None => hint,
        }
    }
}

/// A parsed rule set.
#[derive(Debug, Clone)]
pub struct Enhancements {
    modifier_rules: Vec<Rule>,
    updater_rules: Vec<Rule>,
    rules: Vec<Rule>,
    /// Tells rule sets apart in the per-thread match caches.
    id: u64,
    /// The exception fields the modifier and the updater rules read ([`exception_fields`]).
    modifier_exception_fields: [bool; 3],
    updater_exception_fields: [bool; 3],
}

/// What the modifier rules do to one stack trace, in order (replayed on a cache hit).
#[derive(Debug)]
enum Effect {
    InApp(usize, bool),
    Category(usize, String),
}

/// Entries per thread and cache generation. Stack traces repeat heavily in real traffic
/// (an issue is the same stack), so a few thousand cover the hot ones; two generations
/// keep the recently used ones when the current generation fills up.
const MATCH_CACHE_ENTRIES: usize = 8192;

/// Which exception fields (`error.type`, `error.value`, `error.mechanism`) any of `rules`
/// reads: only those belong in a memo key, so an exception value that differs per event
/// (an id in the message) does not defeat the memo.
fn exception_fields(rules: &[Rule]) -> [bool; 3] {
    let mut fields = [false; 3];
    for rule in rules {
        for matcher in &rule.matchers {
            let (Matcher::Frame(m) | Matcher::Caller(m) | Matcher::Callee(m)) = matcher;
            match m.key {
                MatchKey::Type => fields[0] = true,
                MatchKey::Value => fields[1] = true,
                MatchKey::Mechanism => fields[2] = true,
                _ => {}
            }
        }
    }
    fields
}

/// 128 bits identifying a rule set and every input its matchers can read: per frame the
/// raw fields `MatchFrame::new` derives its view from (so a hit builds no match views),
/// and the exception fields the rules read. Equal keys give equal matches.
fn match_key(
    kind: u8,
    rules: &Enhancements,
    frames: &[&Map<String, Value>],
    platform: Option<&str>,
    exc: Option<&ExceptionData>,
) -> (u64, u64) {
    use std::hash::{BuildHasher, Hash, Hasher};
    let fields = if kind == 0 {
        rules.modifier_exception_fields
    } else {
        rules.updater_exception_fields
    };
    let exc = exc.map(|e| {
        (
            e.ty.as_deref().filter(|_| fields[0]),
            e.value.as_deref().filter(|_| fields[1]),
            e.mechanism.as_deref().filter(|_| fields[2]),
        )
    });
    // Two independently seeded aHash states (random per process, so keys cannot be
    // chosen to collide); SipHash cost a few per cent of ingest's CPU here.
    static STATES: std::sync::LazyLock<[ahash::RandomState; 2]> =
        std::sync::LazyLock::new(|| [ahash::RandomState::new(), ahash::RandomState::new()]);
    // The fields are looked up once (each lookup hashes the key) and hashed twice.
    let frame_fields: Vec<_> = frames
        .iter()
        .map(|frame| {
            (
                frame
                    .get("data")
                    .and_then(Value::as_object)
                    .and_then(|d| d.get("category"))
                    .and_then(Value::as_str),
                str_field(frame, "platform"),
                str_field(frame, "package"),
                str_field(frame, "abs_path"),
                str_field(frame, "filename"),
                str_field(frame, "raw_function"),
                str_field(frame, "function"),
                str_field(frame, "module"),
                frame.get("in_app").and_then(Value::as_bool),
            )
        })
        .collect();
    let hash = |salt: usize| {
        let mut hasher = STATES[salt].build_hasher();
        (kind, rules.id, platform, exc, frames.len()).hash(&mut hasher);
        for frame in &frame_fields {
            frame.hash(&mut hasher);
        }
        hasher.finish()
    };
    (hash(0), hash(1))
}

/// A small per-thread memo: looks `key` up, or computes, stores and returns the value.
fn memo<V>(
    cache: &'static std::thread::LocalKey<Cache<V>>,
    key: (u64, u64),
    compute: impl FnOnce() -> V,
) -> std::rc::Rc<V> {
    let hit = cache.with(|c| {
        let mut c = c.borrow_mut();
        if let Some(hit) = c.current.get(&key) {
            return Some(hit.clone());
        }
        // Still in use: move it into the current generation.
        let hit = c.previous.remove(&key)?;
        c.insert(key, hit.clone());
        Some(hit)
    });
    if let Some(hit) = hit {
        return hit;
    }
    let value = std::rc::Rc::new(compute());
    cache.with(|c| c.borrow_mut().insert(key, value.clone()));
    value
}

/// Two generations of memo entries: when the current one is full it becomes the previous
/// one (dropping the older), so entries used since the last turn survive it.
struct Generations<V> {
    current: std::collections::HashMap<(u64, u64), std::rc::Rc<V>>,
    previous: std::collections::HashMap<(u64, u64), std::rc::Rc<V>>,
}

impl<V> Default for Generations<V> {
    fn default() -> Self {
        Generations {
            current: Default::default(),
            previous: Default::default(),
        }
    }
}

impl<V> Generations<V> {
    fn insert(&mut self, key: (u64, u64), value: std::rc::Rc<V>) {
        if self.current.len() >= MATCH_CACHE_ENTRIES {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(key, value);
    }
}

type Cache<V> = std::cell::RefCell<Generations<V>>;

thread_local! {
    static MODIFIER_CACHE: Cache<Vec<Effect>> = Cache::default();
    static UPDATER_CACHE: Cache<Vec<(usize, Vec<usize>)>> = Cache::default();
}

impl Enhancements {
    /// Parses the rule language.
    pub fn parse(text: &str) -> Result<Enhancements, ParseError> {
        let mut rules = Vec::new();
        for (i, line) in text.split(['\n', '\r']).enumerate() {
            if let Some(rule) = parse_line(line).map_err(|message| ParseError {
                line: i + 1,
                message,
            })? {
                rules.push(rule);
            }
        }
        let modifier_rules: Vec<Rule> = rules
            .iter()
            .filter_map(|r| r.subset(Action::is_modifier))
            .collect();
        let updater_rules: Vec<Rule> = rules
            .iter()
            .filter_map(|r| r.subset(Action::is_updater))
            .collect();
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        Ok(Enhancements {
            modifier_exception_fields: exception_fields(&modifier_rules),
            updater_exception_fields: exception_fields(&updater_rules),
            modifier_rules,
            updater_rules,
            rules,
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        })
    }

    /// All rules in order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// `apply_modifications_to_frame`: sets `in_app` and `data.category` on the frames.
    pub fn apply_modifications_to_frames(
        &self,
        frames: &mut [&mut Map<String, Value>],
        platform: Option<&str>,
        exc: Option<&ExceptionData>,
    ) {
        let views: Vec<&Map<String, Value>> = frames.iter().map(|f| &**f).collect();
        let key = match_key(0, self, &views, platform, exc);
        let effects = memo(&MODIFIER_CACHE, key, || {
            let match_frames = views.iter().map(|f| MatchFrame::new(f, platform)).collect();
            self.modifier_effects(match_frames, exc)
        });
        for effect in effects.iter() {
            match effect {
                Effect::InApp(i, flag) => set_in_app(frames[*i], *flag),
                Effect::Category(i, value) => {
                    let data = frames[*i].entry("data").or_insert(Value::Null);
                    if data.is_null() {
                        *data = Value::Object(Map::new());
                    }
                    if let Some(d) = data.as_object_mut() {
                        d.insert("category".into(), Value::String(value.clone()));
                    }
                }
            }
        }
    }

    /// The modifier rules' effects on frames with these match views, in rule order.
    fn modifier_effects(
        &self,
        mut match_frames: Vec<MatchFrame>,
        exc: Option<&ExceptionData>,
    ) -> Vec<Effect> {
        let mut effects = Vec::new();
        let len = match_frames.len();
        let families = families_of(&match_frames);
        for rule in &self.modifier_rules {
            if !rule.may_match(families) {
                continue;
            }
            let matched = rule.matching_frames(&match_frames, exc);
            for idx in matched {
                for action in &rule.actions {
                    match action {
                        Action::Flag { flag, .. } => {
                            for i in action.slice(idx, len) {
                                effects.push(Effect::InApp(i, *flag));
                                match_frames[i].in_app = *flag;
                            }
                        }
                        Action::Var { value, .. } => {
                            effects.push(Effect::Category(idx, value.clone()));
                            match_frames[idx].category = Some(value.clone());
                        }
                    }
                }
            }
        }
        effects
    }

    /// Which updater rules match which frames: `(rule index, frame indexes)` for the rules
    /// that match at least one frame. Depends only on the frames, so a stack trace's app and
    /// system variants share one computation.
    pub fn updater_matches(
        &self,
        frames: &[&Map<String, Value>],
        platform: Option<&str>,
        exc: Option<&ExceptionData>,
    ) -> std::rc::Rc<Vec<(usize, Vec<usize>)>> {
        let key = match_key(1, self, frames, platform, exc);
        memo(&UPDATER_CACHE, key, || {
            let match_frames: Vec<MatchFrame> = frames
                .iter()
                .map(|f| MatchFrame::new(f, platform))
                .collect();
            let families = families_of(&match_frames);
            self.updater_rules
                .iter()
                .enumerate()
                .filter(|(_, rule)| rule.may_match(families))
                .filter_map(|(index, rule)| {
                    let matched = rule.matching_frames(&match_frames, exc);
                    (!matched.is_empty()).then_some((index, matched))
                })
                .collect()
        })
    }

    /// `assemble_stacktrace_component`: applies the updater rules, as matched by
    /// [`Enhancements::updater_matches`] for the same frames, to the frame components and wraps
    /// them into a `stacktrace` component.
    pub fn assemble_with_matches(
        &self,
        mut components: Vec<Component>,
        frames: &[&Map<String, Value>],
        matches: &[(usize, Vec<usize>)],
    ) -> Component {
        let mut state = StacktraceState::default();
        for (index, matched) in matches {
            let rule = &self.updater_rules[*index];
            let matched = matched.iter().copied();
            let rule_hint = format!("stack trace rule ({})", rule.description());
            for idx in matched {
                for action in &rule.actions {
                    match action {
                        Action::Flag { key, flag, .. } => {
                            for i in action.slice(idx, components.len()) {
                                let (Some(c), Some(frame)) = (components.get_mut(i), frames.get(i))
                                else {
                                    continue;
                                };
                                update_component(c, frame, key, *flag, &rule_hint);
                            }
                        }
                        Action::Var { var, value } => {
                            let n = value.parse::<i64>().unwrap_or(0);
                            match *var {
                                "max-frames" => state.max_frames = (n, Some(rule.description())),
                                "min-frames" => state.min_frames = (n, Some(rule.description())),
                                _ => {}
                            }
                        }
                    }
                }
            }
        }
        let max_frames = state.max_frames.0;
        if max_frames > 0 {
            let mut ignored = 0;
            for c in components.iter_mut().rev() {
                if !c.contributes() {
                    continue;
                }
                ignored += 1;
                if ignored <= max_frames {
                    continue;
                }
                let hint = format!(
                    "ignored because only {} {} considered",
                    max_frames,
                    if max_frames != 1 {
                        "frames are"
                    } else {
                        "frame is"
                    }
                );
                c.set_contributes(
                    false,
                    Some(StacktraceState::hint(&state.max_frames.1, hint).into()),
                );
            }
        }
        let mut stacktrace = Component::with_children("stacktrace", components);
        let min_frames = state.min_frames.0;
        if min_frames > 0 {
            let total = stacktrace.children().filter(|c| c.contributes()).count() as i64;
            if 0 < total && total < min_frames {
                let hint = format!(
                    "discarded because stack trace only contains {} frame{} which is under the configured threshold",
                    total,
                    if total != 1 { "s" } else { "" }
                );
                stacktrace.set_contributes(
                    false,
                    Some(StacktraceState::hint(&state.min_frames.1, hint).into()),
                );
            }
        }
        stacktrace
    }
}

fn update_component(
    c: &mut Component,
    frame: &Map<String, Value>,
    key: &str,
    flag: bool,
    rule_hint: &str,
) {
    match key {
        "group" if Some(flag) != c.contributes_raw() => {
            let verb = if flag { "un-ignored" } else { "ignored" };
            c.set_contributes(flag, Some(format!("{verb} by {rule_hint}").into()));
        }
        "group" => {}
        "app" => {
            let orig = frame
                .get("data")
                .and_then(Value::as_object)
                .and_then(|d| d.get("orig_in_app"));
            let changed = match orig.filter(|v| !v.is_null()) {
                Some(orig) => {
                    let orig = match orig.as_i64() {
                        Some(-1) => None,
                        Some(n) => Some(n != 0),
                        None => orig.as_bool(),
                    };
                    orig != frame.get("in_app").and_then(Value::as_bool)
                }
                None => Some(flag) == c.contributes_raw(),
            };
            if changed {
                let what = if flag { "in-app" } else { "out of app" };
                c.set_hint(format!("marked {what} by {rule_hint}"));
            }
        }
        "prefix" => {
            c.is_prefix_frame = flag;
            c.set_hint(format!("marked as prefix frame by {rule_hint}"));
        }
        _ => {
            c.is_sentinel_frame = flag;
            c.set_hint(format!("marked as sentinel frame by {rule_hint}"));
        }
    }
}

/// Python's `unescape_string` for quoted rule arguments: known escapes are decoded, unknown
/// ones keep their backslash.
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some('\'') => out.push('\''),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('a') => out.push('\u{07}'),
            Some('b') => out.push('\u{08}'),
            Some('f') => out.push('\u{0c}'),
            Some('v') => out.push('\u{0b}'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

struct LineParser<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> LineParser<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    fn skip_spaces(&mut self) {
        while self.rest().starts_with(' ') {
            self.pos += 1;
        }
    }

    fn eat(&mut self, lit: &str) -> bool {
        if self.rest().starts_with(lit) {
            self.pos += lit.len();
            true
        } else {
            false
        }
    }

    fn take_while(&mut self, f: impl Fn(char) -> bool) -> &'a str {
        let start = self.pos;
        for c in self.rest().chars() {
            if !f(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
        &self.s[start..self.pos]
    }

    /// `_ negation? matcher_type ":" argument`; restores the position on failure.
    fn frame_matcher(&mut self) -> Result<Option<FrameMatch>, String> {
        let start = self.pos;
        self.skip_spaces();
        let negated = self.eat("!");
        let is_ident = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
        let ty = if self.eat("\"") {
            let t = self.take_while(|c| is_ident(c) || c == ':');
            if !self.eat("\"") {
                self.pos = start;
                return Ok(None);
            }
            t.trim_start_matches('!')
        } else {
            self.take_while(is_ident)
        };
        if ty.is_empty() || !self.eat(":") {
            self.pos = start;
            return Ok(None);
        }
        let key = MatchKey::from_name(ty).ok_or_else(|| format!("unknown matcher '{ty}'"))?;
        let argument = if self.rest().starts_with('"') {
            let body_start = self.pos + 1;
            let mut escaped = false;
            let mut end = None;
            for (i, c) in self.s[body_start..].char_indices() {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    end = Some(body_start + i);
                    break;
                }
            }
            let end = end.ok_or("unterminated quoted argument")?;
            self.pos = end + 1;
            unescape(&self.s[body_start..end])
        } else {
            let arg = self.take_while(|c| !c.is_whitespace());
            if arg.is_empty() {
                return Err("missing matcher argument".into());
            }
            arg.to_string()
        };
        Ok(Some(FrameMatch::new(key, &argument, negated)))
    }

    fn action(&mut self) -> Result<Option<Action>, String> {
        let start = self.pos;
        self.skip_spaces();
        let range = if self.eat("^") {
            Some(Range::Up)
        } else if self.eat("v") {
            if self.rest().starts_with(['+', '-']) {
                Some(Range::Down)
            } else {
                self.pos -= 1;
                None
            }
        } else {
            None
        };
        if self.rest().starts_with(['+', '-']) {
            let flag = self.eat("+") || !self.eat("-");
            for key in ["group", "app", "prefix", "sentinel"] {
                if self.eat(key) {
                    return Ok(Some(Action::Flag { key, flag, range }));
                }
            }
            return Err(format!("unknown flag action near '{}'", self.rest()));
        }
        if range.is_some() {
            return Err("range without flag action".into());
        }
        for var in ["max-frames", "min-frames", "invert-stacktrace", "category"] {
            if self.eat(var) {
                self.skip_spaces();
                if !self.eat("=") {
                    return Err(format!("expected '=' after {var}"));
                }
                self.skip_spaces();
                let value =
                    self.take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
                if value.is_empty() {
                    return Err(format!("missing value for {var}"));
                }
                if matches!(var, "max-frames" | "min-frames") && value.parse::<i64>().is_err() {
                    return Err(format!("invalid value '{value}' for '{var}'"));
                }
                return Ok(Some(Action::Var {
                    var,
                    value: value.to_string(),
                }));
            }
        }
        self.pos = start;
        Ok(None)
    }
}

fn parse_line(line: &str) -> Result<Option<Rule>, String> {
    let mut p = LineParser { s: line, pos: 0 };
    p.skip_spaces();
    if p.rest().is_empty() || p.rest().starts_with('#') {
        return Ok(None);
    }
    let mut matchers = Vec::new();
    // caller_matcher = _ "[" _ frame_matcher _ "]" _ "|"
    if p.rest().starts_with('[') {
        p.eat("[");
        let m = p.frame_matcher()?.ok_or("expected matcher after '['")?;
        p.skip_spaces();
        if !p.eat("]") {
            return Err("expected ']'".into());
        }
        p.skip_spaces();
        if !p.eat("|") {
            return Err("expected '|'".into());
        }
        matchers.push(Matcher::Caller(m));
    }
    while let Some(m) = p.frame_matcher()? {
        matchers.push(Matcher::Frame(m));
    }
    if !matchers.iter().any(|m| matches!(m, Matcher::Frame(_))) {
        return Err(format!("expected a matcher near '{}'", p.rest()));
    }
    let save = p.pos;
    p.skip_spaces();
    if p.eat("|") {
        p.skip_spaces();
        if !p.eat("[") {
            return Err("expected '['".into());
        }
        let m = p.frame_matcher()?.ok_or("expected matcher after '['")?;
        p.skip_spaces();
        if !p.eat("]") {
            return Err("expected ']'".into());
        }
        matchers.push(Matcher::Callee(m));
    } else {
        p.pos = save;
    }
    let mut actions = Vec::new();
    while let Some(a) = p.action()? {
        actions.push(a);
    }
    if actions.is_empty() {
        return Err(format!("expected an action near '{}'", p.rest()));
    }
    p.skip_spaces();
    if !(p.rest().is_empty() || p.rest().starts_with('#')) {
        return Err(format!("unexpected '{}'", p.rest()));
    }
    Ok(Some(Rule::new(matchers, actions)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_rules_parse() {
        let e = &*DEFAULT_ENHANCEMENTS;
        assert!(e.rules().len() > 250, "{}", e.rules().len());
        let descs: Vec<String> = e.rules().iter().map(Rule::description).collect();
        assert!(descs.contains(&"path:**/site-packages/** -app".to_string()));
        assert!(descs
            .contains(&"family:native function:__cxa_throw ^-group -group ^-app -app".to_string()));
        assert!(descs.contains(&"[ category:gl ] | category:gl category=internals".to_string()));
        assert!(
            descs.contains(&"category:driver | [ category:driver ] category=internals".to_string())
        );
        assert!(descs.contains(&"family:native function:-\\[NSISEngine* category=ui".to_string()));
        assert!(descs.contains(&"family:native package:c:/windows/** category=system".to_string()));
        assert!(descs.contains(&"mechanism:ANR invert-stacktrace=True".to_string()));
    }

    #[test]
    fn parse_errors() {
        assert!(Enhancements::parse("function:foo").is_err());
        assert!(Enhancements::parse("bogus:foo -app").is_err());
        assert!(Enhancements::parse("function:foo +nope").is_err());
        assert!(Enhancements::parse("function:foo max-frames=x").is_err());
        assert!(Enhancements::parse("# only a comment\n\n  function:foo -app # trailing").is_ok());
    }

    #[test]
    fn modifies_in_app() {
        let e = Enhancements::parse(
            "path:**/site-packages/** -app\nfamily:native function:abort category=throw",
        )
        .unwrap();
        let mut a = serde_json::json!({"abs_path": "/x/site-packages/y.py", "in_app": true});
        let mut b = serde_json::json!({"function": "abort", "platform": "native"});
        {
            let mut frames = vec![a.as_object_mut().unwrap(), b.as_object_mut().unwrap()];
            e.apply_modifications_to_frames(&mut frames, Some("python"), None);
        }
        assert_eq!(a["in_app"], false);
        assert_eq!(a["data"]["orig_in_app"], 1);
        assert_eq!(b["data"]["category"], "throw");
    }

    #[test]
    fn family_rules_skip_other_families_and_still_match_their_own() {
        let e = Enhancements::parse("family:native function:abort -group\nfunction:abort -app")
            .unwrap();
        let python = serde_json::json!({"function": "abort"});
        let native = serde_json::json!({"function": "abort", "platform": "native"});
        let python = [python.as_object().unwrap()];
        let native = [native.as_object().unwrap()];
        let matched = |frames: &[&Map<String, Value>]| -> Vec<usize> {
            e.updater_matches(frames, Some("python"), None)
                .iter()
                .map(|(rule, _)| *rule)
                .collect()
        };
        assert_eq!(matched(&python), vec![1]);
        assert_eq!(matched(&native), vec![0, 1]);
    }

    #[test]
    fn memo_keys_keep_the_exception_fields_rules_read() {
        // The rules read `error.value`: equal frames with different values must not share
        // a memo entry. Without such a rule the value is left out of the key.
        let e = Enhancements::parse("error.value:boom* function:f -group").unwrap();
        let frame = serde_json::json!({"function": "f"});
        let frames = [frame.as_object().unwrap()];
        let exc = |value: &str| ExceptionData {
            ty: Some("E".into()),
            value: Some(value.into()),
            mechanism: None,
        };
        for _ in 0..2 {
            assert_eq!(
                e.updater_matches(&frames, None, Some(&exc("boom 1"))).len(),
                1
            );
            assert_eq!(
                e.updater_matches(&frames, None, Some(&exc("calm 2"))).len(),
                0
            );
        }
        assert_eq!(e.updater_exception_fields, [false, true, false]);
        let plain = Enhancements::parse("function:f -group").unwrap();
        assert_eq!(plain.updater_exception_fields, [false; 3]);
        assert_eq!(
            match_key(1, &plain, &frames, None, Some(&exc("a"))),
            match_key(1, &plain, &frames, None, Some(&exc("b")))
        );
        assert_ne!(
            match_key(1, &e, &frames, None, Some(&exc("a"))),
            match_key(1, &e, &frames, None, Some(&exc("b")))
        );
    }
}
