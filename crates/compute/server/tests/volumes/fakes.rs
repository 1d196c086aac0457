//! Test doubles for the volume work: a small in-test Block Storage service
//! implementing the calls compute makes (volumes, the attachment state machine, the
//! detach guard actions, encryption metadata, snapshots) honestly enough to catch
//! wrong orders, a key manager with fixed keys, and a compute driver that records
//! volume attachments on top of the simulated driver.

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use parking_lot::Mutex;
use rustack_common::Error;
use rustack_keymgr_api::{Consumer, KeyManager, NewSecret};
use rustack_virt::sim::SimulatedDriver;
use rustack_virt::{
    ComputeDriver, HostInfo, InstanceSpec, Nic, PowerState, VirtError, VolumeAttachment,
};
use serde_json::{json, Value};

/// The fake Block Storage service's state.
#[derive(Default)]
pub struct CinderState {
    pub volumes: BTreeMap<String, Value>,
    pub attachments: BTreeMap<String, Value>,
    pub snapshots: BTreeMap<String, Value>,
    /// (method path, had a service token) of every call.
    pub calls: Vec<(String, bool)>,
    /// Fail the next attachment update with 500.
    pub fail_update: bool,
}

#[derive(Clone)]
pub struct FakeCinder {
    pub state: Arc<Mutex<CinderState>>,
    pub url: String,
}

fn fault(code: u16, kind: &str, msg: &str) -> Response {
    (
        StatusCode::from_u16(code).unwrap(),
        Json(json!({ kind: {"code": code, "message": msg} })),
    )
        .into_response()
}

fn not_found(what: &str) -> Response {
    fault(404, "itemNotFound", &format!("{what} could not be found."))
}

type S = State<Arc<Mutex<CinderState>>>;

fn record(st: &Arc<Mutex<CinderState>>, h: &HeaderMap, what: String) {
    st.lock()
        .calls
        .push((what, h.contains_key("x-service-token")));
}

impl FakeCinder {
    pub async fn start() -> FakeCinder {
        let state: Arc<Mutex<CinderState>> = Arc::default();
        let app = Router::new()
            .route("/v3/volumes", post(vol_create))
            .route("/v3/volumes/detail", get(vol_list))
            .route("/v3/volumes/{id}", get(vol_get).delete(vol_delete))
            .route("/v3/volumes/{id}/action", post(vol_action))
            .route("/v3/volumes/{id}/encryption", get(vol_encryption))
            .route("/v3/attachments", post(att_create))
            .route(
                "/v3/attachments/{id}",
                get(att_get).put(att_update).delete(att_delete),
            )
            .route("/v3/attachments/{id}/action", post(att_action))
            .route("/v3/snapshots", post(snap_create))
            .route("/v3/snapshots/detail", get(snap_list))
            .route("/v3/snapshots/{id}", get(snap_get).delete(snap_delete))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeCinder {
            state,
            url: format!("http://{addr}/v3"),
        }
    }

    /// Adds an available volume owned by `project`; returns its id.
    pub fn volume(&self, size: u64, bootable: bool, encrypted: bool, multiattach: bool) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        self.state.lock().volumes.insert(
            id.clone(),
            json!({"id": id, "status": "available", "size": size, "bootable": if bootable {"true"} else {"false"},
                "multiattach": multiattach, "encrypted": encrypted, "attachments": [], "name": "v",
                "description": null, "availability_zone": "nova", "created_at": "2026-01-01T00:00:00.000000",
                "volume_type": "__DEFAULT__", "snapshot_id": null, "metadata": {}}),
        );
        id
    }

    pub fn status(&self, id: &str) -> Option<String> {
        self.state
            .lock()
            .volumes
            .get(id)
            .map(|v| v["status"].as_str().unwrap().to_string())
    }

    pub fn attachments_of(&self, volume: &str) -> usize {
        self.state
            .lock()
            .attachments
            .values()
            .filter(|a| a["volume_id"] == volume)
            .count()
    }
}

async fn vol_create(State(st): S, h: HeaderMap, Json(b): Json<Value>) -> Response {
    record(&st, &h, "POST /volumes".into());
    let v = &b["volume"];
    let id = uuid::Uuid::new_v4().to_string();
    let doc = json!({"id": id, "status": "creating", "size": v["size"], "bootable": if v["imageRef"].is_string() {"true"} else {"false"},
        "multiattach": false, "encrypted": false, "attachments": [], "name": v["name"], "description": null,
        "availability_zone": "nova", "created_at": "2026-01-01T00:00:00.000000", "volume_type": "__DEFAULT__",
        "snapshot_id": v["snapshot_id"], "metadata": {}, "image": v["imageRef"]});
    st.lock().volumes.insert(id, doc.clone());
    (StatusCode::ACCEPTED, Json(json!({ "volume": doc }))).into_response()
}

async fn vol_list(State(st): S) -> Response {
    let v: Vec<Value> = st.lock().volumes.values().cloned().collect();
    Json(json!({ "volumes": v })).into_response()
}

async fn vol_get(State(st): S, UrlPath(id): UrlPath<String>) -> Response {
    let mut s = st.lock();
    match s.volumes.get_mut(&id) {
        Some(v) => {
            // A new volume is `creating` on its first read, then `available`.
            let out = v.clone();
            if v["status"] == "creating" {
                v["status"] = json!("available");
            }
            Json(json!({ "volume": out })).into_response()
        }
        None => not_found(&format!("Volume {id}")),
    }
}

async fn vol_delete(State(st): S, h: HeaderMap, UrlPath(id): UrlPath<String>) -> Response {
    record(&st, &h, format!("DELETE /volumes/{id}"));
    let mut s = st.lock();
    let Some(v) = s.volumes.get(&id) else {
        return not_found(&format!("Volume {id}"));
    };
    if !matches!(v["status"].as_str(), Some("available" | "error")) {
        return fault(
            400,
            "badRequest",
            "Invalid volume: Volume status must be available or error or error_restoring or error_extending or error_managing and must not be migrating, attached, belong to a group, have snapshots, awaiting a transfer, or be disassociated from snapshots after volume transfer.",
        );
    }
    s.volumes.remove(&id);
    StatusCode::ACCEPTED.into_response()
}

async fn vol_action(
    State(st): S,
    h: HeaderMap,
    UrlPath(id): UrlPath<String>,
    Json(b): Json<Value>,
) -> Response {
    let action = b
        .as_object()
        .and_then(|o| o.keys().next().cloned())
        .unwrap_or_default();
    record(&st, &h, format!("POST /volumes/{id}/action {action}"));
    let mut s = st.lock();
    let Some(v) = s.volumes.get_mut(&id) else {
        return not_found(&format!("Volume {id}"));
    };
    match action.as_str() {
        "os-begin_detaching" if v["status"] == "in-use" => v["status"] = json!("detaching"),
        "os-roll_detaching" if v["status"] == "detaching" => v["status"] = json!("in-use"),
        "os-roll_detaching" => {}
        _ => {
            return fault(
                400,
                "badRequest",
                &format!("Invalid volume: {action} in status {}", v["status"]),
            )
        }
    }
    StatusCode::ACCEPTED.into_response()
}

async fn vol_encryption(State(st): S, UrlPath(id): UrlPath<String>) -> Response {
    let s = st.lock();
    let Some(v) = s.volumes.get(&id) else {
        return not_found(&format!("Volume {id}"));
    };
    if v["encrypted"] == true {
        Json(
            json!({"encryption_key_id": format!("key-{id}"), "provider": "luks",
            "cipher": "aes-xts-plain64", "key_size": 256, "control_location": "front-end"}),
        )
        .into_response()
    } else {
        Json(json!({})).into_response()
    }
}

async fn att_create(State(st): S, h: HeaderMap, Json(b): Json<Value>) -> Response {
    record(&st, &h, "POST /attachments".into());
    let a = &b["attachment"];
    let vid = a["volume_uuid"].as_str().unwrap_or_default().to_string();
    let mut s = st.lock();
    let Some(v) = s.volumes.get_mut(&vid) else {
        return not_found(&format!("Volume {vid}"));
    };
    let ok = v["status"] == "available"
        || (v["status"] == "in-use" && v["multiattach"] == true)
        || v["status"] == "reserved" && v["multiattach"] == true;
    if !ok {
        return fault(
            400,
            "badRequest",
            &format!("Invalid volume: Volume {vid} status must be available or in-use, but current status is: {}.", v["status"]),
        );
    }
    if v["status"] == "available" {
        v["status"] = json!("reserved");
    }
    let id = uuid::Uuid::new_v4().to_string();
    let doc = json!({"id": id, "volume_id": vid, "instance": a["instance_uuid"], "status": "reserved",
        "attach_mode": "rw", "connection_info": {}});
    s.attachments.insert(id, doc.clone());
    Json(json!({ "attachment": doc })).into_response()
}

async fn att_get(State(st): S, UrlPath(id): UrlPath<String>) -> Response {
    match st.lock().attachments.get(&id) {
        Some(a) => Json(json!({ "attachment": a })).into_response(),
        None => not_found(&format!("Attachment {id}")),
    }
}

async fn att_update(
    State(st): S,
    h: HeaderMap,
    UrlPath(id): UrlPath<String>,
    Json(b): Json<Value>,
) -> Response {
    record(&st, &h, format!("PUT /attachments/{id}"));
    let mut s = st.lock();
    if std::mem::take(&mut s.fail_update) {
        return fault(500, "computeFault", "backend exploded");
    }
    let Some(a) = s.attachments.get(&id).cloned() else {
        return not_found(&format!("Attachment {id}"));
    };
    if b["attachment"]["connector"]["host"].as_str().is_none() {
        return fault(400, "badRequest", "connector without host");
    }
    let vid = a["volume_id"].as_str().unwrap().to_string();
    let enc = s.volumes[&vid]["encrypted"] == true;
    if let Some(v) = s.volumes.get_mut(&vid) {
        if v["status"] == "reserved" {
            v["status"] = json!("attaching");
        }
    }
    let ci = json!({"driver_volume_type": "file", "path": format!("/var/lib/rustack/volumes/{vid}.qcow2"),
        "format": "qcow2", "encrypted": enc, "volume_id": vid, "access_mode": "rw", "attachment_id": id,
        "live_file_access": b["attachment"]["connector"]["rustack_live_file_access"]});
    let at = s.attachments.get_mut(&id).unwrap();
    at["status"] = json!("attaching");
    at["connection_info"] = ci;
    at["connector"] = b["attachment"]["connector"].clone();
    let out = at.clone();
    Json(json!({ "attachment": out })).into_response()
}

async fn att_action(State(st): S, h: HeaderMap, UrlPath(id): UrlPath<String>) -> Response {
    record(&st, &h, format!("POST /attachments/{id}/action"));
    let mut s = st.lock();
    let Some(a) = s.attachments.get_mut(&id) else {
        return not_found(&format!("Attachment {id}"));
    };
    if a["status"] != "attaching" {
        return fault(400, "badRequest", "attachment not connected");
    }
    a["status"] = json!("attached");
    let vid = a["volume_id"].as_str().unwrap().to_string();
    let inst = a["instance"].clone();
    let v = s.volumes.get_mut(&vid).unwrap();
    v["status"] = json!("in-use");
    v["attachments"]
        .as_array_mut()
        .unwrap()
        .push(json!({"server_id": inst, "attachment_id": id, "device": "/dev/vdb"}));
    StatusCode::NO_CONTENT.into_response()
}

async fn att_delete(State(st): S, h: HeaderMap, UrlPath(id): UrlPath<String>) -> Response {
    record(&st, &h, format!("DELETE /attachments/{id}"));
    let mut s = st.lock();
    let Some(a) = s.attachments.remove(&id) else {
        return not_found(&format!("Attachment {id}"));
    };
    let vid = a["volume_id"].as_str().unwrap().to_string();
    let left = s
        .attachments
        .values()
        .any(|x| x["volume_id"] == vid.as_str());
    if let Some(v) = s.volumes.get_mut(&vid) {
        v["attachments"]
            .as_array_mut()
            .unwrap()
            .retain(|x| x["attachment_id"] != id.as_str());
        if !left {
            v["status"] = json!("available");
        }
    }
    Json(json!({})).into_response()
}

async fn snap_create(State(st): S, Json(b): Json<Value>) -> Response {
    let s0 = &b["snapshot"];
    let vid = s0["volume_id"].as_str().unwrap_or_default().to_string();
    let mut s = st.lock();
    let Some(v) = s.volumes.get(&vid) else {
        return not_found(&format!("Volume {vid}"));
    };
    if v["status"] == "in-use" && s0["force"] != true {
        return fault(400, "badRequest", "Invalid volume: must be available");
    }
    let id = uuid::Uuid::new_v4().to_string();
    let doc = json!({"id": id, "volume_id": vid, "status": "available", "size": v["size"],
        "created_at": "2026-01-01T00:00:00.000000", "name": s0["name"], "description": s0["description"]});
    s.snapshots.insert(id, doc.clone());
    (StatusCode::ACCEPTED, Json(json!({ "snapshot": doc }))).into_response()
}

async fn snap_list(State(st): S) -> Response {
    let v: Vec<Value> = st.lock().snapshots.values().cloned().collect();
    Json(json!({ "snapshots": v })).into_response()
}

async fn snap_get(State(st): S, UrlPath(id): UrlPath<String>) -> Response {
    match st.lock().snapshots.get(&id) {
        Some(s) => Json(json!({ "snapshot": s })).into_response(),
        None => not_found(&format!("Snapshot {id}")),
    }
}

async fn snap_delete(State(st): S, UrlPath(id): UrlPath<String>) -> Response {
    match st.lock().snapshots.remove(&id) {
        Some(_) => StatusCode::ACCEPTED.into_response(),
        None => not_found(&format!("Snapshot {id}")),
    }
}

/// A key manager with one fixed 32-byte key per secret id, readable by any token
/// except `"forbidden"`.
pub struct FakeKeys;

#[async_trait::async_trait]
impl KeyManager for FakeKeys {
    async fn create_key(&self, _: &str, _: &str, _: u32, _: Option<&str>) -> Result<String, Error> {
        Err(Error::internal("unused"))
    }
    async fn store(&self, _: &str, _: &NewSecret) -> Result<String, Error> {
        Err(Error::internal("unused"))
    }
    async fn get(&self, token: &str, _: &str) -> Result<Vec<u8>, Error> {
        if token == "forbidden" {
            return Err(Error::forbidden("no"));
        }
        Ok((0u8..32).collect())
    }
    async fn delete(&self, _: &str, _: &str, _: bool) -> Result<(), Error> {
        Ok(())
    }
    async fn add_consumer(&self, _: &str, _: &str, _: &Consumer) -> Result<(), Error> {
        Ok(())
    }
    async fn remove_consumer(&self, _: &str, _: &str, _: &Consumer) -> Result<(), Error> {
        Ok(())
    }
}

/// The simulated driver plus volume bookkeeping: attached volumes per guest, the
/// specs given to spawn, snapshots and extends, and a failure knob.
pub struct VolDriver {
    pub inner: Arc<SimulatedDriver>,
    pub attached: Mutex<HashMap<String, Vec<VolumeAttachment>>>,
    pub spawned: Mutex<Vec<InstanceSpec>>,
    pub snapshots: Mutex<Vec<(String, String, String)>>,
    pub extended: Mutex<Vec<(String, String, u64)>>,
    pub fail_attach: Mutex<bool>,
}

impl VolDriver {
    pub fn new(inner: Arc<SimulatedDriver>) -> Arc<VolDriver> {
        Arc::new(VolDriver {
            inner,
            attached: Mutex::default(),
            spawned: Mutex::default(),
            snapshots: Mutex::default(),
            extended: Mutex::default(),
            fail_attach: Mutex::new(false),
        })
    }

    pub fn volumes_of(&self, uuid: &str) -> Vec<VolumeAttachment> {
        self.attached.lock().get(uuid).cloned().unwrap_or_default()
    }
}

#[async_trait::async_trait]
impl ComputeDriver for VolDriver {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    async fn host_info(&self) -> Result<HostInfo, VirtError> {
        self.inner.host_info().await
    }
    async fn spawn(&self, spec: &InstanceSpec) -> Result<(), VirtError> {
        self.inner.spawn(spec).await?;
        self.spawned.lock().push(spec.clone());
        self.attached
            .lock()
            .insert(spec.uuid.clone(), spec.volumes.clone());
        Ok(())
    }
    async fn destroy(&self, uuid: &str) -> Result<(), VirtError> {
        self.attached.lock().remove(uuid);
        self.inner.destroy(uuid).await
    }
    async fn power_off(&self, uuid: &str, t: Duration) -> Result<(), VirtError> {
        self.inner.power_off(uuid, t).await
    }
    async fn power_on(&self, uuid: &str) -> Result<(), VirtError> {
        self.inner.power_on(uuid).await
    }
    async fn reboot(&self, uuid: &str, hard: bool) -> Result<(), VirtError> {
        self.inner.reboot(uuid, hard).await
    }
    async fn pause(&self, uuid: &str) -> Result<(), VirtError> {
        self.inner.pause(uuid).await
    }
    async fn unpause(&self, uuid: &str) -> Result<(), VirtError> {
        self.inner.unpause(uuid).await
    }
    async fn suspend(&self, uuid: &str) -> Result<(), VirtError> {
        self.inner.suspend(uuid).await
    }
    async fn resume(&self, uuid: &str) -> Result<(), VirtError> {
        self.inner.resume(uuid).await
    }
    async fn state(&self, uuid: &str) -> Result<PowerState, VirtError> {
        self.inner.state(uuid).await
    }
    async fn list(&self) -> Result<Vec<(String, PowerState)>, VirtError> {
        self.inner.list().await
    }
    async fn console_output(&self, uuid: &str, n: Option<usize>) -> Result<String, VirtError> {
        self.inner.console_output(uuid, n).await
    }
    async fn snapshot(&self, uuid: &str, dest: &Path) -> Result<(), VirtError> {
        self.inner.snapshot(uuid, dest).await
    }
    async fn rebuild(&self, spec: &InstanceSpec) -> Result<(), VirtError> {
        self.inner.rebuild(spec).await?;
        self.spawned.lock().push(spec.clone());
        Ok(())
    }
    async fn resize(&self, spec: &InstanceSpec) -> Result<(), VirtError> {
        self.inner.resize(spec).await?;
        self.spawned.lock().push(spec.clone());
        Ok(())
    }
    async fn attach_interface(&self, uuid: &str, nic: &Nic) -> Result<(), VirtError> {
        self.inner.attach_interface(uuid, nic).await
    }
    async fn detach_interface(&self, uuid: &str, port: &str) -> Result<(), VirtError> {
        self.inner.detach_interface(uuid, port).await
    }
    async fn attach_volume(&self, uuid: &str, v: &VolumeAttachment) -> Result<String, VirtError> {
        self.inner.state(uuid).await?;
        if std::mem::take(&mut *self.fail_attach.lock()) {
            return Err(VirtError::Unsupported("attach knob".into()));
        }
        let mut a = self.attached.lock();
        let list = a.entry(uuid.to_string()).or_default();
        if !list.iter().any(|x| x.volume_id == v.volume_id) {
            list.push(v.clone());
        }
        Ok(format!("/dev/vd{}", (b'a' + list.len() as u8) as char))
    }
    async fn detach_volume(&self, uuid: &str, volume_id: &str) -> Result<(), VirtError> {
        if let Some(l) = self.attached.lock().get_mut(uuid) {
            l.retain(|x| x.volume_id != volume_id);
        }
        Ok(())
    }
    async fn extend_volume(&self, uuid: &str, volume_id: &str, size: u64) -> Result<(), VirtError> {
        self.extended
            .lock()
            .push((uuid.into(), volume_id.into(), size));
        Ok(())
    }
    async fn volume_snapshot_create(
        &self,
        uuid: &str,
        v: &str,
        name: &str,
    ) -> Result<(), VirtError> {
        self.snapshots
            .lock()
            .push((uuid.into(), v.into(), name.into()));
        Ok(())
    }
    async fn volume_snapshot_delete(
        &self,
        uuid: &str,
        v: &str,
        name: &str,
    ) -> Result<(), VirtError> {
        self.snapshots
            .lock()
            .retain(|(u, vv, n)| !(u == uuid && vv == v && n == name));
        Ok(())
    }
    fn opens_volume_files(&self) -> bool {
        true
    }
}
