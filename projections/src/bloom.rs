//! A growing Bloom filter of byte strings: whether a key may have been added, never a false
//! "no". A tree being built keeps one of the keys its pages ever held (see PAGE INDEX in the
//! `page` module): over the 10 million event log, 96 to 100 % of the reads that reached a
//! build's pages asked for records that did not exist (a membership about to open, a first
//! conversation between two people), and each cost a sled read and a page decode.
//!
//! It is blocked (the bits of a key are all in one 64-byte block: one cache miss per lookup)
//! and scalable: when the newest layer holds as many keys as it was sized for, a layer four
//! times as large is added, and a lookup asks every layer (a few: 21 million keys fill three),
//! since a build does not know in advance how many records it will write. With
//! [`BITS_PER_KEY`] bits per key and [`PROBES`] bits set per key, a layer answers "maybe" for
//! about 1 % of the keys it does not hold.

use std::hash::BuildHasher;

/// Bits of a layer per key it is sized for.
const BITS_PER_KEY: usize = 12;

/// Bits set per key, all in the key's block.
const PROBES: u32 = 8;

/// Keys the first layer is sized for (1.5 MiB).
const FIRST_LAYER_KEYS: usize = 1 << 20;

/// How much larger each layer is than the one before.
const LAYER_GROWTH: usize = 4;

/// One 512-bit block: a cache line.
type Block = [u64; 8];

const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

#[derive(Debug, Clone)]
struct Layer {
    blocks: Vec<Block>,
    keys: usize,
    keys_max: usize,
}

impl Layer {
    fn new(keys_max: usize) -> Layer {
        let bits = keys_max * BITS_PER_KEY;
        Layer {
            blocks: vec![[0; 8]; bits.div_ceil(512).max(1)],
            keys: 0,
            keys_max,
        }
    }

    /// The key's block, and the bits it sets there as (word, mask) pairs.
    fn bits(&self, hash: u64) -> (usize, impl Iterator<Item = (usize, u64)> + use<>) {
        // The high half picks the block (multiply-shift, no division); the whole hash seeds
        // the bits inside it.
        let block = (((hash >> 32) * self.blocks.len() as u64) >> 32) as usize;
        let mut x = hash | 1;
        let bits = (0..PROBES).map(move |_| {
            x = x.wrapping_mul(MULTIPLIER);
            let bit = (x >> 55) as usize; // 9 bits: 0..512
            (bit / 64, 1u64 << (bit % 64))
        });
        (block, bits)
    }

    fn insert(&mut self, hash: u64) {
        let (block, bits) = self.bits(hash);
        for (word, mask) in bits {
            self.blocks[block][word] |= mask;
        }
        self.keys += 1;
    }

    fn may_hold(&self, hash: u64) -> bool {
        let (block, mut bits) = self.bits(hash);
        let block = &self.blocks[block];
        bits.all(|(word, mask)| block[word] & mask != 0)
    }
}

/// See the module docs.
#[derive(Debug, Clone)]
pub(crate) struct Bloom {
    layers: Vec<Layer>,
    /// Drawn at random for each filter, so that which keys collide is not known in advance (a
    /// collision costs a read, never a wrong answer).
    seed: u64,
}

impl Default for Bloom {
    fn default() -> Self {
        Bloom::new(FIRST_LAYER_KEYS)
    }
}

impl Bloom {
    /// An empty filter whose first layer is sized for `first_layer_keys`.
    fn new(first_layer_keys: usize) -> Bloom {
        Bloom {
            layers: vec![Layer::new(first_layer_keys.max(1))],
            seed: std::collections::hash_map::RandomState::new().hash_one(MULTIPLIER),
        }
    }

    /// A keyed hash of `key`, eight bytes at a time (a folded multiply and murmur3's final
    /// mix): a filter's keys are a few dozen bytes, which SipHash took three times as long on.
    fn hash(&self, key: &[u8]) -> u64 {
        let mut h = self.seed ^ (key.len() as u64).wrapping_mul(MULTIPLIER);
        let mut words = key.chunks_exact(8);
        for word in &mut words {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(word);
            h = (h ^ u64::from_le_bytes(bytes)).wrapping_mul(MULTIPLIER);
            h ^= h >> 29;
        }
        let mut tail = [0u8; 8];
        tail[..words.remainder().len()].copy_from_slice(words.remainder());
        h = (h ^ u64::from_le_bytes(tail)).wrapping_mul(MULTIPLIER);
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }

    /// Adds `key`.
    pub(crate) fn insert(&mut self, key: &[u8]) {
        let hash = self.hash(key);
        if let Some(full) = self.layers.last().filter(|l| l.keys >= l.keys_max) {
            let keys_max = full.keys_max * LAYER_GROWTH;
            self.layers.push(Layer::new(keys_max));
        }
        if let Some(layer) = self.layers.last_mut() {
            layer.insert(hash);
        }
    }

    /// False only if `key` was never added.
    pub(crate) fn may_hold(&self, key: &[u8]) -> bool {
        let hash = self.hash(key);
        self.layers.iter().any(|layer| layer.may_hold(hash))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys the first layer of the tests' filters is sized for.
    const FIRST: usize = 4096;

    /// Keys like the read models': a tag and ids, most bytes alike from one key to the next.
    fn key(i: u64) -> Vec<u8> {
        let mut key = b"tl.m/".to_vec();
        key.extend_from_slice(&[7u8; 16]);
        key.extend_from_slice(&i.to_be_bytes());
        key
    }

    #[test]
    fn every_key_added_may_be_held_across_layers() {
        let mut bloom = Bloom::new(FIRST);
        let n = (FIRST * 6) as u64;
        for i in 0..n {
            bloom.insert(&key(i));
        }
        assert_eq!(bloom.layers.len(), 3, "the filter grew");
        assert!((0..n).all(|i| bloom.may_hold(&key(i))));
    }

    #[test]
    fn few_keys_never_added_may_be_held() {
        let mut bloom = Bloom::new(FIRST);
        let n = (FIRST * 5) as u64;
        for i in 0..n {
            bloom.insert(&key(i));
        }
        let maybe = (n..2 * n).filter(|&i| bloom.may_hold(&key(i))).count();
        // Two full layers, each about 1 %.
        assert!(
            maybe * 100 < n as usize * 4,
            "{maybe} of {n} keys never added may be held"
        );
    }
}
