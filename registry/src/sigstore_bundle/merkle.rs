//! RFC 6962 / RFC 9162 Merkle tree hashing and inclusion-proof checking.
//!
//! Hand-written because the `sigstore` crate keeps its verifier crate-private and no small,
//! well-kept crate checks a proof given as raw hashes; the algorithm is the 20 lines of
//! RFC 9162 section 2.1.3.2.

use sha2::{Digest, Sha256};

pub(crate) type Hash = [u8; 32];

/// The leaf hash of an entry: SHA-256(0x00 || entry).
pub(crate) fn leaf_hash(entry: &[u8]) -> Hash {
    Sha256::new()
        .chain_update([0u8])
        .chain_update(entry)
        .finalize()
        .into()
}

/// The hash of an inner node: SHA-256(0x01 || left || right).
pub(crate) fn node_hash(left: &[u8], right: &[u8]) -> Hash {
    Sha256::new()
        .chain_update([1u8])
        .chain_update(left)
        .chain_update(right)
        .finalize()
        .into()
}

/// The root hash that an inclusion proof for `leaf` at `index` in a tree of `size` leaves
/// leads to (RFC 9162 2.1.3.2). The caller compares it with the root it trusts.
pub(crate) fn root_from_inclusion_proof(
    index: u64,
    size: u64,
    leaf: Hash,
    proof: &[Hash],
) -> Result<Hash, String> {
    if index >= size {
        return Err(format!("leaf index {index} is not below tree size {size}"));
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = leaf;
    for p in proof {
        if s == 0 {
            return Err("inclusion proof has more hashes than the tree has levels".into());
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err("inclusion proof has fewer hashes than the tree has levels".into());
    }
    Ok(r)
}

/// The root hash of a tree over these leaf hashes (RFC 6962 2.1, MTH).
#[cfg(any(test, feature = "testing"))]
pub(crate) fn tree_root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let k = split_point(n);
            node_hash(&tree_root(&leaves[..k]), &tree_root(&leaves[k..]))
        }
    }
}

/// The audit path for leaf `m` (RFC 6962 2.1.1, PATH).
#[cfg(any(test, feature = "testing"))]
pub(crate) fn inclusion_proof(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    let n = leaves.len();
    if n <= 1 {
        return Vec::new();
    }
    let k = split_point(n);
    if m < k {
        let mut path = inclusion_proof(m, &leaves[..k]);
        path.push(tree_root(&leaves[k..]));
        path
    } else {
        let mut path = inclusion_proof(m - k, &leaves[k..]);
        path.push(tree_root(&leaves[..k]));
        path
    }
}

/// The largest power of two below `n` (n > 1).
#[cfg(any(test, feature = "testing"))]
fn split_point(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_leaf_of_trees_up_to_17_proves_against_the_root() {
        for size in 1..=17usize {
            let leaves: Vec<Hash> = (0..size).map(|i| leaf_hash(&[i as u8])).collect();
            let root = tree_root(&leaves);
            for (i, leaf) in leaves.iter().enumerate() {
                let proof = inclusion_proof(i, &leaves);
                let got = root_from_inclusion_proof(i as u64, size as u64, *leaf, &proof);
                assert_eq!(got, Ok(root), "size {size} index {i}");
                // A wrong index, size or leaf gives another root or an error.
                if size > 1 {
                    let other = (i + 1) % size;
                    let wrong = root_from_inclusion_proof(other as u64, size as u64, *leaf, &proof);
                    assert_ne!(wrong, Ok(root), "size {size} index {i}");
                }
                let wrong = root_from_inclusion_proof(i as u64, size as u64, [0; 32], &proof);
                assert_ne!(wrong, Ok(root));
            }
        }
    }

    #[test]
    fn proof_of_the_wrong_length_is_an_error() {
        let leaves: Vec<Hash> = (0..4u8).map(|i| leaf_hash(&[i])).collect();
        let mut proof = inclusion_proof(1, &leaves);
        proof.push([0; 32]);
        assert!(root_from_inclusion_proof(1, 4, leaves[1], &proof).is_err());
        assert!(root_from_inclusion_proof(1, 4, leaves[1], &proof[..1]).is_err());
        assert!(root_from_inclusion_proof(4, 4, leaves[1], &[]).is_err());
    }
}
