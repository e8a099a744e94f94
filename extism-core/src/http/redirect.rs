//! Which redirect responses are followed, and where to: the rules of `ureq`'s own redirect handling, applied by
//! the host so that each target can be checked against `allowed_hosts` before it is contacted.

use anyhow::{Error, anyhow};
use ureq::http::{Method, Response, StatusCode, Uri, header};

use super::parse_url;

/// The most redirects one request follows (`ureq`'s default).
pub(super) const MAX_REDIRECTS: u32 = 10;

/// Where a redirect leads.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Hop {
    pub(super) uri: Uri,
    pub(super) method: Method,
}

/// The next request for a redirect response to `method uri`, or `None` when the response is the answer: not a
/// redirect, a redirect without a `Location`, or a 307/308 for a method that may not be repeated blindly.
pub(super) fn next_hop<B>(uri: &Uri, method: &Method, response: &Response<B>) -> Result<Option<Hop>, Error> {
    let status = response.status();
    let keeps_method = match status {
        StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND | StatusCode::SEE_OTHER => false,
        StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT => true,
        _ => return Ok(None),
    };
    let Some(location) = response.headers().get(header::LOCATION) else {
        return Ok(None);
    };
    let location = location
        .to_str()
        .map_err(|_| anyhow!("invalid Location header in a {status} response"))?;
    let method = if keeps_method {
        if [Method::POST, Method::PUT, Method::PATCH, Method::DELETE].contains(method) {
            return Ok(None);
        }
        method.clone()
    } else if *method == Method::GET || *method == Method::HEAD {
        method.clone()
    } else {
        Method::GET
    };
    Ok(Some(Hop {
        uri: join(uri, location)?,
        method,
    }))
}

/// `location` (absolute, scheme-relative, absolute path, query or relative path) resolved against `base`.
fn join(base: &Uri, location: &str) -> Result<Uri, Error> {
    // A fragment never travels to the server.
    let location = location.split('#').next().unwrap_or_default();
    let scheme = base.scheme_str().unwrap_or("http");
    let authority = base.authority().map(|a| a.as_str()).unwrap_or_default();
    let joined = if location.contains("://") && parse_url(location).is_ok() {
        location.to_string()
    } else if location.starts_with("//") {
        format!("{scheme}:{location}")
    } else if location.starts_with('/') {
        format!("{scheme}://{authority}{location}")
    } else if location.starts_with('?') {
        format!("{scheme}://{authority}{}{location}", base.path())
    } else {
        let path = base.path();
        let directory = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        let directory = if directory.is_empty() { "/" } else { directory };
        format!("{scheme}://{authority}{directory}{location}")
    };
    parse_url(&joined).map_err(|e| anyhow!("invalid redirect to {location:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(text: &str) -> Uri {
        text.parse().unwrap()
    }

    fn response(status: u16, location: Option<&str>) -> Response<()> {
        let mut builder = Response::builder().status(status);
        if let Some(location) = location {
            builder = builder.header(header::LOCATION, location);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn locations_resolve_against_the_request() {
        let base = uri("http://a.example:8080/dir/page?q=1");
        for (location, expected) in [
            ("https://b.example/x", "https://b.example/x"),
            ("//c.example/y", "http://c.example/y"),
            ("/root", "http://a.example:8080/root"),
            ("?other=2", "http://a.example:8080/dir/page?other=2"),
            ("sibling", "http://a.example:8080/dir/sibling"),
            ("sub/leaf?x#frag", "http://a.example:8080/dir/sub/leaf?x"),
        ] {
            assert_eq!(join(&base, location).unwrap().to_string(), expected, "{location}");
        }
        assert_eq!(join(&uri("http://h"), "x").unwrap().to_string(), "http://h/x");
    }

    #[test]
    fn methods_after_a_redirect() {
        let base = uri("http://a.example/");
        let hop = |status, method: Method| next_hop(&base, &method, &response(status, Some("/next"))).unwrap();
        for status in [301, 302, 303] {
            assert_eq!(hop(status, Method::POST).unwrap().method, Method::GET);
            assert_eq!(hop(status, Method::HEAD).unwrap().method, Method::HEAD);
        }
        for status in [307, 308] {
            assert_eq!(hop(status, Method::GET).unwrap().method, Method::GET);
            assert_eq!(hop(status, Method::POST), None, "a body is not re-sent blindly");
            assert_eq!(hop(status, Method::DELETE), None);
        }
        assert_eq!(hop(303, Method::GET).unwrap().uri, uri("http://a.example/next"));
    }

    #[test]
    fn other_responses_are_answers() {
        let base = uri("http://a.example/");
        for status in [200, 204, 300, 304, 404] {
            assert_eq!(
                next_hop(&base, &Method::GET, &response(status, Some("/x"))).unwrap(),
                None
            );
        }
        assert_eq!(next_hop(&base, &Method::GET, &response(302, None)).unwrap(), None);
    }
}
