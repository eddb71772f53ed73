//! What handlers return: content blocks, tool results, resource bodies and prompt messages.

use crate::bindings::warden::plugin::types;

/// What a resource holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceBody {
    /// UTF-8 text.
    Text(String),
    /// Binary data (base64 on the wire).
    Blob(Vec<u8>),
}

impl ResourceBody {
    /// A text body.
    pub fn text(text: impl Into<String>) -> Self {
        ResourceBody::Text(text.into())
    }

    /// A binary body.
    pub fn blob(data: impl Into<Vec<u8>>) -> Self {
        ResourceBody::Blob(data.into())
    }
}

impl From<String> for ResourceBody {
    fn from(text: String) -> Self {
        ResourceBody::Text(text)
    }
}

impl From<&str> for ResourceBody {
    fn from(text: &str) -> Self {
        ResourceBody::Text(text.to_owned())
    }
}

impl From<Vec<u8>> for ResourceBody {
    fn from(data: Vec<u8>) -> Self {
        ResourceBody::Blob(data)
    }
}

/// A resource embedded in full in a tool result or prompt message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedResource {
    /// The resource's URI.
    pub uri: String,
    /// Its media type, if known.
    pub mime_type: Option<String>,
    /// Text or bytes.
    pub body: ResourceBody,
}

/// A pointer to a resource the client may read later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceLink {
    /// The resource's URI.
    pub uri: String,
    /// A short name.
    pub name: String,
    /// Human-readable title.
    pub title: Option<String>,
    /// What it is.
    pub description: Option<String>,
    /// Its media type, if known.
    pub mime_type: Option<String>,
}

impl ResourceLink {
    /// A link with just a URI and a name; set the other fields directly.
    pub fn new(uri: impl Into<String>, name: impl Into<String>) -> Self {
        ResourceLink { uri: uri.into(), name: name.into(), title: None, description: None, mime_type: None }
    }
}

/// One content block of a tool result or prompt message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// Text.
    Text(String),
    /// An image: raw bytes (the host base64-encodes them) and a media type such as `image/png`.
    Image {
        /// The raw bytes.
        data: Vec<u8>,
        /// E.g. `image/png`.
        mime_type: String,
    },
    /// Audio: raw bytes and a media type such as `audio/wav`.
    Audio {
        /// The raw bytes.
        data: Vec<u8>,
        /// E.g. `audio/wav`.
        mime_type: String,
    },
    /// A link to a resource.
    ResourceLink(ResourceLink),
    /// A resource embedded in full.
    Resource(EmbeddedResource),
}

impl Content {
    /// A text block.
    pub fn text(text: impl Into<String>) -> Self {
        Content::Text(text.into())
    }

    /// An image block.
    pub fn image(data: impl Into<Vec<u8>>, mime_type: impl Into<String>) -> Self {
        Content::Image { data: data.into(), mime_type: mime_type.into() }
    }

    /// An audio block.
    pub fn audio(data: impl Into<Vec<u8>>, mime_type: impl Into<String>) -> Self {
        Content::Audio { data: data.into(), mime_type: mime_type.into() }
    }

    /// A link to a resource (see [`ResourceLink`] for the optional fields).
    pub fn resource_link(uri: impl Into<String>, name: impl Into<String>) -> Self {
        Content::ResourceLink(ResourceLink::new(uri, name))
    }

    /// An embedded text resource.
    pub fn embedded_text(
        uri: impl Into<String>,
        mime_type: impl Into<String>,
        text: impl Into<String>,
    ) -> Self {
        Content::Resource(EmbeddedResource {
            uri: uri.into(),
            mime_type: Some(mime_type.into()),
            body: ResourceBody::Text(text.into()),
        })
    }

    /// An embedded binary resource.
    pub fn embedded_blob(
        uri: impl Into<String>,
        mime_type: impl Into<String>,
        data: impl Into<Vec<u8>>,
    ) -> Self {
        Content::Resource(EmbeddedResource {
            uri: uri.into(),
            mime_type: Some(mime_type.into()),
            body: ResourceBody::Blob(data.into()),
        })
    }
}

impl From<String> for Content {
    fn from(text: String) -> Self {
        Content::Text(text)
    }
}

impl From<&str> for Content {
    fn from(text: &str) -> Self {
        Content::Text(text.to_owned())
    }
}

impl From<ResourceLink> for Content {
    fn from(link: ResourceLink) -> Self {
        Content::ResourceLink(link)
    }
}

impl From<EmbeddedResource> for Content {
    fn from(resource: EmbeddedResource) -> Self {
        Content::Resource(resource)
    }
}

/// A tool result with full control over its content: any mix of blocks, optional structured
/// content, and the `isError` flag. Return it from a tool registered with
/// [`crate::Tools::tool_with_content`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolResult {
    /// Content blocks, in order.
    pub content: Vec<Content>,
    /// Structured content (any JSON value), if any.
    pub structured: Option<serde_json::Value>,
    /// True if this is a tool error the model should see (MCP `isError`).
    pub is_error: bool,
}

impl ToolResult {
    /// An empty result; add blocks with [`ToolResult::with`].
    pub fn new() -> Self {
        ToolResult::default()
    }

    /// A result of one text block.
    pub fn text(text: impl Into<String>) -> Self {
        ToolResult::new().with(Content::text(text))
    }

    /// A tool error the model sees (`isError: true`) with `message` as its text.
    pub fn error(message: impl Into<String>) -> Self {
        ToolResult::text(message).marked_as_error()
    }

    /// Structured content, with its JSON text as a text block for clients that do not read
    /// structured content.
    pub fn structured(value: serde_json::Value) -> Self {
        ToolResult {
            content: vec![Content::Text(value.to_string())],
            structured: Some(value),
            is_error: false,
        }
    }

    /// Adds a content block.
    pub fn with(mut self, content: impl Into<Content>) -> Self {
        self.content.push(content.into());
        self
    }

    /// Sets the structured content (and adds no text block).
    pub fn with_structured(mut self, value: serde_json::Value) -> Self {
        self.structured = Some(value);
        self
    }

    /// Marks the result as a tool error (`isError: true`).
    pub fn marked_as_error(mut self) -> Self {
        self.is_error = true;
        self
    }
}

impl From<Vec<Content>> for ToolResult {
    fn from(content: Vec<Content>) -> Self {
        ToolResult { content, structured: None, is_error: false }
    }
}

impl From<Content> for ToolResult {
    fn from(content: Content) -> Self {
        ToolResult::from(vec![content])
    }
}

/// Who a prompt message is from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The user.
    User,
    /// The assistant (the model).
    Assistant,
}

/// One message of a rendered prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptMessage {
    /// Who says it.
    pub role: Role,
    /// What is said.
    pub content: Content,
}

impl PromptMessage {
    /// A message from the user.
    pub fn user(content: impl Into<Content>) -> Self {
        PromptMessage { role: Role::User, content: content.into() }
    }

    /// A message from the assistant.
    pub fn assistant(content: impl Into<Content>) -> Self {
        PromptMessage { role: Role::Assistant, content: content.into() }
    }
}

/// A rendered prompt: its messages and, optionally, a description.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PromptResult {
    /// What the prompt is for, if it says.
    pub description: Option<String>,
    /// The messages.
    pub messages: Vec<PromptMessage>,
}

impl PromptResult {
    /// A prompt of these messages.
    pub fn new(messages: Vec<PromptMessage>) -> Self {
        PromptResult { description: None, messages }
    }

    /// Sets the description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }
}

impl From<Vec<PromptMessage>> for PromptResult {
    fn from(messages: Vec<PromptMessage>) -> Self {
        PromptResult::new(messages)
    }
}

impl From<ResourceBody> for types::ResourceBody {
    fn from(body: ResourceBody) -> Self {
        match body {
            ResourceBody::Text(t) => types::ResourceBody::Text(t),
            ResourceBody::Blob(b) => types::ResourceBody::Blob(b),
        }
    }
}

impl From<EmbeddedResource> for types::ResourceContents {
    fn from(r: EmbeddedResource) -> Self {
        types::ResourceContents { uri: r.uri, mime_type: r.mime_type, body: r.body.into() }
    }
}

impl From<Content> for types::Content {
    fn from(content: Content) -> Self {
        match content {
            Content::Text(t) => types::Content::Text(t),
            Content::Image { data, mime_type } => types::Content::Image(types::Media { data, mime_type }),
            Content::Audio { data, mime_type } => types::Content::Audio(types::Media { data, mime_type }),
            Content::ResourceLink(l) => types::Content::ResourceLink(types::ResourceLink {
                uri: l.uri,
                name: l.name,
                title: l.title,
                description: l.description,
                mime_type: l.mime_type,
            }),
            Content::Resource(r) => types::Content::Embedded(r.into()),
        }
    }
}

impl From<ToolResult> for types::ToolResult {
    fn from(r: ToolResult) -> Self {
        types::ToolResult {
            content: r.content.into_iter().map(Into::into).collect(),
            structured_json: r.structured.map(|v| v.to_string()),
            is_error: r.is_error,
        }
    }
}

impl From<Role> for types::Role {
    fn from(role: Role) -> Self {
        match role {
            Role::User => types::Role::User,
            Role::Assistant => types::Role::Assistant,
        }
    }
}

impl From<PromptResult> for types::PromptResult {
    fn from(p: PromptResult) -> Self {
        types::PromptResult {
            description: p.description,
            messages: p
                .messages
                .into_iter()
                .map(|m| types::PromptMessage { role: m.role.into(), content: m.content.into() })
                .collect(),
        }
    }
}
