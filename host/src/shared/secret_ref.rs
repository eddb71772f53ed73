//! Secret settings given by reference: `env:NAME`, `file:PATH`, or the value itself.

/// Why a secret reference could not be resolved. Each names the setting it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// `env:NAME` names a variable that is not set.
    #[error("{field} refers to the environment variable {name}, which is not set")]
    MissingVariable {
        /// The setting, e.g. `database.password`.
        field: String,
        /// The variable's name.
        name: String,
    },
    /// `file:PATH` names a file that cannot be read.
    #[error("{field} refers to the file {path}, which cannot be read: {reason}")]
    UnreadableFile {
        /// The setting, e.g. `database.password`.
        field: String,
        /// The file's path.
        path: String,
        /// The I/O error's text.
        reason: String,
    },
}

/// Resolves a secret setting: `env:NAME` reads the environment, `file:PATH` reads a file
/// (trailing newline dropped), anything else is the value itself. Errors name `field`.
pub fn resolve_reference(field: &str, value: &str) -> Result<String, ReferenceError> {
    if let Some(name) = value.strip_prefix("env:") {
        std::env::var(name)
            .map_err(|_| ReferenceError::MissingVariable { field: field.to_owned(), name: name.to_owned() })
    } else if let Some(path) = value.strip_prefix("file:") {
        std::fs::read_to_string(path).map(|s| s.trim_end_matches(['\n', '\r']).to_owned()).map_err(|e| {
            ReferenceError::UnreadableFile {
                field: field.to_owned(),
                path: path.to_owned(),
                reason: e.to_string(),
            }
        })
    } else {
        Ok(value.to_owned())
    }
}
