//! Per-query cost of impersonation and checking (issue 5): the same one-row SELECT on the same
//! pooled psqlODBC connection to the local PostgreSQL, (a) raw through odbc-api in autocommit, and
//! (b) through a Warden call session: SQL guard, transaction, `set_config('role', ?, true)`, the
//! `current_user` checks before and after the statement, rollback, and the pool-login check.
//!
//! Creates its own database and roles (unique names) and drops them afterwards. Run with
//! `make bench` or `cargo bench -p warden --bench db_query`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark may stop at a broken set-up

use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use odbc_api::{ConnectionOptions, IntoParameter};
use warden::config::Config;
use warden::db::{Budget, Database, Grant, SqlValue};
use warden::shared::{Identity, IdentityData};

fn psql(db: &str, sql: &str) {
    let ok = Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", db, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "psql failed: {sql}");
}

/// Drops the bench's database and roles, also when the bench panics.
struct Cleanup {
    db: String,
    roles: [String; 2],
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-q"])
            .args(["-c", &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.db)])
            .args(["-c", &format!("DROP ROLE IF EXISTS {}", self.roles[0])])
            .args(["-c", &format!("DROP ROLE IF EXISTS {}", self.roles[1])])
            .status();
    }
}

const QUERY: &str = "SELECT id, owner, item FROM orders WHERE id = ?";

fn db_query(c: &mut Criterion) {
    let suffix = std::process::id();
    let (db, login, alice) = (format!("warden_b_{suffix}"), format!("wbl_{suffix}"), format!("wba_{suffix}"));
    let _cleanup = Cleanup { db: db.clone(), roles: [login.clone(), alice.clone()] };
    psql("postgres", &format!("CREATE DATABASE {db}"));
    psql(
        "postgres",
        &format!("CREATE ROLE {alice} NOLOGIN; CREATE ROLE {login} LOGIN; GRANT {alice} TO {login};"),
    );
    psql(
        &db,
        &format!(
            "CREATE TABLE orders (id int PRIMARY KEY, owner text, item text); \
             INSERT INTO orders SELECT g, 'u' || g, 'item ' || g FROM generate_series(1, 1000) g; \
             GRANT SELECT ON orders TO {alice}, {login};"
        ),
    );
    let conn_str =
        format!("Driver={{PostgreSQL Unicode}};Server=127.0.0.1;Port=5432;Database={db};Uid={login};");

    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("tokio");
    let data = tempfile::tempdir().expect("tempdir");
    let config = Config::from_toml(
        &format!(
            "[server]\ndata_dir = {:?}\n[database]\nconnection_string = {conn_str:?}\ndialect = \"postgresql\"\n\
             impersonation = \"set-role\"\npool_size = 1\n",
            data.path()
        ),
        "bench",
        std::iter::empty(),
    )
    .expect("config");
    let database = Database::open(&config).expect("open").expect("enabled");
    let caller = Identity::new(IdentityData {
        subject: alice.clone(),
        issuer: "bench".into(),
        username: Some(alice.clone()),
        email: None,
        client_id: None,
        scopes: vec![],
        permissions: vec![],
        claims: serde_json::json!({}),
    });

    let mut group = c.benchmark_group("db_query");
    group.measurement_time(Duration::from_secs(8));

    // (a) raw: the statement alone on one open connection, run on a blocking thread as Warden does.
    let env = odbc_api::environment().expect("odbc env");
    let raw = std::sync::Arc::new(std::sync::Mutex::new(
        env.connect_with_connection_string(&conn_str, ConnectionOptions::default()).expect("connect"),
    ));
    group.bench_function("raw_select", |b| {
        b.iter(|| {
            let raw = raw.clone();
            rt.block_on(async move {
                tokio::task::spawn_blocking(move || {
                    let conn = raw.lock().expect("lock");
                    let id = 7i64;
                    let mut cursor =
                        conn.execute(QUERY, &id.into_parameter(), None).expect("query").expect("cursor");
                    use odbc_api::Cursor;
                    let mut n = 0;
                    while let Some(_row) = cursor.next_row().expect("row") {
                        n += 1;
                    }
                    assert_eq!(n, 1);
                })
                .await
            })
            .expect("join");
        });
    });

    // (b) the same statement through a Warden call session (one pooled connection, reused).
    group.bench_function("warden_session_select", |b| {
        b.iter(|| {
            rt.block_on(async {
                let deadline = Instant::now() + Duration::from_secs(5);
                let mut session =
                    database.session("bench", &caller, Grant::ReadOnly, Budget::default(), deadline);
                let rows = session.query(QUERY, vec![SqlValue::Int(7)]).await.expect("session query");
                assert_eq!(rows.rows.len(), 1);
                session.finish(true).await;
            });
        });
    });
    group.finish();

    drop(raw);
    drop(database);
}

criterion_group!(benches, db_query);
criterion_main!(benches);
