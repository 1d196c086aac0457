//! Test harness: the image service started in-process on port 0 with a temporary
//! database and store, and a static token validator with one token per persona.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use rustack_api_common::{AuthContext, TokenValidator};
use rustack_common::Error;
use rustack_image_api::ImageConfig;
use rustack_image_server::ImageService;
use serde_json::{json, Value};

/// Tokens by persona.
pub const ADMIN: &str = "tok-admin";
pub const ALICE: &str = "tok-alice";
pub const ALICE_READER: &str = "tok-alice-reader";
pub const BOB: &str = "tok-bob";
pub const CAROL: &str = "tok-carol";
pub const SYSTEM: &str = "tok-system";

pub const P_ADMIN: &str = "p-admin";
pub const P_A: &str = "p-alice";
pub const P_B: &str = "p-bob";
pub const P_C: &str = "p-carol";

struct StaticTokens(HashMap<String, AuthContext>);

#[async_trait]
impl TokenValidator for StaticTokens {
    async fn validate(&self, token: &str) -> Result<AuthContext, Error> {
        self.0.get(token).cloned().ok_or_else(|| {
            Error::unauthenticated("The request you have made requires authentication.")
        })
    }
}

fn ctx(user: &str, project: Option<&str>, roles: &[&str]) -> AuthContext {
    AuthContext {
        user_id: user.into(),
        user_name: user.into(),
        user_domain_id: "default".into(),
        project_id: project.map(str::to_string),
        project_domain_id: project.map(|_| "default".to_string()),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        system_scope: if project.is_none() {
            Some("all".into())
        } else {
            None
        },
        ..AuthContext::default()
    }
}

/// A running image service.
pub struct Svc {
    pub url: String,
    /// The database URL (SQLite in the state dir, or a fresh PostgreSQL database
    /// with `RUSTACK_TEST_POSTGRES_URL`).
    pub db_url: String,
    pub http: reqwest::Client,
    pub service: Arc<ImageService>,
    pub dir: tempfile::TempDir,
    pub addr: std::net::SocketAddr,
    trigger: rustack_runtime::ShutdownTrigger,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

pub fn validator() -> Arc<dyn TokenValidator> {
    let mut m = HashMap::new();
    m.insert(
        ADMIN.to_string(),
        ctx("admin", Some(P_ADMIN), &["admin", "member", "reader"]),
    );
    m.insert(
        ALICE.to_string(),
        ctx("alice", Some(P_A), &["member", "reader"]),
    );
    m.insert(
        ALICE_READER.to_string(),
        ctx("alice-r", Some(P_A), &["reader"]),
    );
    m.insert(
        BOB.to_string(),
        ctx("bob", Some(P_B), &["member", "reader"]),
    );
    m.insert(
        CAROL.to_string(),
        ctx("carol", Some(P_C), &["member", "reader"]),
    );
    m.insert(
        SYSTEM.to_string(),
        ctx("sys", None, &["admin", "member", "reader"]),
    );
    Arc::new(StaticTokens(m))
}

/// Starts a service with `cfg` in a fresh directory.
pub async fn start_with(cfg: ImageConfig) -> Svc {
    let dir = tempfile::tempdir().expect("tempdir");
    let db_url = rustack_db::fresh_test_url(dir.path(), "image")
        .await
        .expect("test database");
    start_in(cfg, dir, db_url).await
}

/// Starts a service with `cfg` on the state in `dir` and `db_url` (restarts keep
/// the state).
pub async fn start_in(cfg: ImageConfig, dir: tempfile::TempDir, db_url: String) -> Svc {
    let service = ImageService::open(cfg, &db_url, dir.path().join("images"), validator())
        .await
        .expect("open image service");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let (trigger, shutdown) = rustack_runtime::shutdown_channel();
    let running = rustack_image_server::run(service.clone(), listener, shutdown).expect("run");
    Svc {
        url: format!("http://{}", running.addr),
        db_url,
        http: reqwest::Client::new(),
        service,
        dir,
        addr: running.addr,
        trigger,
        task: running.task,
    }
}

pub async fn start() -> Svc {
    start_with(ImageConfig::default()).await
}

impl Svc {
    /// Stops the server and returns its state directory.
    pub async fn stop(self) -> (tempfile::TempDir, String) {
        self.trigger.trigger();
        let _ = self.task.await;
        self.service.store().db().close().await;
        (self.dir, self.db_url)
    }

    pub fn req(
        &self,
        method: reqwest::Method,
        token: Option<&str>,
        path: &str,
    ) -> reqwest::RequestBuilder {
        let mut r = self.http.request(method, format!("{}{}", self.url, path));
        if let Some(t) = token {
            r = r.header("x-auth-token", t);
        }
        r
    }

    pub async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        send(self.req(reqwest::Method::GET, Some(token), path)).await
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        send(
            self.req(reqwest::Method::POST, Some(token), path)
                .json(&body),
        )
        .await
    }

    pub async fn delete(&self, token: &str, path: &str) -> u16 {
        send(self.req(reqwest::Method::DELETE, Some(token), path))
            .await
            .0
    }

    pub async fn put(&self, token: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self.req(reqwest::Method::PUT, Some(token), path);
        if let Some(b) = body {
            r = r.json(&b);
        }
        send(r).await
    }

    /// PATCH with the v2.1 (RFC 6902) dialect.
    pub async fn patch(&self, token: &str, id: &str, ops: Value) -> (u16, Value) {
        send(
            self.req(
                reqwest::Method::PATCH,
                Some(token),
                &format!("/v2/images/{id}"),
            )
            .header(
                "content-type",
                "application/openstack-images-v2.1-json-patch",
            )
            .body(ops.to_string()),
        )
        .await
    }

    /// Creates an image; panics unless 201.
    pub async fn create(&self, token: &str, body: Value) -> Value {
        let (s, v) = self.post(token, "/v2/images", body).await;
        assert_eq!(s, 201, "create: {v}");
        v
    }

    /// Creates a raw/bare image with `extra` fields.
    pub async fn create_raw(&self, token: &str, extra: Value) -> String {
        let mut body = json!({"name": "img", "disk_format": "raw", "container_format": "bare"});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        self.create(token, body).await["id"]
            .as_str()
            .expect("id")
            .to_string()
    }

    /// Uploads `data` in one request; returns the status.
    pub async fn upload(&self, token: &str, id: &str, data: Vec<u8>) -> u16 {
        self.req(
            reqwest::Method::PUT,
            Some(token),
            &format!("/v2/images/{id}/file"),
        )
        .header("content-type", "application/octet-stream")
        .body(data)
        .send()
        .await
        .expect("send")
        .status()
        .as_u16()
    }

    /// Downloads an image's data: status and bytes.
    pub async fn download(&self, token: &str, id: &str) -> (u16, Vec<u8>) {
        let r = self
            .req(
                reqwest::Method::GET,
                Some(token),
                &format!("/v2/images/{id}/file"),
            )
            .send()
            .await
            .expect("send");
        let s = r.status().as_u16();
        (s, r.bytes().await.expect("body").to_vec())
    }

    /// Polls the image until `status` (or panics after 10 s).
    pub async fn wait_status(&self, token: &str, id: &str, status: &str) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let (_, v) = self.get(token, &format!("/v2/images/{id}")).await;
            if v["status"] == status {
                return v;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "image {id} never became {status}: {v}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

pub async fn send(r: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = r.send().await.expect("send");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("text");
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, v)
}

/// Deterministic pseudo-random bytes.
pub fn data(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}
