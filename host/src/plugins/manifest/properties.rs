//! Property tests of manifests (issue 16): no text makes the parser panic, and a manifest is
//! accepted exactly when every limit it asks for is within its ceilings, with the values it asked
//! for; a refusal names a field that is really out of range.

use proptest::prelude::*;

use super::*;

fn config() -> ProptestConfig {
    ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() }
}

/// A limit to ask for: absent, or any value from 0 to twice the ceiling.
fn ask(ceiling: u64) -> impl Strategy<Value = Option<u64>> {
    prop::option::of(0..=ceiling * 2)
}

fn access() -> impl Strategy<Value = DatabaseAccess> {
    prop::sample::select(vec![DatabaseAccess::None, DatabaseAccess::ReadOnly, DatabaseAccess::ReadWrite])
}

fn access_text(a: DatabaseAccess) -> &'static str {
    match a {
        DatabaseAccess::None => "none",
        DatabaseAccess::ReadOnly => "read-only",
        DatabaseAccess::ReadWrite => "read-write",
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn no_text_makes_the_parser_panic(text in "(\\[[a-z._\"]{0,20}\\]\n|[a-z_]{1,12} = [0-9a-z\"\\[\\]{}., -]{0,20}\n){0,8}") {
        let _ = Manifest::parse("p", &text, &RuntimeConfig::default());
    }

    #[test]
    fn a_manifest_is_accepted_exactly_when_it_asks_within_its_ceilings(
        memory in ask(512),
        timeout in ask(60_000),
        output in ask(1024),
        statements in ask(100),
        rows in ask(10_000),
        asked_access in access(),
        ceiling_access in access(),
    ) {
        let rt = RuntimeConfig::default();
        let db = DatabaseConfig::default();
        let mut ceilings = Ceilings::server(&rt).with_database(&db);
        ceilings.database = ceiling_access;
        let mut text = String::from("[limits]\n");
        for (key, value) in [("memory_mb", memory), ("timeout_ms", timeout), ("max_output_kb", output)] {
            if let Some(v) = value {
                text.push_str(&format!("{key} = {v}\n"));
            }
        }
        text.push_str(&format!("[database]\naccess = \"{}\"\n", access_text(asked_access)));
        for (key, value) in [("statements_per_call", statements), ("rows_per_call", rows)] {
            if let Some(v) = value {
                text.push_str(&format!("{key} = {v}\n"));
            }
        }
        text.push_str("[tools.t]\n");
        let within = |v: Option<u64>, max: u64| v.is_none_or(|v| (1..=max).contains(&v));
        let out_of_range: Vec<&str> = [
            ("limits.memory_mb", within(memory, rt.max_memory_mb)),
            ("limits.timeout_ms", within(timeout, rt.max_timeout_ms)),
            ("limits.max_output_kb", within(output, rt.max_output_kb)),
            ("database.access", asked_access <= ceiling_access),
            ("database.statements_per_call", within(statements, db.max_statements_per_call)),
            ("database.rows_per_call", within(rows, db.max_rows_per_call)),
        ]
        .into_iter()
        .filter(|(_, ok)| !ok)
        .map(|(field, _)| field)
        .collect();
        match Manifest::parse_within("p", &text, &ceilings) {
            Ok(m) => {
                prop_assert!(out_of_range.is_empty(), "accepted although {:?} are out of range:\n{}", out_of_range, text);
                prop_assert_eq!(m.limits.memory_bytes as u64, memory.unwrap_or(rt.default_memory_mb) * 1024 * 1024);
                prop_assert_eq!(m.limits.timeout_ms, timeout.unwrap_or(rt.default_timeout_ms));
                prop_assert_eq!(m.limits.max_output_bytes as u64, output.unwrap_or(rt.max_output_kb) * 1024);
                prop_assert_eq!(m.database, asked_access);
                prop_assert_eq!(m.database_budget.statements, statements.unwrap_or(db.max_statements_per_call));
                prop_assert_eq!(m.database_budget.rows, rows.unwrap_or(db.max_rows_per_call));
            }
            Err(ManifestError::Field { field, .. }) => {
                prop_assert!(out_of_range.contains(&field.as_str()), "refused naming {}, but out of range are {:?}:\n{}", field, out_of_range, text);
            }
            Err(other) => prop_assert!(false, "{}:\n{}", other, text),
        }
    }
}
