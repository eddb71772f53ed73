//! The `warden` binary: parses the command line and hands it to the library ([`warden::cli`]).

use clap::Parser as _;

/// mimalloc instead of glibc malloc: every request allocates and frees across worker threads,
/// where glibc's arenas spent a tenth of the time under load (`PROFILE=1 bench/load.sh`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    warden::cli::run(warden::cli::Cli::parse())
}
