//! `http_client.wasm`: makes HTTP requests through the PDK's `http` module,
//! and through the raw imports where a test needs to see the handles.
//!
//! Request input (JSON): `{"url": "...", "method": "POST", "headers": {..},
//! "body": "..."}`; `method`, `headers` and `body` may be left out.

use std::collections::BTreeMap;

use extism_pdk::{extism, http, plugin_fn, FnResult, HttpRequest, Json, Memory};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Request {
    url: String,
    method: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    body: Option<String>,
}

impl Request {
    fn to_pdk(&self) -> HttpRequest {
        let mut req = HttpRequest::new(&self.url);
        if let Some(method) = &self.method {
            req = req.with_method(method);
        }
        for (name, value) in &self.headers {
            req = req.with_header(name, value);
        }
        req
    }
}

#[derive(Serialize)]
struct Response {
    status: u16,
    /// What `http_headers` gave, sorted (empty when the host does not
    /// capture headers).
    headers: BTreeMap<String, String>,
    /// The body as text (invalid UTF-8 replaced).
    body: String,
    body_length: usize,
}

/// Makes the request with `extism_pdk::http::request` and outputs the
/// response as JSON (`status`, `headers`, `body`, `body_length`).
#[plugin_fn]
pub fn request(Json(req): Json<Request>) -> FnResult<Json<Response>> {
    let response = http::request::<String>(&req.to_pdk(), req.body.clone())?;
    let body = response.body();
    Ok(Json(Response {
        status: response.status_code(),
        headers: response.headers().clone().into_iter().collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
        body_length: body.len(),
    }))
}

/// Outputs `http_status_code()` as decimal text (the last request's status,
/// 0 before any).
#[plugin_fn]
pub fn status_code() -> FnResult<String> {
    // SAFETY: a plain host call.
    Ok(unsafe { extism::http_status_code() }.to_string())
}

/// Outputs what `http_headers()` returns: `none` for handle 0, else the
/// JSON text at the handle.
#[plugin_fn]
pub fn last_headers() -> FnResult<String> {
    // SAFETY: a plain host call.
    let offset = unsafe { extism::http_headers() };
    if offset == 0 {
        return Ok("none".to_string());
    }
    let memory = Memory::find(offset).ok_or_else(|| extism_pdk::Error::msg("http_headers gave an unknown handle"))?;
    let text = memory.to_string()?;
    memory.free();
    Ok(text)
}

#[derive(Serialize)]
struct Handles {
    /// True if the request handle was freed by the host: `length()` says 0,
    /// or the response reused its block (which only a freed block allows).
    request_freed: bool,
    /// The same for the body handle.
    body_freed: bool,
    response_length: u64,
}

/// Makes the request with the raw `http_request` import and outputs whether
/// the host freed the request and body handles, as JSON.
#[plugin_fn]
pub fn handles(Json(req): Json<Request>) -> FnResult<Json<Handles>> {
    let request = Memory::from_bytes(serde_json::to_vec(&req.to_pdk())?)?;
    let body = Memory::from_bytes(req.body.as_deref().unwrap_or("body"))?;
    // SAFETY: raw host and kernel calls on handles this function allocated.
    unsafe {
        let response = extism::http_request(request.offset(), body.offset());
        let freed = |offset: u64| offset == response || extism::length(offset) == 0;
        Ok(Json(Handles {
            request_freed: freed(request.offset()),
            body_freed: freed(body.offset()),
            response_length: extism::length(response),
        }))
    }
}
