//! The `warden` binary: parses the command line and hands it to the library ([`warden::cli`]).

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    warden::cli::run(warden::cli::Cli::parse())
}
