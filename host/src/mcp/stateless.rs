//! Warden's own dispatch of the hot request: a 2026-07-28 stateless `tools/call` that asked for
//! no notifications, served without rmcp's per-request server (no service clone, no serve loop
//! and handler tasks, no message channels, no second parse of the body). The HTTP layer decides
//! which requests take this path (`http::fast_path`); every other request, and every session,
//! goes through rmcp's `ServerHandler` dispatch in the parent module.
//!
//! The protocol stays rmcp's: the request arrives as rmcp's `CallToolRequestParams`, runs the
//! same `tools::call` as rmcp's dispatch does, and the answer is an rmcp `ServerJsonRpcMessage`
//! finished the way rmcp's handler finishes a 2026-07-28 result.

use std::sync::Arc;

use rmcp::model::{CallToolRequestParams, ErrorData, RequestId, ServerJsonRpcMessage, ServerResult};
use tokio_util::sync::CancellationToken;

use super::rounds::Scope;
use super::{McpState, Running, tools};
use crate::shared::Identity;

/// Runs `params` (a 2026-07-28 `tools/call` whose `_meta` names no progress token and no log
/// level) for `caller`, and returns the JSON-RPC answer to request `id`.
///
/// The call runs in its own task, as under rmcp: if the client goes away and this future is
/// dropped, the call is cancelled (its `Scope::ct`), ends as `cancelled` and is still audited.
pub(crate) async fn call_tool(
    state: Arc<McpState>,
    id: RequestId,
    mut params: CallToolRequestParams,
    caller: Identity,
) -> ServerJsonRpcMessage {
    // rmcp's dispatch moves `_meta` out of the params into the request's context; so does this.
    let meta = params.meta.take().unwrap_or_default();
    state.telemetry.metrics.own_path_request();
    let ct = CancellationToken::new();
    let cancel_on_drop = ct.clone().drop_guard();
    // Boxed: the call's state machine is several kilobytes, and tokio would otherwise copy it
    // by value through each layer of `spawn` into the task.
    let task = tokio::spawn(Box::pin(async move {
        let _running = Running::start(&state.in_flight);
        tools::call(&state, params, Scope::stateless(&meta, &ct), &caller, None).await
    }));
    let joined = task.await;
    cancel_on_drop.disarm();
    match joined {
        Ok(Ok(response)) => {
            // As rmcp's handler finishes a 2026-07-28 result.
            let mut result = ServerResult::from(response);
            result.fill_missing_cache_hints();
            ServerJsonRpcMessage::response(result, id)
        }
        Ok(Err(error)) => ServerJsonRpcMessage::error(error, Some(id)),
        Err(_) => ServerJsonRpcMessage::error(
            ErrorData::internal_error("the tool call ended without an answer", None),
            Some(id),
        ),
    }
}
