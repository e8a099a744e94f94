//! The HTTP host functions: `http_request`, `http_status_code` and `http_headers`.
//!
//! A plug-in may reach only the hosts its manifest lists in `allowed_hosts` (glob patterns matched against the host
//! name alone; no list or an empty list allows nothing). Requests are made with `ureq` when the `http` feature is on;
//! without it every request fails with upstream's "not enabled" message.
//!
//! Two deliberate differences from upstream:
//! - Redirects are followed by the host (with the HTTP client's usual rules, see `http/client.rs`) and each target
//!   must be an allowed host too. Upstream lets the client follow them unchecked, so a plug-in allowed one host
//!   could be redirected to any other, internal ones included.
//! - The URL is parsed once, by the same parser (`http::Uri`) whose result the HTTP client connects to, and the
//!   allow-list is checked against that parse. Upstream checks a WHATWG (`url` crate) parse but connects to the
//!   client's own parse of the original text; when two parsers disagree about the host of an odd URL, the check and
//!   the connection could name different hosts. The cost: internationalised host names must be given in their ASCII
//!   (`xn--`) form, and invalid URLs are reported in different words.

use anyhow::{Error, anyhow};

use crate::current_plugin::CurrentPlugin;
use crate::manifest::HttpRequest;
use crate::val::Val;

/// The largest response body a plug-in receives when its manifest sets no `max_http_response_bytes`: 50 MiB.
pub const DEFAULT_MAX_HTTP_RESPONSE_BYTES: u64 = 50 * 1024 * 1024;

/// `http_status_code() -> i32`: the status of the last response, 0 if there was none.
pub(crate) fn http_status_code(plugin: &mut CurrentPlugin, _args: &[Val], results: &mut [Val]) -> Result<(), Error> {
    let status = plugin.state().http.status;
    results[0] = Val::I32(i32::from(status));
    Ok(())
}

/// `http_headers() -> i64`: the last response's headers as a JSON object, `{}` before the first response; 0 when the
/// host did not enable header capture.
pub(crate) fn http_headers(plugin: &mut CurrentPlugin, _args: &[Val], results: &mut [Val]) -> Result<(), Error> {
    let json = match &plugin.state().http.headers {
        Some(headers) => serde_json::to_string(headers)?,
        None => {
            results[0] = Val::I64(0);
            return Ok(());
        }
    };
    let handle = plugin.memory_new(json)?;
    results[0] = Val::I64(handle.offset as i64);
    Ok(())
}

/// `http_request(request, body) -> i64`: make the request described by the JSON at `request` with the bytes at
/// `body` (0: no body), and return a handle to the response body (0 when it is empty). Both argument handles are
/// freed, whatever the outcome.
pub(crate) fn http_request(plugin: &mut CurrentPlugin, args: &[Val], results: &mut [Val]) -> Result<(), Error> {
    let request_offset = args[0].i64().unwrap_or(0) as u64;
    let body_offset = args[1].i64().unwrap_or(0) as u64;
    let result = request_and_store(plugin, request_offset, body_offset);
    // The body is the host's to free on every path; an offset that was never a live block is ignored.
    if let Some(body) = plugin.memory_handle(body_offset) {
        plugin.memory_free(body)?;
    }
    results[0] = Val::I64(result? as i64);
    Ok(())
}

/// Everything `http_request` does except freeing the body: returns the offset of the response body.
fn request_and_store(plugin: &mut CurrentPlugin, request_offset: u64, body_offset: u64) -> Result<u64, Error> {
    let state = &mut plugin.state().http;
    state.status = 0;
    if let Some(headers) = &mut state.headers {
        headers.clear();
    }

    let handle = plugin
        .memory_handle(request_offset)
        .ok_or_else(|| anyhow!("invalid handle offset for http request: {request_offset}"))?;
    let parsed = serde_json::from_slice::<HttpRequest>(plugin.memory_bytes(handle)?);
    plugin.memory_free(handle)?;
    let request = parsed?;

    let response = client::send(plugin, &request, body_offset)?;
    let handle = plugin.memory_new(response)?;
    Ok(handle.offset)
}

/// True if `host` matches one of `allowed`: each entry is a glob pattern (`*`, `?`, `[...]`) over the host name, and
/// an entry that is not a valid pattern must equal the host exactly. No list, or an empty one, allows nothing.
#[cfg(feature = "http")]
fn host_allowed(allowed: Option<&[String]>, host: &str) -> bool {
    allowed
        .unwrap_or_default()
        .iter()
        .any(|entry| match glob::Pattern::new(entry) {
            Ok(pattern) => pattern.matches(host),
            Err(_) => entry == host,
        })
}

/// An absolute URL: scheme and host are required.
#[cfg(feature = "http")]
fn parse_url(url: &str) -> Result<ureq::http::Uri, Error> {
    let uri: ureq::http::Uri = url.parse().map_err(|e| anyhow!("Invalid URL: {e:?}"))?;
    if uri.scheme().is_none() || uri.host().is_none_or(str::is_empty) {
        anyhow::bail!("Invalid URL: {url:?} is not an absolute URL with a host");
    }
    Ok(uri)
}

pub(crate) mod state;

#[cfg(feature = "http")]
mod client;
#[cfg(feature = "http")]
mod redirect;

#[cfg(not(feature = "http"))]
mod client {
    //! Builds without HTTP refuse every request, as upstream does.

    use anyhow::{Error, bail};

    use crate::current_plugin::CurrentPlugin;
    use crate::manifest::HttpRequest;

    pub(super) fn send(_plugin: &mut CurrentPlugin, req: &HttpRequest, _body_offset: u64) -> Result<Vec<u8>, Error> {
        bail!("http_request is not enabled, request to {} is not allowed", req.url)
    }
}

#[cfg(all(test, feature = "http"))]
mod tests {
    use super::host_allowed;

    fn allowed(list: &[&str], host: &str) -> bool {
        let list: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        host_allowed(Some(&list), host)
    }

    #[test]
    fn no_list_or_empty_list_allows_nothing() {
        assert!(!host_allowed(None, "example.com"));
        assert!(!allowed(&[], "example.com"));
    }

    #[test]
    fn globs_match_the_whole_host_name() {
        assert!(allowed(&["example.com"], "example.com"));
        assert!(!allowed(&["example.com"], "api.example.com"));
        assert!(allowed(&["*.example.com"], "api.example.com"));
        assert!(!allowed(&["*.example.com"], "example.com"));
        assert!(!allowed(&["*.example.com"], "example.com.evil.net"));
        assert!(allowed(&["127.0.0.*"], "127.0.0.1"));
        assert!(allowed(&["*.0.0.1"], "127.0.0.1"));
        assert!(allowed(&["host-?"], "host-a"));
        assert!(allowed(&["host-[ab]"], "host-b"));
        assert!(!allowed(&["host-[ab]"], "host-c"));
        assert!(allowed(&["nope", "*"], "anything"));
    }

    #[test]
    fn an_invalid_glob_is_compared_literally() {
        // `[` opens a class that never closes: not a valid pattern, so only the identical text matches.
        assert!(allowed(&["bad[host"], "bad[host"));
        assert!(!allowed(&["bad[host"], "badxhost"));
    }

    #[test]
    fn urls_must_be_absolute() {
        use super::parse_url;
        assert_eq!(
            parse_url("http://127.0.0.1:8080/a?b").unwrap().host(),
            Some("127.0.0.1")
        );
        assert_eq!(
            parse_url("https://user@Example.COM/").unwrap().host(),
            Some("Example.COM")
        );
        assert_eq!(parse_url("http://[::1]:80/").unwrap().host(), Some("[::1]"));
        for bad in ["/relative", "example.com", "", "http://", "http://exa mple.com/"] {
            let e = parse_url(bad).unwrap_err().to_string();
            assert!(e.starts_with("Invalid URL: "), "{bad:?}: {e}");
        }
    }
}
