//! Credential slots: the DEK sealed under a key derived from an application's client
//! key, so an access point's login unlocks the token without the user PIN. The slot
//! itself is kept by the caller (in the access point's record), not in a row: a slot
//! opens only with its client key, and only for the token generation that made it.

use super::Store;
use crate::pins::Dek;
use crate::rows::Rows;
use crate::seal;
use cryptoki_sys::{CKR_USER_NOT_LOGGED_IN, CKU_USER};
use kmsbridge_bridge::{Error, Result};
use zeroize::Zeroizing;

const AAD_CREDENTIAL: &[u8] = b"kmsbridge.store.v1.credential-slot";

fn aad(token_uid: &[u8; seal::UID_LEN], credential: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_CREDENTIAL.len() + seal::UID_LEN + credential.len());
    aad.extend_from_slice(AAD_CREDENTIAL);
    aad.extend_from_slice(token_uid);
    aad.extend_from_slice(credential);
    aad
}

impl<R: Rows> Store<R> {
    /// Seal the unlocked `dek` for the credential `credential` under `kek`.
    pub fn seal_credential_slot(
        &self,
        dek: &Dek,
        kek: &[u8; seal::KEY_LEN],
        credential: &[u8],
    ) -> Result<Vec<u8>> {
        let token_uid = self.rows.token()?.token_uid;
        if token_uid != dek.token_uid {
            return Err(Error::rv(
                CKR_USER_NOT_LOGGED_IN,
                "store: the token was re-initialised since this login",
            ));
        }
        seal::seal(kek, &aad(&token_uid, credential), &dek.key[..])
    }

    /// The DEK, with the user's role, if `slot` opens under `kek` for this token.
    pub fn open_credential_slot(
        &self,
        kek: &[u8; seal::KEY_LEN],
        credential: &[u8],
        slot: &[u8],
    ) -> Result<Option<Dek>> {
        let token_uid = self.rows.token()?.token_uid;
        let Some(plain) = seal::open(kek, &aad(&token_uid, credential), slot) else {
            return Ok(None);
        };
        let mut key = Zeroizing::new([0u8; seal::KEY_LEN]);
        if plain.len() != key.len() {
            return Ok(None);
        }
        key.copy_from_slice(&plain);
        Ok(Some(Dek {
            key,
            token_uid,
            role: CKU_USER,
        }))
    }
}
