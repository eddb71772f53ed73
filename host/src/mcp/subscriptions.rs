//! List-changed notifications: `subscriptions/listen` streams on 2026-07-28, and the session's
//! own stream on 2025-11-25. A hot reload that changes what a listener can see (tools, prompts,
//! resources) sends it the matching notification, and only the kinds it asked for.

use std::sync::Arc;
use std::time::Duration;

use rmcp::RoleServer;
use rmcp::model::{ErrorData, NotificationNoParam, ServerNotification, SubscriptionFilter};
use rmcp::service::{NotificationContext, SubscriptionContext};

use super::{McpState, caller};
use crate::shared::Identity;

/// How often an idle session notifier checks whether its session is gone.
const LIVENESS_CHECK: Duration = Duration::from_secs(30);

/// The part of a listen filter Warden honours: the three list-changed kinds (resource
/// subscriptions are not offered).
pub(super) fn accepted(requested: &SubscriptionFilter) -> SubscriptionFilter {
    let mut filter = SubscriptionFilter::new();
    filter.tools_list_changed = requested.tools_list_changed.filter(|on| *on);
    filter.prompts_list_changed = requested.prompts_list_changed.filter(|on| *on);
    filter.resources_list_changed = requested.resources_list_changed.filter(|on| *on);
    filter
}

/// What `caller` can see now, per list: names with the plugin build serving them.
fn visible(state: &McpState, caller: &Identity) -> [String; 3] {
    let snapshot = state.registry.snapshot();
    let mut lists = [String::new(), String::new(), String::new()];
    for t in snapshot.tools().filter(|t| state.admits(caller, &t.plugin, &t.tool().grant)) {
        lists[0].push_str(&format!("{}@{}\n", t.tool().name, t.plugin.sha256));
    }
    for p in snapshot.prompts().filter(|p| state.admits(caller, &p.plugin, &p.prompt().grant)) {
        lists[1].push_str(&format!("{}@{}\n", p.prompt().name, p.plugin.sha256));
    }
    for r in snapshot.resources().filter(|r| state.admits(caller, &r.plugin, &r.resource().grant)) {
        lists[2].push_str(&format!("{}@{}\n", r.resource().uri, r.plugin.sha256));
    }
    for t in snapshot.templates().filter(|t| state.admits(caller, &t.plugin, &t.template().grant)) {
        lists[2].push_str(&format!("{}@{}\n", t.template().template.as_str(), t.plugin.sha256));
    }
    lists
}

fn notification(kind: usize) -> ServerNotification {
    match kind {
        0 => ServerNotification::ToolListChangedNotification(NotificationNoParam::default()),
        1 => ServerNotification::PromptListChangedNotification(NotificationNoParam::default()),
        _ => ServerNotification::ResourceListChangedNotification(NotificationNoParam::default()),
    }
}

/// Runs one `subscriptions/listen` stream until the client closes it.
pub(super) async fn listen(state: &McpState, context: SubscriptionContext) -> Result<(), ErrorData> {
    let caller = caller(context.request_context())?;
    let accepted = context.accepted().clone();
    let wanted = [
        accepted.tools_list_changed == Some(true),
        accepted.prompts_list_changed == Some(true),
        accepted.resources_list_changed == Some(true),
    ];
    let mut changes = state.registry.subscribe();
    let mut seen = visible(state, &caller);
    loop {
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
                let now = visible(state, &caller);
                for kind in 0..3 {
                    if wanted[kind] && now[kind] != seen[kind]
                        && context.sink().send(notification(kind)).await.is_err()
                    {
                        return Ok(());
                    }
                }
                seen = now;
            }
            () = context.cancelled() => return Ok(()),
        }
    }
}

/// On a 2025-11-25 session: sends list-changed notifications on the session's stream until it
/// closes, for the lists whose content this session's caller can see changed.
pub(super) fn notify_session(state: Arc<McpState>, context: NotificationContext<RoleServer>) {
    let caller = context
        .extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Identity>())
        .cloned();
    let Some(caller) = caller else {
        tracing::warn!(
            "a session was initialized without an identity; it gets no list-changed notifications"
        );
        return;
    };
    let mut changes = state.registry.subscribe();
    let mut seen = visible(&state, &caller);
    let peer = context.peer;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let now = visible(&state, &caller);
                    let mut sent = Ok(());
                    if now[0] != seen[0] {
                        sent = sent.and(peer.notify_tool_list_changed().await);
                    }
                    if now[1] != seen[1] {
                        sent = sent.and(peer.notify_prompt_list_changed().await);
                    }
                    if now[2] != seen[2] {
                        sent = sent.and(peer.notify_resource_list_changed().await);
                    }
                    seen = now;
                    if sent.is_err() {
                        return;
                    }
                }
                () = tokio::time::sleep(LIVENESS_CHECK) => {
                    if peer.is_transport_closed() {
                        return;
                    }
                }
            }
        }
    });
}
