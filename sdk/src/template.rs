//! Matching a URI against an RFC 6570 level-1 template such as `docs://{team}/{page}`.
//!
//! The rule (the host uses the same): literal text matches itself exactly, and each `{name}`
//! matches one non-empty run of characters without `/`. Values are handed over as they appear in
//! the URI (not percent-decoded).

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
    matches_from(&parts, uri, &mut values)
        .then(|| values.into_iter().map(|(name, value)| (name.to_owned(), value.to_owned())).collect())
}

fn matches_from<'t, 'u>(parts: &[Part<'t>], uri: &'u str, values: &mut Vec<(&'t str, &'u str)>) -> bool {
    match parts.split_first() {
        None => uri.is_empty(),
        Some((Part::Literal(literal), rest)) => {
            uri.strip_prefix(literal).is_some_and(|tail| matches_from(rest, tail, values))
        }
        Some((Part::Variable(name), rest)) => {
            let run = uri.find('/').unwrap_or(uri.len());
            // Longest first, like a greedy `([^/]+)`; back off one character at a time.
            let ends: Vec<usize> = uri[..run].char_indices().map(|(i, c)| i + c.len_utf8()).collect();
            for &end in ends.iter().rev() {
                values.push((name, &uri[..end]));
                if matches_from(rest, &uri[end..], values) {
                    return true;
                }
                values.pop();
            }
            false
        }
    }
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
        assert_eq!(vars("x://fixed", "x://fixed"), Some(vec![]));
        assert_eq!(vars("x://fixed", "x://other"), None);
    }
}
