//! Conversions between Rust values and the bytes a plug-in receives or returns.
//!
//! [`ToBytes`] turns a value into call input (or host-function output); [`FromBytes`] reads call output (possibly
//! borrowing from plug-in memory); [`FromBytesOwned`] is the owning form. Numbers are little-endian; [`Json`] wraps
//! any serde type.

use anyhow::{Error, bail};

/// A region of kernel memory: an offset (handle) and a length. Offset 0 is the empty/null handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MemoryHandle {
    /// Offset into kernel memory.
    pub offset: u64,
    /// Length in bytes.
    pub length: u64,
}

impl MemoryHandle {
    /// A handle from an offset and a length.
    ///
    /// # Safety
    /// The region must be a live kernel allocation; functions that read through a handle still bounds-check it
    /// against kernel memory, so a wrong handle gives wrong bytes or an error, never undefined behaviour.
    pub unsafe fn new(offset: u64, length: u64) -> MemoryHandle {
        MemoryHandle { offset, length }
    }

    /// The null (empty) handle.
    pub fn null() -> MemoryHandle {
        MemoryHandle { offset: 0, length: 0 }
    }

    /// The offset.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The length.
    pub fn len(&self) -> usize {
        self.length as usize
    }

    /// True for an empty region.
    pub fn is_empty(&self) -> bool {
        self.length == 0
    }
}

/// A value that can be turned into bytes for a plug-in.
pub trait ToBytes<'a> {
    /// The byte container produced.
    type Bytes: AsRef<[u8]>;
    /// The bytes.
    fn to_bytes(&self) -> Result<Self::Bytes, Error>;
}

/// A value that can be read from bytes a plug-in produced, possibly borrowing them.
pub trait FromBytes<'a>: Sized {
    /// Decode `data`.
    fn from_bytes(data: &'a [u8]) -> Result<Self, Error>;
}

/// A value that can be read from bytes without borrowing them.
pub trait FromBytesOwned: Sized {
    /// Decode `data`.
    fn from_bytes_owned(data: &[u8]) -> Result<Self, Error>;
}

impl<T: FromBytesOwned> FromBytes<'_> for T {
    fn from_bytes(data: &[u8]) -> Result<Self, Error> {
        T::from_bytes_owned(data)
    }
}

impl ToBytes<'_> for () {
    type Bytes = [u8; 0];
    fn to_bytes(&self) -> Result<[u8; 0], Error> {
        Ok([])
    }
}

impl ToBytes<'_> for Vec<u8> {
    type Bytes = Vec<u8>;
    fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        Ok(self.clone())
    }
}

impl ToBytes<'_> for String {
    type Bytes = String;
    fn to_bytes(&self) -> Result<String, Error> {
        Ok(self.clone())
    }
}

impl<'a> ToBytes<'a> for &'a [u8] {
    type Bytes = &'a [u8];
    fn to_bytes(&self) -> Result<&'a [u8], Error> {
        Ok(self)
    }
}

impl<'a, const N: usize> ToBytes<'a> for &'a [u8; N] {
    type Bytes = &'a [u8];
    fn to_bytes(&self) -> Result<&'a [u8], Error> {
        Ok(&self[..])
    }
}

impl<'a> ToBytes<'a> for &'a str {
    type Bytes = &'a str;
    fn to_bytes(&self) -> Result<&'a str, Error> {
        Ok(self)
    }
}

impl<'a, T: ToBytes<'a>> ToBytes<'a> for &T {
    type Bytes = T::Bytes;
    fn to_bytes(&self) -> Result<T::Bytes, Error> {
        (*self).to_bytes()
    }
}

impl<'a, T: ToBytes<'a>> ToBytes<'a> for Option<T> {
    type Bytes = Vec<u8>;
    fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        match self {
            Some(x) => Ok(x.to_bytes()?.as_ref().to_vec()),
            None => Ok(Vec::new()),
        }
    }
}

impl ToBytes<'_> for bool {
    type Bytes = [u8; 1];
    fn to_bytes(&self) -> Result<[u8; 1], Error> {
        Ok([*self as u8])
    }
}

impl ToBytes<'_> for serde_json::Value {
    type Bytes = Vec<u8>;
    fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        Ok(serde_json::to_vec(self)?)
    }
}

macro_rules! little_endian_numbers {
    ($($t:ty),*) => {$(
        impl ToBytes<'_> for $t {
            type Bytes = [u8; std::mem::size_of::<$t>()];
            fn to_bytes(&self) -> Result<Self::Bytes, Error> {
                Ok(self.to_le_bytes())
            }
        }

        impl FromBytesOwned for $t {
            fn from_bytes_owned(data: &[u8]) -> Result<Self, Error> {
                match data.try_into() {
                    Ok(bytes) => Ok(<$t>::from_le_bytes(bytes)),
                    Err(_) => bail!(
                        "expected {} bytes to read a {}, got {}",
                        std::mem::size_of::<$t>(),
                        stringify!($t),
                        data.len()
                    ),
                }
            }
        }
    )*};
}

little_endian_numbers!(f64, f32, i64, i32, u64, u32);

impl<'a> FromBytes<'a> for &'a [u8] {
    fn from_bytes(data: &'a [u8]) -> Result<Self, Error> {
        Ok(data)
    }
}

impl<'a> FromBytes<'a> for &'a str {
    fn from_bytes(data: &'a [u8]) -> Result<Self, Error> {
        Ok(std::str::from_utf8(data)?)
    }
}

impl FromBytesOwned for Vec<u8> {
    fn from_bytes_owned(data: &[u8]) -> Result<Self, Error> {
        Ok(data.to_vec())
    }
}

impl FromBytesOwned for Box<[u8]> {
    fn from_bytes_owned(data: &[u8]) -> Result<Self, Error> {
        Ok(data.into())
    }
}

impl FromBytesOwned for String {
    fn from_bytes_owned(data: &[u8]) -> Result<Self, Error> {
        Ok(std::str::from_utf8(data)?.to_string())
    }
}

impl FromBytesOwned for bool {
    fn from_bytes_owned(data: &[u8]) -> Result<Self, Error> {
        match data.first() {
            Some(b) => Ok(*b != 0),
            None => bail!("Expected one byte to read boolean value"),
        }
    }
}

impl FromBytesOwned for () {
    fn from_bytes_owned(_: &[u8]) -> Result<Self, Error> {
        Ok(())
    }
}

impl FromBytesOwned for serde_json::Value {
    fn from_bytes_owned(data: &[u8]) -> Result<Self, Error> {
        Ok(serde_json::from_slice(data)?)
    }
}

impl<'a, T: FromBytes<'a>> FromBytes<'a> for Option<T> {
    fn from_bytes(data: &'a [u8]) -> Result<Self, Error> {
        if data.is_empty() {
            Ok(None)
        } else {
            T::from_bytes(data).map(Some)
        }
    }
}

impl<'a, T: FromBytes<'a>> FromBytes<'a> for std::io::Cursor<T> {
    fn from_bytes(data: &'a [u8]) -> Result<Self, Error> {
        Ok(std::io::Cursor::new(T::from_bytes(data)?))
    }
}

/// JSON encoding of any serde type: `Json(value)` as input, `Json<T>` as output.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Json<T>(pub T);

impl<T> From<T> for Json<T> {
    fn from(x: T) -> Self {
        Json(x)
    }
}

impl<T: serde::Serialize> ToBytes<'_> for Json<T> {
    type Bytes = Vec<u8>;
    fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        Ok(serde_json::to_vec(&self.0)?)
    }
}

impl<T: serde::de::DeserializeOwned> FromBytesOwned for Json<T> {
    fn from_bytes_owned(data: &[u8]) -> Result<Self, Error> {
        Ok(Json(serde_json::from_slice(data)?))
    }
}

/// MessagePack encoding of any serde type (`rmp-serde`, named fields).
#[cfg(feature = "msgpack")]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Msgpack<T>(pub T);

#[cfg(feature = "msgpack")]
impl<T> From<T> for Msgpack<T> {
    fn from(x: T) -> Self {
        Msgpack(x)
    }
}

#[cfg(feature = "msgpack")]
impl<T: serde::Serialize> ToBytes<'_> for Msgpack<T> {
    type Bytes = Vec<u8>;
    fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        Ok(rmp_serde::to_vec_named(&self.0)?)
    }
}

#[cfg(feature = "msgpack")]
impl<T: serde::de::DeserializeOwned> FromBytesOwned for Msgpack<T> {
    fn from_bytes_owned(data: &[u8]) -> Result<Self, Error> {
        Ok(Msgpack(rmp_serde::from_slice(data)?))
    }
}

/// Base64 text (standard alphabet, padded) of some bytes: encodes any `AsRef<[u8]>`, decodes into `String` or
/// `Vec<u8>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Base64<T>(pub T);

impl<T: AsRef<[u8]>> ToBytes<'_> for Base64<T> {
    type Bytes = String;
    fn to_bytes(&self) -> Result<String, Error> {
        use base64::Engine as _;
        Ok(base64::engine::general_purpose::STANDARD.encode(self.0.as_ref()))
    }
}

impl FromBytesOwned for Base64<Vec<u8>> {
    fn from_bytes_owned(data: &[u8]) -> Result<Self, Error> {
        use base64::Engine as _;
        Ok(Base64(base64::engine::general_purpose::STANDARD.decode(data)?))
    }
}

impl FromBytesOwned for Base64<String> {
    fn from_bytes_owned(data: &[u8]) -> Result<Self, Error> {
        let Base64(bytes) = Base64::<Vec<u8>>::from_bytes_owned(data)?;
        Ok(Base64(String::from_utf8(bytes)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip_little_endian() {
        assert_eq!(258u32.to_bytes().unwrap(), [2, 1, 0, 0]);
        assert_eq!(u32::from_bytes(&[2, 1, 0, 0]).unwrap(), 258);
        assert!(u64::from_bytes(&[1, 2]).is_err());
        assert_eq!(f64::from_bytes(&1.5f64.to_le_bytes()).unwrap(), 1.5);
    }

    #[test]
    fn strings_options_and_json() {
        assert_eq!(<&str>::from_bytes(b"hi").unwrap(), "hi");
        assert!(<&str>::from_bytes(&[0xff]).is_err());
        assert_eq!(Option::<String>::from_bytes(b"").unwrap(), None);
        assert_eq!(Option::<String>::from_bytes(b"x").unwrap(), Some("x".into()));
        assert!(bool::from_bytes(b"").is_err());
        assert!(bool::from_bytes(&[2]).unwrap());
        let Json(v): Json<Vec<u32>> = Json::from_bytes(b"[1,2]").unwrap();
        assert_eq!(v, [1, 2]);
        assert_eq!(Json(vec![1]).to_bytes().unwrap(), b"[1]");
        assert_eq!(Some("a").to_bytes().unwrap(), b"a");
        assert_eq!(None::<&str>.to_bytes().unwrap(), b"");
    }

    #[test]
    fn base64_and_msgpack() {
        assert_eq!(Base64("hi").to_bytes().unwrap(), "aGk=");
        let Base64(s): Base64<String> = Base64::from_bytes(b"aGk=").unwrap();
        assert_eq!(s, "hi");
        assert!(Base64::<Vec<u8>>::from_bytes(b"%%").is_err());
        #[cfg(feature = "msgpack")]
        {
            let bytes = Msgpack(vec![1u8, 2]).to_bytes().unwrap();
            let Msgpack(back): Msgpack<Vec<u8>> = Msgpack::from_bytes(&bytes).unwrap();
            assert_eq!(back, [1, 2]);
        }
    }
}
