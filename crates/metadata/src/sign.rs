//! The proxy's request signature, as Neutron's metadata proxy and Nova's metadata API
//! share it: `X-Instance-ID-Signature` is the lowercase hex HMAC-SHA256 of the instance
//! id keyed with `metadata_proxy_shared_secret` (Kolla's `metadata_secret`).

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &str) -> HmacSha256 {
    // HMAC accepts keys of any length, so this constructor cannot fail.
    #[allow(clippy::expect_used)]
    HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length")
}

/// The signature of `instance_id`: lowercase hex HMAC-SHA256.
pub fn sign(secret: &str, instance_id: &str) -> String {
    let mut m = mac(secret);
    m.update(instance_id.as_bytes());
    hex::encode(m.finalize().into_bytes())
}

/// Whether `signature` (hex) is the signature of `instance_id`. The comparison is
/// constant-time (`Mac::verify_slice`); malformed hex is simply a mismatch.
pub fn verify(secret: &str, instance_id: &str, signature: &str) -> bool {
    let Ok(raw) = hex::decode(signature) else {
        return false;
    };
    let mut m = mac(secret);
    m.update(instance_id.as_bytes());
    m.verify_slice(&raw).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_python_hmac_hexdigest() {
        // python3 -c "import hmac,hashlib;print(hmac.new(b'secret',b'abc',hashlib.sha256).hexdigest())"
        assert_eq!(
            sign("secret", "abc"),
            "9946dad4e00e913fc8be8e5d3f7e110a4a9e832f83fb09c345285d78638d8a0e"
        );
        assert!(verify("secret", "abc", &sign("secret", "abc")));
        assert!(!verify("other", "abc", &sign("secret", "abc")));
        assert!(!verify("secret", "abd", &sign("secret", "abc")));
        assert!(!verify("secret", "abc", "zz"));
        assert!(!verify("secret", "abc", ""));
    }
}
