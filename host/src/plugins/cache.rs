//! Host-owned cache of compiled components, so a restart does not recompile.
//!
//! Entries are keyed by the SHA-256 of the `.wasm` and by the engine's compatibility hash (wasmtime
//! version, target, compiler settings), and live only under Warden's data directory. Nothing
//! precompiled is ever read from the plugin directory: loading native code is only safe for code
//! this host compiled itself.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

/// Compiled-component cache under `<data_dir>/compiled`.
#[derive(Clone)]
pub(crate) struct CompiledCache {
    dir: PathBuf,
    engine_key: String,
}

impl CompiledCache {
    /// Opens (creating if needed) the cache directory for `engine`.
    pub(crate) fn open(data_dir: &Path, engine: &Engine) -> std::io::Result<CompiledCache> {
        let dir = data_dir.join("compiled");
        std::fs::create_dir_all(&dir)?;
        restrict_to_owner(&dir)?;
        let mut h = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        Ok(CompiledCache { dir, engine_key: format!("{:016x}", h.finish()) })
    }

    fn entry(&self, wasm_sha256: &str) -> PathBuf {
        self.dir.join(format!("{wasm_sha256}-{}.cwasm", self.engine_key))
    }

    /// Returns the compiled component for `wasm` (whose hash is `wasm_sha256`), from the cache when
    /// a valid entry exists, else compiling and storing it.
    pub(crate) fn load_or_compile(
        &self,
        engine: &Engine,
        wasm: &[u8],
        wasm_sha256: &str,
    ) -> wasmtime::Result<Component> {
        let path = self.entry(wasm_sha256);
        if path.exists() {
            // SAFETY: the file lives in the host-owned cache directory (mode 0700) and was written
            // by `store` below from this engine's own compilation output; its name binds it to the
            // wasm hash and the engine's compatibility hash, and wasmtime re-checks compatibility.
            #[allow(unsafe_code)]
            let cached = unsafe { Component::deserialize_file(engine, &path) };
            match cached {
                Ok(c) => return Ok(c),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "discarding unusable compiled cache entry");
                }
            }
        }
        let component = Component::new(engine, wasm)?;
        if let Err(e) = self.store(&path, &component) {
            tracing::warn!(path = %path.display(), error = %e, "could not write compiled cache entry");
        }
        Ok(component)
    }

    fn store(&self, path: &Path, component: &Component) -> wasmtime::Result<()> {
        let bytes = component.serialize()?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }
}

#[cfg(unix)]
fn restrict_to_owner(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

#[cfg(not(unix))]
fn restrict_to_owner(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}
