//! Overwriting plaintext the controller owns before it is freed.
//!
//! Covers the Secrets the controller builds from unsealed values and the key Secrets it caches;
//! docs/security.md ("Plaintext in the controller's memory") lists exactly what is and is not
//! wiped.

use k8s_openapi::api::core::v1::Secret;
use zeroize::Zeroize;

/// Overwrites every value of `secret` (`data` and `stringData`) with zeros, in place (volatile
/// writes the compiler cannot drop), keeping the lengths.
pub fn zero_values(secret: &mut Secret) {
    if let Some(data) = secret.data.as_mut() {
        for value in data.values_mut() {
            value.0.as_mut_slice().zeroize();
        }
    }
    if let Some(data) = secret.string_data.as_mut() {
        for value in data.values_mut() {
            let mut bytes = std::mem::take(value).into_bytes();
            bytes.as_mut_slice().zeroize();
            // Zero bytes are valid UTF-8: the same buffer goes back, all NULs.
            *value = String::from_utf8(bytes).unwrap_or_default();
        }
    }
}

/// Overwrites every value of `secret` with zeros, then empties `data` and `stringData`.
pub fn secret(secret: &mut Secret) {
    zero_values(secret);
    secret.data = None;
    secret.string_data = None;
}

/// A Secret wiped ([`secret`]) when dropped, on every path.
pub struct Wiped(pub Secret);

impl Drop for Wiped {
    fn drop(&mut self) {
        secret(&mut self.0);
    }
}

impl std::ops::Deref for Wiped {
    type Target = Secret;
    fn deref(&self) -> &Secret {
        &self.0
    }
}

impl std::ops::DerefMut for Wiped {
    fn deref_mut(&mut self) -> &mut Secret {
        &mut self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    #[test]
    fn every_value_is_overwritten_in_place() {
        let mut s = Secret {
            data: Some(
                [
                    ("a".to_owned(), ByteString(b"hunter2".to_vec())),
                    ("b".to_owned(), ByteString(vec![0xff; 4096])),
                ]
                .into(),
            ),
            string_data: Some([("c".to_owned(), "swordfish".to_owned())].into()),
            ..Default::default()
        };
        let before = s.data.as_ref().map(|d| d["b"].0.as_ptr());
        zero_values(&mut s);
        let data = s.data.as_ref().unwrap();
        assert_eq!(data["a"].0, vec![0u8; 7]);
        assert_eq!(data["b"].0, vec![0u8; 4096]);
        assert_eq!(
            before,
            Some(data["b"].0.as_ptr()),
            "the same buffer, overwritten"
        );
        assert_eq!(s.string_data.as_ref().unwrap()["c"], "\0".repeat(9));
        secret(&mut s);
        assert!(s.data.is_none() && s.string_data.is_none());
    }
}
