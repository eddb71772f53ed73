//! A throwaway PostgreSQL database with its own roles on the machine's real server, reached by
//! Warden through the real psqlODBC driver. Names carry a unique suffix, so tests can run in
//! parallel and twice; everything is dropped again when the fixture goes.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};

/// Rows each user owns in `orders`.
pub const ALICE_ORDERS: usize = 3;
/// Rows each user owns in `orders`.
pub const BOB_ORDERS: usize = 2;

/// One database plus roles: `login` (the pool's login, member of `alice` and `bob`), `alice`,
/// `bob`, and `superlogin` (a superuser login for `set-session-authorization`).
///
/// Schema: `orders(id, owner, item, total, placed_on)` with row-level security `owner = current_user`, readable
/// by alice and bob; `salaries` readable by alice only; `notes` writable by alice. Two functions
/// hide what the SQL guard cannot see: `sneaky_write()` inserts into notes, `sneaky_reset()` runs
/// `set_config('role', 'none', false)`.
pub struct PgFixture {
    /// Database name.
    pub database: String,
    /// Pool login (NOSUPERUSER, member of alice and bob).
    pub login: String,
    /// Superuser login.
    pub superlogin: String,
    /// A user with grants on orders and salaries.
    pub alice: String,
    /// A user with grants on orders only.
    pub bob: String,
}

/// Runs SQL as the `postgres` superuser against `database`; returns psql's unaligned output.
pub fn psql(database: &str, sql: &str) -> anyhow::Result<String> {
    let out = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            database,
            "-v",
            "ON_ERROR_STOP=1",
            "-Atq",
            "-c",
            sql,
        ])
        .output()
        .context("run psql")?;
    if !out.status.success() {
        bail!("psql failed on {sql:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

impl PgFixture {
    /// Creates the database, roles, tables, grants and rows.
    pub fn create() -> anyhow::Result<PgFixture> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.subsec_nanos();
        let suffix =
            format!("{}_{}_{:x}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed), nanos);
        let f = PgFixture {
            database: format!("warden_t_{suffix}"),
            login: format!("wlogin_{suffix}"),
            superlogin: format!("wsuper_{suffix}"),
            alice: format!("alice_{suffix}"),
            bob: format!("bob_{suffix}"),
        };
        psql("postgres", &format!("CREATE DATABASE {}", f.database))?;
        psql(
            "postgres",
            &format!(
                "CREATE ROLE {alice} NOLOGIN; CREATE ROLE {bob} NOLOGIN; \
                 CREATE ROLE {login} LOGIN NOSUPERUSER NOINHERIT; GRANT {alice}, {bob} TO {login}; \
                 CREATE ROLE {superlogin} LOGIN SUPERUSER;",
                alice = f.alice,
                bob = f.bob,
                login = f.login,
                superlogin = f.superlogin
            ),
        )?;
        psql(
            &f.database,
            &format!(
                "CREATE TABLE orders (id serial PRIMARY KEY, owner text NOT NULL, item text NOT NULL, \
                   total numeric NOT NULL DEFAULT 10, placed_on date NOT NULL DEFAULT current_date); \
                 ALTER TABLE orders ENABLE ROW LEVEL SECURITY; \
                 CREATE POLICY own_rows ON orders USING (owner = current_user); \
                 GRANT SELECT ON orders TO {alice}, {bob}; \
                 INSERT INTO orders (owner, item) VALUES ('{alice}', 'anvil'), ('{alice}', 'rope'), ('{alice}', 'skates'), \
                   ('{bob}', 'stapler'), ('{bob}', 'paint'); \
                 CREATE TABLE salaries (who text, amount int); INSERT INTO salaries VALUES ('ceo', 1); \
                 GRANT SELECT ON salaries TO {alice}; \
                 CREATE TABLE notes (id serial PRIMARY KEY, body text); \
                 GRANT SELECT, INSERT ON notes TO {alice}; GRANT USAGE ON SEQUENCE notes_id_seq TO {alice}; \
                 GRANT CONNECT ON DATABASE {db} TO {login}; \
                 CREATE FUNCTION sneaky_write() RETURNS int LANGUAGE sql AS \
                   $$ INSERT INTO notes (body) VALUES ('through a function') RETURNING 1 $$; \
                 CREATE FUNCTION sneaky_reset() RETURNS text LANGUAGE sql AS $$ SELECT set_config('role', 'none', false) $$;",
                alice = f.alice,
                bob = f.bob,
                login = f.login,
                db = f.database
            ),
        )?;
        Ok(f)
    }

    /// The ODBC connection string for `login` through psqlODBC (trust auth: no password).
    pub fn connection_string(&self, login: &str) -> String {
        format!(
            "Driver={{PostgreSQL Unicode}};Server=127.0.0.1;Port=5432;Database={};Uid={login};",
            self.database
        )
    }

    /// A `[database]` table for Warden using `impersonation` (with the matching login) and `pool_size`.
    pub fn warden_config(&self, impersonation: &str, pool_size: usize) -> String {
        let login = if impersonation == "set-session-authorization" { &self.superlogin } else { &self.login };
        format!(
            "[database]\nconnection_string = {:?}\ndialect = \"postgresql\"\nimpersonation = {impersonation:?}\n\
             pool_size = {pool_size}\nstatement_timeout_ms = 2000\nhealth_check_idle_ms = 60000\n",
            self.connection_string(login)
        )
    }

    /// Runs SQL in this database as the `postgres` superuser.
    pub fn sql(&self, sql: &str) -> anyhow::Result<String> {
        psql(&self.database, sql)
    }

    /// Closes every connection the pool logins hold, as a server restart does.
    pub fn kill_connections(&self) -> anyhow::Result<String> {
        psql(
            "postgres",
            &format!(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename IN ('{}', '{}')",
                self.login, self.superlogin
            ),
        )
    }
}

impl Drop for PgFixture {
    fn drop(&mut self) {
        let _ = psql("postgres", &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.database));
        let _ = psql(
            "postgres",
            &format!(
                "DROP ROLE IF EXISTS {}; DROP ROLE IF EXISTS {}; DROP ROLE IF EXISTS {}; DROP ROLE IF EXISTS {};",
                self.login, self.superlogin, self.alice, self.bob
            ),
        );
    }
}
