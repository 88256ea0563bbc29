use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::Error;

/// Encodes bytes as standard, padded base64 with no line breaks (the `encryptedData` form).
pub fn encode_value(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes standard, padded base64, ignoring `\r` and `\n` like Go's decoder does.
///
/// The URL-safe alphabet and missing padding are rejected, as upstream does.
pub fn decode_value(text: &str) -> Result<Vec<u8>, Error> {
    let decoded = if text.contains(['\r', '\n']) {
        let compact: String = text.chars().filter(|c| *c != '\r' && *c != '\n').collect();
        STANDARD.decode(compact)
    } else {
        STANDARD.decode(text)
    };
    decoded.map_err(|e| Error::Base64(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_go_compat() {
        assert_eq!(encode_value(b"\xfb\xff"), "+/8=");
        assert_eq!(decode_value("+/8=").unwrap(), b"\xfb\xff");
        assert_eq!(decode_value("+/\r\n8=").unwrap(), b"\xfb\xff");
        assert!(
            decode_value("-_8=").is_err(),
            "url-safe alphabet must be rejected"
        );
        assert!(
            decode_value("+/8").is_err(),
            "missing padding must be rejected"
        );
        assert!(decode_value("+/ 8=").is_err());
    }
}
