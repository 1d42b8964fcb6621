//! The one fingerprint hasher: 64-bit FNV-1a, for event logs, programs, scenario
//! texts, input files and resume records. Not cryptographic: it tells results
//! apart, it does not defend against forgery.

/// FNV-1a's offset basis: the hash of nothing.
pub const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// `hash` extended by `bytes`.
pub fn extend(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, &b| (h ^ u64::from(b)).wrapping_mul(FNV_PRIME))
}

/// The FNV-1a hash of `bytes`.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    extend(FNV_OFFSET, bytes)
}

/// The hash as manifests write it: 16 hex digits.
pub fn hex(hash: u64) -> String {
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn published_test_vectors() {
        assert_eq!(super::fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(super::fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(super::fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
        assert_eq!(super::extend(super::fnv1a(b"foo"), b"bar"), super::fnv1a(b"foobar"));
    }
}
