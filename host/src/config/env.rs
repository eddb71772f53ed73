//! `WARDEN__<SECTION>__<KEY>` environment overrides, applied to the parsed TOML table.

use super::ConfigError;

const PREFIX: &str = "WARDEN__";

/// Applies every `WARDEN__SECTION__KEY=value` in `env` to `table`. Keys are lower-cased; the value
/// is parsed as a TOML value (number, bool, array...) when it parses, else taken as a string.
pub(super) fn apply_overrides(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    for (name, raw) in env {
        let Some(path) = name.strip_prefix(PREFIX) else { continue };
        let keys: Vec<String> = path.split("__").map(str::to_ascii_lowercase).collect();
        if keys.len() != 2 || keys.iter().any(String::is_empty) {
            return Err(ConfigError::Env {
                name,
                reason: "expected WARDEN__<SECTION>__<KEY>, e.g. WARDEN__SERVER__BIND".into(),
            });
        }
        let value = parse_value(&raw);
        let section = table.entry(keys[0].clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let Some(section) = section.as_table_mut() else {
            return Err(ConfigError::Env { name, reason: format!("{} is not a section", keys[0]) });
        };
        section.insert(keys[1].clone(), value);
    }
    Ok(())
}

fn parse_value(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}
