//! One plugin request across its rounds, and the notifications it sends on the way.
//!
//! A plugin may answer "I need input first". On the 2026-07-28 (stateless) protocol Warden
//! answers the client with an `InputRequiredResult` whose `requestState` it seals, and the
//! client's retry runs a fresh instance with the answers. On 2025-11-25 sessions Warden asks the
//! client itself (`elicitation/create`, `sampling/createMessage`, `roots/list` over the session)
//! and runs a fresh instance with the answers, up to [`MAX_ROUNDS`] times.

// MCP logging is deprecated (SEP-2577) but still part of the 2026-07-28 protocol.
#![allow(deprecated)]

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{
    ClientCapabilities, ErrorData, InputRequest, InputRequiredResult, InputResponses, LoggingLevel,
    LoggingMessageNotificationParam, ProgressNotificationParam, RequestMetaObject,
};
use rmcp::service::RequestContext;
use rmcp::{Peer, RoleServer};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::request_state::{Binding, RequestStates};
use crate::plugins::events::{EventBudget, NOTIFICATION_BUFFER};
use crate::plugins::{CallError, CallEvent, CallEvents, ClientCaps, Outcome, Request};
use crate::shared::Identity;

/// Rounds Warden drives itself on a 2025-11-25 session before giving up.
pub(crate) const MAX_ROUNDS: usize = 8;
/// How long Warden waits for a 2025-11-25 client to answer one input request (a person may be
/// answering it).
const ASK_TIMEOUT: Duration = Duration::from_secs(300);

/// A request's end: the plugin's result, or what to send the client instead.
pub(super) enum Ended<T> {
    /// The plugin finished.
    Complete(T),
    /// 2026-07-28: the client must answer and retry.
    InputRequired(InputRequiredResult),
}

/// Why a request ended without a result.
pub(super) enum Failed {
    /// The plugin call failed (the caller decides how to show it).
    Call(CallError),
    /// A protocol error to answer with (bad state, missing client capability...).
    Protocol(ErrorData),
}

impl From<CallError> for Failed {
    fn from(e: CallError) -> Self {
        Failed::Call(e)
    }
}

/// What one request brings that its rounds need, whichever path served it: rmcp's handler
/// (2025-11-25 sessions, and every stateless request Warden's own path does not take) or
/// Warden's own stateless `tools/call` path (`super::stateless`).
#[derive(Clone, Copy)]
pub(crate) struct Scope<'a> {
    /// The request's `_meta` (progress token, log level, protocol version).
    pub meta: &'a RequestMetaObject,
    /// Cancelled when the client cancels the request or goes away.
    pub ct: &'a CancellationToken,
    /// What the client declared it can answer.
    pub client: ClientCaps,
    /// True on the 2026-07-28 stateless protocol.
    pub stateless: bool,
    /// The client to notify and ask. `None` on Warden's own path, which serves only requests
    /// that asked for no notifications and, being stateless, is never asked over a session.
    pub peer: Option<&'a Peer<RoleServer>>,
}

impl<'a> Scope<'a> {
    /// The scope of a request rmcp dispatched.
    pub(crate) fn of(context: &'a RequestContext<RoleServer>) -> Self {
        Scope {
            meta: &context.meta,
            ct: &context.ct,
            client: caps(context.client_capabilities()),
            stateless: is_stateless(context),
            peer: Some(&context.peer),
        }
    }

    /// The scope of a 2026-07-28 request served without rmcp's server layer: everything comes
    /// from its `_meta`.
    pub(crate) fn stateless(meta: &'a RequestMetaObject, ct: &'a CancellationToken) -> Self {
        Scope { meta, ct, client: caps(meta.client_capabilities()), stateless: true, peer: None }
    }
}

/// What the client declared, as the capabilities a plugin may use.
fn caps(declared: Option<ClientCapabilities>) -> ClientCaps {
    declared.map_or_else(ClientCaps::default, |c| ClientCaps {
        elicitation: c.elicitation.is_some(),
        sampling: c.sampling.is_some(),
        roots: c.roots.is_some(),
    })
}

/// The protocol's "missing required client capability" error (-32021).
pub(super) fn missing_capability(missing: ClientCaps) -> ErrorData {
    let mut wanted = serde_json::Map::new();
    for (on, name) in
        [(missing.elicitation, "elicitation"), (missing.sampling, "sampling"), (missing.roots, "roots")]
    {
        if on {
            wanted.insert(name.into(), Value::Object(serde_json::Map::new()));
        }
    }
    let caps: ClientCapabilities = serde_json::from_value(Value::Object(wanted)).unwrap_or_default();
    ErrorData::missing_required_client_capability(caps)
}

/// True if this request is on the 2026-07-28 stateless protocol.
pub(super) fn is_stateless(context: &RequestContext<RoleServer>) -> bool {
    // Only 2026-07-28 requests carry their version in `_meta`; session requests never do.
    context.meta.protocol_version().is_some_and(|v| v >= rmcp::model::ProtocolVersion::V_2026_07_28)
}

/// Forwards a request's progress and log events to its client until the plugin side is done.
struct Forwarder {
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Forwarder {
    /// Events for one round: forwarded on `context`'s stream when the client asked for them.
    fn start(
        plugin: &str,
        scope: &Scope<'_>,
        log_level: Option<LoggingLevel>,
        budget: &Arc<EventBudget>,
    ) -> (CallEvents, Forwarder) {
        let token = scope.meta.get_progress_token();
        let (Some(peer), true) = (scope.peer, token.is_some() || log_level.is_some()) else {
            let events = CallEvents::new(plugin, None, false, None, budget.clone(), scope.ct.clone());
            return (events, Forwarder { task: None });
        };
        let (tx, mut rx) = mpsc::channel::<CallEvent>(NOTIFICATION_BUFFER);
        let events =
            CallEvents::new(plugin, Some(tx), token.is_some(), log_level, budget.clone(), scope.ct.clone());
        let peer: Peer<RoleServer> = peer.clone();
        let task = tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                let sent = match event {
                    CallEvent::Progress { progress, total, message } => {
                        let Some(token) = token.clone() else { continue };
                        let mut p = ProgressNotificationParam::new(token, progress);
                        if let Some(t) = total {
                            p = p.with_total(t);
                        }
                        if let Some(m) = message {
                            p = p.with_message(m);
                        }
                        peer.notify_progress(p).await
                    }
                    CallEvent::Log { level, logger, message } => {
                        let mut p = LoggingMessageNotificationParam::new(level, Value::String(message));
                        if let Some(l) = logger {
                            p = p.with_logger(l);
                        }
                        peer.notify_logging_message(p).await
                    }
                };
                if sent.is_err() {
                    return;
                }
            }
        });
        (events, Forwarder { task: Some(task) })
    }

    /// Waits until every queued notification is sent (so they precede the result).
    async fn finish(self) {
        if let Some(task) = self.task {
            let _ = task.await;
        }
    }
}

/// Everything about the request that does not change between rounds.
pub(super) struct Round<'a> {
    /// What the request brings.
    pub scope: Scope<'a>,
    /// The caller.
    pub caller: &'a Identity,
    /// The plugin's name (for attribution).
    pub plugin: &'a str,
    /// What a state is bound to.
    pub binding: Binding<'a>,
    /// Sealing.
    pub states: &'a RequestStates,
    /// The client's minimum log level (`None`: send no log messages).
    pub log_level: Option<LoggingLevel>,
}

/// Runs `attempt` (one fresh plugin instance per call) until it completes, asking the client for
/// what it needs the way the request's protocol version allows.
pub(super) async fn run<'a, T, F, Fut>(
    round: Round<'a>,
    input_responses: Option<InputResponses>,
    request_state: Option<String>,
    mut attempt: F,
) -> Result<Ended<T>, Failed>
where
    F: FnMut(Request<'a>) -> Fut,
    Fut: Future<Output = Result<Outcome<T>, CallError>>,
{
    let client = round.scope.client;
    let stateless = round.scope.stateless;
    let mut responses: Vec<(String, String)> =
        input_responses.unwrap_or_default().into_iter().map(|(k, v)| (k, v.to_string())).collect();
    let mut plugin_state = None;
    if let Some(text) = request_state {
        // Verified before any instance runs; a bad state never reaches the plugin.
        plugin_state = round
            .states
            .open(&text, &round.binding)
            .map_err(|e| Failed::Protocol(ErrorData::invalid_params(e.to_string(), None)))?;
    }
    let budget = Arc::new(EventBudget::default());
    for _ in 0..MAX_ROUNDS {
        let (events, forwarder) = Forwarder::start(round.plugin, &round.scope, round.log_level, &budget);
        let request = Request {
            caller: round.caller,
            client,
            input_responses: std::mem::take(&mut responses),
            state: plugin_state.take(),
            events,
        };
        let outcome = attempt(request).await;
        forwarder.finish().await;
        let needed = match outcome? {
            Outcome::Complete(t) => return Ok(Ended::Complete(t)),
            Outcome::InputRequired(needed) => needed,
        };
        let missing = client.missing(needed.needs());
        if !missing.is_empty() {
            return Err(Failed::Protocol(missing_capability(missing)));
        }
        if stateless {
            let sealed = round
                .states
                .seal(&round.binding, needed.state)
                .map_err(|e| Failed::Call(CallError::Internal(e)))?;
            let requests: BTreeMap<String, InputRequest> = needed.requests.into_iter().collect();
            let requests = (!requests.is_empty()).then_some(requests);
            return Ok(Ended::InputRequired(InputRequiredResult::new(requests, Some(sealed))));
        }
        // A 2025-11-25 session: ask over the session, then run a fresh instance with the answers.
        let Some(peer) = round.scope.peer else {
            return Err(Failed::Protocol(ErrorData::internal_error(
                "a request without a session cannot be asked for input over one",
                None,
            )));
        };
        for (key, request) in needed.requests {
            let asked = tokio::time::timeout(ASK_TIMEOUT, ask(peer, request));
            let answer = tokio::select! {
                answer = asked => answer.map_err(|_| Failed::Protocol(ErrorData::internal_error(
                    format!("the client did not answer input request {key:?} within {} s", ASK_TIMEOUT.as_secs()),
                    None,
                )))?,
                () = round.scope.ct.cancelled() => return Err(Failed::Call(CallError::Cancelled)),
            };
            responses.push((key, answer.map_err(Failed::Protocol)?.to_string()));
        }
        plugin_state = needed.state;
        if round.scope.ct.is_cancelled() {
            return Err(Failed::Call(CallError::Cancelled));
        }
    }
    Err(Failed::Protocol(ErrorData::internal_error(
        format!("the plugin asked for input more than {MAX_ROUNDS} times in one request"),
        None,
    )))
}

/// Sends one input request to a 2025-11-25 client and returns its answer as JSON.
async fn ask(peer: &Peer<RoleServer>, request: InputRequest) -> Result<Value, ErrorData> {
    let failed = |what: &str, e: rmcp::ServiceError| {
        ErrorData::internal_error(format!("the client did not answer the {what} request: {e}"), None)
    };
    let value = match request {
        InputRequest::Elicitation(r) => serde_json::to_value(
            peer.create_elicitation(r.params).await.map_err(|e| failed("elicitation", e))?,
        ),
        InputRequest::CreateMessage(r) => {
            serde_json::to_value(peer.create_message(r.params).await.map_err(|e| failed("sampling", e))?)
        }
        _ => serde_json::to_value(peer.list_roots().await.map_err(|e| failed("roots", e))?),
    };
    value.map_err(|e| ErrorData::internal_error(format!("the client's answer is not JSON: {e}"), None))
}
