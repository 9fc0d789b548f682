//! Requests written by hand on raw connections: for what a well-behaved
//! client library will not send (odd paths, broken framing, two Hosts).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads a message head (up to and with its blank line), byte by byte so
/// nothing after it is taken; empty if the connection closed first.
pub async fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut b))
            .await
            .unwrap()
            .unwrap_or(0);
        if n == 0 {
            break;
        }
        head.push(b[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// The Content-Length of a message head, if it has one.
pub fn content_length(head: &str) -> Option<usize> {
    head.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("content-length:")
            .map(|v| v.trim().parse().unwrap())
    })
}

/// Reads one response with a Content-Length body off a raw connection.
pub async fn read_response(s: &mut TcpStream) -> (String, Vec<u8>) {
    let head = read_head(s).await;
    let len = content_length(&head).unwrap_or_else(|| panic!("no content-length in {head}"));
    let mut body = vec![0u8; len];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut body))
        .await
        .unwrap()
        .unwrap();
    (head, body)
}

/// Sends a request written by hand (it should say `connection: close`, or
/// be HTTP/1.0) to `addr` and returns the whole response.
pub async fn exchange(addr: SocketAddr, req: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(req).await.unwrap();
    let mut out = Vec::new();
    // A reset after the answer (the server closing with unread bytes) ends it too.
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .expect("the server answers and closes");
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code of a raw response.
pub fn status(response: &str) -> u16 {
    response
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not a response: {response:?}"))
}

/// An HTTP/2 frame: `kind`, `flags`, stream `id` and `payload`.
fn h2_frame(kind: u8, flags: u8, id: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = len.to_be_bytes()[1..].to_vec();
    f.extend_from_slice(&[kind, flags]);
    f.extend_from_slice(&id.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An HTTP/2 client, written by hand, that opens its flow-control
/// windows as wide as they go, sends a GET for each of `paths` and then
/// never reads a byte: the connection is returned so the test keeps it
/// open.
pub async fn h2_client_that_never_reads(addr: SocketAddr, paths: &[&str]) -> TcpStream {
    h2_client_with_window(addr, paths, 0x7fff_ffff).await
}

/// [`h2_client_that_never_reads`] with every stream's flow-control window
/// set to `window` (0: nothing can be sent to it) and never opened more.
pub async fn h2_client_with_window(addr: SocketAddr, paths: &[&str], window: u32) -> TcpStream {
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    // SETTINGS_INITIAL_WINDOW_SIZE for every stream ...
    let mut settings = vec![0, 4];
    settings.extend_from_slice(&window.to_be_bytes());
    out.extend(h2_frame(0x4, 0, 0, &settings));
    // ... and the connection's window opened as far.
    if window > 65_535 {
        out.extend(h2_frame(0x8, 0, 0, &(window - 65_535).to_be_bytes()));
    }
    for (i, path) in paths.iter().enumerate() {
        // HPACK: :method GET and :scheme http from the static table;
        // :path and :authority literal, not indexed.
        let mut block = vec![0x82, 0x86, 0x04, path.len() as u8];
        block.extend_from_slice(path.as_bytes());
        block.extend_from_slice(&[0x01, 1, b'x']);
        // END_STREAM | END_HEADERS, on stream 1, 3, 5...
        out.extend(h2_frame(0x1, 0x5, 2 * i as u32 + 1, &block));
    }
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&out).await.unwrap();
    s
}
