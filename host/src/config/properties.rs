//! Property tests of the configuration (issue 16): no file or environment makes loading panic,
//! a numeric setting is accepted exactly within its range, the refusal names the field, and an
//! environment override means the same as the file.

use proptest::prelude::*;

use super::*;

fn config() -> ProptestConfig {
    ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() }
}

/// Numeric settings and the range validation accepts.
const RANGES: &[(&str, &str, u64, u64)] = &[
    ("database", "pool_size", 1, 1000),
    ("database", "max_rows", 1, u64::MAX),
    ("database", "max_bytes", 1024, u64::MAX),
    ("database", "max_statements_per_call", 1, u64::MAX),
    ("database", "max_rows_per_call", 1, u64::MAX),
    ("database", "breaker_losses", 1, u32::MAX as u64),
    ("database", "breaker_window_ms", 1, u64::MAX),
    ("database", "breaker_pause_ms", 1, u64::MAX),
];

fn load(text: &str, env: &[(&str, String)]) -> Result<Config, ConfigError> {
    Config::from_toml(text, "test", env.iter().map(|(k, v)| (k.to_string(), v.clone())))
}

fn fields(e: &ConfigError) -> Vec<String> {
    match e {
        ConfigError::Invalid(problems) => problems.iter().map(|p| p.field.clone()).collect(),
        other => vec![other.to_string()],
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn no_file_or_environment_makes_loading_panic(
        text in "(\\[[a-z_]{1,10}\\]\n|[a-z_]{1,16} = [0-9a-z\"\\[\\]., :/-]{0,24}\n){0,8}",
        name in "WARDEN__[A-Z_]{0,20}",
        value in "[ -~]{0,20}",
    ) {
        let _ = load(&text, &[]);
        let _ = load("", &[(name.as_str(), value)]);
    }

    #[test]
    fn a_number_is_accepted_exactly_within_its_range(which in 0..RANGES.len(), value in 0u64..5000, scale in 0u32..3) {
        let (section, key, min, max) = RANGES[which];
        // Some values near the low end, some far above it.
        let value = value * 1000u64.pow(scale);
        let field = format!("{section}.{key}");
        let from_file = load(&format!("[{section}]\n{key} = {value}\n"), &[]);
        let env_name = format!("WARDEN__{}__{}", section.to_uppercase(), key.to_uppercase());
        let from_env = load("", &[(env_name.as_str(), value.to_string())]);
        prop_assert_eq!(from_file.is_ok(), from_env.is_ok(), "file and environment disagree on {} = {}", field, value);
        if (min..=max).contains(&value) {
            prop_assert!(from_file.is_ok(), "{} = {} was refused: {:?}", field, value, from_file.err());
        } else {
            let e = from_file.err();
            prop_assert!(e.as_ref().is_some_and(|e| fields(e).iter().any(|f| f.contains(&field))), "{} = {}: {:?}", field, value, e);
        }
    }
}
