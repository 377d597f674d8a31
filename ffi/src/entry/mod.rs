//! The `extern "C"` shells, one file per function family. Each checks its raw
//! arguments, converts them, and calls the provider inside the guard.

/// Defines each shell once: `fn C_Xxx(params) { body }` becomes the `extern "C"`
/// function of that name whose body runs inside the guard, which logs a failure
/// under `stringify!(C_Xxx)` — so the name is written once, here and in the log alike.
macro_rules! shells {
    ($(
        $(#[$attr:meta])*
        fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block
    )*) => {$(
        $(#[$attr])*
        // Function and parameter names are the specification's (pkcs11f.h), so a shell
        // reads line by line against the standard.
        #[allow(non_snake_case)]
        pub extern "C" fn $name($($arg: $ty),*) -> cryptoki_sys::CK_RV {
            $crate::guard::guard(stringify!($name), || $body)
        }
    )*};
}

/// Shells of functions kmsbridge does not offer (SoftHSM2 2.6 lacks them too;
/// listed in docs/FUNCTIONS.md): each answers CKR_FUNCTION_NOT_SUPPORTED once
/// the library is initialised.
macro_rules! unsupported {
    ($($name:ident($($arg:ident: $ty:ty),* $(,)?);)*) => {
        shells! {$(
            fn $name($($arg: $ty),*) {
                let _ = ($($arg),*);
                kmsbridge_provider::state::check()?;
                Err($crate::guard::bad(
                    cryptoki_sys::CKR_FUNCTION_NOT_SUPPORTED,
                    "not offered by kmsbridge",
                ))
            }
        )*}
    };
}

pub mod crypto;
pub mod general;
pub mod keys;
pub mod message;
pub mod objects;
pub mod sessions;
pub mod slots;
