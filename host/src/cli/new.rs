//! `warden new NAME --lang rust|python|typescript`: a plugin that builds and loads unchanged.
//!
//! Writes `<dir>/<NAME>/` with the source of one tool (`hello`), the manifest (`plugin.toml`), a
//! Makefile whose `make` builds `<NAME>.wasm` with the language's toolchain against this
//! repository's SDK, and whose `make install PLUGIN_DIR=…` copies both into a plugin directory.
//! Nothing is ever overwritten: an existing directory is refused.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use crate::plugins::manifest::is_valid_plugin_name;

/// The languages a plugin can be scaffolded in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// Rust, with `warden-sdk` (sdk/), built by cargo for wasm32-wasip2.
    Rust,
    /// Python, with `warden_sdk` (sdk/python/), built by componentize-py.
    Python,
    /// TypeScript, with `@warden/plugin-sdk` (sdk/typescript/), built by componentize-js.
    Typescript,
}

/// The repository's `sdk/` directory as this binary was built from it.
pub fn default_sdk_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("sdk")
}

/// Writes the plugin `name` in `lang` under `dir`; returns the directory it wrote.
pub fn scaffold(name: &str, lang: Lang, dir: &Path, sdk: &Path) -> anyhow::Result<PathBuf> {
    if !is_valid_plugin_name(name) {
        bail!(
            "{name:?} is not a valid plugin name: use 1-32 characters a-z, 0-9, '-' or '_', starting with a letter"
        );
    }
    let sdk = sdk.canonicalize().with_context(|| {
        format!(
            "the SDK directory {} does not exist: pass --sdk <the repository's sdk/ directory>",
            sdk.display()
        )
    })?;
    let (marker, what) = match lang {
        Lang::Rust => ("Cargo.toml", "the Rust SDK (sdk/Cargo.toml)"),
        Lang::Python => ("python/warden_sdk/__init__.py", "the Python SDK (sdk/python)"),
        Lang::Typescript => ("typescript/bin/build.mjs", "the TypeScript SDK (sdk/typescript)"),
    };
    if !sdk.join(marker).is_file() {
        bail!("{} does not hold {what}: pass --sdk <the repository's sdk/ directory>", sdk.display());
    }
    // The path goes into TOML, JSON and Makefiles unquoted: keep to characters all of them take.
    let path = sdk.to_str().unwrap_or_default();
    if path.is_empty()
        || !path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-' | '+' | '@' | ','))
    {
        bail!(
            "the SDK path {} holds characters the generated Makefile and manifests cannot take \
             (spaces, quotes, `$`, `#`, non-ASCII...): move the repository, or pass --sdk through a symlink without them",
            sdk.display()
        );
    }
    if lang == Lang::Rust && RESERVED_CRATE_NAMES.contains(&name.replace('-', "_").as_str()) {
        bail!(
            "{name:?} cannot be a Rust crate name here (a keyword, a standard crate or a dependency): choose another name"
        );
    }
    let root = dir.join(name);
    if root.symlink_metadata().is_ok() {
        bail!("{} already exists: choose another name or --dir (nothing was written)", root.display());
    }
    let files = files(name, lang, &sdk);
    // A staging directory of our own (create_dir fails if it exists), renamed into place whole.
    let staging = dir.join(format!(".{name}.new-{}", std::process::id()));
    std::fs::create_dir(&staging).with_context(|| format!("cannot create {}", staging.display()))?;
    let written = (|| -> std::io::Result<()> {
        if root.symlink_metadata().is_ok() {
            return Err(std::io::Error::new(std::io::ErrorKind::AlreadyExists, "created meanwhile"));
        }
        for (path, text) in &files {
            let path = staging.join(path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, text)?;
        }
        std::fs::rename(&staging, &root)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e).with_context(|| format!("cannot write {}", root.display()));
    }
    Ok(root)
}

/// Names a Rust scaffold cannot take (with `-` as `_`): keywords, the standard crates, and the
/// scaffold's own dependencies.
const RESERVED_CRATE_NAMES: &[&str] = &[
    "as",
    "async",
    "await",
    "break",
    "const",
    "continue",
    "crate",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "fn",
    "for",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "match",
    "mod",
    "move",
    "mut",
    "pub",
    "ref",
    "return",
    "self",
    "static",
    "struct",
    "super",
    "trait",
    "true",
    "type",
    "unsafe",
    "use",
    "where",
    "while",
    "abstract",
    "become",
    "box",
    "do",
    "final",
    "gen",
    "macro",
    "override",
    "priv",
    "try",
    "typeof",
    "unsized",
    "virtual",
    "yield",
    "alloc",
    "core",
    "std",
    "test",
    "proc_macro",
    "serde",
    "schemars",
    "warden_sdk",
];

/// The files of the plugin, by path relative to its directory.
fn files(name: &str, lang: Lang, sdk: &Path) -> Vec<(&'static str, String)> {
    let crate_name = name.replace('-', "_");
    let sdk = sdk.display().to_string();
    let fill = |template: &str| {
        template.replace("{name}", name).replace("{crate}", &crate_name).replace("{sdk}", &sdk)
    };
    let mut files = vec![("plugin.toml", fill(MANIFEST)), ("README.md", fill(README))];
    match lang {
        Lang::Rust => {
            files.push(("Cargo.toml", fill(RUST_CARGO)));
            files.push(("src/lib.rs", fill(RUST_LIB)));
            files.push(("Makefile", fill(&format!("{RUST_MAKEFILE}{INSTALL_RULE}"))));
            files.push((".gitignore", "/target\n/*.wasm\n".to_owned()));
        }
        Lang::Python => {
            files.push(("app.py", fill(PYTHON_APP)));
            files.push(("Makefile", fill(&format!("{PYTHON_MAKEFILE}{INSTALL_RULE}"))));
            files.push((".gitignore", "/*.wasm\n__pycache__/\n".to_owned()));
        }
        Lang::Typescript => {
            files.push(("app.ts", fill(TS_APP)));
            files.push(("Makefile", fill(&format!("{TS_MAKEFILE}{INSTALL_RULE}"))));
            files.push(("tsconfig.json", fill(TS_CONFIG)));
            files.push((".gitignore", "/*.wasm\n".to_owned()));
        }
    }
    files
}

const MANIFEST: &str = r#"# Manifest of the `{name}` plugin: what it may do. Warden serves only what is listed here, as
# "{name}.<tool>"; see the README's "Plugin manifest" for every field.
[plugin]
name = "{name}"
description = "The {name} plugin"

[limits]
memory_mb = 64
timeout_ms = 2000

# A caller needs every scope listed to see and call the tool ([] = any authenticated caller).
[tools.hello]
scopes = []
"#;

const README: &str = r#"# {name}

A Warden plugin. `make` builds `{name}.wasm`; `make install PLUGIN_DIR=/path/to/plugins` copies it
and its manifest (`plugin.toml`, as `{name}.toml`) into Warden's plugin directory, where it goes
live without a restart. `warden check` validates it and prints its tools.
"#;

const RUST_CARGO: &str = r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
warden-sdk = { path = "{sdk}" }
serde = { version = "1", features = ["derive"] }
schemars = "1"

[profile.release]
opt-level = "s"
strip = true
codegen-units = 4

# Built on its own, not as part of an enclosing workspace.
[workspace]
"#;

const RUST_LIB: &str = r#"//! The {name} plugin.

use schemars::JsonSchema;
use serde::Deserialize;
use warden_sdk::{Context, ToolError, Tools, export_tools};

#[derive(Deserialize, JsonSchema)]
struct HelloArgs {
    /// Who to greet.
    name: String,
}

fn hello(cx: &Context, args: HelloArgs) -> Result<String, ToolError> {
    if args.name.trim().is_empty() {
        return Err(ToolError::InvalidArguments("name must not be empty".into()));
    }
    Ok(format!("Hello, {}! You are {}.", args.name.trim(), cx.caller.subject))
}

fn tools() -> Tools {
    Tools::new().tool("hello", "Greets someone by name", hello)
}

export_tools!(tools());
"#;

const RUST_MAKEFILE: &str = r#"# `make`: {name}.wasm (cargo, wasm32-wasip2). `make install PLUGIN_DIR=...`: into Warden's plugin directory.
CARGO ?= cargo
PLUGIN_DIR ?= plugins
TARGET_DIR ?= target

{name}.wasm: Cargo.toml src/lib.rs
	$(CARGO) build --release --target wasm32-wasip2 --target-dir $(TARGET_DIR)
	cp $(TARGET_DIR)/wasm32-wasip2/release/{crate}.wasm $@
"#;

/// The `install` target every scaffold's Makefile ends with (temporary names, then rename).
const INSTALL_RULE: &str = r#"
install: {name}.wasm
	mkdir -p $(PLUGIN_DIR)
	cp plugin.toml $(PLUGIN_DIR)/.{name}.toml.tmp && mv $(PLUGIN_DIR)/.{name}.toml.tmp $(PLUGIN_DIR)/{name}.toml
	cp {name}.wasm $(PLUGIN_DIR)/.{name}.wasm.tmp && mv $(PLUGIN_DIR)/.{name}.wasm.tmp $(PLUGIN_DIR)/{name}.wasm

.PHONY: install
"#;

const PYTHON_APP: &str = r#""""The {name} plugin."""

from typing import Annotated

from warden_sdk import Context, InvalidArguments, Server, tool  # noqa: F401 (Server: the export)


@tool
def hello(cx: Context, name: Annotated[str, "Who to greet"]) -> str:
    """Greets someone by name."""
    if not name.strip():
        raise InvalidArguments("name must not be empty")
    return f"Hello, {name.strip()}! You are {cx.caller.subject}."
"#;

const PYTHON_MAKEFILE: &str = r#"# `make`: {name}.wasm (componentize-py). `make install PLUGIN_DIR=...`: into Warden's plugin directory.
COMPONENTIZE_PY ?= componentize-py
PLUGIN_DIR ?= plugins
SDK := {sdk}/python

{name}.wasm: app.py
	$(COMPONENTIZE_PY) componentize app -p . -p $(SDK) -o $@.tmp
	mv $@.tmp $@
"#;

const TS_APP: &str = r#"// The {name} plugin.
import { invalidArguments, plugin, tool } from '@warden/plugin-sdk';

const hello = tool({
  name: 'hello',
  description: 'Greets someone by name',
  input: {
    type: 'object',
    properties: { name: { type: 'string', description: 'Who to greet' } },
    required: ['name'],
  },
  handler: ({ name }, cx) => {
    if (!name.trim()) throw invalidArguments('name must not be empty');
    return `Hello, ${name.trim()}! You are ${cx.caller.subject}.`;
  },
});

export const server = plugin({ tools: [hello] });
"#;

const TS_MAKEFILE: &str = r#"# `make`: {name}.wasm (type-check, esbuild, componentize-js). `make install PLUGIN_DIR=...`: into Warden's plugin directory.
NODE ?= node
PLUGIN_DIR ?= plugins
SDK := {sdk}/typescript

{name}.wasm: app.ts
	$(NODE) $(SDK)/bin/build.mjs app.ts -o $@
"#;

const TS_CONFIG: &str = r#"{
  "compilerOptions": {
    "target": "es2022",
    "module": "esnext",
    "moduleResolution": "bundler",
    "strict": true,
    "noEmit": true,
    "allowImportingTsExtensions": true,
    "types": [],
    "lib": ["es2022", "dom", "esnext.disposable"],
    "paths": { "@warden/plugin-sdk": ["{sdk}/typescript/src/index.ts"] }
  },
  "include": ["app.ts"]
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_name_or_an_existing_directory_is_refused_and_nothing_is_written() {
        let dir = std::env::temp_dir().join(format!("warden-new-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sdk = default_sdk_dir();
        let e = scaffold("Bad Name", Lang::Python, &dir, &sdk).unwrap_err().to_string();
        assert!(e.contains("not a valid plugin name"), "{e}");
        let e = scaffold("ok", Lang::Python, &dir, &dir.join("nowhere")).unwrap_err().to_string();
        assert!(e.contains("--sdk"), "{e}");
        assert!(!dir.join("ok").exists());

        let e = scaffold("core", Lang::Rust, &dir, &sdk).unwrap_err().to_string();
        assert!(e.contains("cannot be a Rust crate name"), "{e}");

        let made = scaffold("ok", Lang::Typescript, &dir, &sdk).unwrap();
        assert!(
            std::fs::read_dir(&dir)
                .unwrap()
                .flatten()
                .all(|e| !e.file_name().to_string_lossy().starts_with('.')),
            "no staging directory is left behind"
        );
        let manifest = std::fs::read_to_string(made.join("plugin.toml")).unwrap();
        assert!(manifest.contains("name = \"ok\"") && manifest.contains("[tools.hello]"), "{manifest}");
        std::fs::write(made.join("app.ts"), "// mine").unwrap();
        let e = scaffold("ok", Lang::Rust, &dir, &sdk).unwrap_err().to_string();
        assert!(e.contains("already exists"), "{e}");
        assert_eq!(std::fs::read_to_string(made.join("app.ts")).unwrap(), "// mine", "nothing overwritten");
        assert!(!made.join("Cargo.toml").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
