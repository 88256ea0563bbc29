//! The few DER structures needed to move between PKCS#1 and PKCS#8 RSA private keys.

/// `AlgorithmIdentifier { rsaEncryption, NULL }`.
const RSA_ALGORITHM_ID: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];

/// Reads one DER TLV at the start of `input`: `(tag, contents, rest)`.
fn read_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

fn write_tlv(tag: u8, contents: &[u8], out: &mut Vec<u8>) {
    out.push(tag);
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(contents);
}

/// Extracts the PKCS#1 `RSAPrivateKey` from a PKCS#8 `PrivateKeyInfo` holding an RSA key.
pub(crate) fn pkcs8_to_pkcs1(pkcs8: &[u8]) -> Option<&[u8]> {
    let (0x30, body, _) = read_tlv(pkcs8)? else {
        return None;
    };
    let (0x02, _version, rest) = read_tlv(body)? else {
        return None;
    };
    let (0x30, alg, rest) = read_tlv(rest)? else {
        return None;
    };
    // The algorithm must be rsaEncryption (its OID is the first 11 content bytes).
    if !alg.starts_with(&RSA_ALGORITHM_ID[2..13]) {
        return None;
    }
    let (0x04, key, _) = read_tlv(rest)? else {
        return None;
    };
    Some(key)
}

/// Wraps a PKCS#1 `RSAPrivateKey` into a version-0 PKCS#8 `PrivateKeyInfo`.
pub(crate) fn pkcs1_to_pkcs8(pkcs1: &[u8]) -> Vec<u8> {
    let mut body = vec![0x02, 0x01, 0x00];
    body.extend_from_slice(RSA_ALGORITHM_ID);
    write_tlv(0x04, pkcs1, &mut body);
    let mut out = Vec::with_capacity(body.len() + 4);
    write_tlv(0x30, &body, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_unwrap_round_trip() {
        let inner: Vec<u8> = (0..300u16).map(|i| i as u8).collect();
        let wrapped = pkcs1_to_pkcs8(&inner);
        assert_eq!(pkcs8_to_pkcs1(&wrapped), Some(&inner[..]));
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        for input in [
            &b""[..],
            b"\x30",
            b"\x30\x84\xff\xff\xff\xff",
            b"\x30\x03\x02\x01\x00",
        ] {
            assert_eq!(pkcs8_to_pkcs1(input), None);
        }
    }
}
