//! Size limits, on decoded bytes, as Kubernetes applies them: a Secret's `data` values may add
//! up to at most 1 MiB. One check for sealing (the CLI), unsealing (the controller, `/v1/verify`,
//! `/v1/rotate`, offline recovery) and offline verification.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;

use crate::{Error, SealedSecret};

/// Kubernetes refuses a Secret whose `data` values add up to more than this many bytes
/// (`MaxSecretSize`, 1 MiB = 1,048,576; item names are not counted).
pub const MAX_SECRET_DATA_BYTES: usize = 1024 * 1024;

/// The largest RSA part a sealed value can have (8192-bit keys).
const MAX_RSA_BYTES: usize = 1024;

/// Any single string of an input document longer than this is refused while parsing, before
/// anything is decoded: it is the base64 text of the largest value a SealedSecret can hold
/// (1 MiB sealed for an 8192-bit key), so no valid Secret or SealedSecret has a longer one.
pub const MAX_STRING_BYTES: usize =
    (MAX_SECRET_DATA_BYTES + 2 + MAX_RSA_BYTES + 16).div_ceil(3) * 4;

/// Refuses a Secret whose values (`data`, and `stringData`, which replaces same-named `data`
/// items when the API server folds it in) add up to more than [`MAX_SECRET_DATA_BYTES`].
pub fn check_secret_data(secret: &Secret) -> Result<(), Error> {
    let mut sizes: BTreeMap<&str, usize> = BTreeMap::new();
    for (item, value) in secret.data.iter().flatten() {
        sizes.insert(item, value.0.len());
    }
    for (item, value) in secret.string_data.iter().flatten() {
        sizes.insert(item, value.len());
    }
    check_total("data", &sizes)
}

/// Refuses a SealedSecret whose values would add up to more than [`MAX_SECRET_DATA_BYTES`]
/// once unsealed. Plaintext sizes are read from each value's structure (no key needed);
/// values that are not well-formed are left to fail on their own.
pub fn check_sealed_data(ss: &SealedSecret) -> Result<(), Error> {
    let sizes: BTreeMap<&str, usize> = ss
        .spec
        .encrypted_data
        .iter()
        .filter_map(|(item, value)| {
            let bytes = sealant_crypto::decode_value(value).ok()?;
            let layout = sealant_crypto::layout(&bytes).ok()?;
            Some((item.as_str(), layout.plaintext_len))
        })
        .collect();
    check_total("spec.encryptedData", &sizes)
}

fn check_total(field: &str, sizes: &BTreeMap<&str, usize>) -> Result<(), Error> {
    let total: usize = sizes.values().sum();
    if total <= MAX_SECRET_DATA_BYTES {
        return Ok(());
    }
    let (largest, largest_size) = sizes
        .iter()
        .max_by_key(|(_, size)| **size)
        .map(|(item, size)| (*item, *size))
        .unwrap_or_default();
    Err(Error::Document {
        document: None,
        path: Some(field.to_owned()),
        message: format!(
            "the values add up to {total} bytes, more than the {MAX_SECRET_DATA_BYTES} bytes \
             (1 MiB) Kubernetes allows in a Secret's data (largest item {largest:?}: \
             {largest_size} bytes)"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    fn secret(data: &[(&str, usize)], string_data: &[(&str, usize)]) -> Secret {
        Secret {
            data: Some(
                data.iter()
                    .map(|(k, n)| ((*k).to_owned(), ByteString(vec![b'x'; *n])))
                    .collect(),
            ),
            string_data: Some(
                string_data
                    .iter()
                    .map(|(k, n)| ((*k).to_owned(), "y".repeat(*n)))
                    .collect(),
            ),
            ..Secret::default()
        }
    }

    #[test]
    fn exactly_one_mib_of_values_is_allowed() {
        let max = MAX_SECRET_DATA_BYTES;
        assert!(check_secret_data(&secret(&[("a", max)], &[])).is_ok());
        assert!(check_secret_data(&secret(&[("a", max - 10)], &[("b", 10)])).is_ok());
        let err = check_secret_data(&secret(&[("a", max)], &[("b", 1)])).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("data: the values add up to 1048577 bytes") && text.contains("\"a\""),
            "{text}"
        );
        // stringData replaces a same-named data item: counted once.
        assert!(check_secret_data(&secret(&[("a", max)], &[("a", max)])).is_ok());
    }

    #[test]
    fn the_string_bound_fits_the_largest_sealed_value() {
        let largest = MAX_SECRET_DATA_BYTES + 2 + MAX_RSA_BYTES + 16;
        let text = sealant_crypto::encode_value(&vec![0u8; largest]);
        assert_eq!(text.len(), MAX_STRING_BYTES);
    }
}
