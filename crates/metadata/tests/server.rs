//! The metadata API against a fake instance source: every path of both trees, Nova's
//! listing semantics, the signature and header checks.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use rustack_metadata::network_data::{network_data, PortInfo, PortSubnet};
use rustack_metadata::sign::sign;
use rustack_metadata::{InstanceMetadata, InstanceSource, KeyPair, MetadataConfig, SourceError};
use serde_json::{json, Value};
use tower::ServiceExt;

const SECRET: &str = "s3cret";
const VM1: &str = "11111111-1111-4111-8111-111111111111";
const VM2: &str = "22222222-2222-4222-8222-222222222222";
const BROKEN: &str = "99999999-9999-4999-8999-999999999999";
const PROJECT: &str = "proj1";

#[derive(Default)]
struct FakeSource {
    instances: Mutex<BTreeMap<String, InstanceMetadata>>,
}

#[async_trait]
impl InstanceSource for FakeSource {
    async fn instance(&self, id: &str) -> Result<Option<InstanceMetadata>, SourceError> {
        if id == BROKEN {
            return Err(SourceError::Unavailable("database down".into()));
        }
        Ok(self.instances.lock().unwrap().get(id).cloned())
    }

    async fn set_password(&self, id: &str, password: &str) -> Result<(), SourceError> {
        let mut m = self.instances.lock().unwrap();
        let i = m
            .get_mut(id)
            .ok_or(SourceError::Unavailable("gone".into()))?;
        i.password = Some(password.to_string());
        Ok(())
    }
}

fn vm1() -> InstanceMetadata {
    let port = PortInfo {
        port_id: "port-1".into(),
        mac_address: "fa:16:3e:00:00:11".into(),
        mtu: Some(1450),
        network_id: "net-1".into(),
        devname: Some("tapport-1".into()),
        vif_type: "bridge".into(),
        subnets: vec![PortSubnet {
            cidr: "10.10.0.0/24".parse().unwrap(),
            gateway: Some("10.10.0.1".parse().unwrap()),
            dns_nameservers: vec!["10.10.0.2".parse().unwrap()],
            host_routes: vec![],
            ips: vec!["10.10.0.11".parse().unwrap()],
            enable_dhcp: true,
            ipv6_address_mode: None,
        }],
    };
    InstanceMetadata {
        uuid: VM1.into(),
        name: "vm one".into(),
        hostname: "vm1".into(),
        project_id: PROJECT.into(),
        availability_zone: Some("nova".into()),
        launch_index: 0,
        reservation_id: "r-abcd1234".into(),
        ec2_instance_id: "i-00000001".into(),
        ami_id: "ami-00000002".into(),
        kernel_id: None,
        ramdisk_id: None,
        flavor_name: "m1.tiny".into(),
        keypair: Some(KeyPair {
            name: "mykey".into(),
            key_type: "ssh".into(),
            public_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB test@example".into(),
        }),
        user_data: Some(vec![0x23, 0x21, 0xff, 0x00, 0x0a, 0x80]),
        meta: BTreeMap::from([("role".to_string(), "web".to_string())]),
        security_groups: vec!["default".into(), "web".into()],
        fixed_ips: vec!["10.10.0.11".parse().unwrap()],
        floating_ips: vec!["203.0.113.50".parse().unwrap()],
        block_device_mapping: BTreeMap::from([
            ("ami".to_string(), "vda".to_string()),
            ("root".to_string(), "/dev/vda".to_string()),
        ]),
        network_data: Some(network_data(&[port])),
        devices: vec![],
        dedicated_cpus: vec![],
        password: None,
    }
}

fn vm2() -> InstanceMetadata {
    InstanceMetadata {
        uuid: VM2.into(),
        name: "vm2".into(),
        hostname: "vm2".into(),
        project_id: PROJECT.into(),
        availability_zone: None,
        ..InstanceMetadata::default()
    }
}

struct Api {
    app: axum::Router,
    source: Arc<FakeSource>,
}

fn api() -> Api {
    let source = Arc::new(FakeSource::default());
    for i in [vm1(), vm2()] {
        source.instances.lock().unwrap().insert(i.uuid.clone(), i);
    }
    let cfg = MetadataConfig {
        shared_secret: SECRET.into(),
        ..MetadataConfig::default()
    };
    Api {
        app: rustack_metadata::server::router(&cfg, source.clone()),
        source,
    }
}

struct Resp {
    status: StatusCode,
    ctype: String,
    body: Vec<u8>,
}

impl Resp {
    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

async fn send(api: &Api, req: Request<Body>) -> Resp {
    let r = api.app.clone().oneshot(req).await.unwrap();
    let status = r.status();
    let ctype = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = r.into_body().collect().await.unwrap().to_bytes().to_vec();
    Resp {
        status,
        ctype,
        body,
    }
}

fn signed(method: &str, path: &str, instance: &str, project: &str) -> http::request::Builder {
    Request::builder()
        .method(method)
        .uri(path)
        .header("X-Instance-ID", instance)
        .header("X-Tenant-ID", project)
        .header("X-Instance-ID-Signature", sign(SECRET, instance))
        .header("X-Forwarded-For", "10.10.0.11")
}

async fn get_as(api: &Api, instance: &str, path: &str) -> Resp {
    send(
        api,
        signed("GET", path, instance, PROJECT)
            .body(Body::empty())
            .unwrap(),
    )
    .await
}

async fn get(api: &Api, path: &str) -> Resp {
    get_as(api, VM1, path).await
}

async fn ok_text(api: &Api, path: &str) -> String {
    let r = get(api, path).await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text());
    assert!(r.ctype.starts_with("text/plain"), "{path}: {}", r.ctype);
    r.text()
}

const OS_VERSIONS: &str = "2012-08-10\n2013-04-04\n2013-10-17\n2015-10-15\n2016-06-30\n\
2016-10-06\n2017-02-22\n2018-08-27\n2020-10-14\n2025-04-04\nlatest";
const EC2_VERSIONS: &str = "1.0\n2007-01-19\n2007-03-01\n2007-08-29\n2007-10-10\n2007-12-15\n\
2008-02-01\n2008-09-01\n2009-04-04\nlatest";

#[tokio::test]
async fn root_lists_versions_without_headers() {
    let api = api();
    for path in ["/", "//", "/."] {
        let r = send(&api, Request::get(path).body(Body::empty()).unwrap()).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.text(), EC2_VERSIONS);
    }
}

#[tokio::test]
async fn headers_are_required_and_checked() {
    let api = api();
    let base = || Request::get("/openstack/latest/meta_data.json");
    let sig = sign(SECRET, VM1);
    let cases = [
        (
            base().header("X-Tenant-ID", PROJECT),
            "X-Instance-ID header is missing",
        ),
        (
            base()
                .header("X-Instance-ID", VM1)
                .header("X-Tenant-ID", PROJECT),
            "X-Instance-ID-Signature header is missing",
        ),
        (
            base()
                .header("X-Instance-ID", VM1)
                .header("X-Instance-ID-Signature", &sig),
            "X-Tenant-ID header is missing",
        ),
        (
            base()
                .header("X-Instance-ID", VM1)
                .header("X-Instance-ID", VM2)
                .header("X-Tenant-ID", PROJECT)
                .header("X-Instance-ID-Signature", &sig),
            "Multiple",
        ),
    ];
    for (req, msg) in cases {
        let r = send(&api, req.body(Body::empty()).unwrap()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{msg}");
        assert!(r.text().contains(msg), "{}", r.text());
    }
    // A signature for another instance, from another secret, or not hex: 403.
    for bad in [sign(SECRET, VM2), sign("other", VM1), "not-hex".to_string()] {
        let r = send(
            &api,
            base()
                .header("X-Instance-ID", VM1)
                .header("X-Tenant-ID", PROJECT)
                .header("X-Instance-ID-Signature", bad)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(r.text().contains("Invalid proxy request signature."));
    }
    // JSON fault when the client accepts JSON.
    let r = send(
        &api,
        base()
            .header("Accept", "application/json")
            .header("X-Instance-ID", VM1)
            .header("X-Tenant-ID", PROJECT)
            .header("X-Instance-ID-Signature", "00")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        r.json(),
        json!({"code": 403, "title": "Forbidden", "message": "Invalid proxy request signature."})
    );
}

#[tokio::test]
async fn unknown_instance_foreign_project_and_source_failure() {
    let api = api();
    let r = get_as(
        &api,
        "33333333-3333-4333-8333-333333333333",
        "/openstack/latest/meta_data.json",
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = send(
        &api,
        signed(
            "GET",
            "/openstack/latest/meta_data.json",
            VM1,
            "other-project",
        )
        .body(Body::empty())
        .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "project mismatch is a 404");
    let r = get_as(&api, BROKEN, "/openstack/latest/meta_data.json").await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn openstack_listings() {
    let api = api();
    assert_eq!(ok_text(&api, "/openstack").await, OS_VERSIONS);
    assert_eq!(ok_text(&api, "/openstack/").await, OS_VERSIONS);
    assert_eq!(
        ok_text(&api, "/openstack/latest").await,
        "meta_data.json\nuser_data\npassword\nvendor_data.json\nnetwork_data.json\nvendor_data2.json"
    );
    assert_eq!(
        ok_text(&api, "/openstack/latest/").await,
        ok_text(&api, "/openstack/2025-04-04").await
    );
    assert_eq!(
        ok_text(&api, "/openstack/2012-08-10").await,
        "meta_data.json\nuser_data"
    );
    assert_eq!(
        ok_text(&api, "/openstack/2013-10-17").await,
        "meta_data.json\nuser_data\npassword\nvendor_data.json"
    );
    let r = get_as(&api, VM2, "/openstack/latest").await;
    assert_eq!(
        r.text(),
        "meta_data.json\npassword\nvendor_data.json\nnetwork_data.json\nvendor_data2.json",
        "no user_data entry without user data"
    );
    for missing in [
        "/openstack/2011-01-01",
        "/openstack/2011-01-01/meta_data.json",
        "/openstack/latest/bogus",
        "/openstack/latest/meta_data.json/uuid",
        "/openstack/content/0000",
        "/openstack/2012-08-10/password",
        "/openstack/2012-08-10/vendor_data.json",
        "/openstack/2015-10-15/vendor_data2.json",
    ] {
        assert_eq!(
            get(&api, missing).await.status,
            StatusCode::NOT_FOUND,
            "{missing}"
        );
    }
}

#[tokio::test]
async fn meta_data_json_per_version() {
    let api = api();
    let r = get(&api, "/openstack/latest/meta_data.json").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.ctype, "application/json");
    let m = r.json();
    assert_eq!(m["uuid"], VM1);
    assert_eq!(m["name"], "vm one");
    assert_eq!(m["hostname"], "vm1.novalocal");
    assert_eq!(m["launch_index"], 0);
    assert_eq!(m["availability_zone"], "nova");
    assert_eq!(m["project_id"], PROJECT);
    assert_eq!(m["meta"], json!({"role": "web"}));
    assert_eq!(
        m["public_keys"],
        json!({"mykey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB test@example"})
    );
    assert_eq!(
        m["keys"],
        json!([{"name": "mykey", "type": "ssh", "data": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB test@example"}])
    );
    assert_eq!(m["devices"], json!([]));
    assert_eq!(m["dedicated_cpus"], json!([]));
    assert_eq!(
        m["random_seed"].as_str().unwrap().len(),
        684,
        "512 bytes in base64"
    );
    let keys: Vec<&String> = m.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "availability_zone",
            "dedicated_cpus",
            "devices",
            "hostname",
            "keys",
            "launch_index",
            "meta",
            "name",
            "project_id",
            "public_keys",
            "random_seed",
            "uuid"
        ],
        "exactly Nova's keys for an instance with a keypair and metadata"
    );

    let old = get(&api, "/openstack/2012-08-10/meta_data.json")
        .await
        .json();
    for absent in ["random_seed", "project_id", "devices", "dedicated_cpus"] {
        assert!(old.get(absent).is_none(), "{absent} is newer than Folsom");
    }
    let liberty = get(&api, "/openstack/2015-10-15/meta_data.json")
        .await
        .json();
    assert!(liberty.get("project_id").is_some() && liberty.get("devices").is_none());
    let rocky = get(&api, "/openstack/2018-08-27/meta_data.json")
        .await
        .json();
    assert!(rocky.get("devices").is_some() && rocky.get("dedicated_cpus").is_none());

    // No keypair, no meta, no AZ.
    let m2 = get_as(&api, VM2, "/openstack/latest/meta_data.json")
        .await
        .json();
    assert!(
        m2.get("public_keys").is_none() && m2.get("keys").is_none() && m2.get("meta").is_none()
    );
    assert_eq!(m2["availability_zone"], Value::Null);
    // Path normalisation as posixpath.normpath.
    let r = get(&api, "/openstack//latest/./../latest/meta_data.json/").await;
    assert_eq!(r.json()["uuid"], VM1);
}

#[tokio::test]
async fn user_data_is_raw_and_404_when_absent() {
    let api = api();
    let r = get(&api, "/openstack/latest/user_data").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.ctype.starts_with("text/plain"));
    assert_eq!(r.body, vec![0x23, 0x21, 0xff, 0x00, 0x0a, 0x80]);
    let r = get(&api, "/latest/user-data").await;
    assert_eq!(r.body, vec![0x23, 0x21, 0xff, 0x00, 0x0a, 0x80]);
    assert_eq!(
        get_as(&api, VM2, "/openstack/latest/user_data")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get_as(&api, VM2, "/latest/user-data").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn vendor_and_network_data() {
    let api = api();
    let r = get(&api, "/openstack/latest/vendor_data.json").await;
    assert_eq!(
        (r.status, r.ctype.as_str()),
        (StatusCode::OK, "application/json")
    );
    assert_eq!(r.json(), json!({}));
    assert_eq!(
        get(&api, "/openstack/latest/vendor_data2.json")
            .await
            .json(),
        json!({"static": {}})
    );

    let r = get(&api, "/openstack/latest/network_data.json").await;
    assert_eq!(r.status, StatusCode::OK);
    let n = r.json();
    // Nova's shape: links (VIFs), networks (per IP version), services (DNS).
    assert_eq!(
        n,
        json!({
            "links": [{"id": "tapport-1", "vif_id": "port-1", "type": "bridge", "mtu": null,
                       "ethernet_mac_address": "fa:16:3e:00:00:11"}],
            "networks": [{"id": "network0", "type": "ipv4_dhcp", "link": "tapport-1",
                          "network_id": "net-1"}],
            "services": [{"type": "dns", "address": "10.10.0.2"}]
        })
    );
    assert_eq!(
        get_as(&api, VM2, "/openstack/latest/network_data.json")
            .await
            .json(),
        json!({})
    );
}

#[tokio::test]
async fn password_is_set_once() {
    let api = api();
    let r = get(&api, "/openstack/latest/password").await;
    assert_eq!((r.status, r.body.len()), (StatusCode::OK, 0));
    let post = |body: Vec<u8>| {
        signed("POST", "/openstack/latest/password", VM1, PROJECT)
            .body(Body::from(body))
            .unwrap()
    };
    assert_eq!(
        send(&api, post(vec![b'x'; 1021])).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        send(&api, post(b"encrypted".to_vec())).await.status,
        StatusCode::OK
    );
    assert_eq!(
        api.source.instances.lock().unwrap()[VM1]
            .password
            .as_deref(),
        Some("encrypted")
    );
    assert_eq!(
        get(&api, "/openstack/2013-04-04/password").await.text(),
        "encrypted"
    );
    assert_eq!(
        send(&api, post(b"again".to_vec())).await.status,
        StatusCode::CONFLICT
    );
    let r = send(
        &api,
        signed("PUT", "/openstack/latest/password", VM1, PROJECT)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn ec2_tree() {
    let api = api();
    assert_eq!(ok_text(&api, "/ec2").await, EC2_VERSIONS);
    assert_eq!(ok_text(&api, "/latest").await, "meta-data/\nuser-data");
    assert_eq!(ok_text(&api, "/ec2/latest/").await, "meta-data/\nuser-data");
    assert_eq!(get_as(&api, VM2, "/latest").await.text(), "meta-data/");
    assert_eq!(
        ok_text(&api, "/latest/meta-data/").await,
        "ami-id\nami-launch-index\nami-manifest-path\nblock-device-mapping/\nhostname\n\
         instance-action\ninstance-id\ninstance-type\nlocal-hostname\nlocal-ipv4\nplacement/\n\
         public-hostname\npublic-ipv4\npublic-keys/\nreservation-id\nsecurity-groups"
    );
    let leaf = [
        ("/latest/meta-data/ami-id", "ami-00000002"),
        ("/latest/meta-data/ami-launch-index", "0"),
        ("/latest/meta-data/hostname", "vm1.novalocal"),
        ("/latest/meta-data/local-hostname", "vm1.novalocal"),
        ("/latest/meta-data/instance-id", "i-00000001"),
        ("/2009-04-04/meta-data/instance-id", "i-00000001"),
        ("/latest/meta-data/instance-type", "m1.tiny"),
        ("/latest/meta-data/instance-action", "none"),
        ("/latest/meta-data/local-ipv4", "10.10.0.11"),
        ("/latest/meta-data/public-ipv4", "203.0.113.50"),
        ("/latest/meta-data/reservation-id", "r-abcd1234"),
        ("/latest/meta-data/security-groups", "default\nweb"),
        ("/latest/meta-data/public-keys", "0=mykey"),
        ("/latest/meta-data/public-keys/0", "openssh-key"),
        (
            "/latest/meta-data/public-keys/0/openssh-key",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB test@example",
        ),
        ("/latest/meta-data/placement", "availability-zone"),
        ("/latest/meta-data/placement/availability-zone", "nova"),
        ("/latest/meta-data/block-device-mapping", "ami\nroot"),
        ("/latest/meta-data/block-device-mapping/root", "/dev/vda"),
    ];
    for (path, want) in leaf {
        assert_eq!(ok_text(&api, path).await, want, "{path}");
    }
    // Older versions show fewer keys.
    let v1 = ok_text(&api, "/1.0/meta-data").await;
    assert!(
        !v1.contains("local-hostname") && !v1.contains("placement") && v1.contains("instance-id")
    );
    let v2 = ok_text(&api, "/2008-02-01/meta-data").await;
    assert!(v2.contains("placement/") && !v2.contains("instance-action"));
    // VM2: no keys, no fixed IP (local-ipv4 falls back to the requester), no AZ, no FIP.
    assert_eq!(
        get_as(&api, VM2, "/latest/meta-data/local-ipv4")
            .await
            .text(),
        "10.10.0.11"
    );
    assert_eq!(
        get_as(&api, VM2, "/latest/meta-data/public-ipv4")
            .await
            .text(),
        ""
    );
    assert_eq!(
        get_as(&api, VM2, "/latest/meta-data/placement/availability-zone")
            .await
            .text(),
        "None"
    );
    assert_eq!(
        get_as(&api, VM2, "/latest/meta-data/public-keys")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    for missing in [
        "/2010-01-01/meta-data",
        "/latest/meta-data/bogus",
        "/latest/meta-data/hostname/x",
        "/latest/meta-data/public-keys/1",
    ] {
        assert_eq!(
            get(&api, missing).await.status,
            StatusCode::NOT_FOUND,
            "{missing}"
        );
    }
}
