//! What a plug-in can be created from, and how raw bytes are told apart (binary wasm, WAT, TOML or JSON manifest).

use std::borrow::Cow;

use anyhow::{Context, Error};

use crate::manifest::{Manifest, Wasm};

/// The source of a plug-in: raw bytes (wasm, WAT, or a JSON/TOML manifest) or a [`Manifest`].
#[derive(Debug, Clone)]
pub enum WasmInput<'a> {
    /// Bytes: binary wasm, WAT text, or a manifest in TOML or JSON.
    Data(Cow<'a, [u8]>),
    /// A manifest.
    Manifest(Manifest),
    /// A borrowed manifest.
    ManifestRef(&'a Manifest),
}

impl From<Manifest> for WasmInput<'_> {
    fn from(m: Manifest) -> Self {
        WasmInput::Manifest(m)
    }
}

impl<'a> From<&'a Manifest> for WasmInput<'a> {
    fn from(m: &'a Manifest) -> Self {
        WasmInput::ManifestRef(m)
    }
}

impl<'a> From<&'a mut Manifest> for WasmInput<'a> {
    fn from(m: &'a mut Manifest) -> Self {
        WasmInput::ManifestRef(m)
    }
}

impl<'a> From<&'a [u8]> for WasmInput<'a> {
    fn from(data: &'a [u8]) -> Self {
        WasmInput::Data(Cow::Borrowed(data))
    }
}

impl<'a, const N: usize> From<&'a [u8; N]> for WasmInput<'a> {
    fn from(data: &'a [u8; N]) -> Self {
        WasmInput::Data(Cow::Borrowed(data))
    }
}

impl<'a> From<&'a str> for WasmInput<'a> {
    fn from(text: &'a str) -> Self {
        WasmInput::Data(Cow::Borrowed(text.as_bytes()))
    }
}

impl From<String> for WasmInput<'_> {
    fn from(text: String) -> Self {
        WasmInput::Data(Cow::Owned(text.into_bytes()))
    }
}

impl From<Vec<u8>> for WasmInput<'_> {
    fn from(data: Vec<u8>) -> Self {
        WasmInput::Data(Cow::Owned(data))
    }
}

impl<'a> From<&'a Vec<u8>> for WasmInput<'a> {
    fn from(data: &'a Vec<u8>) -> Self {
        WasmInput::Data(Cow::Borrowed(data))
    }
}

impl WasmInput<'_> {
    /// Turn the input into a manifest: raw modules become a one-module manifest with default settings.
    pub fn into_manifest(self) -> Result<Manifest, Error> {
        match self {
            WasmInput::Manifest(m) => Ok(m),
            WasmInput::ManifestRef(m) => Ok(m.clone()),
            WasmInput::Data(data) => manifest_from_bytes(data),
        }
    }
}

const WASM_MAGIC: &[u8] = b"\0asm";

/// True when `bytes` look like WAT text: `(module`, or a leading `;;` / `(;` comment.
///
/// Upstream treats `   (module ...` (leading white space before the parenthesis) as a manifest; we accept it as WAT,
/// which is what a user writing WAT expects.
pub(crate) fn looks_like_wat(bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    let text = text.trim_start();
    if text.starts_with(";;") || text.starts_with("(;") {
        return true;
    }
    text.strip_prefix('(')
        .is_some_and(|rest| rest.trim_start().starts_with("module"))
}

fn manifest_from_bytes(data: Cow<'_, [u8]>) -> Result<Manifest, Error> {
    if data.starts_with(WASM_MAGIC) || looks_like_wat(&data) {
        return Ok(Manifest::new([Wasm::data(data.into_owned())]));
    }
    let Ok(text) = std::str::from_utf8(&data) else {
        // Neither text nor a wasm header: let the engine say what is wrong with it.
        return Ok(Manifest::new([Wasm::data(data.into_owned())]));
    };
    if text.trim().is_empty() {
        anyhow::bail!("Unknown manifest format: the input is empty");
    }
    let toml_error = match toml::from_str::<Manifest>(text) {
        Ok(m) => return Ok(m),
        Err(e) => e,
    };
    let json_error = match serde_json::from_str::<Manifest>(text) {
        Ok(m) => return Ok(m),
        Err(e) => e,
    };
    // Report the error of the format the text most resembles.
    let detail = if text.trim_start().starts_with('{') {
        format!("invalid JSON manifest: {json_error}")
    } else {
        format!("invalid TOML manifest: {}", toml_error.message())
    };
    Err(Error::msg(detail)).context("Unknown manifest format")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wat_detection() {
        assert!(looks_like_wat(b"(module)"));
        assert!(looks_like_wat(b"  ( module (func))"));
        assert!(looks_like_wat(b";; comment\n(module)"));
        assert!(!looks_like_wat(b"{\"wasm\": []}"));
        assert!(!looks_like_wat(&[0xff, 0xfe]));
    }

    #[test]
    fn json_and_toml_manifests() {
        let json = br#"{"wasm": [{"data": "AGFzbQEAAAA=", "name": "m"}], "config": {"a": "b"}}"#;
        let m = WasmInput::from(&json[..]).into_manifest().unwrap();
        assert_eq!(m.config["a"], "b");
        assert!(matches!(&m.wasm[0], Wasm::Data { data, .. } if data.starts_with(WASM_MAGIC)));

        let toml = "timeout_ms = 5\n[[wasm]]\npath = \"x.wasm\"\n";
        let m = WasmInput::from(toml).into_manifest().unwrap();
        assert_eq!(m.timeout_ms, Some(5));
        assert_eq!(m.memory.max_var_bytes, Some(1024 * 1024));
    }

    #[test]
    fn bad_manifests_are_errors() {
        for input in [
            &b"{\"wasm\": "[..],
            b"{\"nope\": 1}",
            b"hello world",
            b"",
            b"{\"wasm\":[{}]}",
        ] {
            let err = WasmInput::from(input).into_manifest().unwrap_err();
            assert!(err.to_string().starts_with("Unknown manifest format"), "{err:#}");
        }
        let err = WasmInput::from(&br#"{"wasm":[{"data":{"ptr":1,"len":2}}]}"#[..])
            .into_manifest()
            .unwrap_err();
        assert!(format!("{err:#}").contains("raw host pointer"), "{err:#}");
    }

    #[test]
    fn manifest_round_trips_through_json() {
        let m = Manifest::new([Wasm::data(vec![1, 2, 3]).with_name("a")])
            .with_wasm(Wasm::url("http://x/y.wasm").with_hash("ab"))
            .with_config_key("k", "v")
            .with_timeout(std::time::Duration::from_secs(2));
        let json = serde_json::to_string(&m).unwrap();
        let back: Manifest = serde_json::from_str(&json).unwrap();
        assert_eq!(m, back);
    }
}
