//! Key pairs: import (OpenSSH public keys or x509 certificates) or generate, list
//! (paginated at 2.35), show, delete, per user; admins may act on another user's key
//! pairs (2.10). Quota `key_pairs` counts per user.

use rustack_api_common::AuthContext;
use rustack_common::Error;
use serde_json::json;

use super::keys;
use super::Compute;
use crate::error::keypair_not_found;
use crate::store::{self, keypair::KeyPairRow, WriteError};

pub use crate::store::keypair::KeyPairRow as KeyPair;

/// A validated create request.
#[derive(Clone, Debug)]
pub struct KeyPairCreate {
    /// Name.
    pub name: String,
    /// `ssh` or `x509`.
    pub key_type: String,
    /// The key to import; generated when absent.
    pub public_key: Option<String>,
    /// Owner (2.10, admins); the caller when absent.
    pub user_id: Option<String>,
}

impl Compute {
    /// A user's key pair without policy (servers code: `key_name` at create).
    pub async fn keypair_get(&self, user_id: &str, name: &str) -> Result<KeyPair, Error> {
        let mut c = self.conn().await?;
        store::keypair::get(&mut c, user_id, name)
            .await?
            .ok_or_else(|| keypair_not_found(user_id, name))
    }

    fn keypair_authorize(&self, ctx: &AuthContext, op: &str, user_id: &str) -> Result<(), Error> {
        self.authorize(
            ctx,
            &format!("os_compute_api:os-keypairs:{op}"),
            &json!({"user_id": user_id}),
        )
    }

    /// `POST /os-keypairs`: the key pair and, when generated, its private key.
    pub async fn keypair_create(
        &self,
        ctx: &AuthContext,
        req: KeyPairCreate,
    ) -> Result<(KeyPair, Option<String>), Error> {
        let user_id = req.user_id.clone().unwrap_or_else(|| ctx.user_id.clone());
        self.keypair_authorize(ctx, "create", &user_id)?;
        let project = ctx.project_id.clone().unwrap_or_default();
        self.quota_check(&project, Some(&user_id), &[("key_pairs", 1)])
            .await
            .map_err(|_| Error::forbidden("Quota exceeded, too many key pairs."))?;
        let invalid =
            |e: keys::InvalidKey| Error::bad_request(format!("Keypair data is invalid: {}", e.0));
        let (public_key, fingerprint, private_key) = match &req.public_key {
            Some(pk) => {
                let fp = if req.key_type == "x509" {
                    keys::x509_fingerprint(pk)
                } else {
                    keys::ssh_fingerprint(pk)
                }
                .map_err(invalid)?;
                (pk.clone(), fp, None)
            }
            None => {
                let uid = user_id.clone();
                let x509 = req.key_type == "x509";
                // RSA generation is CPU-bound; keep it off the async workers.
                let (private, public, fp) = tokio::task::spawn_blocking(move || {
                    if x509 {
                        keys::generate_x509(&uid)
                    } else {
                        keys::generate_ssh()
                    }
                })
                .await
                .map_err(|e| Error::internal(format!("key generation task: {e}")))?
                .map_err(|e| Error::internal(e.0))?;
                (public, fp, Some(private))
            }
        };
        let mut row = KeyPairRow {
            id: 0,
            user_id: user_id.clone(),
            name: req.name.clone(),
            key_type: req.key_type.clone(),
            public_key,
            fingerprint,
            created_at: store::now(),
        };
        let mut c = self.conn().await?;
        match store::keypair::insert(&mut c, &row).await {
            Ok(id) => row.id = id,
            Err(WriteError::Duplicate) => {
                return Err(Error::conflict(format!(
                    "Key pair '{}' already exists.",
                    req.name
                )))
            }
            Err(WriteError::Other(e)) => return Err(e),
        }
        Ok((row, private_key))
    }

    /// `GET /os-keypairs`: a user's key pairs by name, after `marker`, at most `limit`.
    pub async fn keypair_list(
        &self,
        ctx: &AuthContext,
        user_id: Option<&str>,
        limit: Option<usize>,
        marker: Option<&str>,
    ) -> Result<Vec<KeyPair>, Error> {
        let user_id = user_id.unwrap_or(&ctx.user_id).to_owned();
        self.keypair_authorize(ctx, "index", &user_id)?;
        let mut c = self.conn().await?;
        let mut all = store::keypair::list(&mut c, &user_id).await?;
        if let Some(m) = marker {
            let pos = all
                .iter()
                .position(|k| k.name == m)
                .ok_or_else(|| Error::bad_request(format!("Marker {m} could not be found.")))?;
            all.drain(..=pos);
        }
        if let Some(l) = limit {
            all.truncate(l);
        }
        Ok(all)
    }

    /// `GET /os-keypairs/{name}`.
    pub async fn keypair_show(
        &self,
        ctx: &AuthContext,
        user_id: Option<&str>,
        name: &str,
    ) -> Result<KeyPair, Error> {
        let user_id = user_id.unwrap_or(&ctx.user_id).to_owned();
        self.keypair_authorize(ctx, "show", &user_id)?;
        self.keypair_get(&user_id, name).await
    }

    /// `DELETE /os-keypairs/{name}`.
    pub async fn keypair_delete(
        &self,
        ctx: &AuthContext,
        user_id: Option<&str>,
        name: &str,
    ) -> Result<(), Error> {
        let user_id = user_id.unwrap_or(&ctx.user_id).to_owned();
        self.keypair_authorize(ctx, "delete", &user_id)?;
        let mut c = self.conn().await?;
        if !store::keypair::delete(&mut c, &user_id, name).await? {
            return Err(keypair_not_found(&user_id, name));
        }
        Ok(())
    }
}
