//! Grouping components (`sentry.grouping.component.GroupingComponent`): a tree whose
//! contributing leaves, concatenated in order, are md5-hashed into a variant hash.

use std::borrow::Cow;

use md5::{Digest, Md5};
use serde_json::{json, Map, Value};

/// Component ids and hints: almost all are literals, so they are borrowed, not allocated
/// (an event's trees hold several per frame, twice over).
pub type Text = Cow<'static, str>;

/// A child of a component: another component or a leaf value.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// A nested component.
    Component(Component),
    /// A leaf (usually a string; `ns-error` codes may be numbers or null).
    Leaf(Value),
}

/// One node of the grouping tree.
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    /// Component id, e.g. `frame` or `context-line`.
    pub id: Text,
    /// Why the component (does not) contribute.
    pub hint: Option<Text>,
    /// Python's tri-state: `None` for a component created without values.
    contributes: Option<bool>,
    /// Children in order.
    pub values: Vec<Node>,
    /// Set by `+prefix` rules.
    pub is_prefix_frame: bool,
    /// Set by `+sentinel` rules.
    pub is_sentinel_frame: bool,
}

fn calculate_contributes(values: &[Node]) -> bool {
    values.iter().any(|v| match v {
        Node::Component(c) => c.contributes(),
        Node::Leaf(_) => true,
    })
}

/// Python's `str()` of a leaf, as `force_bytes` hashes it.
fn leaf_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        other => other.to_string(),
    }
}

/// md5 hex of the concatenation of `values` (`hash_from_values`).
pub fn hash_from_values<I, S>(values: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut h = Md5::new();
    for v in values {
        h.update(v.as_ref().as_bytes());
    }
    hex(h)
}

/// The lowercase hex digest.
fn hex(h: Md5) -> String {
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

impl Component {
    /// A component without values (`contributes` is `None`).
    pub fn new(id: impl Into<Text>) -> Component {
        let id = id.into();
        Component {
            hint: (id == "salt").then_some(Cow::Borrowed("a static salt")),
            id,
            contributes: None,
            values: Vec::new(),
            is_prefix_frame: false,
            is_sentinel_frame: false,
        }
    }

    /// A component with string leaves.
    pub fn with_leaves(id: impl Into<Text>, leaves: Vec<Value>) -> Component {
        let mut c = Component::new(id);
        c.set_values(leaves.into_iter().map(Node::Leaf).collect());
        c
    }

    /// A component with child components.
    pub fn with_children(id: impl Into<Text>, children: Vec<Component>) -> Component {
        let mut c = Component::new(id);
        c.set_values(children.into_iter().map(Node::Component).collect());
        c
    }

    /// Replaces the values and recomputes `contributes`, like `update(values=...)`.
    pub fn set_values(&mut self, values: Vec<Node>) {
        self.contributes = Some(calculate_contributes(&values));
        self.values = values;
    }

    /// Replaces the leaves (recomputing `contributes`) and optionally the hint.
    pub fn set_leaves(&mut self, leaves: Vec<Value>, hint: Option<Text>) {
        self.set_values(leaves.into_iter().map(Node::Leaf).collect());
        if let Some(h) = hint {
            self.hint = Some(h);
        }
    }

    /// Truthiness of `contributes`.
    pub fn contributes(&self) -> bool {
        self.contributes == Some(true)
    }

    /// The raw tri-state.
    pub fn contributes_raw(&self) -> Option<bool> {
        self.contributes
    }

    /// `update(contributes=..., hint=...)`.
    pub fn set_contributes(&mut self, contributes: bool, hint: Option<Text>) {
        self.contributes = Some(contributes);
        if let Some(h) = hint {
            self.hint = Some(h);
        }
    }

    /// `update(hint=...)`.
    pub fn set_hint(&mut self, hint: impl Into<Text>) {
        self.hint = Some(hint.into());
    }

    /// Child components in order.
    pub fn children(&self) -> impl Iterator<Item = &Component> {
        self.values.iter().filter_map(|v| match v {
            Node::Component(c) => Some(c),
            Node::Leaf(_) => None,
        })
    }

    /// Mutable child components in order.
    pub fn children_mut(&mut self) -> impl Iterator<Item = &mut Component> {
        self.values.iter_mut().filter_map(|v| match v {
            Node::Component(c) => Some(c),
            Node::Leaf(_) => None,
        })
    }

    /// Whether a contributing `id` component exists below, through contributing nodes only.
    pub fn has_contributing(&self, id: &str) -> bool {
        self.children()
            .any(|c| c.contributes() && (c.id == id || c.has_contributing(id)))
    }

    /// The contributing leaves, flattened in tree order.
    pub fn iter_values(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.each_value(&mut |leaf| out.push(leaf_text(leaf)));
        out
    }

    /// Calls `f` on each contributing leaf in tree order.
    fn each_value(&self, f: &mut impl FnMut(&Value)) {
        if !self.contributes() {
            return;
        }
        for v in &self.values {
            match v {
                Node::Component(c) => c.each_value(f),
                Node::Leaf(l) => f(l),
            }
        }
    }

    /// The md5 of the contributing leaves, or `None` when the component does not contribute.
    /// The leaves are fed to the digest as they are visited, not collected first.
    pub fn hash(&self) -> Option<String> {
        if !self.contributes() {
            return None;
        }
        let mut h = Md5::new();
        self.each_value(&mut |leaf| match leaf {
            Value::String(s) => h.update(s.as_bytes()),
            other => h.update(leaf_text(other).as_bytes()),
        });
        Some(hex(h))
    }

    /// The human name of major components (`KNOWN_MAJOR_COMPONENT_NAMES`).
    pub fn name(&self) -> Option<&'static str> {
        Some(match &*self.id {
            "app" => "in-app",
            "exception" => "exception",
            "stacktrace" => "stack-trace",
            "threads" => "thread",
            "hostname" => "hostname",
            "violation" => "violation",
            "uri" => "URL",
            "message" => "message",
            _ => return None,
        })
    }

    /// The variant description the UI shows, e.g. `in-app exception stack-trace`.
    pub fn description(&self) -> String {
        let mut items: Vec<Vec<&'static str>> = Vec::new();
        fn walk(
            c: &Component,
            stack: &mut Vec<Option<&'static str>>,
            items: &mut Vec<Vec<&'static str>>,
        ) {
            stack.push(c.name());
            for child in c.children().filter(|c| c.contributes()) {
                walk(child, stack, items);
            }
            items.push(stack.iter().flatten().copied().collect());
            stack.pop();
        }
        walk(self, &mut Vec::new(), &mut items);
        items.sort_by(|a, b| (a.len(), a).cmp(&(b.len(), b)));
        match items.last() {
            Some(last) if !last.is_empty() => last.join(" "),
            _ => self.name().unwrap_or("others").to_string(),
        }
    }

    /// `as_dict()`: the tree as Sentry's grouping info shows it.
    pub fn as_dict(&self) -> Value {
        let values: Vec<Value> = self
            .values
            .iter()
            .map(|v| match v {
                Node::Component(c) => c.as_dict(),
                Node::Leaf(l) => l.clone(),
            })
            .collect();
        let mut m = Map::new();
        m.insert("contributes".into(), json!(self.contributes));
        m.insert("hint".into(), json!(self.hint));
        m.insert("id".into(), json!(self.id));
        m.insert("name".into(), json!(self.name()));
        m.insert("values".into(), Value::Array(values));
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashing() {
        assert_eq!(
            hash_from_values(Vec::<String>::new()),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
        let mut frame = Component::with_children(
            "frame",
            vec![
                Component::with_leaves("module", vec![json!("a")]),
                Component::with_leaves("function", vec![json!("b")]),
            ],
        );
        assert_eq!(frame.hash(), Some(hash_from_values(["a", "b"])));
        frame.set_contributes(false, Some("x".into()));
        assert_eq!(frame.hash(), None);
        assert_eq!(Component::new("stacktrace").contributes_raw(), None);
        assert!(!Component::with_leaves("type", vec![]).contributes());
        let ns = Component::with_leaves("ns-error", vec![Value::Null, json!(5)]);
        assert_eq!(ns.iter_values(), vec!["None", "5"]);
    }
}
