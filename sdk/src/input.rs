//! Input requests (elicitation, sampling, roots) and checking the client's answers.

use serde_json::Value;

use crate::bindings::warden::plugin::types;
use crate::context::Root;
use crate::error::ToolError;

/// What an answer from the client amounts to.
pub(crate) enum Answer<T> {
    /// Usable.
    Valid(T),
    /// Malformed, or not what was asked for: ask again.
    Invalid,
    /// The user said no (declined or cancelled).
    Refused(ToolError),
}

pub(crate) fn elicitation_request(message: &str, schema: &Value) -> types::InputRequest {
    types::InputRequest::Elicitation(types::Elicitation {
        message: message.to_owned(),
        requested_schema: schema.to_string(),
    })
}

pub(crate) fn sampling_request(prompt: &str, max_tokens: u32) -> types::InputRequest {
    types::InputRequest::Sampling(types::Sampling {
        messages: vec![types::SamplingMessage {
            role: types::Role::User,
            content: types::Content::Text(prompt.to_owned()),
        }],
        system_prompt: None,
        max_tokens,
    })
}

/// Reads an `ElicitResult`: `{action: accept|decline|cancel, content?}`.
pub(crate) fn elicitation_answer(key: &str, answer: &Value, schema: &Value) -> Answer<Value> {
    match answer.get("action").and_then(Value::as_str) {
        Some("accept") => {
            let content = answer.get("content").cloned().unwrap_or_else(|| Value::Object(Default::default()));
            if conforms(schema, &content) { Answer::Valid(content) } else { Answer::Invalid }
        }
        Some("decline") => {
            Answer::Refused(ToolError::Failed(format!("the user declined the request {key:?}")))
        }
        Some("cancel") => {
            Answer::Refused(ToolError::Failed(format!("the user cancelled the request {key:?}")))
        }
        _ => Answer::Invalid,
    }
}

/// Reads a `CreateMessageResult`: its text content (one block or a list of blocks).
pub(crate) fn sampling_answer(key: &str, answer: &Value) -> Answer<String> {
    let Some(content) = answer.get("content") else {
        return Answer::Invalid;
    };
    let blocks = match content {
        Value::Array(blocks) => blocks.iter().collect::<Vec<_>>(),
        Value::Object(_) => vec![content],
        _ => return Answer::Invalid,
    };
    let texts: Vec<&str> = blocks
        .iter()
        .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
        .filter_map(|b| b.get("text").and_then(Value::as_str))
        .collect();
    if texts.is_empty() {
        // Well-formed blocks without text (an image, say) are an answer, just not a usable one.
        let well_formed =
            !blocks.is_empty() && blocks.iter().all(|b| b.get("type").and_then(Value::as_str).is_some());
        return if well_formed {
            Answer::Refused(ToolError::Failed(format!("the model's answer to {key:?} holds no text")))
        } else {
            Answer::Invalid
        };
    }
    Answer::Valid(texts.join("\n"))
}

/// Reads a `ListRootsResult`: `{roots: [{uri, name?}]}`.
pub(crate) fn roots_answer(answer: &Value) -> Option<Vec<Root>> {
    answer
        .get("roots")?
        .as_array()?
        .iter()
        .map(|r| {
            Some(Root {
                uri: r.get("uri")?.as_str()?.to_owned(),
                name: r.get("name").and_then(Value::as_str).map(str::to_owned),
            })
        })
        .collect()
}

/// A light check of an elicitation answer against its (flat, object) schema: the content is an
/// object, every required property is there, and each known property has the declared
/// primitive type (and is one of its `enum` values, if listed).
pub(crate) fn conforms(schema: &Value, content: &Value) -> bool {
    let Some(object) = content.as_object() else {
        return false;
    };
    let required = schema.get("required").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    for name in required.iter().filter_map(Value::as_str) {
        if object.get(name).is_none_or(Value::is_null) {
            return false;
        }
    }
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return true;
    };
    properties.iter().all(|(name, property)| match object.get(name) {
        None => true,
        Some(value) => value_conforms(property, value),
    })
}

fn value_conforms(property: &Value, value: &Value) -> bool {
    let typed = match property.get("type").and_then(Value::as_str) {
        Some("string") => value.is_string(),
        Some("number") => value.is_number(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("boolean") => value.is_boolean(),
        Some("array") => value.is_array(),
        Some("null") => value.is_null(),
        _ => true,
    };
    let listed = match property.get("enum").and_then(Value::as_array) {
        Some(options) => options.contains(value),
        None => true,
    };
    typed && listed
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn name_schema() -> Value {
        json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]})
    }

    #[test]
    fn accepted_answers_are_checked_against_the_schema() {
        let schema = name_schema();
        let ok = json!({"action": "accept", "content": {"name": "Ada"}});
        assert!(
            matches!(elicitation_answer("k", &ok, &schema), Answer::Valid(c) if c == json!({"name": "Ada"}))
        );
        for bad in [
            json!(12345),
            json!(null),
            json!({"action": "accept", "content": {"name": 12345}}),
            json!({"action": "accept", "content": {"name": null}}),
            json!({"action": "accept"}),
            json!({"action": "maybe"}),
        ] {
            assert!(matches!(elicitation_answer("k", &bad, &schema), Answer::Invalid), "{bad}");
        }
        let declined = json!({"action": "decline"});
        assert!(matches!(elicitation_answer("k", &declined, &schema), Answer::Refused(_)));
    }

    #[test]
    fn sampling_and_roots_answers() {
        let one = json!({"role": "assistant", "content": {"type": "text", "text": "Paris"}, "model": "m"});
        assert!(matches!(sampling_answer("k", &one), Answer::Valid(t) if t == "Paris"));
        let many = json!({"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]});
        assert!(matches!(sampling_answer("k", &many), Answer::Valid(t) if t == "a\nb"));
        assert!(matches!(sampling_answer("k", &json!(7)), Answer::Invalid));
        let roots = json!({"roots": [{"uri": "file:///test/root", "name": "Test Root"}]});
        assert_eq!(
            roots_answer(&roots),
            Some(vec![Root { uri: "file:///test/root".into(), name: Some("Test Root".into()) }])
        );
        assert_eq!(roots_answer(&json!({"roots": [{}]})), None);
    }
}
