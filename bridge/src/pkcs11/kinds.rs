//! The five kinds of operation as types, each naming its library calls: a node
//! operation of kind `K` can make only `K`'s calls.

use super::Library;
use crate::backend::OpKind;
use cryptoki_sys::*;

/// Picks one function of a library's list.
pub type Pick<F> = fn(&CK_FUNCTION_LIST) -> F;
/// A function of the list and its name, for errors.
pub type Call<F> = (Pick<F>, &'static str);

/// `(|l| l.C_Xxx, "C_Xxx")`.
macro_rules! call {
    ($f:ident) => {
        (|l| l.$f, stringify!($f))
    };
}

pub trait Kind: Send + 'static {
    const KIND: OpKind;
    /// The name of its C_XxxInit.
    const INIT: &'static str;
    /// Its C_XxxInit with mechanism `m` (read for the call) on session `h`; the key
    /// is ignored by a digest.
    fn init(
        lib: &Library,
        h: CK_SESSION_HANDLE,
        m: *mut CK_MECHANISM,
        key: CK_OBJECT_HANDLE,
    ) -> CK_RV;
}

/// A kind whose single-part and final calls answer output (all but verify).
pub trait Answers: Kind {
    const RUN: Call<CK_C_Encrypt>;
    const FINAL: Call<CK_C_EncryptFinal>;
}

/// Encrypt or decrypt: updates answer output too.
pub trait Ciphers: Answers {
    const UPDATE: Call<CK_C_EncryptUpdate>;
}

/// Sign, verify or digest: updates take input only.
pub trait Absorbs: Kind {
    const UPDATE: Call<CK_C_SignUpdate>;
}

fn keyed_init(
    pick: Pick<CK_C_EncryptInit>,
    lib: &Library,
    h: CK_SESSION_HANDLE,
    m: *mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
) -> CK_RV {
    lib.call(
        pick,
        // SAFETY: the library reads the mechanism `m` (and its parameter), which lives
        // for the call.
        |f| unsafe { f(h, m, key) },
    )
}

/// A kind whose Init takes a key.
macro_rules! keyed_kind {
    ($(#[$doc:meta])* $name:ident, $init:ident) => {
        $(#[$doc])*
        pub struct $name;
        impl Kind for $name {
            const KIND: OpKind = OpKind::$name;
            const INIT: &'static str = stringify!($init);
            fn init(
                lib: &Library,
                h: CK_SESSION_HANDLE,
                m: *mut CK_MECHANISM,
                key: CK_OBJECT_HANDLE,
            ) -> CK_RV {
                keyed_init(|l| l.$init, lib, h, m, key)
            }
        }
    };
}

keyed_kind!(
    /// C_EncryptInit ... C_EncryptFinal.
    Encrypt,
    C_EncryptInit
);
keyed_kind!(
    /// C_DecryptInit ... C_DecryptFinal.
    Decrypt,
    C_DecryptInit
);
keyed_kind!(
    /// C_SignInit ... C_SignFinal.
    Sign,
    C_SignInit
);
keyed_kind!(
    /// C_VerifyInit ... C_VerifyFinal.
    Verify,
    C_VerifyInit
);

/// C_DigestInit ... C_DigestFinal.
pub struct Digest;

impl Kind for Digest {
    const KIND: OpKind = OpKind::Digest;
    const INIT: &'static str = "C_DigestInit";
    fn init(
        lib: &Library,
        h: CK_SESSION_HANDLE,
        m: *mut CK_MECHANISM,
        _: CK_OBJECT_HANDLE,
    ) -> CK_RV {
        lib.call(
            |l| l.C_DigestInit,
            // SAFETY: the library reads the mechanism `m`, which lives for the call.
            |f| unsafe { f(h, m) },
        )
    }
}

impl Answers for Encrypt {
    const RUN: Call<CK_C_Encrypt> = call!(C_Encrypt);
    const FINAL: Call<CK_C_EncryptFinal> = call!(C_EncryptFinal);
}
impl Ciphers for Encrypt {
    const UPDATE: Call<CK_C_EncryptUpdate> = call!(C_EncryptUpdate);
}
impl Answers for Decrypt {
    const RUN: Call<CK_C_Encrypt> = call!(C_Decrypt);
    const FINAL: Call<CK_C_EncryptFinal> = call!(C_DecryptFinal);
}
impl Ciphers for Decrypt {
    const UPDATE: Call<CK_C_EncryptUpdate> = call!(C_DecryptUpdate);
}
impl Answers for Sign {
    const RUN: Call<CK_C_Encrypt> = call!(C_Sign);
    const FINAL: Call<CK_C_EncryptFinal> = call!(C_SignFinal);
}
impl Absorbs for Sign {
    const UPDATE: Call<CK_C_SignUpdate> = call!(C_SignUpdate);
}
impl Absorbs for Verify {
    const UPDATE: Call<CK_C_SignUpdate> = call!(C_VerifyUpdate);
}
impl Answers for Digest {
    const RUN: Call<CK_C_Encrypt> = call!(C_Digest);
    const FINAL: Call<CK_C_EncryptFinal> = call!(C_DigestFinal);
}
impl Absorbs for Digest {
    const UPDATE: Call<CK_C_SignUpdate> = call!(C_DigestUpdate);
}

/// The single-part and final calls of `kind`, for ending an operation whose kind is
/// known only at run time; `None` for verify, which answers no output.
pub fn answers(kind: OpKind) -> Option<(Call<CK_C_Encrypt>, Call<CK_C_EncryptFinal>)> {
    match kind {
        OpKind::Encrypt => Some((Encrypt::RUN, Encrypt::FINAL)),
        OpKind::Decrypt => Some((Decrypt::RUN, Decrypt::FINAL)),
        OpKind::Sign => Some((Sign::RUN, Sign::FINAL)),
        OpKind::Digest => Some((Digest::RUN, Digest::FINAL)),
        OpKind::Verify => None,
    }
}
