//! Attribute comparisons of `condition` and `loop` blocks.
//!
//! A condition is a comparison `{"attribute": NAME, "op": OP, "value": V}` or a combination
//! `{"all": [...]}`, `{"any": [...]}`, `{"not": {...}}` (at most
//! [`MAX_CONDITION_DEPTH`] deep). `attribute` may be a template (`question_{{ q }}`); a string
//! `value` is a template too.
//!
//! Comparison rules:
//! - **Numbers**: when both sides are numeric — a JSON number, or a string that is a decimal
//!   number (`"42"`, `"-1.5"`, `"1e3"`; not `"inf"` or `"nan"`) — they compare as numbers
//!   (`"10" gt 9` holds, `"10.0" eq 10` holds).
//! - **Otherwise strings**: each side's text (a string as is; `true`, `false`, numbers and
//!   other JSON as their JSON text) compares byte by byte, case-sensitively; so ISO dates and
//!   `HH:MM` times order correctly.
//! - A **missing** attribute (or `null`): `exists` is false, `ne` holds when `value` is not
//!   null, `eq` holds only when `value` is null, every other op is false.
//! - `exists` takes no value, or a boolean: `{"op": "exists", "value": false}` holds when the
//!   attribute is missing or null.
//! - `contains`: a string attribute contains the value's text; an array attribute has an
//!   element equal to the value (by `eq`); an object attribute has the value as a key.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use crate::error::FieldError;
use crate::limits::MAX_CONDITION_DEPTH;
use crate::template::{is_template, Templates};

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Equal.
    Eq,
    /// Not equal.
    Ne,
    /// Less than.
    Lt,
    /// Less than or equal.
    Le,
    /// Greater than.
    Gt,
    /// Greater than or equal.
    Ge,
    /// Substring, array element or object key.
    Contains,
    /// The attribute is set and not null.
    Exists,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "lt" => Op::Lt,
            "le" => Op::Le,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "contains" => Op::Contains,
            "exists" => Op::Exists,
            _ => return None,
        })
    }
}

/// A parsed condition.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// `{"attribute", "op", "value"}`.
    Compare {
        /// The attribute's name (or a template giving it).
        attribute: String,
        /// The operator.
        op: Op,
        /// The value compared with (absent for `exists`).
        value: Option<Value>,
    },
    /// Every condition holds (`all`).
    All(Vec<Condition>),
    /// At least one holds (`any`).
    Any(Vec<Condition>),
    /// The condition does not hold (`not`).
    Not(Box<Condition>),
}

impl Condition {
    /// Parse and check a condition; `field` is its path, used in errors. Templates are
    /// syntax-checked with `templates`.
    pub(crate) fn parse(
        v: &Value,
        field: &str,
        templates: &Templates,
    ) -> Result<Condition, FieldError> {
        Self::parse_depth(v, field, templates, 1)
    }

    fn parse_depth(
        v: &Value,
        field: &str,
        templates: &Templates,
        depth: usize,
    ) -> Result<Condition, FieldError> {
        if depth > MAX_CONDITION_DEPTH {
            return Err(FieldError::new(
                field,
                format!("conditions nest at most {MAX_CONDITION_DEPTH} deep"),
            ));
        }
        let o = v
            .as_object()
            .ok_or_else(|| FieldError::new(field, "must be an object"))?;
        let combos = ["all", "any", "not"]
            .iter()
            .filter(|k| o.contains_key(**k))
            .count();
        let compare =
            o.contains_key("attribute") || o.contains_key("op") || o.contains_key("value");
        if combos + usize::from(compare) != 1 {
            return Err(FieldError::new(
                field,
                "must be one comparison {attribute, op, value} or one of all, any, not",
            ));
        }
        let list = |key: &str| -> Result<Vec<Condition>, FieldError> {
            let f = format!("{field}.{key}");
            let items = o[key]
                .as_array()
                .filter(|a| !a.is_empty())
                .ok_or_else(|| FieldError::new(&f, "must be a non-empty list of conditions"))?;
            items
                .iter()
                .enumerate()
                .map(|(i, c)| Self::parse_depth(c, &format!("{f}[{i}]"), templates, depth + 1))
                .collect()
        };
        if o.contains_key("all") {
            return Ok(Condition::All(list("all")?));
        }
        if o.contains_key("any") {
            return Ok(Condition::Any(list("any")?));
        }
        if let Some(n) = o.get("not") {
            let c = Self::parse_depth(n, &format!("{field}.not"), templates, depth + 1)?;
            return Ok(Condition::Not(Box::new(c)));
        }
        let attribute = o
            .get("attribute")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| FieldError::new(format!("{field}.attribute"), "is required"))?;
        if is_template(attribute) {
            templates
                .check(attribute)
                .map_err(|e| FieldError::new(format!("{field}.attribute"), e))?;
        } else if !crate::flow::valid_attribute_name(attribute) {
            return Err(FieldError::new(
                format!("{field}.attribute"),
                crate::flow::ATTRIBUTE_NAME_RULE,
            ));
        }
        let op_s = o
            .get("op")
            .and_then(Value::as_str)
            .ok_or_else(|| FieldError::new(format!("{field}.op"), "is required"))?;
        let op = Op::parse(op_s).ok_or_else(|| {
            FieldError::new(
                format!("{field}.op"),
                format!("unknown operator {op_s:?} (eq, ne, lt, le, gt, ge, contains, exists)"),
            )
        })?;
        let value = o.get("value").cloned();
        match (&op, &value) {
            (Op::Exists, Some(v)) if !v.is_boolean() => {
                return Err(FieldError::new(
                    format!("{field}.value"),
                    "exists takes no value, or true/false",
                ))
            }
            (Op::Exists, _) => {}
            (_, None) => {
                return Err(FieldError::new(
                    format!("{field}.value"),
                    format!("is required for {op_s}"),
                ))
            }
            (_, Some(Value::String(s))) if is_template(s) => {
                templates
                    .check(s)
                    .map_err(|e| FieldError::new(format!("{field}.value"), e))?;
            }
            _ => {}
        }
        Ok(Condition::Compare {
            attribute: attribute.to_string(),
            op,
            value,
        })
    }

    /// Whether the condition holds for these attributes (a template that fails to render is an
    /// error).
    pub(crate) fn eval(
        &self,
        attrs: &Map<String, Value>,
        templates: &Templates,
    ) -> Result<bool, String> {
        match self {
            Condition::All(cs) => {
                for c in cs {
                    if !c.eval(attrs, templates)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Condition::Any(cs) => {
                for c in cs {
                    if c.eval(attrs, templates)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Condition::Not(c) => Ok(!c.eval(attrs, templates)?),
            Condition::Compare {
                attribute,
                op,
                value,
            } => {
                let name = templates.render(attribute, attrs)?;
                let left = attrs.get(name.trim()).filter(|v| !v.is_null());
                let right = match value {
                    Some(Value::String(s)) => Some(Value::String(templates.render(s, attrs)?)),
                    other => other.clone(),
                };
                Ok(compare(left, *op, right.as_ref()))
            }
        }
    }
}

/// A number, if the value is numeric (see the module docs).
fn numeric(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => {
            let t = s.trim();
            let ok = !t.is_empty()
                && t.chars()
                    .all(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'))
                && t.chars().any(|c| c.is_ascii_digit());
            if ok {
                t.parse::<f64>().ok().filter(|f| f.is_finite())
            } else {
                None
            }
        }
        _ => None,
    }
}

/// A value's text for string comparison.
pub(crate) fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn order(a: &Value, b: &Value) -> Ordering {
    match (numeric(a), numeric(b)) {
        (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        _ => text(a).cmp(&text(b)),
    }
}

/// Apply `op` to the attribute's value (`None` when missing or null) and the value.
pub(crate) fn compare(left: Option<&Value>, op: Op, right: Option<&Value>) -> bool {
    let right_null = right.is_none_or(Value::is_null);
    let Some(l) = left else {
        return match op {
            Op::Exists => right == Some(&Value::Bool(false)),
            Op::Ne => !right_null,
            Op::Eq => right_null,
            _ => false,
        };
    };
    if op == Op::Exists {
        return right != Some(&Value::Bool(false));
    }
    let Some(r) = right.filter(|r| !r.is_null()) else {
        return op == Op::Ne;
    };
    match op {
        Op::Eq => order(l, r) == Ordering::Equal,
        Op::Ne => order(l, r) != Ordering::Equal,
        Op::Lt => order(l, r) == Ordering::Less,
        Op::Le => order(l, r) != Ordering::Greater,
        Op::Gt => order(l, r) == Ordering::Greater,
        Op::Ge => order(l, r) != Ordering::Less,
        Op::Contains => match l {
            Value::Array(items) => items.iter().any(|i| order(i, r) == Ordering::Equal),
            Value::Object(m) => m.contains_key(&text(r)),
            other => text(other).contains(&text(r)),
        },
        Op::Exists => unreachable!("handled above"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn operator_table() {
        // (attribute value, op, value, expected)
        let rows: Vec<(Option<Value>, Op, Option<Value>, bool)> = vec![
            (Some(json!(5)), Op::Eq, Some(json!("5")), true),
            (Some(json!("10")), Op::Gt, Some(json!(9)), true),
            (Some(json!("10")), Op::Gt, Some(json!("9")), true), // numeric, not "10" < "9"
            (Some(json!("10.0")), Op::Eq, Some(json!(10)), true),
            (Some(json!("abc")), Op::Lt, Some(json!("abd")), true),
            (Some(json!("Abc")), Op::Eq, Some(json!("abc")), false),
            (
                Some(json!("2024-06-03")),
                Op::Lt,
                Some(json!("2024-11-01")),
                true,
            ),
            (Some(json!("09:30")), Op::Ge, Some(json!("09:30")), true),
            (Some(json!(true)), Op::Eq, Some(json!("true")), true),
            (Some(json!(true)), Op::Ne, Some(json!(false)), true),
            (Some(json!(3)), Op::Le, Some(json!(3)), true),
            (Some(json!(3)), Op::Lt, Some(json!(3)), false),
            (Some(json!(-1.5)), Op::Lt, Some(json!("-1")), true),
            (Some(json!("inf")), Op::Gt, Some(json!(5)), true), // "inf" is text: "i" > "5"
            (Some(json!("nan")), Op::Eq, Some(json!("nan")), true),
            (
                Some(json!("high risk")),
                Op::Contains,
                Some(json!("risk")),
                true,
            ),
            (Some(json!(["a", 2])), Op::Contains, Some(json!("2")), true),
            (Some(json!(["a", 2])), Op::Contains, Some(json!("b")), false),
            (Some(json!({"k": 1})), Op::Contains, Some(json!("k")), true),
            (Some(json!(1)), Op::Exists, None, true),
            (Some(json!(1)), Op::Exists, Some(json!(false)), false),
            (None, Op::Exists, None, false),
            (None, Op::Exists, Some(json!(false)), true),
            (None, Op::Eq, Some(json!(1)), false),
            (None, Op::Ne, Some(json!(1)), true),
            (None, Op::Eq, Some(Value::Null), true),
            (None, Op::Lt, Some(json!(1)), false),
            (None, Op::Contains, Some(json!("x")), false),
            (Some(json!(1)), Op::Ne, Some(Value::Null), true),
            (Some(json!(1)), Op::Eq, Some(Value::Null), false),
        ];
        for (i, (l, op, r, want)) in rows.iter().enumerate() {
            assert_eq!(
                compare(l.as_ref(), *op, r.as_ref()),
                *want,
                "row {i}: {l:?} {op:?} {r:?}"
            );
        }
    }

    #[test]
    fn parse_and_eval_with_templates() {
        let t = Templates::new();
        let c = Condition::parse(
            &json!({"all": [
                {"attribute": "question_{{ q }}", "op": "exists"},
                {"not": {"attribute": "risk", "op": "ge", "value": "{{ threshold }}"}}
            ]}),
            "when",
            &t,
        )
        .unwrap();
        let attrs = |v: Value| v.as_object().unwrap().clone();
        let a = attrs(json!({"q": 1, "question_1": "x", "risk": 0.2, "threshold": "0.5"}));
        assert!(c.eval(&a, &t).unwrap());
        let a = attrs(json!({"q": 2, "question_1": "x", "risk": 0.2, "threshold": "0.5"}));
        assert!(!c.eval(&a, &t).unwrap());
        let a = attrs(json!({"q": 1, "question_1": "x", "risk": 0.7, "threshold": "0.5"}));
        assert!(!c.eval(&a, &t).unwrap());
    }

    #[test]
    fn parse_errors_name_the_field() {
        let t = Templates::new();
        for (v, field, has) in [
            (
                json!({"attribute": "a", "op": "like", "value": 1}),
                "w.op",
                "unknown operator",
            ),
            (
                json!({"attribute": "a", "op": "eq"}),
                "w.value",
                "required for eq",
            ),
            (json!({"op": "eq", "value": 1}), "w.attribute", "required"),
            (
                json!({"attribute": "1a", "op": "exists"}),
                "w.attribute",
                "letter",
            ),
            (
                json!({"attribute": "a", "op": "exists", "value": 3}),
                "w.value",
                "true/false",
            ),
            (json!({"all": []}), "w.all", "non-empty"),
            (
                json!({"all": [{"attribute": "a", "op": "x", "value": 1}]}),
                "w.all[0].op",
                "unknown",
            ),
            (json!({"any": [1], "attribute": "a"}), "w", "one comparison"),
            (
                json!({"attribute": "{{ a", "op": "exists"}),
                "w.attribute",
                "template error",
            ),
        ] {
            let e = Condition::parse(&v, "w", &t).unwrap_err();
            assert_eq!(e.field, field, "{v}");
            assert!(e.message.contains(has), "{v}: {}", e.message);
        }
        let mut deep = json!({"attribute": "a", "op": "exists"});
        for _ in 0..MAX_CONDITION_DEPTH {
            deep = json!({ "not": deep });
        }
        let e = Condition::parse(&deep, "w", &t).unwrap_err();
        assert!(e.message.contains("nest"), "{}", e.message);
    }
}
