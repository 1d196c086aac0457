//! In-process harness: the Block Storage API router on a fresh database, with a fake
//! token validator of personas, an in-memory backend with failure knobs, and an
//! in-memory key manager.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::Request;
use axum::Router;
use http_body_util::BodyExt;
use rustack_api_common::{AuthContext, TokenValidator};
use rustack_block_api::{
    BackendError, Capabilities, Location, Luks, VolumeBackend, VolumeSource, VolumeSpec,
};
use rustack_block_server::{BlockConfig, BlockDeps, BlockService};
use rustack_common::Error;
use rustack_keymgr_api::{Consumer, KeyManager, NewSecret};
use serde_json::Value;
use tower::ServiceExt;

pub const P1: &str = "11111111111111111111111111111111";
pub const P2: &str = "22222222222222222222222222222222";
pub const PADMIN: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

/// Tokens: `admin` (admin of PADMIN), `member` (member+reader of P1), `reader`
/// (reader of P1), `other` (member of P2), `service` (service role; for
/// `X-Service-Token`).
pub struct Personas;

#[async_trait]
impl TokenValidator for Personas {
    async fn validate(&self, token: &str) -> Result<AuthContext, Error> {
        let (user, project, roles): (&str, &str, &[&str]) = match token {
            "admin" => (
                "a0000000000000000000000000000000",
                PADMIN,
                &["admin", "member", "reader"],
            ),
            "member" => (
                "b0000000000000000000000000000000",
                P1,
                &["member", "reader"],
            ),
            "reader" => ("c0000000000000000000000000000000", P1, &["reader"]),
            "other" => (
                "d0000000000000000000000000000000",
                P2,
                &["member", "reader"],
            ),
            "service" => (
                "e0000000000000000000000000000000",
                "ffffffffffffffffffffffffffffffff",
                &["service"],
            ),
            _ => {
                return Err(Error::unauthenticated(
                    "The request you have made requires authentication.",
                ))
            }
        };
        Ok(AuthContext {
            user_id: user.into(),
            user_name: user.into(),
            user_domain_id: "default".into(),
            project_id: Some(project.into()),
            project_name: Some(project.into()),
            project_domain_id: Some("default".into()),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            ..AuthContext::default()
        })
    }
}

/// One in-memory volume.
#[derive(Clone, Debug, Default)]
pub struct MemVolume {
    pub size_gb: u64,
    pub snapshots: BTreeSet<String>,
    pub luks: Option<String>,
    pub from: String,
}

/// An in-memory backend recording calls, with failure knobs.
#[derive(Default)]
pub struct MemBackend {
    pub volumes: Mutex<BTreeMap<String, MemVolume>>,
    pub calls: Mutex<Vec<String>>,
    pub fail_create: AtomicBool,
    pub fail_delete: AtomicBool,
}

impl MemBackend {
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().expect("lock").clone()
    }
    fn id_of(loc: &Location) -> String {
        match loc {
            Location::File { path, .. } => path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            Location::Rbd { image, .. } => image.clone(),
        }
    }
    fn call(&self, s: String) {
        self.calls.lock().expect("lock").push(s);
    }
}

#[async_trait]
impl VolumeBackend for MemBackend {
    fn name(&self) -> &str {
        "file"
    }
    async fn capabilities(&self) -> Result<Capabilities, BackendError> {
        Ok(Capabilities {
            backend_name: "file".into(),
            pool_name: "file".into(),
            vendor_name: "rustack".into(),
            driver_version: "1.0".into(),
            storage_protocol: "file".into(),
            total_capacity_gb: 1000.0,
            free_capacity_gb: 900.0,
            thin_provisioning: true,
            snapshots: true,
            multiattach: true,
        })
    }
    async fn create(
        &self,
        spec: &VolumeSpec,
        source: &VolumeSource,
        luks: Option<&Luks>,
    ) -> Result<Location, BackendError> {
        self.call(format!("create {}", spec.id));
        if self.fail_create.load(Ordering::SeqCst) {
            return Err(BackendError::Failed("injected create failure".into()));
        }
        let from = match source {
            VolumeSource::Blank => "blank".to_string(),
            VolumeSource::Image { format, .. } => format!("image:{format}"),
            VolumeSource::Snapshot { volume, name, luks } => {
                let id = Self::id_of(volume);
                let vols = self.volumes.lock().expect("lock");
                let v = vols
                    .get(&id)
                    .ok_or_else(|| BackendError::NotFound(id.clone()))?;
                if !v.snapshots.contains(name) {
                    return Err(BackendError::NotFound(name.clone()));
                }
                if v.luks.as_deref() != luks.as_ref().map(|l| l.passphrase.as_str()) {
                    return Err(BackendError::Invalid("wrong source key".into()));
                }
                format!("snapshot:{name}")
            }
            VolumeSource::Volume { volume, luks } => {
                let id = Self::id_of(volume);
                let vols = self.volumes.lock().expect("lock");
                let v = vols
                    .get(&id)
                    .ok_or_else(|| BackendError::NotFound(id.clone()))?;
                if v.luks.as_deref() != luks.as_ref().map(|l| l.passphrase.as_str()) {
                    return Err(BackendError::Invalid("wrong source key".into()));
                }
                format!("volume:{id}")
            }
        };
        let mut vols = self.volumes.lock().expect("lock");
        if vols.contains_key(&spec.id) {
            return Err(BackendError::Invalid("exists".into()));
        }
        vols.insert(
            spec.id.clone(),
            MemVolume {
                size_gb: spec.size_gb,
                snapshots: BTreeSet::new(),
                luks: luks.map(|l| l.passphrase.clone()),
                from,
            },
        );
        Ok(Location::File {
            path: PathBuf::from(format!("/mem/{}.qcow2", spec.id)),
            format: "qcow2".into(),
        })
    }
    async fn delete(&self, location: &Location) -> Result<(), BackendError> {
        let id = Self::id_of(location);
        self.call(format!("delete {id}"));
        if self.fail_delete.load(Ordering::SeqCst) {
            return Err(BackendError::Failed("injected delete failure".into()));
        }
        self.volumes.lock().expect("lock").remove(&id);
        Ok(())
    }
    async fn extend(
        &self,
        location: &Location,
        new_size_gb: u64,
        _luks: Option<&Luks>,
    ) -> Result<(), BackendError> {
        let id = Self::id_of(location);
        self.call(format!("extend {id} {new_size_gb}"));
        let mut vols = self.volumes.lock().expect("lock");
        let v = vols.get_mut(&id).ok_or(BackendError::NotFound(id))?;
        v.size_gb = new_size_gb;
        Ok(())
    }
    async fn snapshot_create(
        &self,
        location: &Location,
        name: &str,
        _luks: Option<&Luks>,
    ) -> Result<(), BackendError> {
        let id = Self::id_of(location);
        self.call(format!("snapshot_create {id} {name}"));
        let mut vols = self.volumes.lock().expect("lock");
        let v = vols.get_mut(&id).ok_or(BackendError::NotFound(id))?;
        v.snapshots.insert(name.to_string());
        Ok(())
    }
    async fn snapshot_delete(
        &self,
        location: &Location,
        name: &str,
        _luks: Option<&Luks>,
    ) -> Result<(), BackendError> {
        let id = Self::id_of(location);
        self.call(format!("snapshot_delete {id} {name}"));
        if let Some(v) = self.volumes.lock().expect("lock").get_mut(&id) {
            v.snapshots.remove(name);
        }
        Ok(())
    }
    async fn snapshot_revert(
        &self,
        location: &Location,
        name: &str,
        _luks: Option<&Luks>,
    ) -> Result<(), BackendError> {
        let id = Self::id_of(location);
        self.call(format!("snapshot_revert {id} {name}"));
        Ok(())
    }
    async fn export(
        &self,
        location: &Location,
        _luks: Option<&Luks>,
        out: &Path,
        disk_format: &str,
    ) -> Result<(), BackendError> {
        let id = Self::id_of(location);
        self.call(format!("export {id} {disk_format}"));
        std::fs::write(out, b"data").map_err(|e| BackendError::Failed(e.to_string()))
    }
    async fn usage(&self, location: &Location) -> Result<(u64, u64), BackendError> {
        let id = Self::id_of(location);
        let vols = self.volumes.lock().expect("lock");
        let v = vols.get(&id).ok_or(BackendError::NotFound(id))?;
        Ok((v.size_gb << 30, 0))
    }
    async fn list(&self) -> Result<Vec<String>, BackendError> {
        Ok(self.volumes.lock().expect("lock").keys().cloned().collect())
    }
    async fn cleanup(&self) -> Result<(), BackendError> {
        self.call("cleanup".into());
        Ok(())
    }
}

/// An in-memory key manager (secrets, consumers) for the encryption flow.
#[derive(Default)]
pub struct MemKeys {
    pub secrets: Mutex<BTreeMap<String, Vec<u8>>>,
    pub consumers: Mutex<BTreeMap<String, Vec<Consumer>>>,
}

#[async_trait]
impl KeyManager for MemKeys {
    async fn create_key(
        &self,
        token: &str,
        algorithm: &str,
        bit_length: u32,
        _name: Option<&str>,
    ) -> Result<String, Error> {
        assert!(!token.is_empty());
        assert_eq!(algorithm, "aes");
        let id = uuid::Uuid::new_v4().to_string();
        let len = usize::try_from(bit_length / 8).expect("len");
        let key: Vec<u8> = (0..len)
            .map(|i| u8::try_from(i % 251).expect("byte") ^ id.as_bytes()[0])
            .collect();
        self.secrets.lock().expect("lock").insert(id.clone(), key);
        Ok(id)
    }
    async fn store(&self, _token: &str, secret: &NewSecret) -> Result<String, Error> {
        let id = uuid::Uuid::new_v4().to_string();
        self.secrets
            .lock()
            .expect("lock")
            .insert(id.clone(), secret.payload.clone());
        Ok(id)
    }
    async fn get(&self, _token: &str, secret_id: &str) -> Result<Vec<u8>, Error> {
        self.secrets
            .lock()
            .expect("lock")
            .get(secret_id)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("Secret {secret_id} not found.")))
    }
    async fn delete(&self, _token: &str, secret_id: &str, _force: bool) -> Result<(), Error> {
        self.secrets
            .lock()
            .expect("lock")
            .remove(secret_id)
            .map(|_| ())
            .ok_or_else(|| Error::not_found("Secret not found."))
    }
    async fn add_consumer(
        &self,
        _token: &str,
        secret_id: &str,
        consumer: &Consumer,
    ) -> Result<(), Error> {
        self.consumers
            .lock()
            .expect("lock")
            .entry(secret_id.into())
            .or_default()
            .push(consumer.clone());
        Ok(())
    }
    async fn remove_consumer(
        &self,
        _token: &str,
        secret_id: &str,
        consumer: &Consumer,
    ) -> Result<(), Error> {
        if let Some(list) = self.consumers.lock().expect("lock").get_mut(secret_id) {
            list.retain(|c| c != consumer);
        }
        Ok(())
    }
}

pub struct Api {
    pub router: Router,
    pub svc: Arc<BlockService>,
    pub backend: Arc<MemBackend>,
    pub keys: Arc<MemKeys>,
    pub dir: tempfile::TempDir,
    pub url: String,
}

pub struct Resp {
    pub status: u16,
    pub headers: axum::http::HeaderMap,
    pub body: Value,
}

pub fn cfg() -> BlockConfig {
    BlockConfig {
        host: "testhost".into(),
        ..BlockConfig::default()
    }
}

pub async fn api() -> Api {
    api_with(cfg()).await
}

pub async fn api_with(cfg: BlockConfig) -> Api {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = rustack_db::fresh_test_url(dir.path(), "block")
        .await
        .expect("url");
    let backend = Arc::new(MemBackend::default());
    let keys = Arc::new(MemKeys::default());
    open(dir, url, cfg, backend, keys).await
}

/// Opens (or reopens) a service on `url` with `backend` and `keys`.
pub async fn open(
    dir: tempfile::TempDir,
    url: String,
    mut cfg: BlockConfig,
    backend: Arc<MemBackend>,
    keys: Arc<MemKeys>,
) -> Api {
    cfg.volumes_dir = Some(dir.path().join("volumes"));
    let deps = BlockDeps {
        key_manager: Some(keys.clone() as Arc<dyn KeyManager>),
        ..BlockDeps::default()
    };
    let svc = BlockService::open(
        cfg,
        &url,
        backend.clone() as Arc<dyn VolumeBackend>,
        deps,
        Arc::new(Personas),
    )
    .await
    .expect("open");
    let router = rustack_block_server::api::router(svc.clone());
    Api {
        router,
        svc,
        backend,
        keys,
        dir,
        url,
    }
}

pub const LATEST: &str = "3.71";

impl Api {
    /// A request at microversion `ver` (None = no header) as `token`.
    pub async fn req_h(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        ver: Option<&str>,
        body: Option<Value>,
        extra: &[(&str, &str)],
    ) -> Resp {
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "block.test:8776");
        if let Some(t) = token {
            b = b.header("x-auth-token", t);
        }
        if let Some(v) = ver {
            b = b.header("openstack-api-version", format!("volume {v}"));
        }
        for (k, v) in extra {
            b = b.header(*k, *v);
        }
        let req = match body {
            Some(v) => b
                .header("content-type", "application/json")
                .body(Body::from(serde_json::to_vec(&v).expect("json")))
                .expect("request"),
            None => b.body(Body::empty()).expect("request"),
        };
        let resp = self.router.clone().oneshot(req).await.expect("response");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn req(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        ver: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        self.req_h(method, path, token, ver, body, &[]).await
    }

    /// GET as `token` at the latest version.
    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.req("GET", path, Some(token), Some(LATEST), None).await
    }

    /// POST as `token` at the latest version.
    pub async fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.req("POST", path, Some(token), Some(LATEST), Some(body))
            .await
    }

    /// Creates a volume and waits until it leaves `creating`.
    pub async fn volume(&self, token: &str, body: Value) -> Value {
        let r = self
            .post("/v3/volumes", token, serde_json::json!({"volume": body}))
            .await;
        assert_eq!(r.status, 202, "{}", r.body);
        let id = r.body["volume"]["id"].as_str().expect("id").to_string();
        self.wait_volume(token, &id, |s| s != "creating").await
    }

    /// Polls a volume until `pred(status)` (deadline 10 s).
    pub async fn wait_volume(&self, token: &str, id: &str, pred: impl Fn(&str) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let r = self.get(&format!("/v3/volumes/{id}"), token).await;
            if r.status == 404 {
                return Value::Null;
            }
            let st = r.body["volume"]["status"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if pred(&st) {
                return r.body["volume"].clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "volume {id} stuck in {st}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Polls until the volume is gone (404).
    pub async fn wait_gone(&self, token: &str, path: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let r = self.get(path, token).await;
            if r.status == 404 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{path} not deleted: {}",
                r.body
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Polls a snapshot until `pred(status)`.
    pub async fn wait_snapshot(&self, token: &str, id: &str, pred: impl Fn(&str) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let r = self.get(&format!("/v3/snapshots/{id}"), token).await;
            let st = r.body["snapshot"]["status"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if pred(&st) {
                return r.body["snapshot"].clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "snapshot {id} stuck in {st}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Checks `obj`'s keys: every `required` key present, nothing outside `allowed`
/// (Tempest's `additionalProperties: false`).
pub fn check_keys(obj: &Value, required: &[&str], allowed: &[&str]) {
    let m = obj
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {obj}"));
    for r in required {
        assert!(m.contains_key(*r), "missing {r} in {obj}");
    }
    for k in m.keys() {
        assert!(
            allowed.contains(&k.as_str()) || required.contains(&k.as_str()),
            "unexpected {k} in {obj}"
        );
    }
}
