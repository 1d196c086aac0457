//! `TestCloud`: the whole control plane started in-process, the way `rustack up` starts
//! it, on a temp data dir and free ports, for integration tests of every service. With
//! `RUSTACK_TEST_POSTGRES_URL` set, service databases are fresh PostgreSQL databases
//! instead of SQLite files.
//!
//! Also small HTTP helpers that return `(status, headers, json)` so tests read like the
//! API reference.

#![allow(clippy::unwrap_used)]

use std::net::IpAddr;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use rustack::cloud::{self, CloudOptions, RunningCloud};
use rustack::config::RustackConfig;
use serde_json::{json, Value};

/// An in-process cloud for tests.
pub struct TestCloud {
    /// The running services.
    pub cloud: RunningCloud,
    /// HTTP client (no proxy, loopback only).
    pub http: reqwest::Client,
    dir: tempfile::TempDir,
}

/// A response as tests look at it.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub raw: String,
}

impl Resp {
    /// A header's value as text ("" if absent).
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    }
}

impl TestCloud {
    /// Starts a cloud with test defaults (bcrypt cost 4, ports chosen by the OS).
    pub async fn start() -> TestCloud {
        Self::start_with(|_| {}).await
    }

    /// Starts a cloud after letting `tweak` adjust the configuration.
    pub async fn start_with(tweak: impl FnOnce(&mut RustackConfig)) -> TestCloud {
        let dir = tempfile::tempdir().unwrap();
        let mut config = RustackConfig::default();
        config.identity.bcrypt_cost = 4;
        // Tests never touch the real host's network (the agent tests use a fake host).
        config.network.data_plane = rustack::config::DataPlaneMode::Off;
        config.compute.driver = "simulated".into();
        config.identity.database_url = Some(
            rustack_db::fresh_test_url(dir.path(), "identity")
                .await
                .unwrap(),
        );
        tweak(&mut config);
        Self::start_in(dir, config).await
    }

    /// Starts a cloud on an existing data dir (restart tests).
    pub async fn start_in(dir: tempfile::TempDir, config: RustackConfig) -> TestCloud {
        let cloud = cloud::start(CloudOptions {
            data_dir: dir.path().join("data"),
            bind: IpAddr::from([127, 0, 0, 1]),
            identity_port: Some(0),
            image_port: Some(0),
            network_port: Some(0),
            placement_port: Some(0),
            compute_port: Some(0),
            block_storage_port: Some(0),
            key_manager_port: Some(0),
            config,
        })
        .await
        .unwrap();
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        TestCloud { cloud, http, dir }
    }

    /// Stops the cloud, returning the data dir for a restart.
    pub async fn stop(self) -> tempfile::TempDir {
        self.cloud.shutdown().await;
        self.dir
    }

    /// The data dir.
    pub fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    /// `http://127.0.0.1:port` of the Identity API.
    pub fn identity_url(&self) -> &str {
        &self.cloud.identity_url
    }

    /// `http://127.0.0.1:port` of the Placement API.
    pub fn placement_url(&self) -> &str {
        &self.cloud.placement_url
    }

    /// `http://127.0.0.1:port` of the Compute API (append `/v2.1`).
    pub fn compute_url(&self) -> &str {
        &self.cloud.compute_url
    }

    /// Sends a request to the Identity API; `path` starts with `/`.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        self.call_with(method, path, token, body, &[]).await
    }

    /// Like [`call`](Self::call) with extra headers.
    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut req = self
            .http
            .request(method, format!("{}{}", self.identity_url(), path));
        if let Some(t) = token {
            req = req.header("X-Auth-Token", t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        let raw = r.text().await.unwrap();
        let body = serde_json::from_str(&raw).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            raw,
        }
    }

    /// Sends a raw body with a content type.
    pub async fn call_raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: &str,
    ) -> Resp {
        let mut req = self
            .http
            .request(method, format!("{}{}", self.identity_url(), path))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(t) = token {
            req = req.header("X-Auth-Token", t);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        let raw = r.text().await.unwrap();
        let body = serde_json::from_str(&raw).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            raw,
        }
    }

    /// Issues a password token; `scope` is the `scope` object or `None` for unscoped.
    pub async fn password_token(
        &self,
        user_id: &str,
        password: &str,
        scope: Option<Value>,
    ) -> Resp {
        let mut auth = json!({"identity": {"methods": ["password"], "password": {"user": {"id": user_id, "password": password}}}});
        if let Some(s) = scope {
            auth["scope"] = s;
        }
        self.call(
            Method::POST,
            "/v3/auth/tokens",
            None,
            Some(json!({ "auth": auth })),
        )
        .await
    }

    /// A project-scoped admin token (the bootstrap admin on project `admin`).
    pub async fn admin_token(&self) -> String {
        let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "domain": {"name": "Default"}, "password": self.cloud.admin_password}}},
                                   "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}});
        let r = self
            .call(Method::POST, "/v3/auth/tokens", None, Some(body))
            .await;
        assert_eq!(r.status, 201, "admin token: {}", r.raw);
        r.header("x-subject-token")
    }

    /// A system-scoped admin token.
    pub async fn system_admin_token(&self) -> String {
        let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "domain": {"name": "Default"}, "password": self.cloud.admin_password}}},
                                   "scope": {"system": {"all": true}}}});
        let r = self
            .call(Method::POST, "/v3/auth/tokens", None, Some(body))
            .await;
        assert_eq!(r.status, 201, "system token: {}", r.raw);
        r.header("x-subject-token")
    }

    /// Id of a global role by name.
    pub async fn role_id(&self, admin: &str, name: &str) -> String {
        let r = self
            .call(
                Method::GET,
                &format!("/v3/roles?name={name}"),
                Some(admin),
                None,
            )
            .await;
        r.body["roles"][0]["id"].as_str().unwrap().to_string()
    }

    /// Creates a project in the Default domain; returns its id.
    pub async fn create_project(&self, admin: &str, name: &str) -> String {
        let r = self
            .call(
                Method::POST,
                "/v3/projects",
                Some(admin),
                Some(json!({"project": {"name": name, "domain_id": "default"}})),
            )
            .await;
        assert_eq!(r.status, 201, "create project: {}", r.raw);
        r.body["project"]["id"].as_str().unwrap().to_string()
    }

    /// Creates a user with a password; returns its id.
    pub async fn create_user(&self, admin: &str, name: &str, password: &str) -> String {
        let r = self
            .call(
                Method::POST,
                "/v3/users",
                Some(admin),
                Some(json!({"user": {"name": name, "password": password, "domain_id": "default"}})),
            )
            .await;
        assert_eq!(r.status, 201, "create user: {}", r.raw);
        r.body["user"]["id"].as_str().unwrap().to_string()
    }

    /// Grants `role` (by name) to a user on a project.
    pub async fn grant(&self, admin: &str, project: &str, user: &str, role: &str) {
        let rid = self.role_id(admin, role).await;
        let r = self
            .call(
                Method::PUT,
                &format!("/v3/projects/{project}/users/{user}/roles/{rid}"),
                Some(admin),
                None,
            )
            .await;
        assert_eq!(r.status, 204, "grant: {}", r.raw);
    }

    /// A user with `role` on a new project: returns (user id, project id, token).
    pub async fn persona(
        &self,
        admin: &str,
        name: &str,
        role: &str,
        project: Option<&str>,
    ) -> (String, String, String) {
        let project = match project {
            Some(p) => p.to_string(),
            None => self.create_project(admin, &format!("{name}-project")).await,
        };
        let user = self.create_user(admin, name, "pw-secret").await;
        self.grant(admin, &project, &user, role).await;
        let r = self
            .password_token(
                &user,
                "pw-secret",
                Some(json!({"project": {"id": project}})),
            )
            .await;
        assert_eq!(r.status, 201, "persona token: {}", r.raw);
        (user, project, r.header("x-subject-token"))
    }
}
