//! Images registered at start-up (`[[bootstrap.images]]`), as Kolla's init-runonce
//! uploads CirrOS: each configured file becomes a public image unless an image of that
//! name already exists, so restarts register nothing twice.
//!
//! Registration goes through the Image API as the admin user, like any client: the
//! image service's checks (formats, quotas, checksums) apply unchanged.

use std::path::PathBuf;

use anyhow::Context;
use rustack_identity_api::{IdentityClient, ServiceCredentials};
use rustack_image_api::client::ImageClient;
use serde::Deserialize;
use serde_json::json;

/// `[bootstrap]`: what `rustack up` creates besides the identity bootstrap.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BootstrapSection {
    /// Images to register (none by default). `scripts/build-test-image.sh` builds the
    /// two test guests (`rustack-test.qcow2`, `rustack-test-alt.qcow2`).
    pub images: Vec<BootstrapImage>,
    /// The demo resources of the first five minutes (on by default; `false` for
    /// production): the `public` external network (devstack's 172.24.4.0/24 unless
    /// `[network.public_network]` says otherwise), `demo-net` with `demo-subnet` and
    /// `demo-router`, ping and SSH in the admin project's default security group, the
    /// `cirros` image from `demo_image`, and with the data plane a host uplink to the
    /// public network. See [`crate::bootstrap_demo`].
    pub demo: bool,
    /// The file registered as the `cirros` image with the demo on (`rustack up
    /// --demo-image` overrides; `scripts/up.sh` builds the test guest and passes it).
    /// Unset or missing: no `cirros` image.
    pub demo_image: Option<PathBuf>,
}

impl Default for BootstrapSection {
    fn default() -> Self {
        BootstrapSection {
            images: Vec::new(),
            demo: true,
            demo_image: None,
        }
    }
}

/// One image to register (`[[bootstrap.images]]`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BootstrapImage {
    /// Image name (the key: an existing image of this name is left alone).
    pub name: String,
    /// Local file with the image data.
    pub file: PathBuf,
    /// Disk format (default `qcow2`).
    #[serde(default = "default_disk_format")]
    pub disk_format: String,
    /// Container format (default `bare`).
    #[serde(default = "default_container_format")]
    pub container_format: String,
    /// Visibility (default `public`).
    #[serde(default = "default_visibility")]
    pub visibility: String,
}

fn default_disk_format() -> String {
    "qcow2".into()
}
fn default_container_format() -> String {
    "bare".into()
}
fn default_visibility() -> String {
    "public".into()
}

/// Registers the configured images that do not exist yet; returns (name, id) of each
/// configured image, new or existing.
pub async fn register(
    images: &[BootstrapImage],
    identity_url: &str,
    image_url: &str,
    admin_password: &str,
) -> anyhow::Result<Vec<(String, String)>> {
    if images.is_empty() {
        return Ok(Vec::new());
    }
    let token = IdentityClient::new(identity_url)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .password_token(&ServiceCredentials {
            username: "admin".into(),
            password: admin_password.into(),
            domain_name: "Default".into(),
            project_name: "admin".into(),
        })
        .await
        .map_err(|e| anyhow::anyhow!("authenticating as admin: {e}"))?
        .id;
    let client = ImageClient::new(image_url).map_err(|e| anyhow::anyhow!("{e}"))?;
    let existing = client
        .list(&token)
        .await
        .map_err(|e| anyhow::anyhow!("listing images: {e}"))?;
    let mut out = Vec::new();
    for img in images {
        if let Some(found) = existing.iter().find(|i| i["name"] == img.name.as_str()) {
            let id = found["id"].as_str().unwrap_or_default().to_string();
            out.push((img.name.clone(), id));
            continue;
        }
        if !img.file.is_file() {
            anyhow::bail!(
                "[[bootstrap.images]] {}: {} is not a file (scripts/build-test-image.sh builds the test images)",
                img.name,
                img.file.display()
            );
        }
        let created = client
            .create(
                &token,
                &json!({
                    "name": img.name,
                    "disk_format": img.disk_format,
                    "container_format": img.container_format,
                    "visibility": img.visibility,
                }),
            )
            .await
            .map_err(|e| anyhow::anyhow!("creating image {}: {e}", img.name))?;
        let id = created["id"]
            .as_str()
            .context("the image service returned no id")?
            .to_string();
        if let Err(e) = client.upload(&token, &id, &img.file).await {
            // Leave no queued image behind: the next start retries from scratch.
            let _ = client.delete(&token, &id).await;
            anyhow::bail!(
                "uploading {} for image {}: {e}",
                img.file.display(),
                img.name
            );
        }
        tracing::info!(image.id = %id, image.name = %img.name, file = %img.file.display(), "bootstrap image registered");
        out.push((img.name.clone(), id));
    }
    Ok(out)
}
