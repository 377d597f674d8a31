//! Just enough DER to take an RSA private key's integers out of PKCS#8 (or bare
//! PKCS#1) for the OpenSSH format.

use zeroize::Zeroizing;

use crate::error::{Result, SecretError};

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const OCTET_STRING: u8 = 0x04;
/// 1.2.840.113549.1.1.1, rsaEncryption.
const RSA_OID: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
];

fn bad(m: &str) -> SecretError {
    SecretError::Ssh(format!("RSA key DER: {m}"))
}

/// Reads one TLV; returns (tag, content, rest).
fn tlv(input: &[u8]) -> Result<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first().ok_or_else(|| bad("truncated"))?;
    let (&first, mut rest) = rest.split_first().ok_or_else(|| bad("truncated"))?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return Err(bad("unsupported length"));
        }
        let (bytes, r) = rest.split_at_checked(n).ok_or_else(|| bad("truncated"))?;
        rest = r;
        bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
    };
    let (content, rest) = rest.split_at_checked(len).ok_or_else(|| bad("truncated"))?;
    Ok((tag, content, rest))
}

fn expect(input: &[u8], tag: u8) -> Result<(&[u8], &[u8])> {
    let (t, content, rest) = tlv(input)?;
    if t != tag {
        return Err(bad("unexpected element"));
    }
    Ok((content, rest))
}

/// An RSA private key's integers, big-endian unsigned (leading zeros kept as DER has them).
pub(crate) struct RsaParts {
    pub n: Vec<u8>,
    pub e: Vec<u8>,
    pub d: Zeroizing<Vec<u8>>,
    pub p: Zeroizing<Vec<u8>>,
    pub q: Zeroizing<Vec<u8>>,
    pub iqmp: Zeroizing<Vec<u8>>,
}

/// Parses PKCS#8 PrivateKeyInfo holding an RSA key, or a bare PKCS#1 RSAPrivateKey.
pub(crate) fn rsa_private(der: &[u8]) -> Result<RsaParts> {
    let (outer, _) = expect(der, SEQUENCE)?;
    let (_version, after) = expect(outer, INTEGER)?;
    let pkcs1 = if after.first() == Some(&SEQUENCE) {
        let (alg, after) = expect(after, SEQUENCE)?;
        if !alg.starts_with(RSA_OID) {
            return Err(bad("not an RSA key (algorithm is not rsaEncryption)"));
        }
        let (octets, _) = expect(after, OCTET_STRING)?;
        let (inner, _) = expect(octets, SEQUENCE)?;
        let (_v, rest) = expect(inner, INTEGER)?;
        rest
    } else {
        after
    };
    let mut ints = Vec::with_capacity(8);
    let mut rest = pkcs1;
    for _ in 0..8 {
        let (i, r) = expect(rest, INTEGER)?;
        ints.push(i);
        rest = r;
    }
    let [n, e, d, p, q, _dp, _dq, iqmp] = ints.as_slice() else {
        return Err(bad("missing integers"));
    };
    Ok(RsaParts {
        n: n.to_vec(),
        e: e.to_vec(),
        d: Zeroizing::new(d.to_vec()),
        p: Zeroizing::new(p.to_vec()),
        q: Zeroizing::new(q.to_vec()),
        iqmp: Zeroizing::new(iqmp.to_vec()),
    })
}
