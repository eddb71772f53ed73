//! What a handler sees of the request: the verified caller, the client's capabilities, progress,
//! logging, cancellation, input requests, and (when granted) the database.

use std::cell::RefCell;

use crate::bindings::warden::plugin::context as wit_context;
use crate::bindings::warden::plugin::{database, types};
use crate::error::ToolError;
use crate::input;

/// The verified caller of a tool, as the host established it from the token.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Token subject (`sub`).
    pub subject: String,
    /// Token issuer (`iss`).
    pub issuer: String,
    /// Resolved user name, if the token carries one.
    pub username: Option<String>,
    /// E-mail address, if the token carries one.
    pub email: Option<String>,
    /// The OAuth client the token was issued to, if known.
    pub client_id: Option<String>,
    /// Granted OAuth scopes.
    pub scopes: Vec<String>,
    /// Auth0 RBAC permissions.
    pub permissions: Vec<String>,
    /// Every verified claim.
    pub claims: serde_json::Value,
}

impl Caller {
    /// True if the caller holds `scope` either as an OAuth scope or as an RBAC permission.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().chain(&self.permissions).any(|s| s == scope)
    }
}

impl From<types::Identity> for Caller {
    fn from(id: types::Identity) -> Self {
        Caller {
            subject: id.subject,
            issuer: id.issuer,
            username: id.username,
            email: id.email,
            client_id: id.client_id,
            scopes: id.scopes,
            permissions: id.permissions,
            claims: serde_json::from_str(&id.claims_json).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// Optional features of the MCP client: what the plugin may ask it for (input requests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ClientCapabilities {
    /// The client can ask its user for input ([`Context::elicit`]).
    pub elicitation: bool,
    /// The client can run an LLM completion ([`Context::sample`]).
    pub sampling: bool,
    /// The client can list its roots ([`Context::roots`]).
    pub roots: bool,
}

impl ClientCapabilities {
    /// No optional capability.
    pub const NONE: ClientCapabilities =
        ClientCapabilities { elicitation: false, sampling: false, roots: false };
    /// Elicitation only.
    pub const ELICITATION: ClientCapabilities =
        ClientCapabilities { elicitation: true, sampling: false, roots: false };
    /// Sampling only.
    pub const SAMPLING: ClientCapabilities =
        ClientCapabilities { elicitation: false, sampling: true, roots: false };
    /// Roots only.
    pub const ROOTS: ClientCapabilities =
        ClientCapabilities { elicitation: false, sampling: false, roots: true };

    /// Both sets together.
    pub const fn union(self, other: ClientCapabilities) -> ClientCapabilities {
        ClientCapabilities {
            elicitation: self.elicitation || other.elicitation,
            sampling: self.sampling || other.sampling,
            roots: self.roots || other.roots,
        }
    }

    /// True if no capability is set.
    pub const fn is_empty(self) -> bool {
        !(self.elicitation || self.sampling || self.roots)
    }
}

impl From<types::ClientCapabilities> for ClientCapabilities {
    fn from(flags: types::ClientCapabilities) -> Self {
        ClientCapabilities {
            elicitation: flags.contains(types::ClientCapabilities::ELICITATION),
            sampling: flags.contains(types::ClientCapabilities::SAMPLING),
            roots: flags.contains(types::ClientCapabilities::ROOTS),
        }
    }
}

impl From<ClientCapabilities> for types::ClientCapabilities {
    fn from(caps: ClientCapabilities) -> Self {
        let mut flags = types::ClientCapabilities::empty();
        if caps.elicitation {
            flags |= types::ClientCapabilities::ELICITATION;
        }
        if caps.sampling {
            flags |= types::ClientCapabilities::SAMPLING;
        }
        if caps.roots {
            flags |= types::ClientCapabilities::ROOTS;
        }
        flags
    }
}

/// Severity of a plugin log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Very detailed tracing (sent as MCP `debug`).
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected but handled (MCP `warning`).
    Warn,
    /// Something failed.
    Error,
}

/// The database capability the host lent for this call, if the manifest grants one.
pub type Database = database::QueryHandle;

/// One root the client shares (an answer to [`Context::roots`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    /// The root's URI, e.g. `file:///home/me/project`.
    pub uri: String,
    /// Its display name, if the client gave one.
    pub name: Option<String>,
}

/// Everything a handler receives besides its arguments.
pub struct Context<'a> {
    /// Who is calling.
    pub caller: Caller,
    db: Option<&'a Database>,
    call: &'a wit_context::CallContext,
    capabilities: ClientCapabilities,
    responses: Vec<types::InputResponse>,
    state: Option<String>,
    next_state: RefCell<Option<String>>,
    pending: RefCell<Vec<(String, types::InputRequest)>>,
}

impl<'a> Context<'a> {
    pub(crate) fn new(
        request: types::Request,
        call: &'a wit_context::CallContext,
        db: Option<&'a Database>,
    ) -> Self {
        Context {
            caller: Caller::from(request.caller),
            db,
            call,
            capabilities: request.client_capabilities.into(),
            responses: request.input_responses,
            next_state: RefCell::new(request.state.clone()),
            state: request.state,
            pending: RefCell::new(Vec::new()),
        }
    }

    /// The database handle, or a `Forbidden` error if the manifest grants no database access.
    pub fn db(&self) -> Result<&'a Database, ToolError> {
        self.db.ok_or_else(|| ToolError::Forbidden("this plugin's manifest grants no database access".into()))
    }

    /// Sends a log message to the client (if it asked for log messages) and to Warden's log,
    /// attributed to this plugin.
    pub fn log(&self, level: LogLevel, message: &str) {
        let level = match level {
            LogLevel::Trace | LogLevel::Debug => wit_context::Level::Debug,
            LogLevel::Info => wit_context::Level::Info,
            LogLevel::Warn => wit_context::Level::Warning,
            LogLevel::Error => wit_context::Level::Error,
        };
        self.call.log(level, None, message);
    }

    /// Reports progress to the client (if it asked for progress). `progress` must grow from one
    /// report to the next; `total` is the value it will reach, if known.
    pub fn progress(&self, progress: f64, total: Option<f64>, message: Option<&str>) {
        self.call.progress(progress, total, message);
    }

    /// True once the client has cancelled the request or gone away. Long loops should check it
    /// and stop early; the host stops the instance shortly after anyway.
    pub fn is_cancelled(&self) -> bool {
        self.call.is_cancelled()
    }

    /// What the client can be asked for ([`Context::elicit`], [`Context::sample`], [`Context::roots`]).
    pub fn client_capabilities(&self) -> ClientCapabilities {
        self.capabilities
    }

    /// The state this plugin returned with its previous round's input requests, as the host
    /// verified it; `None` on a first round.
    pub fn state(&self) -> Option<&str> {
        self.state.as_deref()
    }

    /// Sets the state to send with this round's input requests. It comes back, verified, as
    /// [`Context::state`] in the next round. Unless set, the state that came in goes out again.
    /// Only used when the handler returns [`ToolError::InputRequired`]; the last call wins.
    pub fn set_state(&self, state: impl Into<String>) {
        *self.next_state.borrow_mut() = Some(state.into());
    }

    /// The client's raw answer (an `ElicitResult`, `CreateMessageResult` or `ListRootsResult` as
    /// JSON) to this plugin's input request `key`, if this round carries one.
    pub fn response(&self, key: &str) -> Option<serde_json::Value> {
        let answer = self.responses.iter().find(|r| r.key == key)?;
        serde_json::from_str(&answer.result_json).ok()
    }

    /// Asks the user (elicitation). Returns the content of the answer (a JSON object matching
    /// `schema`, an object schema with primitive properties) when this round carries an accepted,
    /// valid answer for `key`. Otherwise the request is queued and
    /// [`ToolError::InputRequired`] is returned: propagate it with `?` and the client is asked,
    /// then the handler runs again (in a fresh instance) with the answer.
    ///
    /// A declined or cancelled request is a [`ToolError::Failed`]; a client without the
    /// elicitation capability gives [`ToolError::MissingClientCapabilities`].
    pub fn elicit(
        &self,
        key: &str,
        message: &str,
        schema: serde_json::Value,
    ) -> Result<serde_json::Value, ToolError> {
        if let Some(answer) = self.response(key) {
            match input::elicitation_answer(key, &answer, &schema) {
                input::Answer::Valid(content) => return Ok(content),
                input::Answer::Refused(e) => return Err(e),
                input::Answer::Invalid => {}
            }
        }
        if !self.capabilities.elicitation {
            return Err(ToolError::MissingClientCapabilities(ClientCapabilities::ELICITATION));
        }
        Err(self.queue(key, input::elicitation_request(message, &schema)))
    }

    /// Asks the client's model (sampling) to answer `prompt` in at most `max_tokens` tokens.
    /// Returns the text of the answer when this round carries one for `key`; otherwise queues
    /// the request and returns [`ToolError::InputRequired`], like [`Context::elicit`].
    pub fn sample(&self, key: &str, prompt: &str, max_tokens: u32) -> Result<String, ToolError> {
        if let Some(answer) = self.response(key) {
            match input::sampling_answer(key, &answer) {
                input::Answer::Valid(text) => return Ok(text),
                input::Answer::Refused(e) => return Err(e),
                input::Answer::Invalid => {}
            }
        }
        if !self.capabilities.sampling {
            return Err(ToolError::MissingClientCapabilities(ClientCapabilities::SAMPLING));
        }
        Err(self.queue(key, input::sampling_request(prompt, max_tokens)))
    }

    /// Asks for the client's roots. Returns them when this round carries an answer for `key`;
    /// otherwise queues the request and returns [`ToolError::InputRequired`], like
    /// [`Context::elicit`].
    pub fn roots(&self, key: &str) -> Result<Vec<Root>, ToolError> {
        if let Some(answer) = self.response(key)
            && let Some(roots) = input::roots_answer(&answer)
        {
            return Ok(roots);
        }
        if !self.capabilities.roots {
            return Err(ToolError::MissingClientCapabilities(ClientCapabilities::ROOTS));
        }
        Err(self.queue(key, types::InputRequest::Roots))
    }

    fn queue(&self, key: &str, request: types::InputRequest) -> ToolError {
        let mut pending = self.pending.borrow_mut();
        match pending.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = request,
            None => pending.push((key.to_owned(), request)),
        }
        ToolError::InputRequired
    }

    /// Everything queued this round, with the new state; `None` if there is neither.
    pub(crate) fn take_input_required(&self) -> Option<types::InputRequired> {
        let requests = std::mem::take(&mut *self.pending.borrow_mut());
        let state = self.next_state.borrow_mut().take();
        if requests.is_empty() && state.is_none() {
            return None;
        }
        Some(types::InputRequired { requests, state })
    }
}
