//! HTTP from plug-ins (`http_request`, `http_status_code`, `http_headers`): allow-listed hosts, what reaches the
//! server, status, body and headers, the response size limit, the call's timeout, and errors that leave the plug-in
//! usable. Every request goes to a server on 127.0.0.1 inside the test (`http_server.rs`).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{root_cause, wasm};
use crate::deadline::with_deadline;
use crate::http_server::TestServer;
use extism::{Manifest, MemoryOptions, Plugin, PluginBuilder, Wasm};

/// `http_client.wasm` under `manifest`, with response-header capture as given.
fn client(backend: extism::Backend, manifest: Manifest, headers: bool) -> Plugin {
    PluginBuilder::new(manifest.with_wasm(Wasm::data(wasm("http_client"))))
        .with_backend(backend)
        .with_http_response_headers(headers)
        .build()
        .unwrap()
}

/// A manifest allowing exactly these hosts.
fn allowing(hosts: &[&str]) -> Manifest {
    Manifest::default().with_allowed_hosts(hosts.iter().map(|h| h.to_string()))
}

/// The `request` export: the response as JSON, or the call's error.
fn request(plugin: &mut Plugin, req: Value) -> Result<Value, extism::Error> {
    plugin.call::<&str, Value>("request", req.to_string().as_str())
}

fn status_code(plugin: &mut Plugin) -> String {
    plugin.call::<&str, String>("status_code", "").unwrap()
}

backend_test! {
    fn get_reaches_the_server_as_sent(backend) {
        let server = TestServer::start();
        let mut p = client(backend, allowing(&["127.0.0.1"]), false);
        assert_eq!(status_code(&mut p), "0", "no request yet");
        let url = server.url("/hello?x=1");
        let out = request(&mut p, json!({"url": url, "headers": {"X-Custom": "one", "Accept": "text/plain"}})).unwrap();
        assert_eq!(out["status"], 200);
        assert_eq!(out["body"], "");
        assert_eq!(out["body_length"], 0);

        let got = server.only_request();
        assert_eq!(got.method, "GET", "the method defaults to GET");
        assert_eq!(got.target, "/hello?x=1");
        assert_eq!(got.header("x-custom"), Some("one"));
        assert_eq!(got.header("accept"), Some("text/plain"));
        assert!(got.body.is_empty());
        // The status outlives the call.
        assert_eq!(status_code(&mut p), "200");
    }
}

backend_test! {
    fn post_sends_body_and_headers_with_the_method_upper_cased(backend) {
        let server = TestServer::start();
        let mut p = client(backend, allowing(&["127.0.0.1"]), false);
        let out = request(
            &mut p,
            json!({
                "url": server.url("/echo"),
                "method": "post",
                "headers": {"Content-Type": "text/plain", "X-Two": "2"},
                "body": "hello, server",
            }),
        )
        .unwrap();
        let got = server.only_request();
        assert_eq!(got.method, "POST");
        assert_eq!(got.body, b"hello, server");
        assert_eq!(got.header("content-type"), Some("text/plain"));
        assert_eq!(got.header("x-two"), Some("2"));
        assert_eq!(out["status"], 200);
        assert_eq!(out["body"], "hello, server", "the server echoes the body");

        let _ = request(&mut p, json!({"url": server.url("/echo"), "method": "Put", "body": "x"})).unwrap();
        assert_eq!(server.requests()[1].method, "PUT");
    }
}

backend_test! {
    fn non_2xx_statuses_are_answers_not_errors(backend) {
        let server = TestServer::start();
        let mut p = client(backend, allowing(&["127.0.0.1"]), false);
        for code in [404, 500, 201] {
            let out = request(&mut p, json!({"url": server.url(&format!("/status/{code}"))})).unwrap();
            assert_eq!(out["status"], code);
            assert_eq!(out["body"], format!("status {code}"));
            assert_eq!(status_code(&mut p), code.to_string());
        }
    }
}

backend_test! {
    fn response_headers_only_when_the_host_enables_them(backend) {
        let server = TestServer::start();
        let mut p = client(backend, allowing(&["127.0.0.1"]), false);
        let out = request(&mut p, json!({"url": server.url("/headers")})).unwrap();
        assert_eq!(out["body"], "headers");
        assert_eq!(out["headers"], json!({}));
        assert_eq!(p.call::<&str, String>("last_headers", "").unwrap(), "none", "http_headers returns 0");

        let mut p = client(backend, allowing(&["127.0.0.1"]), true);
        assert_eq!(p.call::<&str, String>("last_headers", "").unwrap(), "{}", "nothing captured before a request");
        let out = request(&mut p, json!({"url": server.url("/headers")})).unwrap();
        assert_eq!(out["headers"]["x-test"], "yes", "{out}");
        assert_eq!(out["headers"]["x-other"], "1", "{out}");
        assert_eq!(out["headers"]["content-length"], "7", "{out}");
        // Still readable in a later call, and replaced (not merged) by the next response.
        let last: Value = serde_json::from_str(&p.call::<&str, String>("last_headers", "").unwrap()).unwrap();
        assert_eq!(last["x-test"], "yes");
        let _ = request(&mut p, json!({"url": server.url("/status/204")})).unwrap();
        let last: Value = serde_json::from_str(&p.call::<&str, String>("last_headers", "").unwrap()).unwrap();
        assert!(last.get("x-test").is_none(), "{last}");
    }
}

backend_test! {
    fn denied_requests_never_reach_the_server(backend) {
        let server = TestServer::start();
        let url = server.url("/secret");
        let manifests = [
            ("no allowed_hosts", Manifest::default()),
            ("an empty list", Manifest::default().disallow_all_hosts()),
            ("no matching entry", allowing(&["example.com", "127.0.0.2", "*.local", "localhost", "127.0.0.1.*"])),
        ];
        for (what, manifest) in manifests {
            let mut p = client(backend, manifest, false);
            let e = request(&mut p, json!({"url": url})).unwrap_err();
            assert_eq!(root_cause(&e), format!("HTTP request to {url} is not allowed"), "{what}");
            // The plug-in stays usable, and the failed request left no status behind.
            assert_eq!(status_code(&mut p), "0", "{what}");
            let e = request(&mut p, json!({"url": url, "method": "POST", "body": "data"})).unwrap_err();
            assert_eq!(root_cause(&e), format!("HTTP request to {url} is not allowed"), "{what}");
        }
        assert_eq!(server.connections(), 0, "a denied request reached the server: {:?}", server.requests());
    }
}

backend_test! {
    fn allowed_hosts_are_glob_patterns_over_the_host_name(backend) {
        let server = TestServer::start();
        let patterns: [&[&str]; 4] = [&["127.0.0.*"], &["*.0.0.1"], &["other.example", "127.0.0.[0-9]"], &["*"]];
        for (i, hosts) in patterns.iter().enumerate() {
            let mut p = client(backend, allowing(hosts), false);
            let out = request(&mut p, json!({"url": server.url(&format!("/status/{}", 200 + i))})).unwrap();
            assert_eq!(out["status"], 200 + i, "{hosts:?}");
        }
        assert_eq!(server.connections(), patterns.len());
    }
}

backend_test! {
    fn responses_over_the_limit_are_errors(backend) {
        let server = TestServer::start();
        let manifest = allowing(&["127.0.0.1"]).with_memory_options(MemoryOptions::new().with_max_http_response_bytes(100));
        let mut p = client(backend, manifest, false);
        let out = request(&mut p, json!({"url": server.url("/bytes/100")})).unwrap();
        assert_eq!(out["body_length"], 100, "exactly the limit is fine");
        let e = request(&mut p, json!({"url": server.url("/bytes/101")})).unwrap_err();
        assert_eq!(root_cause(&e), "HTTP response exceeds the configured maximum number of bytes: 100");
        // The status was recorded before the body was refused; the plug-in carries on.
        assert_eq!(status_code(&mut p), "200");
        let out = request(&mut p, json!({"url": server.url("/bytes/3")})).unwrap();
        assert_eq!(out["body"], "xxx");
    }
}

backend_test! {
    /// 50 MiB unless the manifest says otherwise.
    fn the_default_limit_is_50_mib(backend) {
        let server = TestServer::start();
        let mut p = client(backend, allowing(&["127.0.0.1"]), false);
        let e = request(&mut p, json!({"url": server.url(&format!("/bytes/{}", 50 * 1024 * 1024 + 1))})).unwrap_err();
        assert_eq!(root_cause(&e), "HTTP response exceeds the configured maximum number of bytes: 52428800");
    }
}

backend_test! {
    /// `http_request` frees the request and body handles it is given, as upstream's ownership rule says.
    fn request_and_body_handles_are_freed(backend) {
        let server = TestServer::start();
        let mut p = client(backend, allowing(&["127.0.0.1"]), false);
        let out: Value = p
            .call::<&str, Value>("handles", json!({"url": server.url("/echo"), "method": "POST", "body": "12345"}).to_string().as_str())
            .unwrap();
        assert_eq!(out, json!({"request_freed": true, "body_freed": true, "response_length": 5}));
        assert_eq!(server.only_request().body, b"12345");
    }
}

backend_test! {
    fn transport_errors_carry_the_clients_message(backend) {
        // A port that was just free: nothing listens there any more.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut p = client(backend, allowing(&["127.0.0.1"]), false);
        let e = request(&mut p, json!({"url": format!("http://127.0.0.1:{port}/")})).unwrap_err();
        let message = root_cause(&e);
        assert!(message.to_lowercase().contains("refused"), "{message}");
        assert_eq!(status_code(&mut p), "0");

        let e = request(&mut p, json!({"url": "not a url"})).unwrap_err();
        assert!(root_cause(&e).starts_with("Invalid URL: "), "{e:#}");
        let e = request(&mut p, json!({"url": "/relative/path"})).unwrap_err();
        assert!(root_cause(&e).starts_with("Invalid URL: "), "{e:#}");
    }
}

backend_test! {
    /// With `timeout_ms`, a request may take only the time the call has left, and running out is "timeout".
    fn requests_get_the_calls_remaining_time(backend) {
        with_deadline(Duration::from_secs(60), move || {
            let server = TestServer::start();
            let manifest = allowing(&["127.0.0.1"]).with_timeout(Duration::from_millis(300));
            let mut p = client(backend, manifest, false);
            let started = Instant::now();
            let e = request(&mut p, json!({"url": server.url("/slow/2000")})).unwrap_err();
            assert_eq!(root_cause(&e), "timeout", "{e:#}");
            assert!(started.elapsed() < Duration::from_millis(1500), "took {:?}", started.elapsed());
            // A quick request in the next call has the whole timeout again.
            let out = request(&mut p, json!({"url": server.url("/status/200")})).unwrap();
            assert_eq!(out["status"], 200);
        });
    }
}

backend_test! {
    /// Redirects are followed, but every target must be an allowed host too (upstream does not check them).
    fn redirects_are_followed_only_to_allowed_hosts(backend) {
        let server = TestServer::start();
        let mut p = client(backend, allowing(&["127.0.0.1"]), false);
        let out = request(&mut p, json!({"url": server.url("/redirect/302?/status/201")})).unwrap();
        assert_eq!(out["status"], 201);
        assert_eq!(server.requests().len(), 2);

        // A POST answered with 303 becomes a GET without body; credentials are not passed on.
        let out = request(
            &mut p,
            json!({
                "url": server.url("/redirect/303?/echo"),
                "method": "POST",
                "headers": {"Authorization": "secret", "X-Kept": "yes"},
                "body": "payload",
            }),
        )
        .unwrap();
        assert_eq!(out["status"], 200);
        let requests = server.requests();
        let (first, second) = (&requests[2], &requests[3]);
        assert_eq!((first.method.as_str(), first.body.as_slice()), ("POST", &b"payload"[..]));
        assert_eq!((second.method.as_str(), second.target.as_str()), ("GET", "/echo"));
        assert!(second.body.is_empty());
        assert_eq!(second.header("authorization"), None);
        assert_eq!(second.header("x-kept"), Some("yes"));

        // `localhost` is the same machine, but not an allowed host name: the redirect is refused before it is sent.
        let elsewhere = server.url("/secret").replace("127.0.0.1", "localhost");
        let e = request(&mut p, json!({"url": server.url(&format!("/redirect/301?{elsewhere}"))})).unwrap_err();
        assert_eq!(root_cause(&e), format!("HTTP request to {elsewhere} is not allowed"));
        assert_eq!(server.connections(), 5, "{:?}", server.requests());
        assert_eq!(status_code(&mut p), "0");

        // A 307 for a POST is not followed (as by the HTTP client): the plug-in gets the redirect itself.
        let out = request(&mut p, json!({"url": server.url("/redirect/307?/echo"), "method": "POST", "body": "b"})).unwrap();
        assert_eq!(out["status"], 307);
        assert_eq!(server.connections(), 6);
    }
}
