//! The request itself, with `ureq`: one exchange per hop, redirects followed here so that every hop's host is
//! checked against the manifest's `allowed_hosts`.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Error, anyhow, bail};
use ureq::Body;
use ureq::http::{Method, Request, Response, Uri};

use super::redirect::{self, MAX_REDIRECTS};
use super::{DEFAULT_MAX_HTTP_RESPONSE_BYTES, host_allowed, parse_url};
use crate::backend::CallError;
use crate::current_plugin::CurrentPlugin;
use crate::manifest::HttpRequest;

/// One client for the whole process, so that connections to a host are pooled across calls and plug-ins.
fn agent() -> &'static ureq::Agent {
    static AGENT: OnceLock<ureq::Agent> = OnceLock::new();
    AGENT.get_or_init(|| {
        ureq::Agent::config_builder()
            // A 404 or a 500 is an answer the plug-in reads, not a failed request.
            .http_status_as_error(false)
            // Redirects are followed by `exchange`, which checks each target against the allow-list first.
            .max_redirects(0)
            .max_redirects_will_error(false)
            .build()
            .new_agent()
    })
}

/// Check the request against the manifest, send it with the body at `body_offset`, record the status (and
/// headers, when captured) and return the response body.
pub(super) fn send(plugin: &mut CurrentPlugin, req: &HttpRequest, body_offset: u64) -> Result<Vec<u8>, Error> {
    let allowed = plugin.manifest().allowed_hosts.clone();
    let check = |uri: &Uri, text: &dyn std::fmt::Display| -> Result<(), Error> {
        let host = uri.host().unwrap_or_default().to_ascii_lowercase();
        if !host_allowed(allowed.as_deref(), &host) {
            bail!("HTTP request to {text} is not allowed");
        }
        Ok(())
    };
    let uri = parse_url(&req.url)?;
    check(&uri, &req.url)?;

    let method = Method::from_bytes(req.method.as_deref().unwrap_or("GET").to_uppercase().as_bytes())
        .map_err(|e| anyhow!("invalid HTTP method: {e}"))?;
    let timeout = plugin.time_remaining();
    let deadline = timeout.map(|t| Instant::now() + t);
    let limit = plugin
        .manifest()
        .memory
        .max_http_response_bytes
        .unwrap_or(DEFAULT_MAX_HTTP_RESPONSE_BYTES);

    let response = if body_offset == 0 {
        exchange(uri, method, req.headers.clone(), None, deadline, &check)?
    } else {
        let handle = plugin
            .memory_handle(body_offset)
            .ok_or_else(|| anyhow!("invalid handle offset for http request body: {body_offset}"))?;
        // The body is sent straight from kernel memory: nothing else touches the plug-in while we wait.
        let body = &*plugin.memory_bytes(handle)?;
        exchange(uri, method, req.headers.clone(), Some(body), deadline, &check)?
    };

    let state = &mut plugin.state().http;
    state.status = response.status().as_u16();
    if let Some(headers) = &mut state.headers {
        for (name, value) in response.headers() {
            // Values that are not visible ASCII cannot be given to the plug-in as JSON strings faithfully.
            if let Ok(value) = value.to_str() {
                headers.insert(name.as_str().to_string(), value.to_string());
            }
        }
    }

    // Read one byte past the limit to tell "exactly the limit" from "more". The Content-Length header is not
    // trusted for this: it is absent for chunked bodies, counts compressed bytes, and a HEAD response announces a
    // body it does not send.
    let mut body = Vec::new();
    response
        .into_body()
        .into_reader()
        .take(limit.saturating_add(1))
        .read_to_end(&mut body)
        .map_err(|e| {
            // ureq reports its own timeout while reading the body as an I/O error wrapping `ureq::Error::Timeout`.
            let timed_out = e.kind() == std::io::ErrorKind::TimedOut
                || matches!(
                    e.get_ref().and_then(|inner| inner.downcast_ref::<ureq::Error>()),
                    Some(ureq::Error::Timeout(_))
                );
            if timed_out && deadline.is_some() {
                call_timed_out()
            } else {
                anyhow!("unable to read the HTTP response body from {}: {e}", req.url)
            }
        })?;
    if body.len() as u64 > limit {
        bail!("HTTP response exceeds the configured maximum number of bytes: {limit}");
    }
    Ok(body)
}

/// Send the request and follow redirects as `ureq` would by default (at most 10; 301, 302 and 303 turn methods
/// other than GET and HEAD into a GET without body; 307 and 308 keep the method and are not followed for methods
/// that carry a body or for DELETE; `Authorization` and `Cookie` are dropped), except that every target must pass
/// `check` before anything is sent to it. Upstream lets the client follow redirects unchecked, so a plug-in
/// allowed one host could be sent on to any other.
fn exchange(
    mut uri: Uri,
    mut method: Method,
    mut headers: BTreeMap<String, String>,
    mut body: Option<&[u8]>,
    deadline: Option<Instant>,
    check: &dyn Fn(&Uri, &dyn std::fmt::Display) -> Result<(), Error>,
) -> Result<Response<Body>, Error> {
    for _ in 0..=MAX_REDIRECTS {
        let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let mut builder = Request::builder().method(method.clone()).uri(uri.clone());
        for (name, value) in &headers {
            builder = builder.header(name, value);
        }
        let result = match body {
            None => run(builder.body(())?, timeout),
            Some(bytes) => run(builder.body(bytes)?, timeout),
        };
        let response = result.map_err(|e| transport_error(e, timeout))?;
        let Some(hop) = redirect::next_hop(&uri, &method, &response)? else {
            return Ok(response);
        };
        check(&hop.uri, &hop.uri)?;
        uri = hop.uri;
        method = hop.method;
        body = None;
        headers.retain(|name, _| !name.eq_ignore_ascii_case("authorization") && !name.eq_ignore_ascii_case("cookie"));
    }
    bail!("too many redirects (more than {MAX_REDIRECTS})")
}

/// Send one request with `timeout` as the deadline for the whole exchange.
fn run(request: Request<impl ureq::AsSendBody>, timeout: Option<Duration>) -> Result<Response<Body>, ureq::Error> {
    let agent = agent();
    agent.run(agent.configure_request(request).timeout_global(timeout).build())
}

/// The plug-in sees the client's own message, except that running out of the call's time is "timeout", the message
/// every other way of exceeding `timeout_ms` gives.
fn transport_error(e: ureq::Error, timeout: Option<Duration>) -> Error {
    match e {
        // The only timeout we configure is the call's deadline, so any timeout means it has passed.
        ureq::Error::Timeout(_) if timeout.is_some() => call_timed_out(),
        other => anyhow!("{other}"),
    }
}

/// The error for a request that ran out of the call's time: the call's own timeout ("timeout", return code 134), the
/// same as when the timeout stops guest code.
fn call_timed_out() -> Error {
    Error::new(CallError::Interrupted)
}
