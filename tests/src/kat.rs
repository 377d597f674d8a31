//! Known-answer vectors (hex). Each was cross-checked with OpenSSL or pyca/cryptography.

/// NIST SP 800-38A AES-128 key.
pub const AES128_KEY: &str = "2b7e151628aed2a6abf7158809cf4f3c";
/// SP 800-38A four-block plaintext.
pub const AES_PT: &str = "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51\
                          30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710";
/// F.1.1 ECB-AES128.Encrypt.
pub const AES_ECB_CT: &str = "3ad77bb40d7a3660a89ecaf32466ef97f5d3d58503b9699de785895a96fdbaaf\
                              43b1cd7f598ece23881b00e3ed0306887b0c785e27e8ad3f8223207104725dd4";
/// F.2.1 CBC IV.
pub const AES_CBC_IV: &str = "000102030405060708090a0b0c0d0e0f";
/// F.2.1 CBC-AES128.Encrypt.
pub const AES_CBC_CT: &str = "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2\
                              73bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7";
/// CBC with PKCS#7 padding of the first 20 plaintext bytes (OpenSSL).
pub const AES_CBC_PAD_20_CT: &str =
    "7649abac8119b246cee98e9b12e9197d2e013f890472d82217b17f45f6e7f539";
/// F.5.1 CTR initial counter block.
pub const AES_CTR_IV: &str = "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";
/// F.5.1 CTR-AES128.Encrypt.
pub const AES_CTR_CT: &str = "874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff\
                              5ae4df3edbd5d35e5b4f09020db03eab1e031dda2fbe03d1792170a0f3009cee";
/// RFC 4493 AES-CMAC of the first 0, 16, 40 and 64 plaintext bytes.
pub const AES_CMAC: [(usize, &str); 4] = [
    (0, "bb1d6929e95937287fa37d129b756746"),
    (16, "070a16b46b4d4144f79bdd9dd04a287c"),
    (40, "dfa66747de9ae63030ca32611497c827"),
    (64, "51f0bebf7e3b9d92fc49741779363cfe"),
];

/// GCM test case 4 (McGrew & Viega): key.
pub const GCM_KEY: &str = "feffe9928665731c6d6a8f9467308308";
/// GCM test case 4: 96-bit IV.
pub const GCM_IV: &str = "cafebabefacedbaddecaf888";
/// GCM test case 4: AAD.
pub const GCM_AAD: &str = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
/// GCM test case 4: plaintext.
pub const GCM_PT: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
                          1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
/// GCM test case 4: ciphertext || 128-bit tag.
pub const GCM_CT_TAG: &str = "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e\
                              21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091\
                              5bc94fbc3221a5db94fae95ae7121a47";

/// RFC 3394 4.1: 128-bit KEK.
pub const KW_KEK: &str = "000102030405060708090a0b0c0d0e0f";
/// RFC 3394 4.1: 128-bit key data.
pub const KW_KEY: &str = "00112233445566778899aabbccddeeff";
/// RFC 3394 4.1: wrapped.
pub const KW_WRAPPED: &str = "1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5";
/// RFC 5649 section 6: 192-bit KEK.
pub const KWP_KEK: &str = "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8";
/// KWP of [`KW_KEY`] under [`KWP_KEK`] (pyca/cryptography, which passes the RFC 5649 vectors).
pub const KWP_KEK192_KEY128: &str = "3d5096111d227d3c97f6a8d619ccf2ee7912eebeb1b41e43";
/// RFC 5649 section 6: (key, wrapped) for 20 and 7 octets.
pub const KWP_VECTORS: [(&str, &str); 2] = [
    (
        "c37b7e6492584340bed12207808941155068f738",
        "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a",
    ),
    ("466f7250617369", "afbeb0f07dfbf5419200f2ccb50bb24f"),
];

/// Digests of "abc" (FIPS 180 examples): SHA-1, -224, -256, -384, -512.
pub const DIGEST_ABC: [&str; 5] = [
    "a9993e364706816aba3e25717850c26c9cd0d89d",
    "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7",
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed\
     8086072ba1e7cc2358baeca134c825a7",
    "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
     2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
];

/// RFC 4231 test case 6: the key is 131 bytes of 0xaa.
pub const HMAC_KEY_BYTE: u8 = 0xaa;
/// RFC 4231 test case 6: key length.
pub const HMAC_KEY_LEN: usize = 131;
/// RFC 4231 test case 6: data.
pub const HMAC_DATA: &[u8] = b"Test Using Larger Than Block-Size Key - Hash Key First";
/// RFC 4231 test case 6: HMAC-SHA-256, -384, -512.
pub const HMAC_TC6: [&str; 3] = [
    "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c6\
     0c2ef6ab4030fe8296248df163f44952",
    "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352\
     6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598",
];

/// DER DigestInfo prefixes (PKCS#1 v1.5) for SHA-1, -224, -256, -384, -512.
pub const DIGEST_INFO: [&str; 5] = [
    "3021300906052b0e03021a05000414",
    "302d300d06096086480165030402040500041c",
    "3031300d060960864801650304020105000420",
    "3041300d060960864801650304020205000430",
    "3051300d060960864801650304020305000440",
];

/// Hex to bytes.
pub fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(char::is_whitespace, "")).expect("valid hex in a KAT")
}

/// NIST SP 800-67 Rev. 1 TDEA example: keys K1, K2, K3 (keying option 1).
pub const TDES_KEY: &str = "0123456789abcdef23456789abcdef01456789abcdef0123";
/// SP 800-67 example plaintext ("The qufck brown fox jump").
pub const TDES_PT: &str = "54686520717566636b2062726f776e20666f78206a756d70";
/// SP 800-67 example TECB ciphertext.
pub const TDES_ECB_CT: &str = "a826fd8ce53b855fcce21c8112256fe668d5c05dd9b6b900";
/// An IV for the TCBC vectors below.
pub const TDES_CBC_IV: &str = "f69f2445df4f9b17";
/// TCBC of the SP 800-67 plaintext under its key and [`TDES_CBC_IV`] (OpenSSL
/// `enc -des-ede3-cbc -nopad`).
pub const TDES_CBC_CT: &str = "a5c282bad0de3774becd2e04386b589fb5057d8552fc4336";
/// TCBC with PKCS#7 padding of the first 20 plaintext bytes (OpenSSL `enc -des-ede3-cbc`).
pub const TDES_CBC_PAD_20_CT: &str = "a5c282bad0de3774becd2e04386b589f8dcdd62feeb03805";
