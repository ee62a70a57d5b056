//! Artifact digests: a sha256 as 64 lowercase hex digits, bare or in the OCI
//! form `sha256:<hex>`. A digest is kept exactly as it was given (events,
//! API, notifications show it so); two digests are the same artifact when
//! their hex parts are equal.

/// The OCI algorithm prefix ferry accepts.
pub const SHA256_PREFIX: &str = "sha256:";

/// True for `<64 lowercase hex>` and `sha256:<64 lowercase hex>`.
pub fn is_sha256_digest(digest: &str) -> bool {
    let hex = digest_hex(digest);
    hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The hex part of a digest, without its `sha256:` prefix.
pub fn digest_hex(digest: &str) -> &str {
    digest.strip_prefix(SHA256_PREFIX).unwrap_or(digest)
}

/// Whether two digests name the same bytes (`sha256:ab…` and `ab…` do).
pub fn same_digest(a: &str, b: &str) -> bool {
    digest_hex(a) == digest_hex(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_and_oci_forms_are_accepted_and_compared_by_hex() {
        let hex = "ab".repeat(32);
        assert!(is_sha256_digest(&hex));
        assert!(is_sha256_digest(&format!("sha256:{hex}")));
        assert!(!is_sha256_digest(&format!("sha512:{hex}")));
        assert!(!is_sha256_digest(&format!("sha256:{}", "AB".repeat(32))));
        assert!(!is_sha256_digest("sha256:"));
        assert!(!is_sha256_digest(&hex[..63]));
        assert!(same_digest(&hex, &format!("sha256:{hex}")));
        assert!(!same_digest(&hex, &"cd".repeat(32)));
    }
}
