//! Property tests of the JSON-RPC guard (issue 16): no body makes it panic, and for every body
//! it passes on, rmcp (which parses the same bytes again) sees the same method and the same tool
//! name, so a scope or limit checked here is the one that applies to what runs. Spellings JSON
//! allows are generated on purpose: escaped keys, duplicate keys, escaped slashes, odd ids.

use proptest::prelude::*;
use rmcp::model::ClientJsonRpcMessage;

use super::{Inspection, inspect};

fn config() -> ProptestConfig {
    ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() }
}

/// A JSON string literal spelling `text`, maybe with some characters \u-escaped.
fn spelled(text: &'static str) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<bool>(), 16).prop_map(move |escape| {
        let mut out = String::from('"');
        for (c, e) in text.chars().zip(escape.iter().cycle()) {
            match c {
                '/' if *e => out.push_str("\\/"),
                c if *e && c.is_ascii_alphanumeric() => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    })
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![6 => Just("tools/call"), 4 => prop::sample::select(vec![
        "tools/call",
        "tools/list",
        "prompts/get",
        "resources/read",
        "completion/complete",
        "initialize",
        "notifications/initialized",
        "ping",
        "tools/CALL",
    ])]
    .prop_flat_map(spelled)
}

/// A `params.name` value: a plausible tool name, or something that is not a string.
fn name_value() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec!["sample.greet", "sample.whoami", "sql.run_query", "other.tool", ""])
            .prop_flat_map(spelled),
        Just("42".to_owned()),
        Just("null".to_owned()),
        Just("{\"name\":\"sample.greet\"}".to_owned()),
        Just("[\"sample.greet\"]".to_owned()),
    ]
}

/// A params object: zero to two `name` entries (in any spelling), maybe arguments, maybe more.
fn params() -> impl Strategy<Value = String> {
    let arguments = prop::sample::select(vec![
        "{}",
        "{\"who\":\"world\"}",
        "\"not an object\"",
        "[1,2]",
        "null",
        "{\"name\":\"sample.whoami\"}",
    ]);
    let extra = prop::sample::select(vec![
        "",
        "\"_meta\":{\"progressToken\":1}",
        "\"uri\":\"sample://x\"",
        "\"task\":{}",
    ]);
    (
        prop_oneof![
            7 => prop::collection::vec((spelled("name"), name_value()), 1..2),
            2 => prop::collection::vec((spelled("name"), name_value()), 2..3),
            1 => Just(Vec::new()),
        ],
        prop::option::of(arguments),
        extra,
        any::<bool>(),
    )
        .prop_map(|(names, arguments, extra, reverse)| {
            let mut entries: Vec<String> = names.into_iter().map(|(k, v)| format!("{k}:{v}")).collect();
            if let Some(a) = arguments {
                entries.push(format!("\"arguments\":{a}"));
            }
            if !extra.is_empty() {
                entries.push(extra.to_owned());
            }
            if reverse {
                entries.reverse();
            }
            format!("{{{}}}", entries.join(","))
        })
}

/// A body: one message with its members in any order, duplicates possible.
fn message() -> impl Strategy<Value = String> {
    let id = prop::sample::select(vec!["1", "\"abc\"", "null", "1.5", "{}", "-7"]);
    let version = prop_oneof![9 => spelled("2.0"), 1 => prop::sample::select(vec!["\"1.0\"", "2"]).prop_map(str::to_owned)];
    (
        prop::option::weighted(0.95, version),
        prop::option::weighted(0.9, id),
        prop_oneof![8 => prop::collection::vec(method(), 1..2), 2 => prop::collection::vec(method(), 2..3)],
        prop_oneof![8 => prop::collection::vec(params(), 1..2), 1 => Just(Vec::new()), 1 => prop::collection::vec(params(), 2..3)],
        any::<u64>(),
    )
        .prop_map(|(version, id, methods, params, shuffle)| {
            let mut entries = Vec::new();
            if let Some(v) = version {
                entries.push(format!("\"jsonrpc\":{v}"));
            }
            if let Some(id) = id {
                entries.push(format!("\"id\":{id}"));
            }
            entries.extend(methods.into_iter().map(|m| format!("\"method\":{m}")));
            entries.extend(params.into_iter().map(|p| format!("\"params\":{p}")));
            let n = entries.len();
            for i in 0..n {
                entries.swap(i, (shuffle.rotate_left(i as u32 * 7) as usize) % n);
            }
            format!("{{{}}}", entries.join(","))
        })
}

/// What rmcp makes of `body`: its method and `params.name`, or `None` if it refuses the body.
fn rmcp_view(body: &str) -> Option<(String, Option<serde_json::Value>)> {
    let parsed: ClientJsonRpcMessage = serde_json::from_str(body).ok()?;
    let value = serde_json::to_value(&parsed).ok()?;
    let method = value.get("method")?.as_str()?.to_owned();
    Some((method, value.pointer("/params/name").cloned()))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_guard_and_rmcp_agree_on_what_runs(body in message()) {
        match inspect(body.as_bytes()) {
            Inspection::Request { method, params, .. } => {
                if let Some((rmcp_method, rmcp_name)) = rmcp_view(&body) {
                    prop_assert_eq!(&rmcp_method, &method, "{}", body);
                    if method == "tools/call" {
                        let ours = params.as_ref().and_then(|p| p.get("name")).cloned();
                        prop_assert_eq!(rmcp_name, ours, "{}", body);
                    }
                }
            }
            Inspection::Malformed(_) => prop_assert!(rmcp_view(&body).is_none(), "rmcp reads {}", body),
            Inspection::NotAMessage(_) => {}
            Inspection::BadParams { method, .. } => {
                // Answered here; rmcp never sees it. Only the methods whose params are checked.
                prop_assert!(["tools/call", "resources/read", "prompts/get", "completion/complete", "tools/list", "prompts/list", "resources/list", "resources/templates/list"].contains(&method.as_str()));
            }
            Inspection::Other => {}
        }
    }

    #[test]
    fn no_body_makes_it_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = inspect(&bytes);
    }

    #[test]
    fn malformed_json_is_a_parse_error(body in message(), cut in 1..40usize) {
        let truncated = &body.as_bytes()[..body.len().saturating_sub(cut).max(1)];
        prop_assert!(matches!(inspect(truncated), Inspection::Malformed(_)));
    }
}
