//! The `software-ap` target: the software instance's bench user is an access point
//! held to a policy (docs/ACCESS.md) rather than the user PIN's default access point,
//! so every key use pays the policy check. The SO makes the access point and a fresh
//! client key in this child; the child then logs in with the key.

use cryptoki::object::{Attribute, AttributeType};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use kmsbridge_access::credential::ClientKey;

use crate::child::Token;

const CKO_KMSBRIDGE_ACCESS_POINT: u64 = 0xCB42_0003;
const CKA_KMSBRIDGE_CREDENTIAL_ADD: u64 = 0xCB42_0015;
const NAME: &str = "bench";

/// A policy as a deployment would write one: the bench keys by alias, conditions on
/// the user, the executable and the network, and a deny statement to pass over.
fn policy() -> String {
    // SAFETY: getuid cannot fail and touches no memory of ours.
    let uid = unsafe { libc::getuid() };
    format!(
        r#"
[[statement]]
sid = "bench"
actions = ["encrypt", "decrypt", "sign", "verify", "generate"]
resources = ["alias/bench-*"]
[statement.conditions]
users = [{uid}]
executables = ["/*"]
networks = ["0.0.0.0/0", "::/0"]

[[statement]]
sid = "never"
effect = "deny"
actions = ["*"]
resources = ["alias/forbidden-*"]
"#
    )
}

/// Load the module, make (or reuse) the access point and a client key as the SO, and
/// log in with the key.
pub fn open(module: &str, label: &str, so_pin: String) -> Result<Token, String> {
    Token::open_with(module, label, |t| {
        let s = t
            .p11
            .open_rw_session(t.slot)
            .map_err(|e| format!("C_OpenSession: {e}"))?;
        s.login(UserType::So, Some(&AuthPin::from(so_pin)))
            .map_err(|e| format!("SO C_Login: {e}"))?;
        let class = Attribute::VendorDefined((
            AttributeType::Class,
            CKO_KMSBRIDGE_ACCESS_POINT.to_ne_bytes().to_vec(),
        ));
        let label = Attribute::Label(NAME.as_bytes().to_vec());
        let found = s
            .find_objects(&[class.clone(), label.clone()])
            .map_err(|e| format!("find the access point: {e}"))?;
        let ap = match found.first() {
            Some(h) => *h,
            None => s
                .create_object(&[class, label, Attribute::Value(policy().into_bytes())])
                .map_err(|e| format!("create the access point: {e}"))?,
        };
        let key = ClientKey::generate().map_err(|e| e.to_string())?;
        let text = key.to_text().map_err(|e| e.to_string())?;
        s.update_attributes(
            ap,
            &[Attribute::VendorDefined((
                AttributeType::VendorDefined(CKA_KMSBRIDGE_CREDENTIAL_ADD),
                text.as_bytes().to_vec(),
            ))],
        )
        .map_err(|e| format!("add a credential: {e}"))?;
        s.logout().map_err(|e| format!("SO C_Logout: {e}"))?;
        Ok(text.to_string())
    })
}
