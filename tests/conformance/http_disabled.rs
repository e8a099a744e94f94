//! A build without the `http` feature refuses every request, with upstream's message, before reaching the network.

use serde_json::json;

use crate::common::{root_cause, wasm};
use crate::http_server::TestServer;
use extism::{Manifest, PluginBuilder, Wasm};

backend_test! {
    fn requests_fail_when_http_is_not_compiled_in(backend) {
        let server = TestServer::start();
        let url = server.url("/");
        let manifest = Manifest::default().with_allowed_host("*").with_wasm(Wasm::data(wasm("http_client")));
        let mut p = PluginBuilder::new(manifest).with_backend(backend).build().unwrap();
        let e = p.call::<&str, &[u8]>("request", json!({"url": url}).to_string().as_str()).unwrap_err();
        assert_eq!(root_cause(&e), format!("http_request is not enabled, request to {url} is not allowed"));
        assert_eq!(server.connections(), 0);
    }
}
