//! Templates over the call's attributes (minijinja): prompts, attribute names, URLs, values.
//!
//! - Every attribute is a variable (`{{ first_name }}`); `attr(name)` looks one up by a
//!   computed name (`{{ attr("question_" ~ q) }}`).
//! - An undefined variable renders as nothing (minijinja's lenient mode); use
//!   `{{ x | default("...") }}` for a fallback.
//! - In SSML prompts, values are XML-escaped (`AT&T` → `AT&amp;T`); `| safe` opts out.
//! - Each rendering has [`TEMPLATE_FUEL`] instructions: a template that runs longer fails.

use minijinja::value::Value as MjValue;
use minijinja::{AutoEscape, Environment, State};
use serde_json::{Map, Value};

use crate::limits::TEMPLATE_FUEL;

/// Name given to SSML templates (XML escaping is on for it).
const SSML_NAME: &str = "prompt.ssml";

/// Whether a string is a template (has `{{` or `{%`); other strings are used as they are.
pub fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

/// Check a template's syntax with the flow's template rules (for extension blocks'
/// [`crate::ExtensionBlock::validate`]): `Err` has the error, e.g. `template error: syntax
/// error: unexpected end of input (template line 1)`.
pub fn check_template(src: &str) -> Result<(), String> {
    Templates::new().check(src)
}

/// The template engine of a flow: one environment, shared by every call of the flow.
pub(crate) struct Templates {
    env: Environment<'static>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Templates")
    }
}

fn attr(state: &State, name: &str) -> MjValue {
    state.lookup(name).unwrap_or(MjValue::UNDEFINED)
}

/// A minijinja error on one line: kind, detail and line.
fn describe(e: &minijinja::Error) -> String {
    let mut s = e.kind().to_string();
    if let Some(d) = e.detail() {
        s.push_str(": ");
        s.push_str(d);
    }
    if let Some(l) = e.line() {
        s.push_str(&format!(" (template line {l})"));
    }
    s
}

impl Templates {
    pub(crate) fn new() -> Self {
        let mut env = Environment::new();
        env.set_fuel(Some(TEMPLATE_FUEL));
        env.set_auto_escape_callback(|name| {
            if name == SSML_NAME {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        env.add_function("attr", attr);
        Templates { env }
    }

    /// Check a template's syntax.
    pub(crate) fn check(&self, src: &str) -> Result<(), String> {
        self.env
            .template_from_str(src)
            .map(|_| ())
            .map_err(|e| format!("template error: {}", describe(&e)))
    }

    /// Check an expression's syntax (`q + 1`).
    pub(crate) fn check_expr(&self, src: &str) -> Result<(), String> {
        self.env
            .compile_expression(src)
            .map(|_| ())
            .map_err(|e| format!("expression error: {}", describe(&e)))
    }

    /// Render a text template; a string without template syntax is returned as is.
    pub(crate) fn render(&self, src: &str, attrs: &Map<String, Value>) -> Result<String, String> {
        if !is_template(src) {
            return Ok(src.to_string());
        }
        self.env
            .render_str(src, attrs)
            .map_err(|e| format!("template error: {}", describe(&e)))
    }

    /// Render an SSML template: inserted values are XML-escaped.
    pub(crate) fn render_ssml(
        &self,
        src: &str,
        attrs: &Map<String, Value>,
    ) -> Result<String, String> {
        let t = self
            .env
            .template_from_named_str(SSML_NAME, src)
            .map_err(|e| format!("template error: {}", describe(&e)))?;
        t.render(attrs)
            .map_err(|e| format!("template error: {}", describe(&e)))
    }

    /// Evaluate an expression to a JSON value (undefined → `null`).
    pub(crate) fn eval(&self, src: &str, attrs: &Map<String, Value>) -> Result<Value, String> {
        let expr = self
            .env
            .compile_expression(src)
            .map_err(|e| format!("expression error: {}", describe(&e)))?;
        let v = expr
            .eval(attrs)
            .map_err(|e| format!("expression error: {}", describe(&e)))?;
        if v.is_undefined() {
            return Ok(Value::Null);
        }
        serde_json::to_value(&v).map_err(|e| format!("expression value: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attrs() -> Map<String, Value> {
        match json!({"name": "AT&T", "q": 2, "question_2": "Are you well?"}) {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn renders_escapes_and_evaluates() {
        let t = Templates::new();
        let a = attrs();
        assert_eq!(t.render("Hi {{ name }}", &a).unwrap(), "Hi AT&T");
        assert_eq!(
            t.render_ssml("<speak>Hi {{ name }}</speak>", &a).unwrap(),
            "<speak>Hi AT&amp;T</speak>"
        );
        assert_eq!(
            t.render("{{ attr('question_' ~ q) }}", &a).unwrap(),
            "Are you well?"
        );
        assert_eq!(t.render("[{{ missing }}]", &a).unwrap(), "[]");
        assert_eq!(t.eval("q + 1", &a).unwrap(), json!(3));
        assert_eq!(t.eval("missing", &a).unwrap(), Value::Null);
        assert_eq!(t.render("no template {", &a).unwrap(), "no template {");
        let e = t.check("Hi {{ name").unwrap_err();
        assert!(e.starts_with("template error: syntax error"), "{e}");
        assert!(t.check_expr("q +").is_err());
    }

    #[test]
    fn fuel_stops_long_templates() {
        let t = Templates::new();
        let e = t
            .render(
                "{% for i in range(100000) %}{% for j in range(100) %}x{% endfor %}{% endfor %}",
                &attrs(),
            )
            .unwrap_err();
        assert!(e.contains("fuel"), "{e}");
    }
}
