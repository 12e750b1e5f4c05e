//! The screen's word machinery: a running hash of each word as the byte pass reads it, and a
//! table of trigger-word hashes with how each must occur.
//!
//! Everything here is sized for the common case, an ordinary word that is no trigger: it costs
//! a rotation per byte and, at the word's end, one test of a bit filter.

/// Word prefixes are checked at these lengths only; longer or shorter ones are refused when
/// the screen is built.
pub(super) const PREFIX_LENGTHS: std::ops::RangeInclusive<usize> = 3..=5;

/// How a word must occur to wake the detectors, as bits.
pub(super) struct Kind;

impl Kind {
    /// As a whole word anywhere.
    pub(super) const WHOLE: u8 = 1;
    /// As a whole word followed by `(` (a function call).
    pub(super) const CALL: u8 = 2;
    /// As a whole word, or with a version suffix, where a shell starts a command.
    pub(super) const COMMAND: u8 = 4;
    /// At the start of a word.
    pub(super) const PREFIX: u8 = 8;
    /// As a whole word, in a URL path only.
    pub(super) const PATH_WHOLE: u8 = 16;
    /// At the start of a word, in a URL path only.
    pub(super) const PATH_PREFIX: u8 = 32;
}

/// The running hash of a lower-cased word: a rotation and an exclusive or per byte, cheap
/// enough for every byte of every component; the table mixes it once per look-up.
fn hash_step(hash: u64, byte: u8) -> u64 {
    hash.rotate_left(7) ^ u64::from(byte.to_ascii_lowercase())
}

const HASH_START: u64 = 0x9e37_79b9_7f4a_7c15;

fn hash_of(word: &str) -> u64 {
    word.bytes().fold(HASH_START, hash_step)
}

/// Spreads a running hash over all 64 bits before it picks a slot and a filter bit.
fn mix(hash: u64) -> u64 {
    (hash ^ (hash >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9)
}

/// The word being read, with the hashes the table is asked about.
#[derive(Default)]
pub(super) struct WordHasher {
    start: Option<usize>,
    pub(super) hash: u64,
    /// The hash before a trailing run of digits, for `python3`.
    before_digits: Option<u64>,
    /// Whether the word has a character other than a digit.
    has_letter: bool,
    /// Whether a trigger prefix may still start this word: false once its first three
    /// letters are known to begin none.
    pub(super) may_have_prefix: bool,
}

/// A word that has just ended.
pub(super) struct EndedWord {
    start: usize,
    end: usize,
    hash: u64,
    before_digits: Option<u64>,
    numeric: bool,
}

impl WordHasher {
    /// Adds a word byte; returns the length of the word so far.
    pub(super) fn push(&mut self, index: usize, byte: u8) -> usize {
        let start = *self.start.get_or_insert_with(|| {
            self.hash = HASH_START;
            self.before_digits = None;
            self.has_letter = false;
            self.may_have_prefix = true;
            index
        });
        self.has_letter |= !byte.is_ascii_digit();
        let previous_is_digit = index > start && self.before_digits.is_some();
        if byte.is_ascii_digit() && !previous_is_digit && index > start {
            self.before_digits = Some(self.hash);
        } else if !byte.is_ascii_digit() {
            self.before_digits = None;
        }
        self.hash = hash_step(self.hash, byte);
        index + 1 - start
    }

    /// Ends the current word, if any, at `end`.
    pub(super) fn end(&mut self, end: usize) -> Option<EndedWord> {
        let start = self.start.take()?;
        Some(EndedWord {
            start,
            end,
            hash: self.hash,
            before_digits: self.before_digits,
            numeric: !self.has_letter,
        })
    }
}

/// An open-addressing set of word hashes with their kinds; a collision can only make a quiet
/// text look loud, never the reverse.
#[derive(Default)]
pub(super) struct WordTable {
    slots: Vec<(u64, u8)>,
    pending: Vec<(u64, u8)>,
    /// One bit per hash prefix, so most ordinary words are refused without a probe.
    filter: Vec<u64>,
    /// Whether any trigger is made of digits only; when none is, numbers (versions, sizes)
    /// skip the look-up.
    has_numeric: bool,
    /// One bit per first three letters of a prefix, so that most words cost one test for
    /// all prefix lengths.
    stems: Vec<u64>,
    pending_stems: Vec<u64>,
}

/// The filter's size in bits, a power of two.
const FILTER_BITS: usize = 1 << 13;

/// The filter bit of a word hash, from its top bits (the slot index uses the bottom ones).
fn filter_index(hash: u64) -> usize {
    (hash >> (64 - FILTER_BITS.trailing_zeros())) as usize
}

impl WordTable {
    /// Adds a trigger word with one of its occurrence kinds; prefixes outside
    /// [`PREFIX_LENGTHS`] are ignored, since the byte pass never asks about them.
    pub(super) fn add(&mut self, word: &str, kind: u8) {
        let prefix = kind & (Kind::PREFIX | Kind::PATH_PREFIX) != 0;
        if word.is_empty() || (prefix && !PREFIX_LENGTHS.contains(&word.len())) {
            return;
        }
        self.has_numeric |= word.bytes().all(|byte| byte.is_ascii_digit());
        self.pending.push((hash_of(word), kind));
        if prefix {
            self.pending_stems.push(hash_of(&word[..3]));
        }
    }

    /// Lays the added words out in the table and its filter.
    pub(super) fn finish(mut self) -> Self {
        let capacity = (self.pending.len() * 4).next_power_of_two().max(64);
        self.slots = vec![(0, 0); capacity];
        self.filter = vec![0; FILTER_BITS / 64];
        self.stems = vec![0; FILTER_BITS / 64];
        for stem in std::mem::take(&mut self.pending_stems) {
            let bit = filter_index(mix(stem));
            self.stems[bit / 64] |= 1 << (bit % 64);
        }
        for (hash, kind) in std::mem::take(&mut self.pending) {
            let hash = mix(hash);
            let bit = filter_index(hash);
            self.filter[bit / 64] |= 1 << (bit % 64);
            let slot = self.slot(hash);
            self.slots[slot].0 = hash;
            self.slots[slot].1 |= kind;
        }
        self
    }

    /// The slot holding `hash`, or the empty slot where it would go.
    fn slot(&self, hash: u64) -> usize {
        let mask = self.slots.len() - 1;
        let mut slot = (hash as usize) & mask;
        while self.slots[slot].1 != 0 && self.slots[slot].0 != hash {
            slot = (slot + 1) & mask;
        }
        slot
    }

    fn kinds(&self, hash: u64) -> u8 {
        let hash = mix(hash);
        let bit = filter_index(hash);
        if self.filter[bit / 64] & (1 << (bit % 64)) == 0 {
            return 0;
        }
        let (found, kinds) = self.slots[self.slot(hash)];
        if found == hash {
            kinds
        } else {
            0
        }
    }

    /// Says whether some trigger prefix starts with the word's first three letters, whose
    /// running hash is `hash`.
    pub(super) fn has_stem(&self, hash: u64) -> bool {
        let bit = filter_index(mix(hash));
        self.stems[bit / 64] & (1 << (bit % 64)) != 0
    }

    /// Says whether the word read so far (its running hash) is a trigger prefix.
    pub(super) fn has_prefix(&self, hash: u64, in_path: bool) -> bool {
        let wanted = if in_path {
            Kind::PREFIX | Kind::PATH_PREFIX
        } else {
            Kind::PREFIX
        };
        self.kinds(hash) & wanted != 0
    }

    /// Says whether an ended word wakes the detectors where it stands.
    pub(super) fn triggers(&self, bytes: &[u8], word: EndedWord, in_path: bool) -> bool {
        if word.numeric && !self.has_numeric {
            return false;
        }
        let kinds = self.kinds(word.hash);
        let versioned = word.before_digits.map_or(0, |hash| self.kinds(hash));
        let command = (kinds | versioned) & Kind::COMMAND != 0;
        let whole = if in_path {
            Kind::WHOLE | Kind::PATH_WHOLE
        } else {
            Kind::WHOLE
        };
        kinds & whole != 0
            || (kinds & Kind::CALL != 0 && is_called(&bytes[word.end..]))
            || (command && at_command_position(&bytes[..word.start]))
    }
}

/// A letter, digit or `_`, as words are read by the screen and by `\b` in the rules.
pub(super) fn is_word_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

/// A `(` after the word, past spaces (and `+`, a space in queries).
fn is_called(rest: &[u8]) -> bool {
    rest.iter().find(|byte| !matches!(byte, b' ' | b'+')) == Some(&b'(')
}

/// A shell starts a command at the start of a value, after `;` or `(`, and reads the last part
/// of a path there (`/usr/bin/id`); commas, spaces and the `+` of a query are space to it.
fn at_command_position(before: &[u8]) -> bool {
    before
        .iter()
        .rev()
        .find(|byte| !matches!(byte, b' ' | b',' | b'+'))
        .is_none_or(|byte| matches!(byte, b';' | b'(' | b'/'))
}
