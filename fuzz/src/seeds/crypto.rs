//! Seeds of key generation, encryption, signing, digests, wrapping and derivation.

use super::{pos, P, V};
use crate::exec::Op;
use crate::values::MECHS;
use cryptoki_sys::*;

pub(super) fn programs() -> Vec<(&'static str, P)> {
    let p = P::default;
    let aes_value: &[u8] = &[7; 32];
    vec![
        (
            "create-aes-encrypt-decrypt",
            p().op(Op::CreateObject)
                .s(0)
                .t(&[
                    (CKA_CLASS, V::Ul(CKO_SECRET_KEY)),
                    (CKA_KEY_TYPE, V::Ul(CKK_AES)),
                    (CKA_VALUE, V::Bytes(aes_value)),
                    (CKA_ENCRYPT, V::Bool(true)),
                    (CKA_DECRYPT, V::Bool(true)),
                ])
                .op(Op::CryptoInit)
                .b(0)
                .s(0)
                .mp(CKM_AES_CBC_PAD, |p| p.bytes16())
                .b(0x80)
                .op(Op::OneShot)
                .b(0)
                .s(0)
                .data(b"hello fuzz")
                .out()
                .op(Op::CryptoInit)
                .b(1)
                .s(0)
                .mp(CKM_AES_CBC_PAD, |p| p.bytes16())
                .b(0x80)
                .op(Op::OneShot)
                .b(1)
                .s(0)
                .last()
                .query(),
        ),
        (
            "rsa-pair-sign-verify",
            p().op(Op::GenerateKeyPair)
                .s(0)
                .m(CKM_RSA_PKCS_KEY_PAIR_GEN)
                .t(&[
                    (CKA_MODULUS_BITS, V::Ul(2048)),
                    (CKA_PUBLIC_EXPONENT, V::Bytes(&[1, 0, 1])),
                    (CKA_VERIFY, V::Bool(true)),
                ])
                .t(&[(CKA_SIGN, V::Bool(true))])
                .op(Op::CryptoInit)
                .b(2)
                .s(0)
                .m(CKM_SHA256_RSA_PKCS)
                .b(0x81)
                .op(Op::OneShot)
                .b(2)
                .s(0)
                .data(b"message")
                .out()
                .op(Op::CryptoInit)
                .b(3)
                .s(0)
                .m(CKM_SHA256_RSA_PKCS)
                .b(0x80)
                .op(Op::OneShot)
                .b(3)
                .s(0)
                .data(b"message")
                .last(),
        ),
        (
            "ec-pair-sign-verify",
            p().op(Op::GenerateKeyPair)
                .s(0)
                .m(CKM_EC_KEY_PAIR_GEN)
                .t(&[(CKA_EC_PARAMS, V::Good(0)), (CKA_VERIFY, V::Bool(true))])
                .t(&[(CKA_SIGN, V::Bool(true)), (CKA_DERIVE, V::Bool(true))])
                .op(Op::CryptoInit)
                .b(2)
                .s(0)
                .m(CKM_ECDSA_SHA256)
                .b(0x81)
                .op(Op::Update)
                .b(2)
                .s(0)
                .data(b"part one")
                .op(Op::Final)
                .b(2)
                .s(0)
                .out()
                .op(Op::CryptoInit)
                .b(3)
                .s(0)
                .m(CKM_ECDSA_SHA256)
                .b(0x80)
                .op(Op::Update)
                .b(3)
                .s(0)
                .data(b"part one")
                .op(Op::Final)
                .b(3)
                .s(0)
                .last(),
        ),
        (
            "ed25519-sign",
            p().op(Op::GenerateKeyPair)
                .s(0)
                .m(CKM_EC_EDWARDS_KEY_PAIR_GEN)
                .t(&[(CKA_EC_PARAMS, V::Good(3))])
                .t(&[(CKA_SIGN, V::Bool(true))])
                .op(Op::CryptoInit)
                .b(2)
                .s(0)
                .m(CKM_EDDSA)
                .b(0x81)
                .op(Op::OneShot)
                .b(2)
                .s(0)
                .data(b"m")
                .out()
                .op(Op::CryptoInit)
                .b(2)
                .s(0)
                .mp(CKM_EDDSA, |p| p.b(0).b(0).b(1))
                .b(8),
        ),
        (
            "aes-gcm",
            p().op(Op::CryptoInit)
                .b(0)
                .s(0)
                .mp(CKM_AES_GCM, |p| {
                    p.b(9).blob(&[1; 12]).b(9).blob(b"aad").ul(96).ul(128)
                })
                .b(0)
                .op(Op::OneShot)
                .b(0)
                .s(0)
                .data(b"gcm plaintext")
                .out()
                .op(Op::CryptoInit)
                .b(1)
                .s(0)
                .mp(CKM_AES_GCM, |p| {
                    p.b(9).blob(&[1; 12]).b(9).blob(b"aad").ul(96).ul(128)
                })
                .b(0)
                .op(Op::OneShot)
                .b(1)
                .s(0)
                .last()
                .out(),
        ),
        (
            "aes-ctr-ecb-multipart",
            p().op(Op::CryptoInit)
                .b(0)
                .s(0)
                .mp(CKM_AES_CTR, |p| p.bytes16().ul(128))
                .b(0)
                .op(Op::Update)
                .b(0)
                .s(0)
                .data(b"0123456789")
                .out()
                .op(Op::Update)
                .b(0)
                .s(0)
                .data(b"abc")
                .query()
                .op(Op::Final)
                .b(0)
                .s(0)
                .out()
                .op(Op::CryptoInit)
                .b(0)
                .s(0)
                .m(CKM_AES_ECB)
                .b(0)
                .op(Op::Update)
                .b(0)
                .s(0)
                .data(&[0; 16])
                .b(3)
                .b(3)
                .op(Op::Final)
                .b(0)
                .s(0)
                .query(),
        ),
        (
            "hmac",
            p().op(Op::CryptoInit)
                .b(2)
                .s(0)
                .m(CKM_SHA256_HMAC)
                .b(2)
                .op(Op::OneShot)
                .b(2)
                .s(0)
                .data(b"mac me")
                .out()
                .op(Op::CryptoInit)
                .b(3)
                .s(0)
                .m(CKM_SHA256_HMAC)
                .b(2)
                .op(Op::OneShot)
                .b(3)
                .s(0)
                .data(b"mac me")
                .last()
                .op(Op::CryptoInit)
                .b(2)
                .s(0)
                .mp(CKM_SHA256_HMAC_GENERAL, |p| p.ul(16))
                .b(2)
                .op(Op::OneShot)
                .b(2)
                .s(0)
                .data(b"x")
                .b(3)
                .b(4),
        ),
        (
            "cmac",
            p().op(Op::CryptoInit)
                .b(2)
                .s(0)
                .m(CKM_AES_CMAC)
                .b(0)
                .op(Op::Update)
                .b(2)
                .s(0)
                .data(b"cmac")
                .op(Op::Final)
                .b(2)
                .s(0)
                .out(),
        ),
        (
            "digest",
            p().op(Op::CryptoInit)
                .b(4)
                .s(0)
                .m(CKM_SHA256)
                .b(0)
                .op(Op::OneShot)
                .b(4)
                .s(0)
                .data(b"abc")
                .query()
                .op(Op::OneShot)
                .b(4)
                .s(0)
                .data(b"abc")
                .out()
                .op(Op::CryptoInit)
                .b(4)
                .s(0)
                .m(CKM_SHA512)
                .b(0)
                .op(Op::Update)
                .b(4)
                .s(0)
                .data(b"abc")
                .op(Op::DigestKey)
                .s(0)
                .b(0)
                .op(Op::DigestKey)
                .s(0)
                .b(2)
                .op(Op::Final)
                .b(4)
                .s(0)
                .b(3)
                .b(8),
        ),
        (
            "wrap-unwrap",
            p().op(Op::WrapKey)
                .s(0)
                .mp(CKM_AES_KEY_WRAP_PAD, |p| p.b(0xA6).b(0x59).b(0x59).b(0xA6))
                .b(1)
                .b(0)
                .query()
                .op(Op::WrapKey)
                .s(0)
                .m(CKM_AES_KEY_WRAP_PAD)
                .b(1)
                .b(0)
                .out()
                .op(Op::UnwrapKey)
                .s(0)
                .m(CKM_AES_KEY_WRAP_PAD)
                .b(1)
                .last()
                .t(&[
                    (CKA_CLASS, V::Ul(CKO_SECRET_KEY)),
                    (CKA_KEY_TYPE, V::Ul(CKK_AES)),
                    (CKA_ENCRYPT, V::Bool(true)),
                ])
                .op(Op::UnwrapKey)
                .s(0)
                .m(CKM_AES_KEY_WRAP)
                .b(1)
                .data(&[3; 40])
                .t(&[
                    (CKA_CLASS, V::Ul(CKO_SECRET_KEY)),
                    (CKA_KEY_TYPE, V::Ul(CKK_AES)),
                ]),
        ),
        (
            "wrap-sensitive-under-rsa",
            p().op(Op::WrapKey)
                .s(0)
                .mp(CKM_RSA_PKCS_OAEP, |p| {
                    p.b(0)
                        .ul(CKM_SHA256)
                        .ul(CKG_MGF1_SHA256)
                        .ul(CKZ_DATA_SPECIFIED)
                })
                .b(4)
                .b(0)
                .out()
                .op(Op::WrapKey)
                .s(0)
                .mp(CKM_RSA_AES_KEY_WRAP, |p| {
                    p.b(0)
                        .ul(CKM_SHA_1)
                        .ul(CKG_MGF1_SHA1)
                        .ul(CKZ_DATA_SPECIFIED)
                        .b(1)
                        .ul(256)
                })
                .b(5)
                .b(2)
                .out(),
        ),
        (
            "rsa-oaep",
            p().op(Op::CryptoInit)
                .b(0)
                .s(0)
                .mp(CKM_RSA_PKCS_OAEP, |p| {
                    p.b(0)
                        .ul(CKM_SHA256)
                        .ul(CKG_MGF1_SHA256)
                        .ul(CKZ_DATA_SPECIFIED)
                })
                .b(4)
                .op(Op::OneShot)
                .b(0)
                .s(0)
                .data(b"secret")
                .out()
                .op(Op::CryptoInit)
                .b(1)
                .s(0)
                .mp(CKM_RSA_PKCS_OAEP, |p| {
                    p.b(0)
                        .ul(CKM_SHA256)
                        .ul(CKG_MGF1_SHA256)
                        .ul(CKZ_DATA_SPECIFIED)
                })
                .b(5)
                .op(Op::OneShot)
                .b(1)
                .s(0)
                .last()
                .out()
                .op(Op::CryptoInit)
                .b(2)
                .s(0)
                .mp(CKM_RSA_PKCS_PSS, |p| {
                    p.ul(CKM_SHA256).ul(CKG_MGF1_SHA256).ul(32)
                })
                .b(5)
                .op(Op::OneShot)
                .b(2)
                .s(0)
                .data(&[9; 32])
                .out(),
        ),
        (
            "ecdh-derive",
            p().op(Op::DeriveKey)
                .s(0)
                .mp(CKM_ECDH1_DERIVE, |p| p.b(9).b(0).b(8).ul(CKD_NULL))
                .b(7)
                .t(&[
                    (CKA_CLASS, V::Ul(CKO_SECRET_KEY)),
                    (CKA_KEY_TYPE, V::Ul(CKK_GENERIC_SECRET)),
                    (CKA_VALUE_LEN, V::Ul(32)),
                ])
                .op(Op::DeriveKey)
                .s(0)
                .mp(CKM_ECDH1_DERIVE, |p| p.b(9).b(0).b(8).ul(CKD_NULL))
                .b(6)
                .t(&[]),
        ),
        (
            "des3",
            p().op(Op::CryptoInit)
                .b(0)
                .s(0)
                .mp(CKM_DES3_CBC_PAD, |p| p.bytes8())
                .b(3)
                .op(Op::OneShot)
                .b(0)
                .s(0)
                .data(b"des3 text")
                .out()
                .op(Op::CryptoInit)
                .b(0)
                .s(0)
                .m(CKM_DES3_ECB)
                .b(3)
                .op(Op::OneShot)
                .b(0)
                .s(0)
                .data(&[0; 8])
                .out()
                .op(Op::GenerateKey)
                .s(0)
                .m(CKM_DES3_KEY_GEN)
                .t(&[]),
        ),
        (
            "always-authenticate",
            p().op(Op::GenerateKeyPair)
                .s(0)
                .m(CKM_EC_KEY_PAIR_GEN)
                .t(&[(CKA_EC_PARAMS, V::Good(0))])
                .t(&[
                    (CKA_SIGN, V::Bool(true)),
                    (CKA_ALWAYS_AUTHENTICATE, V::Bool(true)),
                ])
                .op(Op::CryptoInit)
                .b(2)
                .s(0)
                .m(CKM_ECDSA)
                .b(0x81)
                .op(Op::OneShot)
                .b(2)
                .s(0)
                .b(3)
                .b(1)
                .out()
                .op(Op::CryptoInit)
                .b(2)
                .s(0)
                .m(CKM_ECDSA)
                .b(0x81)
                .op(Op::Login)
                .s(0)
                .b(3)
                .b(0)
                .op(Op::OneShot)
                .b(2)
                .s(0)
                .b(3)
                .b(3)
                .out(),
        ),
        (
            "mechanism-params",
            p().op(Op::CryptoInit)
                .b(0)
                .s(0)
                .b(pos(MECHS, CKM_AES_GCM))
                .b(2)
                .blob(&[0; 48])
                .op(Op::CryptoInit)
                .b(0)
                .s(0)
                .b(pos(MECHS, CKM_AES_CBC))
                .b(1)
                .b(16)
                .op(Op::CryptoInit)
                .b(0)
                .s(0)
                .b(pos(MECHS, CKM_AES_CBC))
                .b(2)
                .blob(&[0; 15])
                .op(Op::CryptoInit)
                .b(0)
                .s(0)
                .mp(CKM_AES_GCM, |p| {
                    p.b(9).blob(&[1; 12]).b(9).b(0).ul(96).ul(7)
                })
                .b(0)
                .op(Op::GenerateKey)
                .s(0)
                .m(CKM_AES_GCM)
                .t(&[])
                .op(Op::CryptoInit)
                .b(0)
                .s(0)
                .b(0xF0)
                .u32(0x8000_1234)
                .b(0)
                .b(0),
        ),
        (
            "generic-secret-derive",
            p().op(Op::GenerateKey)
                .s(0)
                .m(CKM_GENERIC_SECRET_KEY_GEN)
                .t(&[
                    (CKA_VALUE_LEN, V::Ul(32)),
                    (CKA_DERIVE, V::Bool(true)),
                    (CKA_SIGN, V::Bool(true)),
                ])
                .op(Op::DeriveKey)
                .s(0)
                .m(CKM_SHA256_KEY_DERIVATION)
                .b(0x80)
                .t(&[])
                .op(Op::DeriveKey)
                .s(0)
                .mp(CKM_AES_ECB_ENCRYPT_DATA, |p| p.ul(16))
                .b(0)
                .t(&[]),
        ),
    ]
}
