//! Why a handler did not produce its result.

use std::fmt;

use crate::bindings::warden::plugin::types;
use crate::context::ClientCapabilities;

/// Why a tool, resource or prompt handler did not complete. Propagate it with `?`.
///
/// For a tool, the host shows `InvalidArguments`, `Forbidden` and `Failed` to the model as a tool
/// error (`isError: true`); `NotFound` and `MissingClientCapabilities` become protocol errors.
/// `InputRequired` is not an error at all: it asks the client for the input queued this round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolError {
    /// The arguments are well-formed but not acceptable.
    InvalidArguments(String),
    /// The caller may not do this.
    Forbidden(String),
    /// No such resource or prompt (or thing the arguments name).
    NotFound(String),
    /// The request needs client capabilities the client did not declare.
    MissingClientCapabilities(ClientCapabilities),
    /// Input was requested this round ([`crate::Context::elicit`], [`crate::Context::sample`],
    /// [`crate::Context::roots`]) and is not there yet: the SDK returns every queued request
    /// (with the state from [`crate::Context::set_state`]) and the handler runs again with the
    /// answers.
    InputRequired,
    /// Anything else.
    Failed(String),
}

impl ToolError {
    /// Shorthand for [`ToolError::Failed`].
    pub fn failed(message: impl Into<String>) -> Self {
        ToolError::Failed(message.into())
    }

    /// Shorthand for [`ToolError::NotFound`].
    pub fn not_found(message: impl Into<String>) -> Self {
        ToolError::NotFound(message.into())
    }
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ToolError::InvalidArguments(m) => write!(f, "invalid arguments: {m}"),
            ToolError::Forbidden(m) => write!(f, "forbidden: {m}"),
            ToolError::NotFound(m) => write!(f, "not found: {m}"),
            ToolError::MissingClientCapabilities(c) => {
                write!(f, "the client lacks required capabilities: {c:?}")
            }
            ToolError::InputRequired => f.write_str("input from the client is required"),
            ToolError::Failed(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ToolError {}

impl From<ToolError> for types::PluginError {
    fn from(e: ToolError) -> Self {
        match e {
            ToolError::InvalidArguments(m) => types::PluginError::InvalidArguments(m),
            ToolError::Forbidden(m) => types::PluginError::Forbidden(m),
            ToolError::NotFound(m) => types::PluginError::NotFound(m),
            ToolError::MissingClientCapabilities(c) => {
                types::PluginError::MissingClientCapabilities(c.into())
            }
            ToolError::InputRequired => {
                types::PluginError::Failed("the plugin asked for input but queued no request".into())
            }
            ToolError::Failed(m) => types::PluginError::Failed(m),
        }
    }
}
