//! The baseline of the server benchmarks: a plain axum endpoint serving, from memory, the JSON
//! answer `ent serve` gave to the benchmarked query, so the load tool measures the HTTP stack
//! alone (axum, hyper, tokio, the loopback) on the same machine and in the same run.
//!
//! Usage: `plain_axum <ADDR> <JSON_FILE>`. It binds `ADDR` (port 0 picks a free port), prints
//! `listening on http://<bound address>` as its first line, and answers `POST /graphql` (the
//! request body is read, as a GraphQL request's would be, and ignored) with the file's bytes
//! as `application/graphql-response+json`, the media type `ent serve` answers with. It stops on
//! SIGINT or SIGTERM.

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;

use axum::Router;
use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::post;

/// The media type of a GraphQL answer over HTTP, as `ent serve` sends it.
const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(path), None) = (args.next(), args.next(), args.next()) else {
        eprintln!("usage: plain_axum <ADDR> <JSON_FILE>");
        return ExitCode::from(2);
    };
    let addr: SocketAddr = match addr.parse() {
        Ok(addr) => addr,
        Err(error) => {
            eprintln!("error: {addr:?} is not a socket address: {error}");
            return ExitCode::from(2);
        }
    };
    let body = match std::fs::read(&path) {
        Ok(bytes) => Bytes::from(bytes),
        Err(error) => {
            eprintln!("error: cannot read {path}: {error}");
            return ExitCode::FAILURE;
        }
    };
    // The same runtime as `ent serve`: multi-threaded, one worker per core.
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
    match runtime.block_on(serve(addr, body)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Serves the document until a signal asks to stop.
async fn serve(addr: SocketAddr, document: Bytes) -> std::io::Result<()> {
    let app = Router::new().route(
        "/graphql",
        post(move |_request: Bytes| {
            let document = document.clone();
            async move { ([(header::CONTENT_TYPE, GRAPHQL_RESPONSE)], document).into_response() }
        }),
    );
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{bound}")?;
        out.flush()?;
    }
    axum::serve(listener, app)
        .with_graceful_shutdown(stop_signal())
        .await
}

/// Resolves on the first SIGINT or SIGTERM.
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut terminate), Ok(mut interrupt)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers the process still stops when killed.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
}
