//! In-process harness: the Key Manager API router on a fresh database (SQLite, or
//! PostgreSQL with `RUSTACK_TEST_POSTGRES_URL`) and a fresh master KEK, with a fake
//! token validator of personas.

#![allow(dead_code)]

use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::Request;
use axum::Router;
use http_body_util::BodyExt;
use rustack_api_common::{AuthContext, TokenValidator};
use rustack_common::Error;
use rustack_keymgr_server::{KeyManagerConfig, KeyManagerService};
use serde_json::{json, Value};
use tower::ServiceExt;

/// Tokens: `admin` (admin of `padmin`), `member` (alice, member+reader of `p1`),
/// `member2` (bob, member+reader of `p1`), `reader` (rita, reader of `p1`), `other`
/// (eve, member+reader of `p2`).
pub struct Personas;

#[async_trait]
impl TokenValidator for Personas {
    async fn validate(&self, token: &str) -> Result<AuthContext, Error> {
        let (user, project, roles): (&str, &str, &[&str]) = match token {
            "admin" => ("root", "padmin", &["admin", "member", "reader"]),
            "p1admin" => ("pa", "p1", &["admin", "member", "reader"]),
            "member" => ("alice", "p1", &["member", "reader"]),
            "member2" => ("bob", "p1", &["member", "reader"]),
            "reader" => ("rita", "p1", &["reader"]),
            "other" => ("eve", "p2", &["member", "reader"]),
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

pub struct Api {
    pub router: Router,
    pub svc: Arc<KeyManagerService>,
    pub dir: tempfile::TempDir,
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: axum::http::HeaderMap,
    pub bytes: Vec<u8>,
    pub body: Value,
}

pub async fn api() -> Api {
    api_with(KeyManagerConfig::default()).await
}

pub async fn api_with(cfg: KeyManagerConfig) -> Api {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = rustack_db::fresh_test_url(dir.path(), "keymgr")
        .await
        .expect("url");
    let svc = KeyManagerService::open(cfg, &url, &dir.path().join("kek"), Arc::new(Personas))
        .await
        .expect("open");
    let router = rustack_keymgr_server::api::router(svc.clone());
    Api { router, svc, dir }
}

/// One request.
pub struct Req<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub token: Option<&'a str>,
    pub version: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub accept: Option<&'a str>,
    pub extra: Vec<(&'a str, &'a str)>,
    pub body: Vec<u8>,
}

impl<'a> Req<'a> {
    pub fn new(method: &'a str, path: &'a str, token: &'a str) -> Self {
        Req {
            method,
            path,
            token: Some(token),
            version: None,
            content_type: None,
            accept: None,
            extra: Vec::new(),
            body: Vec::new(),
        }
    }
    pub fn json(mut self, v: Value) -> Self {
        self.content_type = Some("application/json");
        self.body = serde_json::to_vec(&v).expect("json");
        self
    }
    pub fn raw(mut self, ct: &'a str, body: &[u8]) -> Self {
        self.content_type = Some(ct);
        self.body = body.to_vec();
        self
    }
    pub fn version(mut self, v: &'a str) -> Self {
        self.version = Some(v);
        self
    }
    pub fn accept(mut self, a: &'a str) -> Self {
        self.accept = Some(a);
        self
    }
    pub fn header(mut self, k: &'a str, v: &'a str) -> Self {
        self.extra.push((k, v));
        self
    }
    pub fn anonymous(mut self) -> Self {
        self.token = None;
        self
    }
}

impl Api {
    pub async fn send(&self, r: Req<'_>) -> Resp {
        let mut b = Request::builder()
            .method(r.method)
            .uri(r.path)
            .header("host", "km.example:9311");
        if let Some(t) = r.token {
            b = b.header("x-auth-token", t);
        }
        if let Some(v) = r.version {
            b = b.header("openstack-api-version", format!("key-manager {v}"));
        }
        if let Some(c) = r.content_type {
            b = b.header("content-type", c);
        }
        if let Some(a) = r.accept {
            b = b.header("accept", a);
        }
        for (k, v) in r.extra {
            b = b.header(k, v);
        }
        let req = b.body(Body::from(r.body)).expect("request");
        let resp = self.router.clone().oneshot(req).await.expect("response");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            bytes,
            body,
        }
    }

    /// A JSON call as `token` (no microversion header).
    pub async fn call(&self, token: &str, method: &str, path: &str, body: Option<Value>) -> Resp {
        let mut r = Req::new(method, path, token);
        if let Some(b) = body {
            r = r.json(b);
        }
        self.send(r).await
    }

    /// Stores a text secret as `token`; its id.
    pub async fn secret(&self, token: &str, name: &str, payload: &str) -> String {
        let r = self
            .call(
                token,
                "POST",
                "/v1/secrets",
                Some(
                    json!({"name": name, "payload": payload, "payload_content_type": "text/plain"}),
                ),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        id_of(&r.body["secret_ref"])
    }
}

/// The UUID at the end of a ref.
pub fn id_of(r: &Value) -> String {
    let s = r.as_str().expect("ref");
    assert!(s.starts_with("http://km.example:9311/v1/"), "{s}");
    s.rsplit('/').next().expect("id").to_owned()
}

/// Barbican's fault description.
pub fn desc(r: &Resp) -> &str {
    r.body["description"].as_str().unwrap_or("")
}

/// The full ref of a secret as the harness's `Host` sees it.
pub fn href(id: &str) -> String {
    format!("http://km.example:9311/v1/secrets/{id}")
}
