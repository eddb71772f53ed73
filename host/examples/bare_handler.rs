//! Baseline for `bench/load.sh`: a bare axum handler that answers `POST /mcp` with a canned
//! `tools/call` result, so Warden's throughput can be compared with the HTTP stack alone.
//!
//! Usage: `bare_handler 127.0.0.1:0` (prints `listening on http://ADDR`).

use axum::Router;
use axum::http::header;
use axum::routing::post;
use axum::serve::ListenerExt;

const CANNED: &str = r#"{"jsonrpc":"2.0","id":2,"result":{"content":[{"type":"text","text":"Hello, Load! You are anonymous."}],"isError":false}}"#;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".into());
    let app = Router::new()
        .route("/mcp", post(|| async { ([(header::CONTENT_TYPE, "application/json")], CANNED) }));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    // Same socket setting as Warden, so the comparison is fair.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await
}
