//! Seeds of sessions, logins, objects, templates, finds, slots and PINs.

use super::{pos, P, TOKEN_AES, V};
use crate::exec::Op;
use crate::values::ATTRS;
use cryptoki_sys::*;

pub(super) fn programs() -> Vec<(&'static str, P)> {
    let p = P::default;
    vec![
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
    ]
}
