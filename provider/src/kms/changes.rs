//! The KMS records' generation value names what changed, so that a process one
//! change behind reloads that record, not all of them (issue 14).
//!
//! A value is `kg2` ‖ 16 fresh random bytes (its *mark*) ‖ the mark of the one
//! generation object the writer replaced (zeros when it found none or several) ‖ the
//! hex id of the record it changed. An older value is 16 random bytes: its own mark,
//! naming no change. A reader whose view is at mark M and that finds exactly one
//! generation object, whose value says it replaced M, reloads the record named; any
//! other case (several generation objects: writers at once; a value from before; more
//! than one change since) reloads everything, as before. Writers make the new object
//! before they destroy the old ones they found, so two concurrent writers that both
//! replaced M leave two generation objects until a later writer, finding both,
//! replaces them with one naming no previous mark: a reader never takes one writer's
//! step for both.

const MAGIC: &[u8; 3] = b"kg2";
const MARK: usize = 16;
/// Longest hex id a value names; a longer one makes a value naming no change.
const MAX_ID: usize = 512;

/// The mark of a generation value (empty for an empty value).
fn mark(value: &[u8]) -> &[u8] {
    match value.strip_prefix(MAGIC) {
        Some(rest) => rest.get(..MARK).unwrap_or_default(),
        None => value.get(..MARK).unwrap_or(value),
    }
}

/// A new generation value: `fresh` (16 random bytes) as its mark, having replaced
/// `previous` (the value of the one generation object found, if exactly one) by a
/// change of record `hex_id`.
pub(crate) fn next(fresh: &[u8], previous: Option<&[u8]>, hex_id: &str) -> Vec<u8> {
    let prev = previous
        .map(mark)
        .filter(|m| m.len() == MARK && hex_id.len() <= MAX_ID);
    let mut v = Vec::with_capacity(3 + 2 * MARK + hex_id.len());
    v.extend_from_slice(MAGIC);
    v.extend_from_slice(fresh.get(..MARK).unwrap_or(fresh));
    match prev {
        Some(p) => {
            v.extend_from_slice(p);
            v.extend_from_slice(hex_id.as_bytes());
        }
        None => v.extend_from_slice(&[0u8; MARK]),
    }
    v
}

/// The hex id of the one record changed between a view at `seen` and `now`, when
/// `now` says it replaced `seen`'s object; None: reload everything.
pub(crate) fn one_step(seen: &[u8], now: &[u8]) -> Option<String> {
    let rest = now.strip_prefix(MAGIC)?.get(MARK..)?;
    let (prev, id) = (rest.get(..MARK)?, rest.get(MARK..)?);
    let seen = mark(seen);
    if seen.len() != MARK || prev != seen || id.is_empty() {
        return None;
    }
    String::from_utf8(id.to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_step_follows_one_change_and_nothing_else() {
        let old = [1u8; 16].to_vec();
        let a = next(&[2u8; 16], Some(&old), "0a0b");
        assert_eq!(one_step(&old, &a).as_deref(), Some("0a0b"));
        let b = next(&[3u8; 16], Some(&a), "0c");
        assert_eq!(one_step(&a, &b).as_deref(), Some("0c"));
        // Two steps behind, or a value naming no previous one: everything.
        assert_eq!(one_step(&old, &b), None);
        assert_eq!(one_step(&a, &next(&[4u8; 16], None, "0d")), None);
        assert_eq!(one_step(&old, &[5u8; 16]), None);
        assert_eq!(one_step(&[], &a), None);
    }
}
