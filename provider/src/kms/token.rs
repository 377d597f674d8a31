//! What the KMS model needs of the token it keeps its records on. The instance
//! implements this; the model never names the instance, so it sits below it.

use crate::error::Result;
use crate::objects::{ObjEntry, ObjectTable};
use cryptoki_sys::CK_OBJECT_HANDLE;
use kmsbridge_bridge::{Backend, ObjectId};

pub(crate) trait Token {
    /// The instance's name, for the log.
    fn name(&self) -> &str;
    fn backend(&self) -> &dyn Backend;
    /// The front object table: handles follow records rewritten or destroyed.
    fn objects(&self) -> &ObjectTable;
    /// Records are private objects: read only while the user is logged in.
    fn user_logged_in(&self) -> bool;
    /// Seconds an import token stays valid.
    fn import_token_ttl_s(&self) -> u64;
    /// The front handle of a backend object, learning what it is on first sight.
    fn discover(&self, id: ObjectId) -> Result<(CK_OBJECT_HANDLE, ObjEntry)>;
}
