use super::*;

fn pg_read(sql: &str) -> Result<Checked, GuardError> {
    check(sql, SqlDialect::Postgresql, Grant::ReadOnly, Purpose::Query)
}

fn refused(sql: &str) -> String {
    match pg_read(sql) {
        Ok(c) => panic!("{sql:?} passed the guard as {:?}", c.sql),
        Err(e) => e.to_string(),
    }
}

#[test]
fn plain_select_passes_and_is_reprinted_without_comments() {
    let c = pg_read("select id, total /* the amount */ from orders where owner = ? -- trailing\n").unwrap();
    assert_eq!(c.sql, "SELECT id, total FROM orders WHERE owner = ?");
    assert_eq!(c.placeholders, 1);
}

#[test]
fn with_select_passes() {
    let c = pg_read("WITH t AS (SELECT 1 AS a) SELECT a FROM t").unwrap();
    assert!(c.sql.starts_with("WITH t AS"), "{}", c.sql);
}

#[test]
fn session_changing_statements_are_refused() {
    for sql in [
        "RESET SESSION AUTHORIZATION",
        "RESET ROLE",
        "SET ROLE postgres",
        "SET SESSION AUTHORIZATION postgres",
        "SET TRANSACTION READ WRITE",
        "COMMIT",
        "DISCARD ALL",
        "DO $$ BEGIN PERFORM 1; END $$",
        "COPY orders TO '/tmp/x'",
        "CALL p()",
        "GRANT ALL ON orders TO public",
        "CREATE TABLE x (a int)",
        "DROP TABLE orders",
        "ALTER ROLE alice SUPERUSER",
    ] {
        // Refused either as a kind that is not permitted or, for syntax sqlparser does not know
        // (DO), as a statement that does not parse: both mean it never reaches the driver.
        let reason = refused(sql);
        assert!(reason.contains("not permitted") || reason.contains("does not parse"), "{sql}: {reason}");
    }
}

#[test]
fn question_mark_operators_are_refused_because_odbc_reads_them_as_markers() {
    assert!(refused("SELECT data ?| array['a'] FROM docs").contains("parameter marker"));
    let c = pg_read("SELECT * FROM docs WHERE id = ? AND kind = ?").unwrap();
    assert_eq!(c.placeholders, 2);
}

#[test]
fn two_statements_are_refused_with_and_without_placeholders() {
    for sql in [
        "SELECT 1; RESET ROLE",
        "SELECT * FROM orders WHERE id = ?; RESET ROLE",
        "COMMIT; SELECT 1",
        "SELECT 1 /* ; */ ; RESET SESSION AUTHORIZATION",
        "SELECT 1 -- comment\n; SET ROLE postgres",
    ] {
        let reason = refused(sql);
        assert!(reason.contains("not permitted") || reason.contains("statements"), "{sql}: {reason}");
    }
}

#[test]
fn session_functions_are_refused_in_any_case_or_schema() {
    for sql in [
        "SELECT set_config('role', 'postgres', false)",
        "SELECT SeT_CoNfIg('role', 'postgres', false)",
        "SELECT pg_catalog.set_config('role', 'postgres', false)",
        "SELECT \"set_config\"('role', 'postgres', false)",
        "SELECT pg_read_file('/etc/passwd')",
        "SELECT * FROM dblink('host=x', 'select 1') AS t(a int)",
        "SELECT * FROM pg_ls_dir('/')",
        "SELECT pg_advisory_lock(1)",
        "SELECT query_to_xml('reset role', true, true, '')",
        "SELECT (SELECT set_config('role', 'x', false))",
        "SELECT 1 WHERE EXISTS (SELECT lo_import('/etc/passwd'))",
    ] {
        let reason = refused(sql);
        assert!(reason.contains("function"), "{sql}: {reason}");
    }
}

#[test]
fn transaction_scoped_advisory_locks_pass() {
    pg_read("SELECT pg_advisory_xact_lock(1)").unwrap();
}

#[test]
fn writes_are_refused_under_read_only_and_pass_under_read_write() {
    for sql in [
        "INSERT INTO orders (id) VALUES (?)",
        "UPDATE orders SET total = 0",
        "DELETE FROM orders",
        "WITH gone AS (DELETE FROM orders RETURNING id) SELECT * FROM gone",
    ] {
        let reason = refused(sql);
        assert!(reason.contains("read-only"), "{sql}: {reason}");
    }
    let c = check(
        "UPDATE orders SET total = ? WHERE id = ?",
        SqlDialect::Postgresql,
        Grant::ReadWrite,
        Purpose::Execute,
    )
    .unwrap();
    assert_eq!(c.placeholders, 2);
    let e = check(
        "INSERT INTO orders (id) VALUES (1)",
        SqlDialect::Postgresql,
        Grant::ReadOnly,
        Purpose::Execute,
    )
    .unwrap_err();
    assert!(e.to_string().contains("read-only"), "{e}");
}

#[test]
fn select_into_and_row_locks_are_refused() {
    assert!(refused("SELECT * INTO stolen FROM orders").contains("INTO"));
    assert!(refused("SELECT * FROM orders FOR UPDATE").contains("FOR UPDATE"));
}

#[test]
fn garbage_and_empty_input_are_invalid() {
    assert!(matches!(pg_read("SELEC 1"), Err(GuardError::Invalid(_))));
    assert!(matches!(pg_read("   "), Err(GuardError::Invalid(_))));
    assert!(matches!(pg_read(&"x".repeat(MAX_SQL_BYTES + 1)), Err(GuardError::Invalid(_))));
}

#[test]
fn deeply_nested_input_is_refused_without_overflowing_the_stack() {
    let sql = format!("SELECT {}1{}", "(".repeat(5000), ")".repeat(5000));
    assert!(pg_read(&sql).is_err());
}

#[test]
fn string_literals_survive_reprinting() {
    let c = pg_read("SELECT 'it''s; RESET ROLE' AS s").unwrap();
    assert_eq!(c.sql, "SELECT 'it''s; RESET ROLE' AS s");
}

#[test]
fn sqlite_dialect_parses_its_own_statements() {
    let c = check(
        "SELECT name FROM sqlite_master WHERE type = ?",
        SqlDialect::Sqlite,
        Grant::ReadOnly,
        Purpose::Query,
    )
    .unwrap();
    assert_eq!(c.placeholders, 1);
    assert!(
        check("PRAGMA writable_schema = 1", SqlDialect::Sqlite, Grant::ReadWrite, Purpose::Execute).is_err()
    );
    assert!(
        check("ATTACH DATABASE '/tmp/x' AS x", SqlDialect::Sqlite, Grant::ReadWrite, Purpose::Execute)
            .is_err()
    );
}

#[test]
fn a_with_that_ends_in_a_write_is_a_write() {
    let rw = |sql: &str, purpose| check(sql, SqlDialect::Postgresql, Grant::ReadWrite, purpose);
    for sql in [
        "WITH t AS (SELECT 1 AS id) UPDATE orders SET total = 0 WHERE id IN (SELECT id FROM t)",
        "WITH t AS (SELECT 1 AS id) DELETE FROM orders WHERE id IN (SELECT id FROM t)",
        "WITH t AS (SELECT 1 AS id) INSERT INTO orders (id) SELECT id FROM t",
    ] {
        let c = rw(sql, Purpose::Execute).unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert!(c.sql.starts_with("WITH t AS"), "{}", c.sql);
        let e = refused(sql);
        assert!(e.contains("is a write") && e.contains("read-only"), "{sql}: {e}");
    }
    // A plain WITH … SELECT is still a read: execute refuses it.
    let e = rw("WITH t AS (SELECT 1 AS a) SELECT a FROM t", Purpose::Execute).unwrap_err().to_string();
    assert!(e.contains("use query, not execute"), "{e}");
}
