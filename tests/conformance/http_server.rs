//! A small HTTP/1.1 server on 127.0.0.1 for the HTTP tests. It records every request it receives and counts every
//! connection, so a test can check both what reached it and that a denied request never did.
//!
//! Routes (any method):
//! - `/status/{code}`: that status, body `status {code}`;
//! - `/bytes/{n}`: `n` bytes of `x`;
//! - `/headers`: 200 with the extra headers `X-Test: yes` and `X-Other: 1`, body `headers`;
//! - `/redirect/{code}?{location}`: status `code` with the header `Location: {location}`;
//! - `/slow/{ms}`: waits `ms` milliseconds (at most 5 s), then 200 `slow`;
//! - `/stall-body/{ms}`: 200 with `Content-Length: 10`, sends one byte of the body, waits `ms` milliseconds (at most
//!   5 s), then sends the other nine;
//! - anything else: 200 with the request's body as the response body.
//!
//! Every response says `Connection: close`, so each request opens its own connection. The server stops accepting
//! when the value is dropped.

// A build without HTTP uses only part of this: it checks that nothing arrives.
#![cfg_attr(not(feature = "http"), allow(dead_code))]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// A request as the server received it.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub method: String,
    /// Path and query.
    pub target: String,
    /// Header names lowercased, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    /// The value of header `name` (any case), if present.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Shared {
    connections: AtomicUsize,
    requests: Mutex<Vec<Received>>,
    stop: AtomicBool,
}

/// The running server.
pub(crate) struct TestServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Start a server on a free port of 127.0.0.1.
    pub(crate) fn start() -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if shared.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    shared.connections.fetch_add(1, Ordering::SeqCst);
                    // A thread per connection, so that a slow answer does not hold up the next request. Each ends
                    // on its own: reads and writes time out, and `/slow` waits at most 5 s.
                    let shared = Arc::clone(&shared);
                    std::thread::spawn(move || serve(stream, &shared));
                }
            })
        };
        TestServer {
            addr,
            shared,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:{port}{path}`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Connections accepted so far.
    pub(crate) fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Requests received so far, oldest first.
    pub(crate) fn requests(&self) -> Vec<Received> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// The only request received; panics unless there was exactly one.
    pub(crate) fn only_request(&self) -> Received {
        let requests = self.requests();
        assert_eq!(requests.len(), 1, "expected exactly one request, got {requests:?}");
        requests.into_iter().next().unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept so the thread sees the flag and ends.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Read one request from `stream`, record it and answer it.
fn serve(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Ok(());
    };
    let (method, target) = (method.to_string(), target.to_string());
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let trimmed = line.trim_end_matches(['\r', '\n']);
        if trimmed.is_empty() {
            break;
        }
        if let Some((name, value)) = trimmed.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let request = Received {
        method,
        target,
        headers,
        body,
    };
    shared.requests.lock().unwrap().push(request.clone());
    respond(stream, &request)
}

fn respond(mut stream: TcpStream, request: &Received) -> std::io::Result<()> {
    let segments: Vec<&str> = request.target.split('/').collect();
    let mut status = 200u16;
    let mut extra = String::new();
    let redirect = request
        .target
        .strip_prefix("/redirect/")
        .and_then(|rest| rest.split_once('?'));
    let body: Vec<u8> = match segments.as_slice() {
        _ if redirect.is_some() => {
            let (code, location) = redirect.unwrap();
            status = code.parse().unwrap_or(302);
            extra.push_str(&format!("Location: {location}\r\n"));
            Vec::new()
        }
        ["", "status", code] => {
            status = code.parse().unwrap_or(500);
            format!("status {status}").into_bytes()
        }
        ["", "bytes", n] => vec![b'x'; n.parse().unwrap_or(0)],
        ["", "headers"] => {
            extra.push_str("X-Test: yes\r\nX-Other: 1\r\n");
            b"headers".to_vec()
        }
        ["", "stall-body", ms] => {
            let ms = ms.parse::<u64>().unwrap_or(0).min(5000);
            write!(
                stream,
                "HTTP/1.1 200 Test\r\nContent-Length: 10\r\nConnection: close\r\n\r\nx"
            )?;
            stream.flush()?;
            std::thread::sleep(Duration::from_millis(ms));
            stream.write_all(b"xxxxxxxxx")?;
            return stream.flush();
        }
        ["", "slow", ms] => {
            let ms = ms.parse::<u64>().unwrap_or(0).min(5000);
            std::thread::sleep(Duration::from_millis(ms));
            b"slow".to_vec()
        }
        _ => request.body.clone(),
    };
    write!(
        stream,
        "HTTP/1.1 {status} Test\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
        body.len()
    )?;
    stream.write_all(&body)?;
    stream.flush()
}
