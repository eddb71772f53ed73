//! Matching a URI against an RFC 6570 level-1 template such as `docs://{team}/{page}`.
//!
//! The rule (the host uses the same): literal text matches itself exactly, and each `{name}`
//! matches one non-empty run of characters without `/`, `?` or `#`, ending where the next literal
//! first appears. Values are handed over as they appear in the URI (not percent-decoded).

enum Part<'t> {
    Literal(&'t str),
    Variable(&'t str),
}

fn parse(template: &str) -> Vec<Part<'_>> {
    let mut parts = Vec::new();
    let mut rest = template;
    while !rest.is_empty() {
        let variable = rest.find('{').and_then(|open| Some((open, open + rest[open..].find('}')?)));
        match variable {
            Some((open, close)) => {
                if open > 0 {
                    parts.push(Part::Literal(&rest[..open]));
                }
                parts.push(Part::Variable(&rest[open + 1..close]));
                rest = &rest[close + 1..];
            }
            None => {
                parts.push(Part::Literal(rest));
                rest = "";
            }
        }
    }
    parts
}

/// The template's variables, in order, if `uri` matches `template`.
pub(crate) fn matches(template: &str, uri: &str) -> Option<Vec<(String, String)>> {
    let parts = parse(template);
    let mut values = Vec::new();
    let mut rest = uri;
    let mut parts = parts.iter().peekable();
    while let Some(part) = parts.next() {
        match part {
            Part::Literal(literal) => rest = rest.strip_prefix(literal)?,
            Part::Variable(name) => {
                let stop = rest.find(['/', '?', '#']).unwrap_or(rest.len());
                // The value ends where the next literal starts, within one segment.
                let end = match parts.peek() {
                    Some(Part::Literal(next)) => rest[..stop].find(next).unwrap_or(stop),
                    _ => stop,
                };
                if end == 0 {
                    return None;
                }
                values.push(((*name).to_owned(), rest[..end].to_owned()));
                rest = &rest[end..];
            }
        }
    }
    rest.is_empty().then_some(values)
}

#[cfg(test)]
mod tests {
    use super::matches;

    fn vars(template: &str, uri: &str) -> Option<Vec<(String, String)>> {
        matches(template, uri)
    }

    #[test]
    fn variables_match_one_non_empty_segment() {
        assert_eq!(
            vars("test://template/{id}/data", "test://template/123/data"),
            Some(vec![("id".into(), "123".into())])
        );
        assert_eq!(vars("test://template/{id}/data", "test://template//data"), None);
        assert_eq!(vars("test://template/{id}/data", "test://template/1/2/data"), None);
        assert_eq!(vars("test://template/{id}/data", "test://template/1/data/"), None);
        assert_eq!(
            vars("docs://{team}/{page}", "docs://core/intro"),
            Some(vec![("team".into(), "core".into()), ("page".into(), "intro".into())])
        );
        assert_eq!(vars("x://{name}.json", "x://a.b.json"), Some(vec![("name".into(), "a.b".into())]));
        assert_eq!(
            vars("x://{a}.{b}", "x://1.2.3"),
            Some(vec![("a".into(), "1".into()), ("b".into(), "2.3".into())]),
            "as the host: the first occurrence of the next literal ends a value"
        );
        assert_eq!(vars("x://{a}", "x://1?q"), None);
        assert_eq!(vars("x://fixed", "x://fixed"), Some(vec![]));
        assert_eq!(vars("x://fixed", "x://other"), None);
    }
}
