//! Key material for key pairs, as nova's `crypto` module handles it:
//!
//! - OpenSSH public keys (`ssh-rsa`, `ssh-ed25519`, `ecdsa-sha2-nistp256/384/521`) are
//!   parsed and checked structurally; the fingerprint is the MD5 of the decoded key
//!   blob as colon-separated hex (nova's `generate_fingerprint`).
//! - Generated ssh key pairs are RSA 2048 with the private key as a PKCS#1 PEM
//!   (`-----BEGIN RSA PRIVATE KEY-----`, what paramiko writes) and the public key
//!   `ssh-rsa AAAA... Generated-by-Nova`.
//! - x509 key pairs: the public key is a self-signed PEM certificate (CN = user id,
//!   extended key usage clientAuth, ten years, RSA 2048 / SHA-256) and the fingerprint
//!   the SHA-1 of its DER as colon-separated hex (nova's `generate_x509_fingerprint`).
//!   Nova returns the private key as a base64 PKCS#12 bundle; rustack returns a PKCS#8
//!   PEM private key (documented in docs/api-compat.md).

use base64::Engine;
use md5::{Digest, Md5};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;

/// A key the API refuses (`InvalidKeypair`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidKey(pub String);

fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Reads SSH wire-format strings from a key blob.
struct Wire<'a>(&'a [u8]);

impl<'a> Wire<'a> {
    fn string(&mut self) -> Option<&'a [u8]> {
        if self.0.len() < 4 {
            return None;
        }
        let n = u32::from_be_bytes([self.0[0], self.0[1], self.0[2], self.0[3]]) as usize;
        let rest = &self.0[4..];
        if rest.len() < n {
            return None;
        }
        let (s, rest) = rest.split_at(n);
        self.0 = rest;
        Some(s)
    }
}

/// Checks an OpenSSH public key line and returns its MD5 fingerprint.
pub fn ssh_fingerprint(public_key: &str) -> Result<String, InvalidKey> {
    let bad = || InvalidKey("failed to generate fingerprint".into());
    let mut parts = public_key.split_whitespace();
    let kind = parts.next().ok_or_else(bad)?;
    let b64 = parts.next().ok_or_else(bad)?;
    let blob = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| bad())?;
    let mut w = Wire(&blob);
    let inner = w.string().ok_or_else(bad)?;
    if inner != kind.as_bytes() {
        return Err(bad());
    }
    let ok = match kind {
        "ssh-rsa" => {
            let e = w.string().ok_or_else(bad)?;
            let n = w.string().ok_or_else(bad)?;
            !e.is_empty() && n.len() >= 64
        }
        "ssh-ed25519" => w.string().ok_or_else(bad)?.len() == 32,
        "ecdsa-sha2-nistp256" | "ecdsa-sha2-nistp384" | "ecdsa-sha2-nistp521" => {
            let curve = w.string().ok_or_else(bad)?;
            let point = w.string().ok_or_else(bad)?;
            let (name, len) = match kind {
                "ecdsa-sha2-nistp256" => ("nistp256", 65),
                "ecdsa-sha2-nistp384" => ("nistp384", 97),
                _ => ("nistp521", 133),
            };
            curve == name.as_bytes() && point.len() == len && point[0] == 4
        }
        _ => false,
    };
    if !ok || !w.0.is_empty() {
        return Err(bad());
    }
    Ok(colon_hex(&Md5::digest(&blob)))
}

/// The DER of a PEM certificate.
fn pem_cert_der(pem: &str) -> Option<Vec<u8>> {
    let start = pem.find("-----BEGIN CERTIFICATE-----")? + "-----BEGIN CERTIFICATE-----".len();
    let end = pem.find("-----END CERTIFICATE-----")?;
    if end < start {
        return None;
    }
    let b64: String = pem[start..end].split_whitespace().collect();
    let der = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    // One DER SEQUENCE spanning the whole buffer.
    let (tag, len, hdr) = der_header(&der)?;
    (tag == 0x30 && hdr + len == der.len()).then_some(der)
}

fn der_header(d: &[u8]) -> Option<(u8, usize, usize)> {
    let tag = *d.first()?;
    let l0 = *d.get(1)? as usize;
    if l0 < 0x80 {
        return Some((tag, l0, 2));
    }
    let n = l0 & 0x7f;
    if n == 0 || n > 4 || d.len() < 2 + n {
        return None;
    }
    let len = d[2..2 + n]
        .iter()
        .fold(0usize, |a, b| (a << 8) | *b as usize);
    Some((tag, len, 2 + n))
}

/// Checks a PEM X.509 certificate and returns its SHA-1 fingerprint.
pub fn x509_fingerprint(pem: &str) -> Result<String, InvalidKey> {
    let der = pem_cert_der(pem).ok_or_else(|| {
        InvalidKey(
            "failed to generate X509 fingerprint. Error message: Unable to load PEM file.".into(),
        )
    })?;
    Ok(colon_hex(&sha1::Sha1::digest(&der)))
}

/// A generated key pair: (private key, public key, fingerprint).
pub type Generated = (String, String, String);

fn rsa_key() -> Result<RsaPrivateKey, InvalidKey> {
    let mut rng = rand::rngs::OsRng;
    RsaPrivateKey::new(&mut rng, 2048).map_err(|e| InvalidKey(format!("key generation: {e}")))
}

fn ssh_string(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

fn ssh_mpint(out: &mut Vec<u8>, be: &[u8]) {
    let trimmed: &[u8] = {
        let i = be.iter().position(|b| *b != 0).unwrap_or(be.len());
        &be[i..]
    };
    if trimmed.first().is_some_and(|b| b & 0x80 != 0) {
        let mut v = vec![0u8];
        v.extend_from_slice(trimmed);
        ssh_string(out, &v);
    } else {
        ssh_string(out, trimmed);
    }
}

/// A new RSA 2048 ssh key pair.
pub fn generate_ssh() -> Result<Generated, InvalidKey> {
    let key = rsa_key()?;
    let private = key
        .to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
        .map_err(|e| InvalidKey(format!("key encoding: {e}")))?
        .to_string();
    let mut blob = Vec::new();
    ssh_string(&mut blob, b"ssh-rsa");
    ssh_mpint(&mut blob, &key.e().to_bytes_be());
    ssh_mpint(&mut blob, &key.n().to_bytes_be());
    let public = format!(
        "ssh-rsa {} Generated-by-Nova",
        base64::engine::general_purpose::STANDARD.encode(&blob)
    );
    let fp = ssh_fingerprint(&public)?;
    Ok((private, public, fp))
}

// Minimal DER writer for the self-signed certificate.

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
    out.extend_from_slice(content);
    out
}

fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

fn oid(arcs: &[u64]) -> Vec<u8> {
    let mut body = vec![(arcs[0] * 40 + arcs[1]) as u8];
    for &a in &arcs[2..] {
        let mut stack = vec![(a & 0x7f) as u8];
        let mut v = a >> 7;
        while v > 0 {
            stack.push(((v & 0x7f) as u8) | 0x80);
            v >>= 7;
        }
        stack.reverse();
        body.extend(stack);
    }
    tlv(0x06, &body)
}

fn utc_time(t: chrono::DateTime<chrono::Utc>) -> Vec<u8> {
    tlv(0x17, t.format("%y%m%d%H%M%SZ").to_string().as_bytes())
}

fn name_cn(cn: &str) -> Vec<u8> {
    seq(&[tlv(
        0x31,
        &seq(&[oid(&[2, 5, 4, 3]), tlv(0x0c, cn.as_bytes())]),
    )])
}

/// A new self-signed client certificate for `user_id` with its private key.
pub fn generate_x509(user_id: &str) -> Result<Generated, InvalidKey> {
    use rsa::signature::{SignatureEncoding, Signer};
    let key = rsa_key()?;
    let spki = key
        .to_public_key()
        .to_public_key_der()
        .map_err(|e| InvalidKey(format!("key encoding: {e}")))?
        .as_bytes()
        .to_vec();
    let sig_alg = seq(&[oid(&[1, 2, 840, 113549, 1, 1, 11]), vec![0x05, 0x00]]);
    let mut serial: [u8; 16] = rand::random();
    serial[0] &= 0x7f;
    serial[0] |= 0x01;
    let now = chrono::Utc::now();
    let eku = seq(&[
        oid(&[2, 5, 29, 37]),
        tlv(0x04, &seq(&[oid(&[1, 3, 6, 1, 5, 5, 7, 3, 2])])),
    ]);
    let tbs = seq(&[
        tlv(0xa0, &tlv(0x02, &[2])),
        tlv(0x02, &serial),
        sig_alg.clone(),
        name_cn(user_id),
        seq(&[utc_time(now), utc_time(now + chrono::Duration::days(3650))]),
        name_cn(user_id),
        spki,
        tlv(0xa3, &seq(&[eku])),
    ]);
    let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key.clone());
    let sig = signer.sign(&tbs).to_vec();
    let mut bits = vec![0u8];
    bits.extend_from_slice(&sig);
    let cert = seq(&[tbs, sig_alg, tlv(0x03, &bits)]);
    let b64 = base64::engine::general_purpose::STANDARD.encode(&cert);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(chunk));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    let private = key
        .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
        .map_err(|e| InvalidKey(format!("key encoding: {e}")))?
        .to_string();
    let fp = x509_fingerprint(&pem)?;
    Ok((private, pem, fp))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Public keys made with `ssh-keygen` for these tests.
    const ED25519: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBYz9yq8Wc4V6yXfAZ7Jp1rW5Gf5yS5n8Q3c1GQkq0aG test@host";

    #[test]
    fn ed25519_fingerprint_is_md5_of_blob() {
        let fp = ssh_fingerprint(ED25519).expect("valid");
        let blob = base64::engine::general_purpose::STANDARD
            .decode(ED25519.split(' ').nth(1).expect("b64"))
            .expect("b64");
        assert_eq!(fp, colon_hex(&Md5::digest(&blob)));
        assert_eq!(fp.len(), 47);
    }

    #[test]
    fn rejects_garbage_and_mismatched_types() {
        for bad in [
            "",
            "ssh-rsa",
            "ssh-rsa not-base64!",
            "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIBYz9yq8Wc4V6yXfAZ7Jp1rW5Gf5yS5n8Q3c1GQkq0aG",
            "ssh-dss AAAAB3NzaC1kc3M=",
            "-----BEGIN CERTIFICATE-----",
        ] {
            assert!(ssh_fingerprint(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ecdsa_keys_parse() {
        for (kind, curve, len) in [
            ("ecdsa-sha2-nistp256", "nistp256", 65),
            ("ecdsa-sha2-nistp384", "nistp384", 97),
            ("ecdsa-sha2-nistp521", "nistp521", 133),
        ] {
            let mut blob = Vec::new();
            ssh_string(&mut blob, kind.as_bytes());
            ssh_string(&mut blob, curve.as_bytes());
            let mut point = vec![4u8];
            point.extend(std::iter::repeat_n(7u8, len - 1));
            ssh_string(&mut blob, &point);
            let line = format!(
                "{kind} {}",
                base64::engine::general_purpose::STANDARD.encode(&blob)
            );
            assert!(ssh_fingerprint(&line).is_ok(), "{kind}");
            // Wrong curve name for the type.
            let mut bad = Vec::new();
            ssh_string(&mut bad, kind.as_bytes());
            ssh_string(&mut bad, b"nistp999");
            ssh_string(&mut bad, &point);
            let line = format!(
                "{kind} {}",
                base64::engine::general_purpose::STANDARD.encode(&bad)
            );
            assert!(ssh_fingerprint(&line).is_err(), "{kind}");
        }
    }

    #[test]
    fn generated_keys_round_trip() {
        let (private, public, fp) = generate_ssh().expect("gen");
        assert!(private.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        assert!(public.starts_with("ssh-rsa AAAAB3NzaC1yc2E"));
        assert!(public.ends_with(" Generated-by-Nova"));
        assert_eq!(ssh_fingerprint(&public).expect("valid"), fp);

        let (private, cert, fp) = generate_x509("user1").expect("gen");
        assert!(private.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"));
        assert_eq!(x509_fingerprint(&cert).expect("valid"), fp);
        assert_eq!(fp.len(), 59);
        assert!(
            x509_fingerprint("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----")
                .is_err()
        );
        // When openssl is installed, it must accept the certificate and agree on the
        // fingerprint.
        let dir = std::env::temp_dir().join(format!("rustack-x509-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("cert.pem");
        std::fs::write(&path, &cert).expect("write");
        if let Ok(out) = std::process::Command::new("openssl")
            .args(["x509", "-noout", "-fingerprint", "-sha1", "-subject", "-in"])
            .arg(&path)
            .output()
        {
            let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
            assert!(
                out.status.success(),
                "openssl rejected the certificate: {out:?}"
            );
            assert!(text.contains(&fp), "{text} vs {fp}");
            assert!(text.contains("user1"), "{text}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
