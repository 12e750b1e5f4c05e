//! Texts found clean under the current policy, shared by every client: a site's visitors ask
//! for the same few hundred paths and send the site's own pages as their Referer, so most of
//! what a request carries was judged already, for somebody else. Judging a text is a pure
//! function of the policy and the text, so the answer can be kept and reused.
//!
//! The table is direct-mapped and lossy: one atomic word per slot, holding the keyed hash of
//! a clean text and one bit of what was learned about it. A newer text takes the slot of an
//! older one; a reader that finds another text's hash simply judges its own again. Only
//! clean texts are kept, so a lost or stale slot costs a scan and never hides a finding, and
//! the hash is keyed per process, so nobody can craft a text that passes for a clean one.

use std::sync::atomic::{AtomicU64, Ordering};

/// Slots in the table: 32 KB, enough for a site's common paths and Referers.
const SLOTS: usize = 4096;

/// The table of clean texts.
pub(super) struct CleanTexts {
    slots: Box<[AtomicU64]>,
}

impl Default for CleanTexts {
    fn default() -> Self {
        CleanTexts {
            slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl CleanTexts {
    /// When the text of `key` (a keyed hash, mixed with the policy's load id) is known
    /// clean, the bit that was kept with it.
    pub(super) fn get(&self, key: u64) -> Option<bool> {
        let slot = self.slots[slot_of(key)].load(Ordering::Relaxed);
        (slot != 0 && slot & !1 == key & !1).then_some(slot & 1 == 1)
    }

    /// Remembers the text of `key` as clean, with `bit`.
    pub(super) fn note(&self, key: u64, bit: bool) {
        let value = (key & !1) | u64::from(bit);
        if key & !1 != 0 {
            self.slots[slot_of(key)].store(value, Ordering::Relaxed);
        }
    }
}

/// The slot of `key`, from bits other than the one kept with the text.
fn slot_of(key: u64) -> usize {
    (key >> 1) as usize % SLOTS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_noted_text_is_found_with_its_bit_until_another_takes_its_slot() {
        let table = CleanTexts::default();
        let key = 0x1234_5678_9abc_def0;
        assert_eq!(table.get(key), None);
        table.note(key, true);
        assert_eq!(table.get(key), Some(true));
        table.note(key, false);
        assert_eq!(table.get(key), Some(false));
        // Another text with the same slot evicts it.
        let rival = key ^ (1 << 40);
        table.note(rival, true);
        assert_eq!(table.get(key), None);
        assert_eq!(table.get(rival), Some(true));
        // Keys differing only in the kept bit are the same text.
        assert_eq!(table.get(rival ^ 1), Some(true));
    }
}
