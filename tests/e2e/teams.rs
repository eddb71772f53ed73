//! Teams: each team's tools are seen and called only by its members (plus the shared tools), and
//! a manifest that reaches beyond its team's ceilings is refused with the reason.

use std::path::Path;

use serde_json::json;
use warden_tests::fixtures::LOCAL_AUTH;
use warden_tests::{Warden, call, component, install, install_manifest, install_wasm, text_of, tool_names};

const SCOPES: &str = "tool:greet tool:whoami sales:greet ops:greet";

/// Installs the sample component under `dir` as `stem`, with `manifest`.
fn sample_as(dir: &Path, stem: &str, manifest: &str) {
    install_manifest(dir, stem, manifest);
    install_wasm(dir, stem, &std::fs::read(component("sample")).expect("sample component"));
}

fn team_manifest(scope: &str) -> String {
    format!("[plugin]\nname = \"sample\"\n[tools.greet]\nscopes = [\"{scope}\"]\n[tools.whoami]\n")
}

fn config(root: &Path) -> String {
    let mut text = LOCAL_AUTH.to_owned();
    for (team, memory) in [("sales", 32), ("ops", 64)] {
        text.push_str(&format!(
            "[[teams]]\nname = \"{team}\"\nplugins_dir = {:?}\nscope_prefix = \"{team}:\"\nmember_claim = \"groups\"\n\
             members = [\"{team}-team\"]\nmax_memory_mb = {memory}\nmax_timeout_ms = 2000\ndatabase = \"none\"\n",
            root.join(team)
        ));
    }
    text
}

#[tokio::test]
async fn each_team_sees_and_calls_only_its_own_tools() -> anyhow::Result<()> {
    let root = tempfile::tempdir()?;
    let (sales, ops) = (root.path().join("sales"), root.path().join("ops"));
    std::fs::create_dir_all(&sales)?;
    std::fs::create_dir_all(&ops)?;
    sample_as(&sales, "sample", &team_manifest("sales:greet"));
    sample_as(&ops, "sample", &team_manifest("ops:greet"));
    // Over-reaching manifests in the ops directory.
    sample_as(&ops, "grabby", "[plugin]\nname = \"grabby\"\n[tools.greet]\nscopes = [\"sales:greet\"]\n");
    sample_as(&ops, "hungry", "[plugin]\nname = \"hungry\"\n[limits]\nmemory_mb = 128\n[tools.greet]\n");
    sample_as(
        &ops,
        "writer",
        "[plugin]\nname = \"writer\"\n[database]\naccess = \"read-only\"\n[tools.greet]\n",
    );
    let config = config(root.path());
    let warden = Warden::spawn_in(root, &config, |dir| install(dir, "sample", "sample")).await?;
    warden.wait_ready(std::time::Duration::from_secs(60)).await?;

    // The over-reaching manifests are refused, each with its reason; the good ones load.
    let ready = warden.readyz().await?;
    let errors = &ready["errors"];
    let error = |source: &str| errors[source].as_str().unwrap_or_default().to_owned();
    assert!(
        error("ops/grabby").contains("tools.greet.scopes") && error("ops/grabby").contains("\"ops:\""),
        "{ready}"
    );
    assert!(
        error("ops/hungry").contains("limits.memory_mb") && error("ops/hungry").contains("1..=64"),
        "{ready}"
    );
    assert!(error("ops/writer").contains("database.access"), "{ready}");
    assert!(errors.get("sales/sample").is_none() && errors.get("ops/sample").is_none(), "{ready}");

    let token =
        |sub: &str, groups: &str| warden.local_token_with(sub, SCOPES, &[&format!("groups={groups}")]);
    let alice = warden.client_with_token(&token("alice", r#"["sales-team"]"#)?).await?;
    let bob = warden.client_with_token(&token("bob", r#""ops-team""#)?).await?;
    let carol = warden.client_with_token(&token("carol", r#"["ops-team","sales-team"]"#)?).await?;
    let dave = warden.client_with_token(&token("dave", r#"["marketing"]"#)?).await?;

    let team_tools = |names: Vec<String>| -> Vec<String> {
        names.into_iter().filter(|n| n.starts_with("sales.") || n.starts_with("ops.")).collect()
    };
    let alice_tools = tool_names(&alice).await?;
    assert!(alice_tools.contains(&"sample.greet".to_owned()), "shared tools stay visible: {alice_tools:?}");
    assert_eq!(team_tools(alice_tools), ["sales.sample.greet", "sales.sample.whoami"]);
    assert_eq!(team_tools(tool_names(&bob).await?), ["ops.sample.greet", "ops.sample.whoami"]);
    assert_eq!(
        team_tools(tool_names(&carol).await?),
        ["ops.sample.greet", "ops.sample.whoami", "sales.sample.greet", "sales.sample.whoami"]
    );
    assert!(team_tools(tool_names(&dave).await?).is_empty());

    // Calls: members succeed; others get exactly what an unknown tool gets.
    let ok = call(&alice, "sales.sample.greet", json!({ "name": "Alice" })).await?;
    assert!(text_of(&ok).contains("Alice"), "{ok:?}");
    let ok = call(&carol, "ops.sample.greet", json!({ "name": "Carol" })).await?;
    assert!(text_of(&ok).contains("Carol"), "{ok:?}");
    let calls_before = warden.tool_calls_logged();
    let refused = call(&alice, "ops.sample.greet", json!({ "name": "Alice" })).await;
    let unknown = call(&alice, "ops.sample.nonexistent", json!({})).await;
    let message = |r: anyhow::Result<_>| r.err().map(|e| e.to_string()).unwrap_or_default();
    let (refused, unknown) = (message(refused), message(unknown));
    assert!(refused.contains("unknown tool"), "{refused}");
    assert_eq!(
        refused.replace("greet", "X"),
        unknown.replace("nonexistent", "X"),
        "indistinguishable from unknown"
    );
    assert!(call(&dave, "sales.sample.greet", json!({ "name": "Dave" })).await.is_err());
    // A non-member without the tool's scope gets the same answer, not a 403 naming the scope.
    let erin = warden.local_token_with("erin", "tool:greet", &["groups=[\"ops-team\"]"])?;
    let erin = warden.client_with_token(&erin).await?;
    let answer = message(call(&erin, "sales.sample.greet", json!({ "name": "Erin" })).await);
    assert!(answer.contains("unknown tool") && !answer.contains("sales:greet"), "{answer}");
    assert_eq!(warden.tool_calls_logged(), calls_before, "no refused call reached a plugin");
    // The audit log says why.
    let audit = warden.audit();
    assert!(audit.iter().any(|e| e["event"] == "tool.refused"
        && e["tool"] == "ops.sample.greet"
        && e["subject"] == "alice"
        && e["reason"].as_str().is_some_and(|r| r.contains("not a member"))));
    Ok(())
}

#[tokio::test]
async fn a_teams_resources_and_prompts_are_invisible_and_unreadable_to_others() -> anyhow::Result<()> {
    let root = tempfile::tempdir()?;
    let sales = root.path().join("sales");
    std::fs::create_dir_all(&sales)?;
    // The chatty fixture in the sales directory: its resource needs a sales scope, its prompt none.
    install_manifest(
        &sales,
        "chatty",
        "[plugin]\nname = \"chatty\"\n[limits]\ntimeout_ms = 2000\n[tools.flood]\n[tools.slow]\n\
         [resources.\"chatty://secret\"]\nscopes = [\"sales:secret\"]\n[prompts.hello]\n",
    );
    install_wasm(&sales, "chatty", &std::fs::read(component("chatty"))?);
    let ops = root.path().join("ops");
    std::fs::create_dir_all(&ops)?;
    install_manifest(
        &ops,
        "chatty",
        "[plugin]\nname = \"chatty\"\n[tools.flood]\n[resources.\"chatty://secret\"]\n",
    );
    install_wasm(&ops, "chatty", &std::fs::read(component("chatty"))?);
    // The fixture's URIs are chatty://...: that is the sales team's resource prefix here.
    let config = config(root.path()).replacen(
        "name = \"sales\"\n",
        "name = \"sales\"\nresource_prefix = \"chatty://\"\n",
        1,
    );
    let warden = Warden::spawn_in(root, &config, |dir| install(dir, "sample", "sample")).await?;
    warden.wait_ready(std::time::Duration::from_secs(60)).await?;
    assert!(warden.readyz().await?["errors"].get("sales/chatty").is_none(), "{}", warden.readyz().await?);
    // Another team may not list URIs outside its own prefix (ops://), so it can neither squat
    // nor capture the sales team's: refused, naming the field.
    let squatter = warden.readyz().await?["errors"]["ops/chatty"].as_str().unwrap_or_default().to_owned();
    assert!(
        squatter.contains("resources.\"chatty://secret\"") && squatter.contains("\"ops://\""),
        "{squatter}"
    );

    let scopes = "tool:greet sales:secret";
    let token =
        |sub: &str, groups: &str| warden.local_token_with(sub, scopes, &[&format!("groups={groups}")]);
    let member = warden.client_with_token(&token("alice", r#"["sales-team"]"#)?).await?;
    let outsider = warden.client_with_token(&token("dave", r#"["marketing"]"#)?).await?;

    let uris = |r: Vec<rmcp::model::Resource>| r.into_iter().map(|r| r.uri.clone()).collect::<Vec<_>>();
    assert_eq!(uris(member.list_all_resources().await?), ["chatty://secret"]);
    let prompts = |p: Vec<rmcp::model::Prompt>| p.into_iter().map(|p| p.name).collect::<Vec<_>>();
    assert_eq!(prompts(member.list_all_prompts().await?), ["sales.chatty.hello"]);
    let read = member.read_resource(rmcp::model::ReadResourceRequestParams::new("chatty://secret")).await?;
    assert!(format!("{read:?}").contains("the chatty secret"), "{read:?}");

    // Someone outside the team: nothing listed, and reading or getting is answered exactly like
    // a URI or name that does not exist (-32602), with nothing of the content.
    assert!(outsider.list_all_resources().await?.is_empty());
    assert!(outsider.list_all_prompts().await?.is_empty());
    let refused = outsider
        .read_resource(rmcp::model::ReadResourceRequestParams::new("chatty://secret"))
        .await
        .expect_err("an outsider must not read the team's resource");
    let unknown = outsider
        .read_resource(rmcp::model::ReadResourceRequestParams::new("chatty://no-such-thing"))
        .await
        .expect_err("an unknown resource is an error");
    let shape = |e: &rmcp::ServiceError| {
        format!("{e}").replace("chatty://secret", "URI").replace("chatty://no-such-thing", "URI")
    };
    assert_eq!(shape(&refused), shape(&unknown), "refusal and not-found look alike");
    assert!(!format!("{refused}").contains("the chatty secret"));
    let mut get = rmcp::model::GetPromptRequestParams::new("sales.chatty.hello");
    get.arguments = Some(serde_json::Map::from_iter([("name".to_owned(), json!("Ada"))]));
    let refused = outsider.get_prompt(get).await.expect_err("an outsider must not get the team's prompt");
    assert!(format!("{refused}").contains("unknown prompt"), "{refused}");
    Ok(())
}
