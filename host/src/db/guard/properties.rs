//! Property tests of the guard (issue 16): whatever the quoting, escaping, comments or nesting, a
//! denied function or a second statement never passes, nothing makes it panic, and what it sends
//! re-parses to the tree it checked.

use proptest::prelude::*;
use sqlparser::parser::Parser;

use super::*;

const DIALECTS: [SqlDialect; 5] =
    [SqlDialect::Postgresql, SqlDialect::Sqlite, SqlDialect::Mysql, SqlDialect::Mssql, SqlDialect::Generic];

fn config() -> ProptestConfig {
    ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() }
}

/// A denied function's name, in any letter case, maybe schema-qualified, maybe quoted.
fn denied_name() -> impl Strategy<Value = String> {
    let names = prop::sample::select(vec![
        "set_config",
        "pg_terminate_backend",
        "pg_cancel_backend",
        "dblink",
        "dblink_exec",
        "pg_read_file",
        "pg_read_binary_file",
        "pg_ls_dir",
        "lo_import",
        "lo_export",
        "pg_advisory_lock",
        "pg_try_advisory_lock_shared",
        "pg_notify",
        "query_to_xml",
        "load_file",
        "get_lock",
        "xp_cmdshell",
        "openrowset",
    ]);
    (names, prop::collection::vec(any::<bool>(), 32), 0..3usize, any::<bool>()).prop_map(
        |(name, upper, schema, quoted)| {
            let cased: String = name
                .chars()
                .zip(upper.iter().cycle())
                .map(|(c, up)| if *up { c.to_ascii_uppercase() } else { c })
                .collect();
            let ident = if quoted { format!("\"{cased}\"") } else { cased };
            match schema {
                0 => ident,
                1 => format!("pg_catalog.{ident}"),
                _ => format!("\"public\".{ident}"),
            }
        },
    )
}

/// A comment or whitespace to put between tokens.
fn gap() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        " ",
        "  ",
        "\n",
        "\t",
        " /* c */ ",
        "/**/",
        " /* a /* nested */ b */ ",
        " -- line\n",
    ])
}

/// A function argument: literals in the quoting styles the lexers must agree on.
fn argument() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "'a'",
        "'it''s'",
        "'a;b'",
        "'--'",
        "'/*'",
        "$$x$$",
        "$tag$ ; RESET ROLE $tag$",
        "E'\\''",
        "1",
        "NULL",
        "'role', 'postgres', false",
        "pg_backend_pid()",
    ])
}

/// The expression `inner`, wrapped `depth` times in expressions that may hold it.
fn nested(inner: String, depth: u32) -> BoxedStrategy<String> {
    if depth == 0 {
        return Just(inner).boxed();
    }
    let wrappers = prop::sample::select(vec![
        "(SELECT {})",
        "coalesce({}, 'x')",
        "CASE WHEN true THEN {} ELSE NULL END",
        "ARRAY[{}]",
        "CAST({} AS text)",
        "(SELECT v FROM (SELECT {} AS v) AS sub)",
        "(WITH c AS (SELECT {} AS v) SELECT v FROM c)",
        "EXISTS (SELECT {})",
        "lower({}::text)",
    ]);
    wrappers.prop_flat_map(move |w| nested(w.replace("{}", &inner), depth - 1)).boxed()
}

/// A statement calling a denied function, somewhere inside.
fn statement_with_denied_call() -> impl Strategy<Value = String> {
    let statements = prop::sample::select(vec![
        "SELECT {}",
        "SELECT * FROM orders WHERE id = {}",
        "SELECT 1 UNION ALL SELECT {}",
        "SELECT count(*) FILTER (WHERE {} IS NULL) FROM orders",
        "WITH c AS (SELECT {} AS v) SELECT v FROM c",
        "SELECT id FROM orders ORDER BY {}",
        "SELECT * FROM FROMFN AS t",
    ]);
    (denied_name(), argument(), gap(), gap(), 0..4u32, statements).prop_flat_map(
        |(name, arg, before, after, depth, statement)| {
            let call = format!("{name}{before}({after}{arg})");
            if statement.contains("FROMFN") {
                // As a table function: FROM dblink(...), FROM pg_ls_dir(...).
                Just(statement.replace("FROMFN", &call)).boxed()
            } else {
                nested(call, depth).prop_map(move |e| statement.replace("{}", &e)).boxed()
            }
        },
    )
}

/// A second statement, after a safe first one.
fn two_statements() -> impl Strategy<Value = String> {
    let first = prop::sample::select(vec![
        "SELECT 1",
        "SELECT * FROM orders WHERE id = ?",
        "SELECT 'a;b' AS x",
        "SELECT $$;$$",
        "WITH t AS (SELECT 1 AS a) SELECT a FROM t",
    ]);
    let separator = prop::sample::select(vec![";", " ;", ";\n", "; /* c */ ", ";-- c\n", "/* x */;"]);
    let second = prop::sample::select(vec![
        "SELECT 2",
        "RESET ROLE",
        "SET ROLE postgres",
        "RESET SESSION AUTHORIZATION",
        "COMMIT",
        "DELETE FROM orders",
        "SELECT set_config('role', 'postgres', false)",
        "DROP TABLE orders",
    ]);
    (first, separator, second, gap()).prop_map(|(a, s, b, g)| format!("{a}{s}{g}{b}"))
}

/// A statement the guard should pass: literals, identifiers and comments in many spellings.
fn safe_select() -> impl Strategy<Value = String> {
    let column =
        prop::sample::select(vec!["id", "total", "\"owner\"", "o.id", "count(*)", "lower(owner)", "?"]);
    let literal = prop::sample::select(vec![
        "'plain'",
        "'it''s'",
        "'semi;colon'",
        "'-- not a comment'",
        "'/* not a comment */'",
        "'ünïcødé'",
        "$$dollar ' quoted$$",
        "E'esc\\'aped'",
        "42",
        "-1.5e3",
        "NULL",
        "?",
    ]);
    (prop::collection::vec(column, 1..4), prop::collection::vec(literal, 0..3), gap(), any::<bool>())
        .prop_map(|(columns, literals, gap, order)| {
            let mut sql = format!("SELECT{gap}{} FROM orders AS o", columns.join(", "));
            for (i, l) in literals.iter().enumerate() {
                sql.push_str(if i == 0 { " WHERE " } else { " AND " });
                sql.push_str(&format!("o.owner{gap}<> {l}"));
            }
            if order {
                sql.push_str(" ORDER BY 1 DESC LIMIT 10");
            }
            sql
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_denied_function_never_passes(sql in statement_with_denied_call()) {
        for dialect in DIALECTS {
            // Where `[…]` quotes an identifier (SQLite, SQL Server), `ARRAY[f(…)]` is the column
            // ARRAY aliased to the name "f(…)": no call, and printed bracketed as it was read.
            if sql.contains("ARRAY[") && matches!(dialect, SqlDialect::Sqlite | SqlDialect::Mssql) {
                continue;
            }
            for (grant, purpose) in [(Grant::ReadOnly, Purpose::Query), (Grant::ReadWrite, Purpose::Query)] {
                if let Ok(c) = check(&sql, dialect, grant, purpose) {
                    prop_assert!(false, "{:?} passed {:?} as {:?}", dialect, sql, c.sql);
                }
            }
        }
    }

    #[test]
    fn a_second_statement_never_passes(sql in two_statements()) {
        for dialect in DIALECTS {
            for grant in [Grant::ReadOnly, Grant::ReadWrite] {
                if let Ok(c) = check(&sql, dialect, grant, Purpose::Query) {
                    prop_assert!(false, "{:?} passed {:?} as {:?}", dialect, sql, c.sql);
                }
            }
        }
    }

    #[test]
    fn what_passes_reparses_to_the_tree_that_was_checked(sql in safe_select()) {
        let dialect = SqlDialect::Postgresql;
        let checked = check(&sql, dialect, Grant::ReadOnly, Purpose::Query);
        prop_assert!(checked.is_ok(), "{:?} was refused: {:?}", sql, checked);
        let Ok(checked) = checked else { return Ok(()) };
        let again = check(&checked.sql, dialect, Grant::ReadOnly, Purpose::Query);
        prop_assert_eq!(again.as_ref().map(|c| c.sql.as_str()), Ok(checked.sql.as_str()));
        prop_assert_eq!(again.map(|c| c.placeholders), Ok(checked.placeholders));
        let parser = parser_dialect(dialect);
        let original = Parser::new(parser.as_ref()).with_tokens_with_locations(odbc_tokens(parser.as_ref(), &sql).unwrap_or_default()).parse_statements();
        let printed = Parser::new(parser.as_ref()).with_tokens_with_locations(odbc_tokens(parser.as_ref(), &checked.sql).unwrap_or_default()).parse_statements();
        prop_assert!(original.is_ok());
        prop_assert_eq!(original.ok(), printed.ok(), "the printed statement parses to another tree");
    }

    #[test]
    fn no_input_makes_it_panic(sql in ".{0,300}") {
        for dialect in DIALECTS {
            let _ = check(&sql, dialect, Grant::ReadWrite, Purpose::Execute);
        }
    }

    #[test]
    fn deep_nesting_is_refused_without_exhausting_the_stack(depth in 40..400usize, open in prop::sample::select(vec!["(", "(SELECT ", "ARRAY[", "coalesce("])) {
        let close = match open { "ARRAY[" => "]", _ => ")" };
        let sql = format!("SELECT {}1{}", open.repeat(depth), close.repeat(depth));
        for dialect in DIALECTS {
            let _ = check(&sql, dialect, Grant::ReadOnly, Purpose::Query);
        }
    }
}
