//! A compute service with the servers work over the in-process cloud (identity, image,
//! network, placement from `TestCloud`), one simulated compute host whose driver the
//! tests keep for failure and delay knobs, and helpers to make projects, networks,
//! images, flavors and servers.

#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use rustack_compute_server::servers::{Servers, ServersConfig};
use rustack_compute_server::{Compute, ComputeConfig};
use rustack_identity_api::ServiceCredentials;
use rustack_placement_api::client::PlacementClient;
use rustack_test_utils::TestCloud;
use rustack_virt::sim::{SimConfig, SimulatedDriver};
use serde_json::{json, Value};

pub struct Harness {
    pub cloud: TestCloud,
    pub compute: Arc<Compute>,
    pub servers: Arc<Servers>,
    pub driver: Arc<SimulatedDriver>,
    pub url: String,
    pub admin: String,
    pub http: reqwest::Client,
    pub placement: PlacementClient,
    _trigger: rustack_runtime::ShutdownTrigger,
    _dir: tempfile::TempDir,
}

pub struct Project {
    pub user: String,
    pub id: String,
    pub token: String,
    pub network: String,
}

fn nova_password(data_dir: &std::path::Path) -> String {
    let text = std::fs::read_to_string(data_dir.join("passwords.yml")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("nova_keystone_password:"))
        .map(|p| p.trim().trim_matches('"').trim_matches('\'').to_string())
        .expect("nova password")
}

pub async fn harness() -> Harness {
    harness_with(SimConfig::default(), 3).await
}

pub async fn harness_with(mut sim: SimConfig, attempts: u32) -> Harness {
    // The cloud runs its own simulated host (`sim-host`) in Placement: use another name.
    sim.hostname = "test-host".into();
    let cloud = TestCloud::start().await;
    let dir = tempfile::tempdir().unwrap();
    let url = rustack_db::fresh_test_url(dir.path(), "compute")
        .await
        .unwrap();
    let cfg = ComputeConfig {
        host: Some(sim.hostname.clone()),
        reserved_host_memory_mb: 0,
        cpu_allocation_ratio: 1.0,
        ..ComputeConfig::default()
    };
    let compute = Compute::open(cfg, &url).await.unwrap();
    let driver = Arc::new(SimulatedDriver::new(sim));
    compute.set_driver(driver.clone());
    let creds = ServiceCredentials {
        username: "nova".into(),
        password: nova_password(&cloud.data_dir()),
        domain_name: "Default".into(),
        project_name: "service".into(),
    };
    let servers = Servers::new(
        compute.clone(),
        ServersConfig {
            identity_url: cloud.identity_url().to_string(),
            network_url: cloud.cloud.network_url.clone(),
            image_url: cloud.cloud.image_url.clone(),
            placement_url: cloud.placement_url().to_string(),
            service_credentials: creds.clone(),
            state_dir: dir.path().join("state"),
            max_build_attempts: attempts,
            sync_interval: Duration::from_secs(3600),
        },
    )
    .unwrap();
    compute.set_servers(servers.clone());
    // Register the host in Placement as the compute service does at start.
    let placement = PlacementClient::new(cloud.placement_url()).unwrap();
    let token = rustack_identity_api::IdentityClient::new(cloud.identity_url())
        .unwrap()
        .password_token(&creds)
        .await
        .unwrap()
        .id;
    placement.set_token(token);
    let node = compute
        .register_compute_host(driver.as_ref())
        .await
        .unwrap();
    compute.report_node(&placement, &node, 0).await.unwrap();
    let (trigger, shutdown) = rustack_runtime::shutdown_channel();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let validator: Arc<dyn rustack_api_common::TokenValidator> = cloud.cloud.identity.clone();
    let running =
        rustack_compute_server::run(compute.clone(), validator, listener, shutdown.clone())
            .unwrap();
    servers.start_background(shutdown);
    let admin = cloud.admin_token().await;
    Harness {
        url: format!("http://{}", running.addr),
        compute,
        servers,
        driver,
        admin,
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
        placement,
        cloud,
        _trigger: trigger,
        _dir: dir,
    }
}

pub struct R {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Harness {
    /// The servers work's state directory (`images/` is its image cache).
    pub fn state_dir(&self) -> std::path::PathBuf {
        self._dir.path().join("state")
    }

    pub async fn raw(
        &self,
        m: Method,
        url: String,
        token: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> R {
        let mut r = self.http.request(m, url).header("x-auth-token", token);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        R {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            headers,
        }
    }

    /// A Compute API call (`path` after `/v2.1`).
    pub async fn nova(&self, m: Method, path: &str, token: &str, body: Option<Value>) -> R {
        self.raw(m, format!("{}/v2.1{path}", self.url), token, body, &[])
            .await
    }

    pub async fn nova_v(
        &self,
        v: &str,
        m: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> R {
        self.raw(
            m,
            format!("{}/v2.1{path}", self.url),
            token,
            body,
            &[("x-openstack-nova-api-version", v)],
        )
        .await
    }

    pub async fn neutron(&self, m: Method, path: &str, token: &str, body: Option<Value>) -> R {
        self.raw(
            m,
            format!("{}/v2.0{path}", self.cloud.cloud.network_url),
            token,
            body,
            &[],
        )
        .await
    }

    pub async fn glance(&self, m: Method, path: &str, token: &str, body: Option<Value>) -> R {
        self.raw(
            m,
            format!("{}/v2{path}", self.cloud.cloud.image_url),
            token,
            body,
            &[],
        )
        .await
    }

    /// A project with a member user and a network with a subnet.
    pub async fn project(&self, name: &str) -> Project {
        let (user, id, token) = self.cloud.persona(&self.admin, name, "member", None).await;
        let r = self
            .neutron(
                Method::POST,
                "/networks",
                &token,
                Some(json!({"network": {"name": format!("{name}-net")}})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let network = r.body["network"]["id"].as_str().unwrap().to_string();
        let r = self
            .neutron(Method::POST, "/subnets", &token, Some(json!({"subnet": {"network_id": network, "cidr": "10.20.0.0/24", "ip_version": 4}})))
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        Project {
            user,
            id,
            token,
            network,
        }
    }

    /// A public raw image with a few bytes; returns its id.
    pub async fn image(&self, name: &str) -> String {
        let r = self
            .glance(Method::POST, "/images", &self.admin, Some(json!({"name": name, "disk_format": "raw", "container_format": "bare", "visibility": "public"})))
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let id = r.body["id"].as_str().unwrap().to_string();
        let resp = self
            .http
            .put(format!(
                "{}/v2/images/{id}/file",
                self.cloud.cloud.image_url
            ))
            .header("x-auth-token", &self.admin)
            .header("content-type", "application/octet-stream")
            .body(vec![7u8; 4096])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 204);
        id
    }

    /// A public flavor; returns its id.
    pub async fn flavor(&self, id: &str, vcpus: u32, ram: u64, disk: u64) -> String {
        let r = self
            .nova(Method::POST, "/flavors", &self.admin, Some(json!({"flavor": {"name": format!("f{id}"), "id": id, "vcpus": vcpus, "ram": ram, "disk": disk}})))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        id.to_string()
    }

    pub async fn boot(&self, p: &Project, name: &str, image: &str, flavor: &str) -> R {
        self.nova(
            Method::POST,
            "/servers",
            &p.token,
            Some(json!({"server": {"name": name, "imageRef": image, "flavorRef": flavor, "networks": [{"uuid": p.network}]}})),
        )
        .await
    }

    /// Polls the server until its status is `want` with no task (panics on timeout).
    pub async fn wait_status(&self, token: &str, id: &str, want: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let r = self
                .nova(Method::GET, &format!("/servers/{id}"), token, None)
                .await;
            if r.status == 200
                && r.body["server"]["status"] == want
                && r.body["server"]["OS-EXT-STS:task_state"].is_null()
            {
                return r.body["server"].clone();
            }
            assert!(
                Instant::now() < deadline,
                "server {id} never reached {want}: {} {}",
                r.status,
                r.body
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn wait_gone(&self, token: &str, id: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let r = self
                .nova(Method::GET, &format!("/servers/{id}"), token, None)
                .await;
            if r.status == 404 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "server {id} never went away: {}",
                r.body
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Ports whose device is `id` (as admin).
    pub async fn ports_of(&self, id: &str) -> Vec<Value> {
        let r = self
            .neutron(
                Method::GET,
                &format!("/ports?device_id={id}"),
                &self.admin,
                None,
            )
            .await;
        r.body["ports"].as_array().cloned().unwrap_or_default()
    }

    /// The simulated host's resource provider.
    pub async fn placement_provider(&self) -> String {
        let mut c = self.compute.conn().await.unwrap();
        rustack_compute_server::servers::store::core::nodes(&mut c)
            .await
            .unwrap()[0]
            .uuid
            .clone()
    }

    /// The server's allocations in Placement.
    pub async fn allocations_of(&self, id: &str) -> usize {
        self.placement
            .get_allocations(id)
            .await
            .map(|a| a.allocations.len())
            .unwrap_or(0)
    }
}
