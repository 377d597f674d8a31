//! Serde helper: byte strings as standard base64 in records.

use base64ct::{Base64, Encoding};
use serde::{Deserialize, Deserializer, Serializer};

pub(crate) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&Base64::encode_string(bytes))
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let text = String::deserialize(d)?;
    Base64::decode_vec(&text).map_err(serde::de::Error::custom)
}
