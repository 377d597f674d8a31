//! The module's answers to access point administration, as one line that says what
//! happened and what to do (docs/ACCESS.md, refusal codes).

use super::session::conf_file;
use crate::kms::refusal::refused;
use crate::module::Error;
use cryptoki::error::{Error as P11Error, RvError};

/// What the CLI was doing when the module answered.
pub enum Op<'a> {
    Login,
    Find,
    Create(&'a str),
    Delete(&'a str),
    Policy(&'a str),
    Describe(&'a str),
    AddCredential(&'a str),
    /// Revoke or unlock credential `id` of access point `name`.
    Credential {
        name: &'a str,
        id: &'a str,
        verb: &'a str,
    },
}

impl Op<'_> {
    fn what(&self) -> String {
        match self {
            Op::Login => "logging in as the SO".into(),
            Op::Find => "looking up access points".into(),
            Op::Create(n) => format!("creating access point {n}"),
            Op::Delete(n) => format!("deleting access point {n}"),
            Op::Policy(n) => format!("setting the policy of {n}"),
            Op::Describe(n) => format!("reading access point {n}"),
            Op::AddCredential(n) => format!("adding a credential to {n}"),
            Op::Credential { name, id, verb } => format!("{verb} credential {id} of {name}"),
        }
    }

    fn name(&self) -> Option<&str> {
        match self {
            Op::Create(n)
            | Op::Delete(n)
            | Op::Policy(n)
            | Op::Describe(n)
            | Op::AddCredential(n)
            | Op::Credential { name: n, .. } => Some(n),
            Op::Login | Op::Find => None,
        }
    }
}

const LOG: &str = "the module's log ([log] in the configuration, or KMSBRIDGE_LOG) says why";

/// Turn a PKCS#11 failure during `op` into a one-line refusal.
pub fn explain(e: P11Error, op: Op<'_>) -> Error {
    let rv = match &e {
        P11Error::Pkcs11(rv, _) => *rv,
        _ => return refused(format!("{} failed: {e}", op.what())),
    };
    let name = op.name().unwrap_or("NAME");
    let msg = match (rv, &op) {
        (RvError::PinIncorrect, Op::Login) => {
            "the SO PIN was refused: check --so-pin-file, --so-pin or KMSBRIDGE_SO_PIN".into()
        }
        (RvError::PinLocked, Op::Login) => {
            "the SO PIN is locked after too many wrong attempts".into()
        }
        (RvError::UserPinNotInitialized | RvError::TokenNotRecognized, Op::Login) => {
            "the instance is not initialised: run `kmsbridge init`".into()
        }
        (RvError::UserAlreadyLoggedIn | RvError::UserAnotherAlreadyLoggedIn, _) => {
            "another user is logged in to the instance in this process".into()
        }
        (RvError::SessionReadOnlyExists, Op::Login) => {
            "a read-only session is open: the SO logs in with none open".into()
        }
        (RvError::UserNotLoggedIn, _) => {
            "access points are administered by the SO: give --so-pin-file FILE".into()
        }
        (RvError::ActionProhibited, _) => format!(
            "{name} is defined in {}: edit it there (the module shows configured access points read-only)",
            conf_file()
        ),
        (RvError::AttributeValueInvalid, Op::Create(_)) => format!(
            "the instance refused access point {name}: its name is taken or its policy does not parse; {LOG}"
        ),
        (RvError::AttributeValueInvalid, Op::Policy(_)) => {
            format!("the instance refused the policy of {name}; {LOG}")
        }
        (RvError::AttributeValueInvalid, Op::AddCredential(_)) => format!(
            "the instance refused the credential (its id is in use, or its window is invalid); {LOG}"
        ),
        (RvError::AttributeValueInvalid, Op::Credential { id, .. }) => format!(
            "{name} has no credential {id}: `kmsbridge aap credential list {name}` lists them"
        ),
        (RvError::ObjectHandleInvalid, _) => {
            format!("access point {name} was deleted meanwhile")
        }
        (
            RvError::AttributeTypeInvalid | RvError::TemplateInconsistent | RvError::MechanismInvalid,
            _,
        ) => format!(
            "the instance does not know access points ({}): is libkmsbridge.so as new as this CLI?",
            crate::kms::refusal::ckr_name(rv)
        ),
        (RvError::FunctionFailed | RvError::DeviceError, _) => {
            format!("{} failed: {LOG}", op.what())
        }
        _ => format!(
            "{} failed: the instance answered {}",
            op.what(),
            crate::kms::refusal::ckr_name(rv)
        ),
    };
    refused(msg)
}
