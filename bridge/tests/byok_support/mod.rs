//! Shared by the BYOK import tests (`byok_node`, `byok_soft`): the backends under
//! test, openssl as the party outside that wraps the material, and the cases.

#![allow(dead_code)]

pub mod cases;
pub mod der;
pub mod keys;
pub mod openssl;
pub mod rig;
