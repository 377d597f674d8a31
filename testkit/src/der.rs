//! The little DER the tests need: an RSA SubjectPublicKeyInfo for openssl, and an
//! ECDSA signature (r ‖ s as PKCS#11 gives it) as openssl wants it.

fn len(n: usize) -> Vec<u8> {
    match n {
        0..=0x7f => vec![n as u8],
        0x80..=0xff => vec![0x81, n as u8],
        _ => vec![0x82, (n >> 8) as u8, n as u8],
    }
}

fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    v.extend(len(body.len()));
    v.extend_from_slice(body);
    v
}

/// A non-negative INTEGER from big-endian bytes.
fn integer(be: &[u8]) -> Vec<u8> {
    let start = be.iter().position(|&b| b != 0).unwrap_or(be.len());
    let mut body = be[start..].to_vec();
    if body.first().is_none_or(|&b| b & 0x80 != 0) {
        body.insert(0, 0);
    }
    tlv(0x02, &body)
}

/// SubjectPublicKeyInfo of an RSA public key.
pub fn rsa_spki(n: &[u8], e: &[u8]) -> Vec<u8> {
    // AlgorithmIdentifier { rsaEncryption, NULL }
    let alg = tlv(
        0x30,
        &[
            &[0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01][..],
            &[0x05, 0x00][..],
        ]
        .concat(),
    );
    let key = tlv(0x30, &[integer(n), integer(e)].concat());
    let mut bits = vec![0u8];
    bits.extend(key);
    tlv(0x30, &[alg, tlv(0x03, &bits)].concat())
}

/// ECDSA-Sig-Value of a fixed-width r ‖ s.
pub fn ecdsa_sig(rs: &[u8]) -> Vec<u8> {
    let (r, s) = rs.split_at(rs.len() / 2);
    tlv(0x30, &[integer(r), integer(s)].concat())
}
