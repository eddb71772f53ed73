//! The query handle against a real PostgreSQL through the real psqlODBC driver (and the embedded
//! SQLite demo through the real SQLite3 ODBC driver): each caller sees what the database lets
//! them see, every escape is refused and leaves no trace, identity never leaks through the pool,
//! and the pool recovers when the server drops its connections.

use std::time::Duration;

use serde_json::{Value, json};
use warden_tests::fixtures::{LOCAL_AUTH, UNLIMITED};
use warden_tests::{ALICE_ORDERS, BOB_ORDERS, McpClient, PgFixture, Warden, call, install, text_of};

const SCOPES: &str = "sql:read sql:query orders:read";

async fn pg_warden(pg: &PgFixture, impersonation: &str, pool_size: usize) -> Warden {
    // The pool tests run hundreds of calls from two callers at once: call limits off.
    let config = format!("{LOCAL_AUTH}\n{}{UNLIMITED}", pg.warden_config(impersonation, pool_size));
    Warden::start(&config, |dir| {
        install(dir, "sql", "sql");
        install(dir, "orders", "orders");
    })
    .await
    .expect("start warden")
}

async fn client_for(warden: &Warden, user: &str) -> McpClient {
    let token = warden.local_token(user, SCOPES).expect("mint token");
    warden.client_with_token(&token).await.expect("connect")
}

/// Runs `sql.run_query`; `Ok(rows)` or `Err(error text)`.
async fn query(client: &McpClient, sql: &str, params: Value) -> Result<Vec<Vec<Value>>, String> {
    let r = call(client, "sql.run_query", json!({ "sql": sql, "params": params }))
        .await
        .map_err(|e| e.to_string())?;
    if r.is_error == Some(true) {
        return Err(text_of(&r));
    }
    let table: Value = r
        .structured_content
        .clone()
        .unwrap_or_else(|| serde_json::from_str(&text_of(&r)).unwrap_or_default());
    Ok(table["rows"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.as_array().cloned().unwrap_or_default())
        .collect())
}

/// The owners of every `orders` row `client` can see.
async fn visible_owners(client: &McpClient) -> Vec<String> {
    query(client, "SELECT owner FROM orders ORDER BY id", json!([]))
        .await
        .expect("orders query")
        .into_iter()
        .map(|r| r[0].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn current_user(client: &McpClient) -> String {
    let rows =
        query(client, "SELECT current_user, session_user", json!([])).await.expect("current_user query");
    rows[0][0].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn each_user_sees_what_the_database_lets_them_see() {
    let pg = PgFixture::create().expect("fixture");
    let warden = pg_warden(&pg, "set-role", 2).await;
    let alice = client_for(&warden, &pg.alice).await;
    let bob = client_for(&warden, &pg.bob).await;

    assert_eq!(visible_owners(&alice).await, vec![pg.alice.clone(); ALICE_ORDERS]);
    assert_eq!(visible_owners(&bob).await, vec![pg.bob.clone(); BOB_ORDERS]);
    assert_eq!(current_user(&alice).await, pg.alice);

    // A parameter is bound, and the predeclared tool works as the caller.
    let rows =
        query(&alice, "SELECT item FROM orders WHERE item = ?", json!(["rope"])).await.expect("bound query");
    assert_eq!(rows, vec![vec![json!("rope")]]);
    let mine = call(&bob, "orders.my_orders", json!({})).await.expect("my_orders");
    assert_ne!(mine.is_error, Some(true), "{mine:?}");
    let table = mine.structured_content.clone().expect("structured result");
    assert_eq!(table["rows"].as_array().map(Vec::len), Some(BOB_ORDERS), "{table}");

    // alice may read salaries; bob gets the database's permission error.
    assert_eq!(query(&alice, "SELECT who FROM salaries", json!([])).await.expect("alice salaries").len(), 1);
    let denied = query(&bob, "SELECT who FROM salaries", json!([])).await.expect_err("bob must be denied");
    assert!(denied.contains("denied"), "{denied}");

    // A user the database does not know is refused, never run as the pool login.
    let carol = client_for(&warden, "carol_not_a_role").await;
    let refused =
        query(&carol, "SELECT current_user", json!([])).await.expect_err("unknown user must be refused");
    assert!(refused.contains("carol_not_a_role"), "{refused}");
    assert!(!refused.contains(&pg.login), "{refused}");

    // The audit log names the database user each call acted as.
    let audit = warden.audit();
    let acted_as = |user: &str| {
        audit.iter().any(|e| e["event"] == "tool.called" && e["outcome"] == "ok" && e["db_user"] == user)
    };
    assert!(acted_as(&pg.alice) && acted_as(&pg.bob), "{audit:?}");

    // Superuser login variant: SET SESSION AUTHORIZATION.
    let warden2 = pg_warden(&pg, "set-session-authorization", 1).await;
    let alice2 = client_for(&warden2, &pg.alice).await;
    assert_eq!(visible_owners(&alice2).await, vec![pg.alice.clone(); ALICE_ORDERS]);
    let rows = query(&alice2, "SELECT current_user, session_user", json!([])).await.expect("whoami");
    assert_eq!(rows[0], vec![json!(pg.alice), json!(pg.alice)]);
}

#[tokio::test]
async fn every_escape_is_refused_and_leaves_no_trace() {
    let pg = PgFixture::create().expect("fixture");
    // One connection: whatever an attack left on it, the next call gets it.
    let warden = pg_warden(&pg, "set-role", 1).await;
    let alice = client_for(&warden, &pg.alice).await;
    let bob = client_for(&warden, &pg.bob).await;
    let login = pg.login.clone();

    let attacks = [
        "RESET SESSION AUTHORIZATION".to_owned(),
        "RESET ROLE".to_owned(),
        format!("SET ROLE {login}"),
        format!("SELECT set_config('role', '{login}', false)"),
        format!("SELECT pg_catalog.SET_CONFIG('role', '{login}', false)"),
        format!("SELECT 1 WHERE set_config('role', '{}', false) IS NOT NULL", pg.bob),
        "DO $$ BEGIN EXECUTE 'RESET ROLE'; END $$".to_owned(),
        "SELECT 1; RESET ROLE".to_owned(),
        "SELECT ?; RESET ROLE".to_owned(),
        "SELECT 1 /* ; */ ; RESET ROLE".to_owned(),
        "select 1 -- ;\n; reset role".to_owned(),
        "COMMIT; RESET ROLE".to_owned(),
        "SET TRANSACTION READ WRITE".to_owned(),
        "SeT SeSsIoN AuThOrIzAtIoN DEFAULT".to_owned(),
        "DISCARD ALL".to_owned(),
        "COPY orders TO STDOUT".to_owned(),
        "INSERT INTO notes (body) VALUES ('written through a read-only grant')".to_owned(),
        "WITH x AS (INSERT INTO notes (body) VALUES ('cte write') RETURNING id) SELECT id FROM x".to_owned(),
        "SELECT pg_read_file('/etc/passwd')".to_owned(),
        "SELECT * FROM dblink('dbname=postgres', 'select 1') AS t(a int)".to_owned(),
        // Past the guard (plain SELECTs), stopped by the database's read-only transaction and by
        // the user check after every statement.
        "SELECT sneaky_write()".to_owned(),
        "SELECT sneaky_reset()".to_owned(),
    ];
    for attack in &attacks {
        let params = if attack.contains('?') { json!([1]) } else { json!([]) };
        let outcome = query(&alice, attack, params).await;
        assert!(outcome.is_err(), "{attack:?} was not refused: {outcome:?}");
        // No trace: the single pooled connection still acts as exactly the next caller.
        assert_eq!(current_user(&bob).await, pg.bob, "after {attack:?}");
        assert_eq!(visible_owners(&bob).await, vec![pg.bob.clone(); BOB_ORDERS], "after {attack:?}");
    }
    assert_eq!(pg.sql("SELECT count(*) FROM notes").expect("count notes"), "0", "a write got through");
    // The database's own read-only transaction is in force for a read-only grant.
    let mode =
        query(&alice, "SELECT current_setting('transaction_read_only')", json!([])).await.expect("mode");
    assert_eq!(mode, vec![vec![json!("on")]]);
    let write = query(&alice, "SELECT sneaky_write()", json!([])).await.expect_err("refused");
    assert!(write.contains("read-only"), "{write}");
    let reset = query(&alice, "SELECT sneaky_reset()", json!([])).await.expect_err("refused");
    assert!(reset.contains("changed the session"), "{reset}");
    assert_eq!(pg.sql("SELECT count(*) FROM orders").expect("count orders"), "5");

    // User names that are not database identifiers are refused before anything runs.
    for bad in ["a".repeat(70), "x\"; DROP TABLE orders; --".to_owned()] {
        let client = client_for(&warden, &bad).await;
        let refused = query(&client, "SELECT 1", json!([])).await.expect_err("bad user name must be refused");
        assert!(refused.contains("user name"), "{refused}");
    }
    assert_eq!(pg.sql("SELECT count(*) FROM orders").expect("orders still there"), "5");
    // After all of it, the pooled connection still serves alice as alice.
    assert_eq!(current_user(&alice).await, pg.alice);
}

#[tokio::test]
async fn identity_never_leaks_through_the_pool() {
    let pg = PgFixture::create().expect("fixture");
    let warden = pg_warden(&pg, "set-role", 2).await;
    let alice = client_for(&warden, &pg.alice).await;
    let bob = client_for(&warden, &pg.bob).await;

    // A failed call (the database refuses bob's read) and a refused call, then the right user.
    let _ = query(&bob, "SELECT * FROM salaries", json!([])).await.expect_err("denied");
    let _ = query(&alice, "RESET ROLE", json!([])).await.expect_err("refused");
    assert_eq!(current_user(&bob).await, pg.bob);

    // 200 interleaved calls, two connections: nobody ever sees the other's rows.
    let mut calls = Vec::new();
    for i in 0..200 {
        let (client, me) = if i % 2 == 0 { (&alice, &pg.alice) } else { (&bob, &pg.bob) };
        calls.push(async move { (me.clone(), visible_owners(client).await) });
    }
    let results = futures::future::join_all(calls).await;
    for (me, owners) in results {
        assert!(!owners.is_empty() && owners.iter().all(|o| *o == me), "{me} saw {owners:?}");
    }
}

#[tokio::test]
async fn recovers_after_the_server_drops_its_connections() {
    let pg = PgFixture::create().expect("fixture");
    let warden = pg_warden(&pg, "set-role", 2).await;
    let alice = client_for(&warden, &pg.alice).await;
    assert_eq!(visible_owners(&alice).await.len(), ALICE_ORDERS);

    // A connection that died while idle is replaced before any plugin statement runs, so the
    // very next call succeeds.
    let killed = pg.kill_connections().expect("terminate backends");
    assert_ne!(killed, "0", "the pool held no connection to kill");
    assert_eq!(visible_owners(&alice).await.len(), ALICE_ORDERS, "no transparent reconnect");

    // What a server restart looks like from the pool: every connection is closed under it, and
    // for a while no new one is accepted.
    pg.sql(&format!("ALTER ROLE {} NOLOGIN", pg.login)).expect("refuse logins");
    pg.kill_connections().expect("terminate backends");
    let down = query(&alice, "SELECT owner FROM orders", json!([])).await.expect_err("the database is down");
    assert!(down.contains("unavailable"), "{down}");
    assert!(!down.contains("Uid=") && !down.contains("Driver="), "connection details leaked: {down}");
    pg.sql(&format!("ALTER ROLE {} LOGIN", pg.login)).expect("accept logins again");
    // Calls recover without restarting Warden: the dead connection is replaced before any of
    // the plugin's statements run.
    let mut recovered = false;
    for _ in 0..20 {
        if let Ok(owners) = query(&alice, "SELECT owner FROM orders", json!([])).await {
            assert_eq!(owners.len(), ALICE_ORDERS);
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "calls did not recover:\n{}", warden.log());
}

#[tokio::test]
async fn slow_statements_time_out_and_a_busy_pool_says_so() {
    let pg = PgFixture::create().expect("fixture");
    // One connection, 2 s per statement, 300 ms to wait for a connection.
    let config = format!("{LOCAL_AUTH}\n{}acquire_timeout_ms = 300\n", pg.warden_config("set-role", 1));
    let warden = Warden::start(&config, |dir| install(dir, "sql", "sql")).await.expect("start warden");
    let slow_client = client_for(&warden, &pg.alice).await;
    let waiting_client = client_for(&warden, &pg.bob).await;

    let slow = query(&slow_client, "SELECT pg_sleep(5)", json!([]));
    let waiting = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        query(&waiting_client, "SELECT 1", json!([])).await
    };
    let (slow, waiting) = tokio::join!(slow, waiting);
    let slow = slow.expect_err("the statement must be stopped at its time limit");
    assert!(slow.contains("time limit"), "{slow}");
    let waiting = waiting.expect_err("no connection was free");
    assert!(
        waiting.contains("no database connection became free") && waiting.contains("pool_size"),
        "{waiting}"
    );

    // The connection that timed out is clean and serves the next caller as that caller.
    assert_eq!(current_user(&waiting_client).await, pg.bob);
}

#[tokio::test]
async fn embedded_sqlite_demo_serves_the_example_plugins() {
    let warden = Warden::start(LOCAL_AUTH, |dir| {
        install(dir, "sql", "sql");
        install(dir, "orders", "orders");
    })
    .await
    .expect("start warden");
    let alice = client_for(&warden, "alice").await;

    let tables = call(&alice, "sql.list_tables", json!({})).await.expect("list_tables");
    let text = text_of(&tables);
    assert!(text.contains("customers") && text.contains("orders"), "{text}");
    let columns = call(&alice, "sql.describe_table", json!({ "table": "orders" })).await.expect("describe");
    assert!(text_of(&columns).contains("placed_on"), "{}", text_of(&columns));

    let rows = query(&alice, "SELECT name FROM customers ORDER BY id", json!([])).await.expect("customers");
    assert_eq!(rows.len(), 3);
    let mine = call(&alice, "orders.my_orders", json!({})).await.expect("my_orders");
    assert_ne!(mine.is_error, Some(true), "{mine:?}");
    let table = mine.structured_content.clone().expect("structured result");
    assert_eq!(table["rows"].as_array().map(Vec::len), Some(2), "{table}");

    let write = query(&alice, "DELETE FROM customers", json!([])).await.expect_err("write refused");
    assert!(write.contains("read-only"), "{write}");
    assert_eq!(query(&alice, "SELECT id FROM customers", json!([])).await.expect("still there").len(), 3);
}

/// The Python port of the SQL tools (`plugins/py-sql`, componentize-py) as alice and bob: each
/// gets the rows the database lets them see, through the same host guard and impersonation.
#[tokio::test]
async fn python_sql_tools_run_as_each_caller() {
    let pg = PgFixture::create().expect("fixture");
    let config = format!("{LOCAL_AUTH}\n{}{UNLIMITED}", pg.warden_config("set-role", 2));
    let warden = Warden::start(&config, |dir| install(dir, "py-sql", "py-sql")).await.expect("start warden");
    let (alice, bob) = (client_for(&warden, &pg.alice).await, client_for(&warden, &pg.bob).await);
    let rows = |r: &rmcp::model::CallToolResult| -> Vec<Value> {
        assert_ne!(r.is_error, Some(true), "{}", text_of(r));
        let table: Value = serde_json::from_str(&text_of(r)).expect("a table");
        table["rows"].as_array().cloned().unwrap_or_default()
    };
    let owners = |rows: Vec<Value>| {
        rows.iter().map(|r| r[0].as_str().unwrap_or_default().to_owned()).collect::<Vec<_>>()
    };
    let sql = json!({"sql": "SELECT owner FROM orders ORDER BY id"});
    let a = call(&alice, "py-sql.run_query", sql.clone()).await.expect("alice query");
    let b = call(&bob, "py-sql.run_query", sql).await.expect("bob query");
    assert_eq!(owners(rows(&a)), vec![pg.alice.clone(); ALICE_ORDERS]);
    assert_eq!(owners(rows(&b)), vec![pg.bob.clone(); BOB_ORDERS]);
    let me = call(&bob, "py-sql.run_query", json!({"sql": "SELECT current_user", "params": []}))
        .await
        .expect("whoami");
    assert_eq!(rows(&me)[0][0], json!(pg.bob));
    let bound = call(
        &alice,
        "py-sql.run_query",
        json!({"sql": "SELECT item FROM orders WHERE item = ?", "params": ["rope"]}),
    )
    .await
    .expect("bound");
    assert_eq!(rows(&bound), vec![json!(["rope"])]);
    let tables = call(&alice, "py-sql.list_tables", json!({})).await.expect("tables");
    assert!(rows(&tables).iter().any(|r| r[1] == "orders"), "{}", text_of(&tables));
    let columns = call(&alice, "py-sql.describe_table", json!({"table": "orders"})).await.expect("describe");
    assert!(rows(&columns).iter().any(|r| r[0] == "owner"), "{}", text_of(&columns));
    // The database's refusal and the host's guard reach the Python caller as tool errors.
    let denied =
        call(&bob, "py-sql.run_query", json!({"sql": "SELECT who FROM salaries"})).await.expect("denied");
    assert_eq!(denied.is_error, Some(true));
    assert!(text_of(&denied).contains("denied"), "{}", text_of(&denied));
    let write = call(&alice, "py-sql.run_query", json!({"sql": "DELETE FROM orders"})).await.expect("guard");
    assert_eq!(write.is_error, Some(true));
    let left =
        call(&alice, "py-sql.run_query", json!({"sql": "SELECT count(*) FROM orders"})).await.expect("count");
    assert_eq!(rows(&left)[0][0].as_i64(), Some((ALICE_ORDERS) as i64), "nothing was deleted");
    let audit = warden.audit();
    assert!(audit.iter().any(|e| e["tool"] == "py-sql.run_query" && e["db_user"] == pg.bob.as_str()));
}

/// The session's `application_name`, read through `py-rw.query`.
async fn application_name(client: &McpClient) -> String {
    setting(client, "application_name").await
}

/// A setting of the session, read through `py-rw.query`.
async fn setting(client: &McpClient, name: &str) -> String {
    let sql = format!("SELECT current_setting('{name}')");
    let r = call(client, "py-rw.query", json!({ "sql": sql })).await.expect("query");
    assert_ne!(r.is_error, Some(true), "{}", text_of(&r));
    let table: Value = serde_json::from_str(&text_of(&r)).expect("a table");
    table["rows"][0][0].as_str().unwrap_or_default().to_owned()
}

/// Issue 16: a read-write plugin's `execute` of a write that PostgreSQL rewrites into a query
/// (`UPDATE pg_settings …` is `set_config`) made odbc-api panic while closing the cursor, losing
/// the connection; had it committed, the next caller would have inherited the session setting.
#[tokio::test]
async fn a_write_the_database_turns_into_a_query_is_refused_cleanly_and_leaves_no_setting_behind() {
    let pg = PgFixture::create().expect("fixture");
    let config = format!("{LOCAL_AUTH}\n{}{UNLIMITED}", pg.warden_config("set-role", 1));
    let warden = Warden::start(&config, |dir| install(dir, "py-rw", "py-rw")).await.expect("start warden");
    let alice = client_for(&warden, &pg.alice).await;
    let bob = client_for(&warden, &pg.bob).await;
    let before = application_name(&bob).await;
    // What the driver set when it connected (psqlODBC: extra_float_digits = 2, DateStyle).
    let driver_digits = setting(&bob, "extra_float_digits").await;

    for attempt in 0..3 {
        let r = call(
            &alice,
            "py-rw.execute",
            json!({ "sql": "UPDATE pg_settings SET setting = 'leaked-by-alice' WHERE name = 'application_name'" }),
        )
        .await
        .expect("call");
        let text = text_of(&r);
        assert_eq!(r.is_error, Some(true), "attempt {attempt}: {text}");
        assert!(text.contains("returns rows") && text.contains("rolled back"), "attempt {attempt}: {text}");
        assert!(!text.contains("unavailable") && !text.contains("internal"), "attempt {attempt}: {text}");
    }
    // The next caller, as another user, on the one pooled connection: the setting is not there.
    assert_eq!(application_name(&bob).await, before);
    assert_ne!(before, "leaked-by-alice");

    // A function the database defines can change the session past the transaction, and the guard
    // cannot see inside it: the call succeeds, and the session is reset before the next caller.
    pg.sql(
        "CREATE FUNCTION leak_setting() RETURNS text LANGUAGE sql \
         AS $$ SELECT set_config('application_name', 'leaked-by-a-function', false) $$",
    )
    .expect("create function");
    let r = call(&alice, "py-rw.query", json!({ "sql": "SELECT leak_setting()" })).await.expect("call");
    assert_ne!(r.is_error, Some(true), "{}", text_of(&r));
    assert!(text_of(&r).contains("leaked-by-a-function"), "it ran: {}", text_of(&r));
    assert_eq!(application_name(&bob).await, before, "the next caller gets a clean session");
    assert_eq!(
        setting(&bob, "extra_float_digits").await,
        driver_digits,
        "with the driver's own settings kept"
    );

    // Everything else a session can carry past a call: a temporary table, a session advisory
    // lock, LISTEN and a prepared statement, left by a function the guard cannot see into.
    let leftovers = "(SELECT count(*) FROM pg_prepared_statements WHERE name = 'leaked_plan') \
                     + (SELECT count(*) FROM pg_listening_channels()) \
                     + (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()) \
                     + (SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema())";
    pg.sql(&format!(
        "CREATE FUNCTION leak_everything() RETURNS text LANGUAGE plpgsql AS $$ BEGIN \
         CREATE TEMP TABLE leaked (a int); PERFORM pg_advisory_lock(4242); \
         EXECUTE 'LISTEN leaked_channel'; EXECUTE 'PREPARE leaked_plan AS SELECT 1'; \
         RETURN ({leftovers})::text; END $$"
    ))
    .expect("create function");
    let leftovers = format!("SELECT {leftovers} AS left_over");
    let r = call(&alice, "py-rw.query", json!({ "sql": "SELECT leak_everything()" })).await.expect("call");
    // Three are visible inside the call's own transaction; LISTEN takes effect when it commits.
    assert!(text_of(&r).contains("\"3\""), "the call left them on its session: {}", text_of(&r));
    let r = call(&alice, "py-rw.query", json!({ "sql": leftovers })).await.expect("call");
    let alice_next: Value = serde_json::from_str(&text_of(&r)).expect("a table");
    let r = call(&bob, "py-rw.query", json!({ "sql": leftovers })).await.expect("call");
    let bob_next: Value = serde_json::from_str(&text_of(&r)).expect("a table");
    assert_eq!(bob_next["rows"][0][0], json!(0), "the next caller's session is clean: {bob_next}");
    assert_eq!(alice_next["rows"][0][0], json!(0), "and so is the same caller's next call: {alice_next}");

    let log = warden.log();
    assert!(!log.contains("panicked"), "no panic in the database layer:\n{log}");
}

/// Runs `py-rw.script`: the statements in one call; each one's `{rows, truncated}` or `{error}`.
async fn script(client: &McpClient, sqls: &[&str]) -> Vec<Value> {
    let r = call(client, "py-rw.script", json!({ "sqls": sqls })).await.expect("call");
    assert_ne!(r.is_error, Some(true), "{}", text_of(&r));
    let out: Value = serde_json::from_str(&text_of(&r)).expect("results");
    out["results"].as_array().cloned().unwrap_or_default()
}

/// Issue 16: a call's statements and rows are bounded by the manifest, within the server's
/// ceilings; the next call starts with a fresh budget.
#[tokio::test]
async fn a_call_spends_at_most_its_manifests_statements_and_rows() {
    let pg = PgFixture::create().expect("fixture");
    let config = format!("{LOCAL_AUTH}\n{}{UNLIMITED}", pg.warden_config("set-role", 1));
    let manifest = "[database]\naccess = \"read-only\"\nstatements_per_call = 3\nrows_per_call = 5\n\
                    [tools.script]\nscopes = [\"sql:query\"]\n";
    let warden = Warden::start(&config, |dir| {
        install(dir, "py-rw", "py-rw");
        warden_tests::install_manifest(dir, "py-rw", manifest);
    })
    .await
    .expect("start warden");
    let alice = client_for(&warden, &pg.alice).await;
    let results = script(
        &alice,
        &["SELECT generate_series(1, 3)", "SELECT generate_series(1, 10)", "SELECT 1", "SELECT 1"],
    )
    .await;
    assert_eq!(results[0], json!({ "rows": 3, "truncated": false }), "{results:?}");
    assert_eq!(results[1], json!({ "rows": 2, "truncated": true }), "cut to the 5 rows left: {results:?}");
    let rows_spent = results[2]["error"].as_str().unwrap_or_default();
    assert!(rows_spent.contains("read its 5 rows") && rows_spent.contains("rows_per_call"), "{results:?}");
    let statements_spent = results[3]["error"].as_str().unwrap_or_default();
    assert!(
        statements_spent.contains("used its 3 statements")
            && statements_spent.contains("statements_per_call"),
        "{results:?}"
    );
    assert_eq!(results.len(), 4);
    // A new call, a new budget.
    assert_eq!(
        script(&alice, &["SELECT generate_series(1, 5)"]).await,
        vec![json!({ "rows": 5, "truncated": false })]
    );

    // A manifest asking beyond the server's ceiling is refused, naming the field.
    let over = "[database]\naccess = \"read-only\"\nrows_per_call = 20000\n[tools.script]\nscopes = []\n";
    let refused = Warden::start(&config, |dir| {
        install(dir, "py-rw", "py-rw");
        warden_tests::install_manifest(dir, "py-rw", over);
    })
    .await
    .expect("start warden");
    let log = refused.log();
    assert!(log.contains("database.rows_per_call") && log.contains("max_rows_per_call"), "{log}");
}

/// Issue 16: a plugin whose statements keep costing pooled connections has its database access
/// paused (its breaker), while other plugins keep theirs; the pause ends.
#[tokio::test]
async fn a_plugin_that_keeps_losing_connections_is_paused_not_the_pool() {
    let pg = PgFixture::create().expect("fixture");
    let breaker = "breaker_losses = 2\nbreaker_window_ms = 60000\nbreaker_pause_ms = 3000\n";
    let config = format!("{LOCAL_AUTH}\n{}{breaker}{UNLIMITED}", pg.warden_config("set-role", 1));
    // Kills its own backend: what a driver failure or a crash would cost the pool.
    pg.sql(
        "CREATE FUNCTION lose_connection() RETURNS boolean LANGUAGE sql SECURITY DEFINER \
         AS $$ SELECT pg_terminate_backend(pg_backend_pid()) $$",
    )
    .expect("create function");
    let warden = Warden::start(&config, |dir| {
        install(dir, "py-rw", "py-rw");
        install(dir, "sql", "sql");
    })
    .await
    .expect("start warden");
    let alice = client_for(&warden, &pg.alice).await;
    let bob = client_for(&warden, &pg.bob).await;
    for attempt in 0..2 {
        let r =
            call(&alice, "py-rw.query", json!({ "sql": "SELECT lose_connection()" })).await.expect("call");
        assert_eq!(r.is_error, Some(true), "attempt {attempt}: {}", text_of(&r));
        // The one-connection pool refills for the next caller.
        assert_eq!(current_user(&bob).await, pg.bob, "attempt {attempt}");
    }
    let paused = call(&alice, "py-rw.query", json!({ "sql": "SELECT 1" })).await.expect("call");
    assert_eq!(paused.is_error, Some(true), "{}", text_of(&paused));
    assert!(text_of(&paused).contains("paused"), "{}", text_of(&paused));
    // Another plugin, as another user, on the same pool: unaffected.
    assert_eq!(visible_owners(&bob).await.len(), BOB_ORDERS);
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let r = call(&alice, "py-rw.query", json!({ "sql": "SELECT current_user" })).await.expect("call");
    assert_ne!(r.is_error, Some(true), "the pause ended: {}", text_of(&r));
    assert!(text_of(&r).contains(&pg.alice), "{}", text_of(&r));
    let log = warden.log();
    assert!(log.contains("database access is paused"), "the trip is logged:\n{log}");
    assert!(!log.contains("panicked"), "{log}");
}
