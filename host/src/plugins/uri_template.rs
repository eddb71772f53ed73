//! Resource URI templates: RFC 6570 level 1 (`docs://{team}/{page}`), where each `{name}` matches
//! one non-empty run of characters without `/`, `?` or `#`. The SDKs match the same way.

/// Why a URI template is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// It does not start with a scheme (`docs:`), or is too long, or holds spaces.
    #[error("{0:?} is not an absolute URI template such as \"docs://pages/{{id}}\"")]
    NotAbsolute(String),
    /// A `{` without its `}`, a `}` without its `{`, or nested braces.
    #[error("{0:?} has unbalanced braces")]
    Unbalanced(String),
    /// A variable name outside `[A-Za-z0-9_]`, or an operator (levels 2-4 are not supported).
    #[error("{0:?} has a variable that is not a plain name ([A-Za-z0-9_], no RFC 6570 operators)")]
    BadVariable(String),
    /// Two variables next to each other, which cannot be told apart.
    #[error("{0:?} has two variables with nothing between them")]
    Adjacent(String),
    /// No variable at all: list it under `[resources]` instead.
    #[error("{0:?} has no variable; list a fixed URI under [resources] instead")]
    NoVariable(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Variable(String),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriTemplate {
    text: String,
    parts: Vec<Part>,
}

impl UriTemplate {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<UriTemplate, TemplateError> {
        let scheme_ok = text.split_once(':').is_some_and(|(scheme, _)| {
            scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        });
        if !scheme_ok
            || text.len() > super::manifest::MAX_URI
            || text.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(TemplateError::NotAbsolute(text.to_owned()));
        }
        let mut parts = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            match rest.find(['{', '}']) {
                None => {
                    parts.push(Part::Literal(rest.to_owned()));
                    rest = "";
                }
                Some(i) if rest[i..].starts_with('}') => {
                    return Err(TemplateError::Unbalanced(text.to_owned()));
                }
                Some(i) => {
                    if i > 0 {
                        parts.push(Part::Literal(rest[..i].to_owned()));
                    }
                    let after = &rest[i + 1..];
                    let Some(end) = after.find('}') else {
                        return Err(TemplateError::Unbalanced(text.to_owned()));
                    };
                    let name = &after[..end];
                    if name.contains('{') {
                        return Err(TemplateError::Unbalanced(text.to_owned()));
                    }
                    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                        return Err(TemplateError::BadVariable(text.to_owned()));
                    }
                    if matches!(parts.last(), Some(Part::Variable(_))) {
                        return Err(TemplateError::Adjacent(text.to_owned()));
                    }
                    parts.push(Part::Variable(name.to_owned()));
                    rest = &after[end + 1..];
                }
            }
        }
        if !parts.iter().any(|p| matches!(p, Part::Variable(_))) {
            return Err(TemplateError::NoVariable(text.to_owned()));
        }
        Ok(UriTemplate { text: text.to_owned(), parts })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Length of the literal text before the first variable (longer prefixes are tried first).
    pub fn literal_prefix_len(&self) -> usize {
        match self.parts.first() {
            Some(Part::Literal(l)) => l.len(),
            _ => 0,
        }
    }

    /// The variables if `uri` matches, in template order.
    pub fn matches(&self, uri: &str) -> Option<Vec<(String, String)>> {
        let mut vars = Vec::new();
        let mut rest = uri;
        let mut parts = self.parts.iter().peekable();
        while let Some(part) = parts.next() {
            match part {
                Part::Literal(l) => rest = rest.strip_prefix(l.as_str())?,
                Part::Variable(name) => {
                    let stop = rest.find(['/', '?', '#']).unwrap_or(rest.len());
                    let end = match parts.peek() {
                        // The value ends where the next literal starts, within one segment.
                        Some(Part::Literal(next)) => rest[..stop].find(next.as_str()).unwrap_or(stop),
                        _ => stop,
                    };
                    if end == 0 {
                        return None;
                    }
                    vars.push((name.clone(), rest[..end].to_owned()));
                    rest = &rest[end..];
                }
            }
        }
        rest.is_empty().then_some(vars)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_one_templates_match_one_segment_per_variable() {
        let t = UriTemplate::parse("test://template/{id}/data").unwrap();
        assert_eq!(t.matches("test://template/123/data"), Some(vec![("id".into(), "123".into())]));
        assert_eq!(t.matches("test://template//data"), None);
        assert_eq!(t.matches("test://template/1/2/data"), None);
        assert_eq!(t.matches("test://template/123/data/more"), None);
        let two = UriTemplate::parse("docs://{team}/{page}.md").unwrap();
        assert_eq!(
            two.matches("docs://sales/intro.md"),
            Some(vec![("team".into(), "sales".into()), ("page".into(), "intro".into())])
        );
        assert_eq!(two.literal_prefix_len(), "docs://".len());
    }

    #[test]
    fn malformed_templates_are_refused() {
        for (text, expected) in [
            ("no-scheme/{x}", "absolute"),
            ("a://{x", "unbalanced"),
            ("a://x}", "unbalanced"),
            ("a://{+x}", "plain name"),
            ("a://{x}{y}", "nothing between"),
            ("a://fixed", "no variable"),
        ] {
            let err = UriTemplate::parse(text).unwrap_err().to_string();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }
}
