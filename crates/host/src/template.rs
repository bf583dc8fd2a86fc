//! Spin's `{{ name }}` templates and variable-name rule: the pure part of
//! [`crate::variables`], kept apart so the manifest loader builds without the
//! runtime (feature `runtime` off, as the fuzz targets build it).

use std::collections::HashMap;

/// A string with `{{ variable }}` expressions (Spin's template syntax).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(String),
    Expr(String),
}

impl Template {
    /// Parses a template; an unterminated `{{` is an error, as in Spin.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("{{") {
                let Some((expr, tail)) = after.split_once("}}") else {
                    return Err("unmatched '{{' in template".to_owned());
                };
                parts.push(Part::Expr(expr.trim().to_owned()));
                rest = tail;
            } else if let Some(idx) = rest.find("{{") {
                parts.push(Part::Lit(rest[..idx].to_owned()));
                rest = &rest[idx..];
            } else {
                parts.push(Part::Lit(rest.to_owned()));
                rest = "";
            }
        }
        Ok(Self { parts })
    }

    /// True when the template has no expressions.
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Lit(_)))
    }

    /// The variable names the template refers to.
    pub fn variable_names(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Expr(e) => Some(e.as_str()),
            Part::Lit(_) => None,
        })
    }

    /// Substitutes resolved app variable values.
    pub fn render(&self, values: &HashMap<String, String>) -> Result<String, String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Lit(l) => out.push_str(l),
                Part::Expr(e) => match values.get(e) {
                    Some(v) => out.push_str(v),
                    None => return Err(format!("unknown variable {e:?}")),
                },
            }
        }
        Ok(out)
    }
}

/// Spin's variable name rule: lowercase ASCII letters, digits and single
/// underscores, starting with a letter and not ending with an underscore.
pub fn validate_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if let Some(c) = key
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        return Err(format!(
            "invalid character {c:?}. Variable names may contain only lower-case letters, numbers, and underscores."
        ));
    }
    if !key.bytes().next().is_some_and(|b| b.is_ascii_lowercase()) {
        return Err("must start with a lowercase ASCII letter".to_owned());
    }
    if !key
        .bytes()
        .last()
        .is_some_and(|b| b.is_ascii_alphanumeric())
    {
        return Err("must end with a lowercase ASCII letter or digit".to_owned());
    }
    if key.contains("__") {
        return Err("must not contain multiple consecutive underscores".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse_and_render() {
        let t = Template::parse("a-{{ x }}-{{y}}{{ z }}").expect("parse");
        assert_eq!(t.variable_names().collect::<Vec<_>>(), ["x", "y", "z"]);
        let values: HashMap<String, String> = [("x", "1"), ("y", "2"), ("z", "3")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(t.render(&values).as_deref(), Ok("a-1-23"));
        assert!(Template::parse("plain").expect("parse").is_literal());
        assert!(Template::parse("{{ open").is_err());
        assert_eq!(
            Template::parse("")
                .expect("parse")
                .render(&values)
                .as_deref(),
            Ok("")
        );
    }

    #[test]
    fn keys_follow_spin_rules() {
        for good in ["a", "abc", "a1b2c3", "a_1", "a_1_b_3"] {
            assert!(validate_key(good).is_ok(), "{good}");
        }
        for bad in ["", "aX", "1bc", "_x", "x.y", "x_", "a__b", "x-y"] {
            assert!(validate_key(bad).is_err(), "{bad}");
        }
    }
}
