//! `lethe`: parses the command line and dispatches; the work lives in the library crates.

mod cli;
mod commands;
mod output;

use clap::Parser;

fn main() -> std::process::ExitCode {
    limit_malloc_arenas();
    let cli = cli::Cli::parse();
    // Like other Unix tools, a command whose output pipe is closed (`lethe job list | head
    // -1`) ends quietly instead of failing on the next write; a server keeps going, and an
    // export records how far it got before it ends.
    if !cli.command.handles_closed_pipe() {
        sigpipe::reset();
    }
    output::init_logging(cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return output::report_error(cli.global.json, &anyhow::Error::new(error)),
    };
    let json = cli.global.json;
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => output::report_error(json, &error),
    }
}

/// glibc's malloc gives threads arenas of their own (up to eight per core), and each keeps
/// the memory freed into it. Lethe's SQLite connections each run on a thread of their own,
/// so a long purge held ~300 MiB resident for ~60 MiB of live heap on the 1,000,000-contact
/// demo. Two arenas keep the purge at ~150 MiB with no measurable loss of speed
/// (BENCHMARKS.md). The setting is read when the process starts, so `lethe` starts itself
/// again once with `MALLOC_ARENA_MAX=2`, unless the variable is already set (to any value:
/// the operator's choice wins).
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;
        if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
            return;
        }
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        // `exec` replaces this process (same pid) and returns only when it could not; then
        // Lethe simply runs with malloc's defaults.
        let _not_restarted = std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env("MALLOC_ARENA_MAX", "2")
            .exec();
    }
}
