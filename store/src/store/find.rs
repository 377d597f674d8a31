//! Finds pushed into the rows' index, and what changed since a version.

use super::Store;
use crate::index::{query_terms, IndexKey};
use crate::pins::Dek;
use crate::rows::{Changes, Query, Rows};
use kmsbridge_bridge::{ObjectId, Result};

impl<R: Rows> Store<R> {
    /// The candidates of a find by `template` (`(type, value)`): ids, by id, of objects
    /// of `class` (any when `None`) that may match, never missing one that does. The
    /// caller checks each candidate against the whole template. Private objects are
    /// candidates only with a DEK. The indexed attributes of the template
    /// ([`crate::INDEXED`]) narrow the search in the store; the rest do not.
    pub fn find(
        &self,
        dek: Option<&Dek>,
        class: Option<u64>,
        template: &[(u64, &[u8])],
    ) -> Result<Vec<ObjectId>> {
        let key = dek.and_then(IndexKey::of);
        self.rows.find(&Query {
            class,
            private: dek.is_some(),
            terms: query_terms(key.as_ref(), template),
        })
    }

    /// The objects inserted, replaced or deleted since `version` (a value
    /// [`Store::version`] or an earlier answer gave), or [`Changes::Reload`].
    pub fn changes_since(&self, version: u64) -> Result<Changes> {
        self.rows.changes_since(version)
    }
}
