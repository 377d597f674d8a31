//! The seed corpus: small programs, each driving one family of calls to a point a
//! random input would take long to reach (a key made, then used; a blob wrapped,
//! then unwrapped). `p11run seeds DIR` writes them; fuzz/corpus/seed holds them.
//!
//! Object bytes below 0x80 pick a fixture (`rig::FIXTURES` order: aes 0, kek 1,
//! hmac 2, des3 3, rsa 4-5, ec 6-7, ed 8-9, data 10 when every kind made them);
//! 0x80 and up pick the program's own objects.

use crate::exec::{Op, GATE};
use crate::input::Writer;
use crate::values::{ATTRS, MECHS, ULONGS};
use cryptoki_sys::*;
use std::path::Path;

fn pos<T: PartialEq>(table: &[T], v: T) -> u8 {
    table.iter().position(|x| *x == v).unwrap_or(0) as u8
}

/// Builder of one program.
#[derive(Clone, Default)]
struct P(Writer);

/// Template attribute values.
enum V<'a> {
    Bool(bool),
    Ul(CK_ULONG),
    Bytes(&'a [u8]),
    /// A plausible value picked by the harness (`values::good_value`).
    Good(u8),
    /// NULL pointer, non-zero length.
    NullLen(usize),
    /// A buffer of (n + 1) * 4096 bytes.
    Huge(u8),
}

impl P {
    fn op(self, op: Op) -> P {
        let p = P(self.0.b(op as u8));
        if op.expensive() {
            p.b(GATE)
        } else {
            p
        }
    }
    fn b(self, b: u8) -> P {
        P(self.0.b(b))
    }
    fn ul(self, v: CK_ULONG) -> P {
        match ULONGS.iter().position(|x| *x == v) {
            Some(i) => self.b(i as u8),
            None => P(self.0.b(0xF0).u32(v as u32)),
        }
    }
    fn blob(self, v: &[u8]) -> P {
        P(self.0.blob(v))
    }
    /// Session: the program's n-th (0 = the one the harness opened).
    fn s(self, n: u8) -> P {
        self.b(n)
    }
    fn t(self, attrs: &[(CK_ATTRIBUTE_TYPE, V)]) -> P {
        let mut p = self.b(attrs.len() as u8);
        for (ty, v) in attrs {
            p = p.b(pos(ATTRS, *ty));
            p = match v {
                V::Bool(b) => p.b(if *b { 3 | 8 } else { 3 }),
                V::Ul(u) => p.b(4).ul(*u),
                V::Bytes(bytes) => p.b(5).blob(bytes),
                V::Good(pick) => p.b(7).b(*pick),
                V::NullLen(n) => p.b(2).b(*n as u8),
                V::Huge(n) => p.b(6).b(*n),
            };
        }
        p
    }
    /// Mechanism without parameter.
    fn m(self, ty: CK_MECHANISM_TYPE) -> P {
        self.b(pos(MECHS, ty)).b(0)
    }
    /// Mechanism with its structured parameter; `then` writes the parameter's fields.
    fn mp(self, ty: CK_MECHANISM_TYPE, then: impl FnOnce(P) -> P) -> P {
        then(self.b(pos(MECHS, ty)).b(3))
    }
    /// Input bytes.
    fn data(self, v: &[u8]) -> P {
        self.b(4).blob(v)
    }
    /// The last output, as input.
    fn last(self) -> P {
        self.b(2)
    }
    /// A 4096-byte output buffer.
    fn out(self) -> P {
        self.b(5)
    }
    /// A NULL output buffer (a length query).
    fn query(self) -> P {
        self.b(0)
    }
}

const TOKEN_AES: &[(CK_ATTRIBUTE_TYPE, V)] = &[
    (CKA_TOKEN, V::Bool(true)),
    (CKA_VALUE_LEN, V::Ul(32)),
    (CKA_ENCRYPT, V::Bool(true)),
    (CKA_DECRYPT, V::Bool(true)),
    (CKA_LABEL, V::Bytes(b"k")),
];

fn programs() -> Vec<(&'static str, P)> {
    let p = P::default;
    let aes_value: &[u8] = &[7; 32];
    let mut v = vec![
        (
            "session-open-close",
            p().op(Op::OpenSession)
                .b(0)
                .op(Op::OpenSession)
                .b(2)
                .op(Op::SessionInfo)
                .s(1)
                .b(1)
                .op(Op::CloseSession)
                .s(1)
                .op(Op::CloseAllSessions)
                .b(1),
        ),
        (
            "session-bad-flags",
            p().op(Op::OpenSession)
                .b(1)
                .op(Op::OpenSession)
                .b(4)
                .ul(77)
                .op(Op::OpenSession)
                .b(8)
                .op(Op::SessionInfo)
                .s(0xF8)
                .b(0),
        ),
        (
            "login-cycle",
            p().op(Op::Login)
                .s(0)
                .b(0)
                .b(0)
                .op(Op::Logout)
                .s(0)
                .op(Op::Login)
                .s(0)
                .b(0)
                .b(5)
                .blob(b"wrong")
                .op(Op::Login)
                .s(0)
                .b(0)
                .b(0)
                .op(Op::Logout)
                .s(0)
                .op(Op::Login)
                .s(0)
                .b(2)
                .b(2)
                .op(Op::Logout)
                .s(0),
        ),
        (
            "login-null-pin",
            p().op(Op::Logout)
                .s(0)
                .op(Op::Login)
                .s(0)
                .b(0)
                .b(3)
                .op(Op::Login)
                .s(0)
                .b(0)
                .b(4)
                .b(9)
                .op(Op::Login)
                .s(0)
                .b(4)
                .ul(7)
                .b(0),
        ),
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
            "generate-get-set-destroy",
            p().op(Op::GenerateKey)
                .s(0)
                .m(CKM_AES_KEY_GEN)
                .t(TOKEN_AES)
                .op(Op::GetAttributeValue)
                .s(0)
                .b(0x80)
                .b(5)
                .b(pos(ATTRS, CKA_VALUE_LEN))
                .b(3)
                .b(1)
                .b(pos(ATTRS, CKA_VALUE))
                .b(4)
                .b(pos(ATTRS, CKA_LABEL))
                .b(0)
                .b(pos(ATTRS, CKA_CLASS))
                .b(2)
                .b(3)
                .b(0xF0)
                .b(0)
                .b(1)
                .op(Op::SetAttributeValue)
                .s(0)
                .b(0x80)
                .t(&[
                    (CKA_LABEL, V::Bytes(b"renamed")),
                    (CKA_SENSITIVE, V::Bool(true)),
                ])
                .op(Op::SetAttributeValue)
                .s(0)
                .b(0x80)
                .t(&[(CKA_SENSITIVE, V::Bool(false))])
                .op(Op::GetObjectSize)
                .s(0)
                .b(0x80)
                .b(1)
                .op(Op::DestroyObject)
                .s(0)
                .b(0x80),
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
            "find-all",
            p().op(Op::FindInit)
                .s(0)
                .t(&[])
                .op(Op::Find)
                .s(0)
                .b(31)
                .op(Op::Find)
                .s(0)
                .b(0)
                .op(Op::FindFinal)
                .s(0)
                .op(Op::Find)
                .s(0)
                .b(4),
        ),
        (
            "find-class",
            p().op(Op::FindInit)
                .s(0)
                .t(&[
                    (CKA_CLASS, V::Ul(CKO_SECRET_KEY)),
                    (CKA_TOKEN, V::Bool(true)),
                ])
                .op(Op::Find)
                .s(0)
                .b(8)
                .op(Op::FindInit)
                .s(0)
                .t(&[])
                .op(Op::FindFinal)
                .s(0),
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
            "random",
            p().op(Op::Random)
                .s(0)
                .b(1)
                .b(32)
                .op(Op::Random)
                .s(0)
                .b(0)
                .data(b"seed")
                .op(Op::Random)
                .s(0)
                .b(0xF1)
                .b(16)
                .op(Op::Random)
                .s(0)
                .b(2)
                .b(0xF3),
        ),
        ("slots-tokens", {
            let mut q = p();
            for sel in 0..10u8 {
                q = q.op(Op::SlotsAndTokens).b(sel).b(1).b(2).b(1);
            }
            q.op(Op::SlotsAndTokens).b(0xC1).b(0xF0).b(0).b(0).b(0).b(0)
        }),
        ("operation-state", {
            let mut q = p().op(Op::CryptoInit).b(4).s(0).m(CKM_SHA256).b(0);
            for k in 0..6u8 {
                q = q.op(Op::OperationState).b(1).data(b"st").out().b(k);
            }
            q
        }),
        (
            "pins",
            p().op(Op::Pins)
                .s(0)
                .b(0)
                .b(0)
                .op(Op::Pins)
                .s(0)
                .b(0)
                .b(5)
                .blob(b"nope")
                .op(Op::Logout)
                .s(0)
                .op(Op::Login)
                .s(0)
                .b(2)
                .b(2)
                .op(Op::Pins)
                .s(0)
                .b(1)
                .b(0)
                .op(Op::Pins)
                .s(0)
                .b(1)
                .b(1)
                .b(4),
        ),
        (
            "template-shapes",
            p().op(Op::CreateObject)
                .s(0)
                .t(&[(CKA_CLASS, V::Ul(CKO_DATA)), (CKA_VALUE, V::NullLen(5))])
                .op(Op::CreateObject)
                .s(0)
                .t(&[
                    (CKA_CLASS, V::Ul(CKO_DATA)),
                    (CKA_VALUE, V::Huge(15)),
                    (CKA_LABEL, V::Bytes(b"big")),
                ])
                .op(Op::CreateObject)
                .s(0)
                .t(&[
                    (CKA_CLASS, V::Ul(CKO_DATA)),
                    (CKA_LABEL, V::Bytes(b"a")),
                    (CKA_LABEL, V::Bytes(b"b")),
                ])
                .op(Op::CreateObject)
                .s(0)
                .t(&[(CKA_CLASS, V::Bytes(&[1]))])
                .op(Op::CreateObject)
                .s(0)
                .b(0xF9),
        ),
        (
            "vendor-attributes",
            P(p()
                .op(Op::CreateObject)
                .s(0)
                .b(3)
                .b(pos(ATTRS, CKA_CLASS))
                .b(4)
                .ul(CKO_DATA)
                .0
                .b(0xF0)
                .b(5)
                .b(5)
                .blob(b"app")
                .b(pos(ATTRS, CKA_TOKEN))
                .b(3))
            .op(Op::FindInit)
            .s(0)
            .b(1)
            .b(0xF0)
            .b(5)
            .b(5)
            .blob(b"app")
            .op(Op::Find)
            .s(0)
            .b(4),
        ),
        (
            "kms-mechanisms",
            p().op(Op::GenerateKey)
                .s(0)
                .b(0xE1)
                .b(0)
                .t(&[(CKA_ID, V::Bytes(b"key-1"))])
                .op(Op::GenerateKey)
                .s(0)
                .b(0xE2)
                .b(0)
                .t(&[(CKA_ID, V::Bytes(b"key-1"))])
                .op(Op::CreateObject)
                .s(0)
                .b(2)
                .b(0xE0)
                .b(0x0A)
                .b(5)
                .blob(b"svc")
                .b(pos(ATTRS, CKA_LABEL))
                .b(5)
                .blob(b"l"),
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
            "copy-destroy",
            p().op(Op::CopyObject)
                .s(0)
                .b(10)
                .t(&[(CKA_LABEL, V::Bytes(b"copy"))])
                .op(Op::GetAttributeValue)
                .s(0)
                .b(0x80)
                .b(1)
                .b(pos(ATTRS, CKA_VALUE))
                .b(0)
                .op(Op::DestroyObject)
                .s(0)
                .b(0x80),
        ),
        (
            "bad-handles",
            p().op(Op::CryptoInit)
                .b(0)
                .s(0xF8)
                .m(CKM_AES_ECB)
                .b(0)
                .op(Op::CryptoInit)
                .b(0)
                .s(0)
                .m(CKM_AES_ECB)
                .b(0xF9)
                .op(Op::GetAttributeValue)
                .s(0)
                .b(0xFA)
                .u32(12345)
                .b(1)
                .b(0)
                .b(3)
                .b(2)
                .op(Op::DestroyObject)
                .s(0)
                .b(0xF8)
                .op(Op::OneShot)
                .b(0)
                .s(0)
                .data(b"x")
                .out()
                .op(Op::Final)
                .b(1)
                .s(0xF9)
                .out()
                .op(Op::CryptoInit)
                .b(2)
                .s(0)
                .b(0xFF)
                .b(0)
                .b(0),
        ),
        (
            "closed-then-public",
            p().op(Op::CloseAllSessions)
                .b(1)
                .op(Op::OpenSession)
                .b(0)
                .op(Op::CreateObject)
                .s(0)
                .t(&[(CKA_CLASS, V::Ul(CKO_DATA)), (CKA_TOKEN, V::Bool(false))])
                .op(Op::Login)
                .s(0)
                .b(0)
                .b(0)
                .op(Op::FindInit)
                .s(0)
                .t(&[])
                .op(Op::Find)
                .s(0)
                .b(8),
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
    ];
    v.sort_by_key(|(name, _)| *name);
    v
}

impl P {
    fn bytes16(self) -> P {
        P(self.0.bytes(&[0x11; 16]))
    }
    fn bytes8(self) -> P {
        P(self.0.bytes(&[0x22; 8]))
    }
    fn u32(self, v: u32) -> P {
        P(self.0.u32(v))
    }
}

/// Every seed program, by name.
pub fn all() -> Vec<(&'static str, Vec<u8>)> {
    programs().into_iter().map(|(n, p)| (n, p.0 .0)).collect()
}

/// Writes the seeds into `dir` (one file per program); returns how many.
pub fn write(dir: &Path) -> Result<usize, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let seeds = all();
    for (name, bytes) in &seeds {
        std::fs::write(dir.join(name), bytes).map_err(|e| e.to_string())?;
    }
    Ok(seeds.len())
}
