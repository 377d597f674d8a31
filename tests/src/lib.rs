//! kmsbridge integration tests: the conformance suite and the helpers of tests that
//! load the built module.
//!
//! A rig ([`kmsbridge_testkit::rig::Rig`]) makes an isolated SoftHSM2 store and
//! kmsbridge config with `ci/softhsm/setup`; [`Env`] loads a [`Target`] module over it
//! the way an application does (`cryptoki`). The [`conformance`] cases are written
//! once and instantiated for each of the three targets (SoftHSM2 directly, a
//! hardware instance, a software instance) by [`conformance_suite!`]. Helpers that
//! other test crates need too live in `kmsbridge-testkit`.

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

pub mod access;
pub mod audit;
pub mod byok;
pub mod cluster;
pub mod cluster_keys;
pub mod conformance;
pub mod deviation;
pub mod env;
pub mod kat;
pub mod kms;
pub mod raw;
pub mod secrets;
pub mod software;

pub use env::{Env, Target};

/// The one list of conformance cases, as `module::case`.
///
/// `conformance_suite!(name, Target::X)` in a test file makes a module `name` with one
/// `#[test]` per case (`name::case`), each with its own rig and loaded module. Run them
/// with `cargo nextest`, which gives every test its own process (PKCS#11 state is
/// process-global); under plain `cargo test` they take turns and finalize in between.
///
/// A case listed as `module::case => forwarded_shNN` asserts a deviation kmsbridge
/// cannot mend over SoftHSM2 (`deviation::Bridge::Forwarded`). In the run made with
/// `conformance_suite!(name, Target::Bridge, forwarding)` it is `name::forwarded_shNN::case`,
/// so a count of spec passes can leave it out (nextest filter `test(/::forwarded_sh/)`);
/// elsewhere it is `name::case` like any other.
#[macro_export]
macro_rules! conformance_suite {
    ($module:ident, $target:expr, forwarding) => {
        mod $module {
            $crate::conformance_suite!(@list [tests $target, forwarding]);
        }
    };
    ($module:ident, $target:expr) => {
        mod $module {
            $crate::conformance_suite!(@list [tests $target, spec]);
        }
    };
    (@list [$($how:tt)*]) => {
        $crate::conformance_suite! { @emit [$($how)*]
            general::library_info,
            general::slot_list_and_info,
            general::token_info_flags,
            general::token_session_counts,
            general::mechanism_list,
            general::mechanism_info,
            general::function_list_complete,
            general::interfaces,
            general::finalize_and_reinitialize,
            session::open_close_sessions,
            session::session_state_login_logout,
            session::user_already_logged_in,
            session::wrong_pin,
            session::so_login_and_init_pin,
            object::data_object_lifecycle,
            object::token_object_persists,
            object::aes_key_by_value,
            object::object_size,
            object::private_objects_need_login,
            object::find_objects_templates,
            object::get_attribute_partial_failure,
            object::set_attribute_rules,
            crypto_aes::aes_generate_key,
            crypto_aes::aes_ecb,
            crypto_aes::aes_cbc,
            crypto_aes::aes_cbc_pad,
            crypto_aes::aes_ctr,
            crypto_aes::aes_gcm,
            crypto_aes::aes_gcm_multipart,
            crypto_aes::aes_cmac,
            crypto_rsa::rsa_generate_key_pair,
            crypto_rsa::rsa_pkcs_sign_verify,
            crypto_rsa::rsa_pkcs_hashed_variants,
            crypto_rsa::rsa_pss,
            crypto_rsa::rsa_oaep,
            crypto_rsa::rsa_pkcs_encrypt_decrypt,
            crypto_rsa::rsa_verify_multipart_wrong_signature,
            crypto_ec::ec_key_pairs_share_id,
            crypto_ec::ecdsa_raw,
            crypto_ec::ecdsa_hashed_variants,
            crypto_ec::ed25519_key_pair,
            crypto_ec::eddsa_sign_verify,
            hmac_digest_random::digests,
            hmac_digest_random::digest_multipart,
            hmac_digest_random::hmac_sha2,
            hmac_digest_random::hmac_generated_key,
            hmac_digest_random::generate_random,
            wrap_derive::aes_key_wrap,
            wrap_derive::aes_key_wrap_pad,
            wrap_derive::aes_key_wrap_pad_partial_block => forwarded_sh11,
            wrap_derive::wrap_unwrap_rsa_private_key,
            wrap_derive::wrap_unextractable_refused,
            wrap_derive::unwrapped_key_value_len,
            wrap_derive::unwrap_corrupted_blob,
            wrap_derive::oaep_unwrap_without_source,
            wrap_derive::ecdh_derive,
            bad_input::invalid_session_handle,
            bad_input::invalid_object_handle,
            bad_input::invalid_slot,
            bad_input::mechanism_param_invalid,
            bad_input::mechanism_invalid,
            bad_input::key_type_and_function_checks,
            bad_input::null_template_with_count,
            bad_input::null_pointers,
            bad_input::open_session_needs_serial_flag,
            bad_input::initialize_bad_args,
            bad_input::key_functions_judge_session_first,
            op_state::operation_not_initialized,
            op_state::operation_active,
            op_state::length_query_keeps_operation,
            op_state::short_buffer_keeps_operation,
            op_state::short_list_buffers,
            op_state::operation_ends_after_error,
            answers::generate_key_mechanism_invalid,
            answers::sign_init_key_type_inconsistent,
            answers::ec_params_invalid,
            answers::gcm_tag_bits_invalid,
            answers::attribute_length_invalid,
            answers::digest_key_secret,
            answers::latching_attributes,
            answers::create_public_object_without_login,
            des::des3_ecb_kat,
            des::des3_cbc_kat,
            des::des3_cbc_pad_round_trip,
            des::des3_generate_key,
            des::des3_key_type_inconsistent,
            des::legacy_mechanisms_hidden,
            context_login::always_authenticate_sign,
        }
    };
    (@emit [tests $target:expr, $mode:ident]
        $($module:ident :: $case:ident $(=> $fwd:ident)?),* $(,)?) => {
        $(
            $crate::conformance_suite!(@one $mode [$target] $module $case $($fwd)?);
        )*
    };
    (@one forwarding [$target:expr] $module:ident $case:ident $fwd:ident) => {
        mod $fwd {
            $crate::conformance_suite!(@one spec [$target] $module $case);
        }
    };
    (@one $mode:ident [$target:expr] $module:ident $case:ident $($fwd:ident)?) => {
        #[test]
        fn $case() {
            let env = $crate::Env::new($target);
            $crate::conformance::$module::$case(&env);
        }
    };
    (@emit [forwarded] $($module:ident :: $case:ident $(=> $fwd:ident)?),* $(,)?) => {
        &[$($((concat!(stringify!($module), "::", stringify!($case)), stringify!($fwd)),)?)*]
    };
    (@emit [names] $($module:ident :: $case:ident $(=> $fwd:ident)?),* $(,)?) => {
        &[$(concat!(stringify!($module), "::", stringify!($case))),*]
    };
}

/// Every registered case as `module::case` (the same list the suite runs).
pub const CASES: &[&str] = conformance_suite!(@list [names]);

/// The cases that forward a deviation on the hardware instance, with the module
/// (`forwarded_shNN`) the bridge run puts them in.
pub const FORWARDED: &[(&str, &str)] = conformance_suite!(@list [forwarded]);

#[cfg(test)]
mod tests {
    use super::{CASES, FORWARDED};
    use crate::deviation::{Bridge, ALL};

    /// A case put under `forwarded_shNN` names a deviation recorded as forwarded,
    /// and every forwarded deviation has its case there.
    #[test]
    fn forwarded_cases_name_forwarded_deviations() {
        for (case, module) in FORWARDED {
            let id = module.strip_prefix("forwarded_sh").map(|n| format!("SH-{n}"));
            let dev = ALL.iter().find(|d| Some(d.id.to_string()) == id);
            let dev = dev.unwrap_or_else(|| panic!("{case}: {module} names no deviation"));
            assert_eq!(dev.bridge, Bridge::Forwarded, "{case}: {} is recorded as mended", dev.id);
        }
        for d in ALL.iter().filter(|d| d.bridge == Bridge::Forwarded) {
            let module = format!("forwarded_sh{}", d.id.trim_start_matches("SH-"));
            assert!(
                FORWARDED.iter().any(|(_, m)| *m == module),
                "{} is forwarded but no case runs under {module}",
                d.id
            );
        }
    }

    /// A case written in `src/conformance/` but left out of the list would never run.
    #[test]
    fn every_case_is_registered() {
        let scanned: Vec<&str> = crate::conformance::SOURCES.iter().map(|(m, _)| *m).collect();
        for line in include_str!("conformance/mod.rs").lines() {
            if let Some(module) = line.strip_prefix("pub mod ").and_then(|l| l.strip_suffix(';')) {
                assert!(
                    module == "rawop" || module == "spec" || scanned.contains(&module),
                    "conformance::{module} is missing from conformance::SOURCES"
                );
            }
        }
        let mut written = Vec::new();
        for (module, src) in crate::conformance::SOURCES {
            for line in src.lines() {
                let line = line.trim_start();
                if let Some(rest) = line.strip_prefix("pub fn ") {
                    if let Some((name, args)) = rest.split_once('(') {
                        if args.starts_with("t: &Env)") {
                            written.push(format!("{module}::{name}"));
                        }
                    }
                }
            }
        }
        let mut registered: Vec<String> = CASES.iter().map(|s| s.to_string()).collect();
        written.sort();
        registered.sort();
        assert_eq!(written, registered, "conformance_suite! list and src/conformance/ differ");
        let mut names: Vec<&str> = CASES.iter().map(|c| c.split("::").nth(1).unwrap()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), CASES.len(), "case names must be unique across modules");
    }
}
