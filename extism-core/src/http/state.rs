//! What the HTTP host functions keep in a plug-in's state between calls.

use std::collections::BTreeMap;

/// What a plug-in can learn about its last HTTP request after it returned.
#[derive(Debug, Default)]
pub(crate) struct HttpState {
    /// Status code of the last response; 0 before the first request and while a request is being made, so a failed
    /// request leaves 0.
    pub(crate) status: u16,
    /// Headers of the last response (name → value, last one wins), or `None` when the host did not enable
    /// response-header capture. Kept between calls, like the status.
    pub(crate) headers: Option<BTreeMap<String, String>>,
}

impl HttpState {
    /// Turn response-header capture on (with no headers seen yet) or off.
    pub(crate) fn capture_headers(&mut self, enabled: bool) {
        self.headers = enabled.then(BTreeMap::new);
    }
}
