//! The accept loop over real loopback sockets: header-read and idle
//! timeouts, and the connection limit.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use zkr_server::{Config, HttpConfig};

use crate::helpers::{Backend, TestApp, test_config};

/// Longest any step below waits for the server.
const PATIENCE: Duration = Duration::from_secs(10);

struct Served {
    app: TestApp,
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
}

async fn serve(http: HttpConfig) -> Served {
    let config = Config {
        http: http.clone(),
        ..test_config()
    };
    let app = TestApp::spawn(Backend::Sqlite, config)
        .await
        .expect("sqlite");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let router = app.router.clone();
    let server = tokio::spawn(async move {
        zkr_server::serve(listener, router, &http, async {
            let _ = stopped.await;
        })
        .await
    });
    Served {
        app,
        addr,
        stop,
        server,
    }
}

impl Served {
    async fn shutdown(self) {
        let _ = self.stop.send(());
        let r = tokio::time::timeout(PATIENCE, self.server)
            .await
            .expect("the server stops")
            .expect("task");
        r.expect("serve");
        self.app.teardown().await;
    }
}

fn http(header_read: u64, idle: u64, max_connections: usize) -> HttpConfig {
    HttpConfig {
        header_read_timeout_secs: header_read,
        idle_timeout_secs: idle,
        max_connections,
        ..HttpConfig::default()
    }
}

/// A client that opens a connection and sends only part of a request head.
async fn trickle(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    s
}

/// Whether the server closes `s` within `within`: reads until EOF or a reset.
async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    tokio::time::timeout(within, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// Sends a whole `GET /healthz` and reads the answer's status line, or
/// `None` when nothing came within `within`.
async fn healthz(s: &mut TcpStream, within: Duration, close: bool) -> Option<String> {
    let connection = if close { "close" } else { "keep-alive" };
    s.write_all(
        format!("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: {connection}\r\n\r\n").as_bytes(),
    )
    .await
    .expect("write");
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(within, async {
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok()?;
    let text = String::from_utf8_lossy(&got).to_string();
    text.lines().next().map(str::to_string)
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let served = serve(http(1, 60, 16)).await;
    let mut slow = trickle(served.addr).await;
    // A normal client is served meanwhile.
    let mut normal = TcpStream::connect(served.addr).await.expect("connect");
    let status = healthz(&mut normal, PATIENCE, true).await;
    assert_eq!(status.as_deref(), Some("HTTP/1.1 200 OK"));
    assert!(
        closed_within(&mut slow, PATIENCE).await,
        "the trickling connection is still open"
    );
    // So is one that sends nothing at all.
    let mut silent = TcpStream::connect(served.addr).await.expect("connect");
    assert!(closed_within(&mut silent, PATIENCE).await);
    served.shutdown().await;
}

#[tokio::test]
async fn an_idle_connection_is_closed() {
    // The header-read timeout is far away: only the idle timeout can close it.
    let served = serve(http(60, 1, 16)).await;
    let mut client = TcpStream::connect(served.addr).await.expect("connect");
    let status = healthz(&mut client, PATIENCE, false).await;
    assert_eq!(status.as_deref(), Some("HTTP/1.1 200 OK"));
    assert!(
        closed_within(&mut client, PATIENCE).await,
        "the idle keep-alive connection is still open"
    );
    served.shutdown().await;
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_for_a_free_slot() {
    let served = serve(http(60, 60, 2)).await;
    let first = trickle(served.addr).await;
    // One slot is left: a normal client gets its answer.
    let mut normal = TcpStream::connect(served.addr).await.expect("connect");
    let status = healthz(&mut normal, PATIENCE, true).await;
    assert_eq!(status.as_deref(), Some("HTTP/1.1 200 OK"));
    assert!(closed_within(&mut normal, PATIENCE).await);

    // Both slots taken: the next client is not served...
    let second = trickle(served.addr).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut waiting = TcpStream::connect(served.addr).await.expect("connect");
    let status = healthz(&mut waiting, Duration::from_millis(700), true).await;
    assert_eq!(status, None, "served beyond the connection limit");
    // ...until a slot frees up.
    drop(first);
    let mut rest = [0u8; 256];
    let answer = tokio::time::timeout(PATIENCE, waiting.read(&mut rest))
        .await
        .expect("answered once a slot is free")
        .expect("read");
    assert!(
        String::from_utf8_lossy(&rest[..answer]).starts_with("HTTP/1.1 200 OK"),
        "{}",
        String::from_utf8_lossy(&rest[..answer])
    );
    drop(second);
    served.shutdown().await;
}
