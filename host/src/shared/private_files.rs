//! Files only Warden's own user may read (mode 0600 on Unix): signing and sealing keys, and the
//! audit log.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

/// Options that create files owner-only.
fn owner_only(options: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

/// Creates `path` (it must not exist yet) owner-only and writes `bytes` to it.
pub fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    owner_only(OpenOptions::new().write(true).create_new(true)).open(path)?.write_all(bytes)
}

/// Opens `path` for appending, creating it owner-only if it does not exist.
pub fn open_append(path: &Path) -> std::io::Result<File> {
    owner_only(OpenOptions::new().create(true).append(true)).open(path)
}
