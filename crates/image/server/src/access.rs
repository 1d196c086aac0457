//! Who may see and change what, decided the way Glance decides it: first the DB
//! layer's visibility (`glance/db/utils.py:is_image_visible`: admins, owners, public
//! and community images, and members of shared images see an image), then the
//! policy rule through `ImageAPIPolicy`, which turns a refusal into 404 when the
//! caller may not even `get_image` the image, so the existence of images the caller
//! cannot see never leaks.
//!
//! Policy targets are Glance's `ImageTarget`: the image's attributes and properties
//! with `project_id` = owner and `member_id` = the caller's project when the image is
//! shared with it.

use rustack_api_common::AuthContext;
use rustack_common::Error;
use serde_json::{json, Map, Value};

use crate::store::ImageRecord;
use crate::ImageService;

/// The caller of one request.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The validated token.
    pub ctx: AuthContext,
    /// Whether `context_is_admin` holds (Glance's `context.is_admin`).
    pub is_admin: bool,
}

impl Caller {
    /// The caller's project (Glance's `context.owner`).
    pub fn project(&self) -> Option<&str> {
        self.ctx.project_id.as_deref()
    }
}

/// Glance's message for a refused policy rule.
pub fn forbidden(rule: &str) -> Error {
    Error::forbidden(format!("You are not authorized to complete {rule} action."))
}

/// Glance's message for an image that does not exist or may not be seen.
pub fn image_not_found(id: &str) -> Error {
    Error::not_found(format!("No image found with ID {id}"))
}

impl ImageService {
    /// Builds the caller from a validated token.
    pub fn caller(&self, ctx: AuthContext) -> Caller {
        let is_admin = self.check(&ctx, "context_is_admin", &json!({}));
        Caller { ctx, is_admin }
    }

    fn creds(ctx: &AuthContext) -> Value {
        ctx.policy_creds()
    }

    /// Evaluates `rule`; a token of the wrong scope simply fails it.
    pub fn check(&self, ctx: &AuthContext, rule: &str, target: &Value) -> bool {
        match self.enforcer.enforce(rule, target, &Self::creds(ctx)) {
            Ok(v) => v,
            Err(rustack_policy::PolicyError::InvalidScope { .. }) => false,
            Err(e) => {
                tracing::error!(policy.rule = rule, error = %e, "policy evaluation failed");
                false
            }
        }
    }

    /// Enforces `rule` against a target that is not an existing image (403 when refused).
    pub fn enforce(&self, caller: &Caller, rule: &str, target: &Value) -> Result<(), Error> {
        if self.check(&caller.ctx, rule, target) {
            Ok(())
        } else {
            Err(forbidden(rule))
        }
    }

    /// Glance's `ImageTarget` for `img` as seen by `caller`.
    pub fn image_target(caller: &Caller, img: &ImageRecord) -> Value {
        let member = match (img.visibility, caller.project(), img.owner.as_deref()) {
            (rustack_image_api::Visibility::Shared, Some(p), owner) if owner != Some(p) => {
                Value::String(p.to_string())
            }
            _ => Value::Null,
        };
        let mut t: Map<String, Value> = img
            .properties
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        let base = json!({
            "id": img.id,
            "image_id": img.id,
            "name": img.name,
            "status": img.status.as_str(),
            "visibility": img.visibility.as_str(),
            "owner": img.owner,
            "project_id": img.owner,
            "member": member,
            "member_id": member,
            "protected": img.protected,
            "os_hidden": img.os_hidden,
            "disk_format": img.disk_format,
            "container_format": img.container_format,
            "min_ram": img.min_ram,
            "min_disk": img.min_disk,
            "size": img.size,
            "checksum": img.checksum,
            "tags": img.tags.iter().collect::<Vec<_>>(),
        });
        if let Value::Object(b) = base {
            t.extend(b);
        }
        Value::Object(t)
    }

    /// Glance's DB-layer visibility check.
    pub async fn is_visible(&self, caller: &Caller, img: &ImageRecord) -> Result<bool, Error> {
        use rustack_image_api::Visibility::*;
        if caller.is_admin || img.owner.is_none() {
            return Ok(true);
        }
        if matches!(img.visibility, Public | Community) {
            return Ok(true);
        }
        let Some(p) = caller.project() else {
            return Ok(false);
        };
        if img.owner.as_deref() == Some(p) {
            return Ok(true);
        }
        if img.visibility == Shared {
            return Ok(self.store.member_get(&img.id, p).await?.is_some());
        }
        Ok(false)
    }

    /// The image `id` if the caller may see it (DB visibility and `get_image`), else
    /// 404 with Glance's message.
    pub async fn visible_image(&self, caller: &Caller, id: &str) -> Result<ImageRecord, Error> {
        let img = self
            .store
            .image_get(id)
            .await?
            .ok_or_else(|| image_not_found(id))?;
        if !self.is_visible(caller, &img).await?
            || !self.check(&caller.ctx, "get_image", &Self::image_target(caller, &img))
        {
            return Err(image_not_found(id));
        }
        Ok(img)
    }

    /// Enforces `rule` on a visible image: 404 if the caller may not `get_image` it,
    /// 403 (with `message`, or Glance's default) otherwise.
    pub fn enforce_image(
        &self,
        caller: &Caller,
        img: &ImageRecord,
        rule: &str,
        message: Option<String>,
    ) -> Result<(), Error> {
        let target = Self::image_target(caller, img);
        if self.check(&caller.ctx, rule, &target) {
            return Ok(());
        }
        if !self.check(&caller.ctx, "get_image", &target) {
            return Err(image_not_found(&img.id));
        }
        Err(message
            .map(Error::forbidden)
            .unwrap_or_else(|| forbidden(rule)))
    }
}
