//! The `ent` binary: parses the command line, installs logging, and runs the command on a
//! tokio runtime. Errors are printed with their causes; the exit code is 1 for a failure
//! (including damage found by `ent verify`) and 2 for bad usage (from clap).

use std::process::ExitCode;

use clap::Parser;

/// sled 0.34 copies a tree node (a few dozen small allocations) on every write, and a GraphQL
/// answer is built of many small values: mimalloc made the projections' rebuild 1.4 to 2.2 times
/// faster than glibc's allocator (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = ent::cli::Cli::parse();
    ent::telemetry::init(&cli.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(ent::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of our output went away (`ent audit export | head`): not a failure.
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
