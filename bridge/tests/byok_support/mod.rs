//! Shared by the BYOK import tests (`byok_node`, `byok_soft`): the cases, run against
//! any backend, and the backend-side key helpers they use. openssl, the party outside
//! that wraps the material, is in `kmsbridge_testkit::openssl`.

pub mod cases;
pub mod keys;

/// The `#[test]`s both backends run, each a case of [`cases`] over the including
/// file's `fx()` fixture; a backend's own tests stay in its file.
#[macro_export]
macro_rules! shared_byok_tests {
    () => {
        #[test]
        fn oaep_sha1_imports_aes_256() {
            cases::oaep_imports_aes(fx(), Oaep::SHA1);
        }

        #[test]
        fn oaep_sha2_imports_aes_256() {
            for md in ["sha224", "sha256", "sha384", "sha512"] {
                let o = Oaep {
                    md,
                    mgf: md,
                    label: b"",
                };
                cases::oaep_imports_aes(fx(), o);
            }
            let o = Oaep {
                md: "sha384",
                mgf: "sha256",
                label: b"kmsbridge",
            };
            cases::oaep_imports_aes(fx(), o);
        }

        #[test]
        fn rsa_aes_imports_aes_keys() {
            for o in [Oaep::SHA1, Oaep::SHA256] {
                for target in [16, 32] {
                    cases::rsa_aes_imports_aes(fx(), o, 32, target);
                }
                // A 128-bit ephemeral key.
                cases::rsa_aes_imports_aes(fx(), o, 16, 32);
            }
        }

        #[test]
        fn rsa_aes_imports_rsa_pkcs8() {
            cases::rsa_aes_imports_rsa(fx(), Oaep::SHA1);
            cases::rsa_aes_imports_rsa(fx(), Oaep::SHA256);
        }

        #[test]
        fn rsa_aes_imports_ec_pkcs8() {
            cases::rsa_aes_imports_ec(fx(), Oaep::SHA1);
            cases::rsa_aes_imports_ec(fx(), Oaep::SHA256);
        }

        #[test]
        fn corrupted_blobs_are_refused() {
            cases::corrupted_blobs_are_refused(fx());
        }

        #[test]
        fn bad_params_are_refused() {
            cases::bad_params_are_refused(fx());
        }

        #[test]
        fn rsa_aes_is_unwrap_only() {
            cases::rsa_aes_is_unwrap_only(fx());
        }

        #[test]
        fn unwrapping_key_permissions() {
            cases::unwrapping_key_permissions(fx());
        }

        #[test]
        fn material_check_of_aes() {
            cases::material_check_of_aes(fx());
        }

        #[test]
        fn material_check_of_rsa() {
            cases::material_check_of_rsa(fx());
        }

        #[test]
        fn material_check_of_ec() {
            cases::material_check_of_ec(fx());
        }
    };
}
