//! The hasher of the log's in-memory maps (stream ids and command ids to versions, offsets and
//! in-flight appends): a keyed folded multiply, several times cheaper than the standard
//! library's SipHash, which was a tenth of all the instructions an append cost (callgrind,
//! 256 writers). The key is drawn at random for each map, from the standard library's random
//! keys, so that ids chosen by a client cannot be prepared to collide; it is not a
//! cryptographic guarantee, which the maps do not need (a collision costs time, not safety).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

/// A `HashMap` with the log's hasher.
pub type FastMap<K, V> = HashMap<K, V, FastState>;

/// Builds [`FastHasher`]s with the map's random key.
#[derive(Clone)]
pub struct FastState {
    key: u64,
}

impl Default for FastState {
    fn default() -> Self {
        // A `RandomState` holds fresh random keys: what it makes of a constant is a random
        // number.
        let key =
            std::collections::hash_map::RandomState::new().hash_one(0x243f_6a88_85a3_08d3_u64);
        FastState { key }
    }
}

impl BuildHasher for FastState {
    type Hasher = FastHasher;

    fn build_hasher(&self) -> FastHasher {
        FastHasher {
            state: self.key,
            key: self.key ^ MULTIPLIER,
        }
    }
}

/// An odd constant with well-spread bits (the fractional part of the golden ratio).
const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

/// The high and low halves of the full product, combined: a cheap mix in which every input
/// bit reaches every output bit.
fn folded_multiply(a: u64, b: u64) -> u64 {
    let full = u128::from(a) * u128::from(b);
    (full as u64) ^ ((full >> 64) as u64)
}

/// Mixes the input eight bytes at a time into its state with the map's key.
pub struct FastHasher {
    state: u64,
    key: u64,
}

impl FastHasher {
    fn mix(&mut self, word: u64) {
        self.state = folded_multiply(self.state ^ word, self.key | 1);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            self.mix(u64::from_le_bytes(word.try_into().unwrap()));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            // The length in the top byte tells a short tail from the same bytes zero-padded.
            self.mix(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 56));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.mix(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
    }

    fn write_u8(&mut self, n: u8) {
        self.mix(u64::from(n) | 0x100);
    }

    fn finish(&self) -> u64 {
        folded_multiply(self.state, MULTIPLIER ^ self.key.rotate_left(29))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn distinct_keys_hash_apart_and_equal_keys_alike() {
        let state = FastState::default();
        let ids: Vec<String> = (0..10_000).map(|i| format!("student-{i}")).collect();
        let hashes: HashSet<u64> = ids.iter().map(|id| state.hash_one(id)).collect();
        assert_eq!(hashes.len(), ids.len());
        assert_eq!(
            state.hash_one("student-7"),
            state.hash_one(String::from("student-7"))
        );
        let uuids: HashSet<u64> = (0..10_000u128)
            .map(|i| state.hash_one(uuid::Uuid::from_u128(i << 64)))
            .collect();
        assert_eq!(uuids.len(), 10_000);
        // A short key and the same bytes padded with zeros differ.
        assert_ne!(
            state.hash_one([1u8].as_slice()),
            state.hash_one([1u8, 0].as_slice())
        );
    }

    #[test]
    fn two_maps_have_different_keys() {
        let (a, b) = (FastState::default(), FastState::default());
        assert_ne!(a.hash_one("stream-1"), b.hash_one("stream-1"));
    }
}
