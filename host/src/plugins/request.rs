//! A request to a plugin and its outcome, the same for every contract version: what the host
//! hands a call (caller, client capabilities, answers from the previous round, plugin state,
//! the notification channel) and what comes back (a result, or "I need input first").

use rmcp::model::{CallToolResult, GetPromptResult, InputRequest, ResourceContents};

use super::events::CallEvents;
use crate::shared::Identity;

/// Optional client features a plugin may ask the client to use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientCaps {
    /// `elicitation/create`.
    pub elicitation: bool,
    /// `sampling/createMessage`.
    pub sampling: bool,
    /// `roots/list`.
    pub roots: bool,
}

impl ClientCaps {
    /// The capabilities in `wanted` that `self` lacks.
    pub fn missing(self, wanted: ClientCaps) -> ClientCaps {
        ClientCaps {
            elicitation: wanted.elicitation && !self.elicitation,
            sampling: wanted.sampling && !self.sampling,
            roots: wanted.roots && !self.roots,
        }
    }

    /// True if no capability is set.
    pub fn is_empty(self) -> bool {
        !(self.elicitation || self.sampling || self.roots)
    }

    /// The capability `request` needs.
    pub fn needed_by(request: &InputRequest) -> ClientCaps {
        match request {
            InputRequest::Elicitation(_) => ClientCaps { elicitation: true, ..ClientCaps::default() },
            InputRequest::CreateMessage(_) => ClientCaps { sampling: true, ..ClientCaps::default() },
            _ => ClientCaps { roots: true, ..ClientCaps::default() },
        }
    }

    /// Both sets together.
    pub fn union(self, other: ClientCaps) -> ClientCaps {
        ClientCaps {
            elicitation: self.elicitation || other.elicitation,
            sampling: self.sampling || other.sampling,
            roots: self.roots || other.roots,
        }
    }
}

/// Everything one request hands the plugin besides its own arguments.
pub struct Request<'a> {
    /// The verified caller.
    pub caller: &'a Identity,
    /// What the client declared it can do.
    pub client: ClientCaps,
    /// Answers to the previous round's input requests: key and the client's result as JSON.
    pub input_responses: Vec<(String, String)>,
    /// The plugin's state from the previous round, already verified by the host.
    pub state: Option<String>,
    /// Where progress and log notifications go.
    pub events: CallEvents,
}

impl<'a> Request<'a> {
    /// A first-round request with no client features and no notifications.
    pub fn simple(caller: &'a Identity, plugin: &str) -> Request<'a> {
        Request {
            caller,
            client: ClientCaps::default(),
            input_responses: Vec::new(),
            state: None,
            events: CallEvents::none(plugin),
        }
    }
}

/// What a plugin needs from the client before it can finish.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InputNeeded {
    /// Keyed requests, in the plugin's order.
    pub requests: Vec<(String, InputRequest)>,
    /// The plugin's state for the next round (the host seals it before it leaves).
    pub state: Option<String>,
}

impl InputNeeded {
    /// The client capabilities these requests need.
    pub fn needs(&self) -> ClientCaps {
        self.requests.iter().fold(ClientCaps::default(), |caps, (_, r)| caps.union(ClientCaps::needed_by(r)))
    }
}

/// A request's outcome: done, or input needed first.
#[derive(Debug, Clone)]
pub enum Outcome<T> {
    /// The result.
    Complete(T),
    /// Ask the client, then retry with the answers.
    InputRequired(InputNeeded),
}

/// What a tool returned.
#[derive(Debug, Clone)]
pub enum ToolOutput {
    /// A 0.1 plugin's JSON text (the MCP layer turns it into content).
    Json(String),
    /// A 0.2 plugin's result with content blocks (structured content not yet checked against
    /// the output schema).
    Result(CallToolResult),
}

/// What a resource read returned.
pub type ReadOutput = Vec<ResourceContents>;

/// What a prompt returned.
pub type PromptOutput = GetPromptResult;
