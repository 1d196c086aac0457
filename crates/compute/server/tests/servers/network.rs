//! Server networking actions and Nova's network proxy APIs over the in-process cloud's
//! real Networking service: floating IPs (actions, `addresses`, `os-floating-ips`),
//! security groups (actions, `os-security-groups`, rules), multinic, `os-networks` and
//! `os-tenant-networks`, each on both sides of its microversion boundary.

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{harness, Harness, Project};

/// An external `public` network (admin) routed to the project's network; returns the
/// public network's id.
async fn public_network(h: &Harness, p: &Project) -> String {
    let r = h
        .neutron(
            Method::POST,
            "/networks",
            &h.admin,
            Some(json!({"network": {"name": "public", "router:external": true}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let public = r.body["network"]["id"].as_str().unwrap().to_string();
    let r = h
        .neutron(
            Method::POST,
            "/subnets",
            &h.admin,
            Some(
                json!({"subnet": {"network_id": public, "cidr": "172.24.4.0/24", "ip_version": 4}}),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = h
        .neutron(
            Method::POST,
            "/routers",
            &p.token,
            Some(json!({"router": {"name": "r", "external_gateway_info": {"network_id": public}}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let router = r.body["router"]["id"].as_str().unwrap().to_string();
    let r = h
        .neutron(
            Method::GET,
            &format!("/subnets?network_id={}", p.network),
            &p.token,
            None,
        )
        .await;
    let subnet = r.body["subnets"][0]["id"].as_str().unwrap().to_string();
    let r = h
        .neutron(
            Method::PUT,
            &format!("/routers/{router}/add_router_interface"),
            &p.token,
            Some(json!({ "subnet_id": subnet })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    public
}

/// A server of `p`, ACTIVE; returns its id.
async fn active_server(h: &Harness, p: &Project, name: &str) -> String {
    let img = h.image(&format!("{name}-img")).await;
    let fl = h.flavor(&format!("9{}", name.len()), 1, 128, 1).await;
    let r = h.boot(p, name, &img, &fl).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.body["server"]["id"].as_str().unwrap().to_string();
    h.wait_status(&p.token, &id, "ACTIVE").await;
    id
}

/// What 2.44 answers for an action gone at 2.44: 404 once the cloud serves 2.44, 406
/// (version out of range) before.
fn gone_at_2_44(h: &Harness) -> u16 {
    if h.compute.max_version().at_least(44) {
        404
    } else {
        406
    }
}

fn addresses_of(server: &Value, kind: &str) -> Vec<String> {
    server["addresses"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
        .flat_map(|v| v.as_array().cloned().unwrap_or_default())
        .filter(|a| a["OS-EXT-IPS:type"] == kind)
        .filter_map(|a| a["addr"].as_str().map(String::from))
        .collect()
}

async fn action(h: &Harness, v: &str, token: &str, id: &str, body: Value) -> (u16, Value) {
    let r = h
        .nova_v(
            v,
            Method::POST,
            &format!("/servers/{id}/action"),
            token,
            Some(body),
        )
        .await;
    (r.status, r.body)
}

#[tokio::test]
async fn floating_ips_actions_addresses_and_proxy() {
    let h = harness().await;
    let p = h.project("fipper").await;
    public_network(&h, &p).await;
    let id = active_server(&h, &p, "fip-srv").await;
    let server = h.wait_status(&p.token, &id, "ACTIVE").await;
    let fixed = addresses_of(&server, "fixed")[0].clone();
    let mac = server["addresses"]["fipper-net"][0]["OS-EXT-IPS-MAC:mac_addr"].clone();

    // Pools and allocation (the default pool is `public`).
    let r = h
        .nova_v("2.35", Method::GET, "/os-floating-ip-pools", &p.token, None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["floating_ip_pools"], json!([{"name": "public"}]));
    let r = h
        .nova_v(
            "2.1",
            Method::POST,
            "/os-floating-ips",
            &p.token,
            Some(json!({"pool": "nope"})),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = h
        .nova_v("2.1", Method::POST, "/os-floating-ips", &p.token, None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let fip = r.body["floating_ip"].clone();
    assert_eq!(fip["pool"], "public");
    assert!(fip["instance_id"].is_null() && fip["fixed_ip"].is_null());
    let ip = fip["ip"].as_str().unwrap().to_string();
    let fip_id = fip["id"].as_str().unwrap().to_string();

    // Negative actions.
    let (s, b) = action(
        &h,
        "2.43",
        &p.token,
        &id,
        json!({"addFloatingIp": {"address": "0.0.0.0"}}),
    )
    .await;
    assert_eq!(
        (s, b["itemNotFound"]["message"].as_str()),
        (404, Some("floating IP not found"))
    );
    let (s, _) = action(
        &h,
        "2.43",
        &p.token,
        &id,
        json!({"addFloatingIp": {"address": ""}}),
    )
    .await;
    assert_eq!(s, 400);
    let (s, b) = action(
        &h,
        "2.43",
        &p.token,
        &id,
        json!({"addFloatingIp": {"address": ip, "fixed_address": "10.99.0.1"}}),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(
        b["badRequest"]["message"],
        "Specified fixed address not assigned to instance"
    );
    // Not associated: Nova checks the remove rule on no project, which a member fails.
    let (s, b) = action(
        &h,
        "2.43",
        &p.token,
        &id,
        json!({"removeFloatingIp": {"address": ip}}),
    )
    .await;
    assert_eq!(s, 403, "{b}");
    // Gone from 2.44.
    let (s, b) = action(
        &h,
        "2.44",
        &p.token,
        &id,
        json!({"addFloatingIp": {"address": ip}}),
    )
    .await;
    assert_eq!(s, gone_at_2_44(&h), "{b}");

    // Associate: the floating address follows its fixed one in `addresses`.
    let (s, b) = action(
        &h,
        "2.43",
        &p.token,
        &id,
        json!({"addFloatingIp": {"address": ip}}),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    let r = h
        .nova(Method::GET, &format!("/servers/{id}"), &p.token, None)
        .await;
    let net = &r.body["server"]["addresses"]["fipper-net"];
    assert_eq!(
        net[1],
        json!({"version": 4, "addr": ip, "OS-EXT-IPS:type": "floating", "OS-EXT-IPS-MAC:mac_addr": mac})
    );
    let r = h.nova(Method::GET, "/servers/detail", &p.token, None).await;
    let s0 = r.body["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(addresses_of(&s0, "floating"), vec![ip.clone()]);
    let r = h
        .nova(Method::GET, &format!("/servers/{id}/ips"), &p.token, None)
        .await;
    assert_eq!(
        r.body["addresses"]["fipper-net"][1],
        json!({"version": 4, "addr": ip})
    );
    // The proxy shows the association.
    let r = h
        .nova_v("2.35", Method::GET, "/os-floating-ips", &p.token, None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["floating_ips"],
        json!([{"fixed_ip": fixed, "id": fip_id, "instance_id": id, "ip": ip, "pool": "public"}])
    );
    let r = h
        .nova_v("2.36", Method::GET, "/os-floating-ips", &p.token, None)
        .await;
    assert_eq!(r.status, 404);
    // Another project neither sees nor moves it.
    let q = h.project("other").await;
    let (s, _) = action(
        &h,
        "2.1",
        &q.token,
        &id,
        json!({"addFloatingIp": {"address": ip}}),
    )
    .await;
    assert_eq!(s, 404);

    // Associated with another server than the one named: 409.
    let other = "5f6ec6c4-1b1b-4e3e-9b8c-000000000001";
    let (s, b) = action(
        &h,
        "2.43",
        &p.token,
        other,
        json!({"removeFloatingIp": {"address": ip}}),
    )
    .await;
    assert_eq!(s, 409, "{b}");
    assert_eq!(
        b["conflictingRequest"]["message"],
        format!("Floating IP {ip} is not associated with instance {other}.")
    );

    // Disassociate.
    let (s, b) = action(
        &h,
        "2.43",
        &p.token,
        &id,
        json!({"removeFloatingIp": {"address": ip}}),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    let r = h
        .nova(Method::GET, &format!("/servers/{id}"), &p.token, None)
        .await;
    assert!(addresses_of(&r.body["server"], "floating").is_empty());
    let (s, _) = action(
        &h,
        "2.44",
        &p.token,
        &id,
        json!({"removeFloatingIp": {"address": ip}}),
    )
    .await;
    assert_eq!(s, gone_at_2_44(&h));

    // An association made in Networking directly shows too (openstacksdk's auto_ip).
    let port = h.ports_of(&id).await[0]["id"].as_str().unwrap().to_string();
    let r = h
        .neutron(
            Method::PUT,
            &format!("/floatingips/{fip_id}"),
            &p.token,
            Some(json!({"floatingip": {"port_id": port}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = h
        .nova(Method::GET, &format!("/servers/{id}"), &p.token, None)
        .await;
    assert_eq!(
        addresses_of(&r.body["server"], "floating"),
        vec![ip.clone()]
    );

    // Release: associated or not, then it is gone.
    let path = format!("/os-floating-ips/{fip_id}");
    let r = h.nova_v("2.1", Method::GET, &path, &p.token, None).await;
    assert_eq!(r.body["floating_ip"]["instance_id"], id.as_str());
    let r = h.nova_v("2.1", Method::DELETE, &path, &p.token, None).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let r = h.nova_v("2.1", Method::GET, &path, &p.token, None).await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.body["itemNotFound"]["message"],
        format!("Floating IP not found for ID {fip_id}")
    );
    let r = h
        .nova(Method::GET, &format!("/servers/{id}"), &p.token, None)
        .await;
    assert!(addresses_of(&r.body["server"], "floating").is_empty());
}

#[tokio::test]
async fn security_group_actions_and_proxy() {
    let h = harness().await;
    let p = h.project("sgp").await;
    let id = active_server(&h, &p, "sg-srv").await;

    // Create through the proxy.
    let r = h
        .nova_v(
            "2.1",
            Method::POST,
            "/os-security-groups",
            &p.token,
            Some(json!({"security_group": {"name": "web", "description": "web servers"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let g = r.body["security_group"].clone();
    let gid = g["id"].as_str().unwrap().to_string();
    assert_eq!(g["name"], "web");
    assert_eq!(g["tenant_id"], p.id.as_str());
    assert_eq!(g["rules"], json!([]), "egress rules are not shown");
    let r = h
        .nova_v(
            "2.1",
            Method::POST,
            "/os-security-groups",
            &p.token,
            Some(json!({"security_group": {"name": "x"}})),
        )
        .await;
    assert_eq!(r.status, 400);

    // Rules.
    let rule = |body: Value| {
        let h = &h;
        let t = p.token.clone();
        async move {
            h.nova_v(
                "2.1",
                Method::POST,
                "/os-security-group-rules",
                &t,
                Some(json!({ "security_group_rule": body })),
            )
            .await
        }
    };
    let r = rule(json!({"parent_group_id": gid, "ip_protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "10.0.0.0/8"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let created = r.body["security_group_rule"].clone();
    assert_eq!(created["from_port"], 22);
    assert_eq!(created["ip_range"], json!({"cidr": "10.0.0.0/8"}));
    assert_eq!(created["parent_group_id"], gid.as_str());
    let r = rule(json!({"parent_group_id": gid, "ip_protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "10.0.0.0/8"})).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body["badRequest"]["message"],
        format!("This rule already exists in group {gid}")
    );
    let r =
        rule(json!({"parent_group_id": gid, "ip_protocol": "xyz", "from_port": 1, "to_port": 2}))
            .await;
    assert_eq!(
        (r.status, r.body["badRequest"]["message"].as_str()),
        (400, Some("Invalid IP protocol xyz."))
    );
    let r = rule(json!({"parent_group_id": gid, "ip_protocol": "tcp", "from_port": 22, "to_port": 22, "group_id": gid})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["security_group_rule"]["group"],
        json!({"name": "web", "tenant_id": p.id})
    );
    let r = rule(json!({"parent_group_id": "5f6ec6c4-1b1b-4e3e-9b8c-000000000000", "ip_protocol": "tcp", "from_port": 1, "to_port": 2})).await;
    assert_eq!(r.status, 404);
    let r = h
        .nova_v(
            "2.1",
            Method::GET,
            &format!("/os-security-groups/{gid}"),
            &p.token,
            None,
        )
        .await;
    assert_eq!(
        r.body["security_group"]["rules"].as_array().unwrap().len(),
        2
    );
    let rid = created["id"].as_str().unwrap();
    let r = h
        .nova_v(
            "2.1",
            Method::DELETE,
            &format!("/os-security-group-rules/{rid}"),
            &p.token,
            None,
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let r = h
        .nova_v(
            "2.1",
            Method::DELETE,
            &format!("/os-security-group-rules/{rid}"),
            &p.token,
            None,
        )
        .await;
    assert_eq!(r.status, 404);

    // A reader may not change the server's groups; another project does not see it.
    let (_, _, reader) = h
        .cloud
        .persona(&h.admin, "sg-reader", "reader", Some(&p.id))
        .await;
    let (s, _) = action(
        &h,
        "2.1",
        &reader,
        &id,
        json!({"addSecurityGroup": {"name": "web"}}),
    )
    .await;
    assert_eq!(s, 403);
    let q = h.project("sg-other").await;
    let (s, _) = action(
        &h,
        "2.1",
        &q.token,
        &id,
        json!({"addSecurityGroup": {"name": "web"}}),
    )
    .await;
    assert_eq!(s, 404);

    // Add to and remove from the server (by name; from any version).
    let (s, b) = action(
        &h,
        "latest",
        &p.token,
        &id,
        json!({"addSecurityGroup": {"name": "web"}}),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    let ports = h.ports_of(&id).await;
    assert!(ports[0]["security_groups"]
        .as_array()
        .unwrap()
        .contains(&json!(gid)));
    let r = h
        .nova(
            Method::GET,
            &format!("/servers/{id}/os-security-groups"),
            &p.token,
            None,
        )
        .await;
    let names: Vec<&str> = r.body["security_groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|g| g["name"].as_str())
        .collect();
    assert!(names.contains(&"web"), "{}", r.body);
    let web = r.body["security_groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "web")
        .cloned()
        .unwrap();
    assert_eq!(web["id"], gid.as_str());
    assert_eq!(
        web["rules"][0]["group"],
        json!({"name": "web", "tenant_id": p.id})
    );
    let r = h
        .nova(Method::GET, &format!("/servers/{id}"), &p.token, None)
        .await;
    assert!(r.body["server"]["security_groups"]
        .as_array()
        .unwrap()
        .contains(&json!({"name": "web"})));
    let (s, b) = action(
        &h,
        "2.1",
        &p.token,
        &id,
        json!({"addSecurityGroup": {"name": "nope"}}),
    )
    .await;
    assert_eq!(s, 404);
    assert_eq!(
        b["itemNotFound"]["message"],
        format!("Security group nope is not found for project {}", p.id)
    );
    let (s, _) = action(
        &h,
        "2.1",
        &p.token,
        &id,
        json!({"addSecurityGroup": {"name": " "}}),
    )
    .await;
    assert_eq!(s, 400);
    let (s, _) = action(&h, "2.1", &p.token, &id, json!({"addSecurityGroup": {}})).await;
    assert_eq!(s, 400);
    let (s, b) = action(
        &h,
        "2.1",
        &p.token,
        &id,
        json!({"removeSecurityGroup": {"name": gid}}),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    let ports = h.ports_of(&id).await;
    assert!(!ports[0]["security_groups"]
        .as_array()
        .unwrap()
        .contains(&json!(gid)));
    let (s, b) = action(
        &h,
        "2.1",
        &p.token,
        &id,
        json!({"removeSecurityGroup": {"name": "web"}}),
    )
    .await;
    assert_eq!(s, 404);
    assert_eq!(
        b["itemNotFound"]["message"],
        format!("Security group web not associated with the instance {id}")
    );

    // List, update, delete; ids must be UUIDs; the default group cannot go.
    let r = h
        .nova_v("2.1", Method::GET, "/os-security-groups", &p.token, None)
        .await;
    let list = r.body["security_groups"].as_array().unwrap().clone();
    assert_eq!(list.len(), 2, "{}", r.body);
    assert_eq!(list[0]["name"], "default");
    let r = h
        .nova_v(
            "2.1",
            Method::GET,
            "/os-security-groups?limit=1&offset=1",
            &p.token,
            None,
        )
        .await;
    assert_eq!(r.body["security_groups"].as_array().unwrap().len(), 1);
    let default = list[0]["id"].as_str().unwrap().to_string();
    let r = h
        .nova_v(
            "2.1",
            Method::PUT,
            &format!("/os-security-groups/{gid}"),
            &p.token,
            Some(json!({"security_group": {"name": "web2", "description": "d"}})),
        )
        .await;
    assert_eq!(
        (r.status, r.body["security_group"]["name"].as_str()),
        (200, Some("web2"))
    );
    let r = h
        .nova_v(
            "2.1",
            Method::GET,
            "/os-security-groups/not-a-uuid",
            &p.token,
            None,
        )
        .await;
    assert_eq!(r.status, 400);
    let r = h
        .nova_v(
            "2.1",
            Method::DELETE,
            &format!("/os-security-groups/{default}"),
            &p.token,
            None,
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = h
        .nova_v(
            "2.1",
            Method::DELETE,
            &format!("/os-security-groups/{gid}"),
            &p.token,
            None,
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let r = h
        .nova_v(
            "2.1",
            Method::GET,
            &format!("/os-security-groups/{gid}"),
            &p.token,
            None,
        )
        .await;
    assert_eq!(r.status, 404);
    let r = h
        .nova_v("2.36", Method::GET, "/os-security-groups", &p.token, None)
        .await;
    assert_eq!(r.status, 404);
    // all_tenants widens the list for admins only.
    let r = h
        .nova_v(
            "2.1",
            Method::GET,
            "/os-security-groups?all_tenants=1",
            &p.token,
            None,
        )
        .await;
    assert_eq!(r.body["security_groups"].as_array().unwrap().len(), 1);
    let r = h
        .nova_v(
            "2.1",
            Method::GET,
            "/os-security-groups?all_tenants=1",
            &h.admin,
            None,
        )
        .await;
    assert!(r.body["security_groups"].as_array().unwrap().len() > 1);
}

#[tokio::test]
async fn multinic_and_network_proxies() {
    let h = harness().await;
    let p = h.project("nets").await;
    let id = active_server(&h, &p, "mn-srv").await;

    // addFixedIp / removeFixedIp (2.1-2.43).
    let (s, b) = action(
        &h,
        "2.43",
        &p.token,
        &id,
        json!({"addFixedIp": {"networkId": p.network}}),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    let r = h
        .nova(Method::GET, &format!("/servers/{id}"), &p.token, None)
        .await;
    let fixed = addresses_of(&r.body["server"], "fixed");
    assert_eq!(fixed.len(), 2, "{}", r.body);
    let (s, b) = action(
        &h,
        "2.43",
        &p.token,
        &id,
        json!({"removeFixedIp": {"address": fixed[1]}}),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    let r = h
        .nova(Method::GET, &format!("/servers/{id}"), &p.token, None)
        .await;
    assert_eq!(
        addresses_of(&r.body["server"], "fixed"),
        vec![fixed[0].clone()]
    );
    let (s, _) = action(
        &h,
        "2.44",
        &p.token,
        &id,
        json!({"addFixedIp": {"networkId": p.network}}),
    )
    .await;
    assert_eq!(s, gone_at_2_44(&h));
    let (s, _) = action(
        &h,
        "2.1",
        &p.token,
        &id,
        json!({"removeFixedIp": {"address": "nope"}}),
    )
    .await;
    assert_eq!(s, 400);

    // os-networks and os-tenant-networks.
    let r = h
        .nova_v("2.35", Method::GET, "/os-networks", &p.token, None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mine = r.body["networks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == p.network.as_str())
        .cloned()
        .unwrap();
    assert_eq!(mine["label"], "nets-net");
    assert!(mine["cidr"].is_null() && mine.get("mtu").is_none());
    let r = h
        .nova_v(
            "2.1",
            Method::GET,
            &format!("/os-networks/{}", p.network),
            &h.admin,
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(
        r.body["network"].get("mtu").is_some(),
        "admins see every field"
    );
    let r = h
        .nova_v(
            "2.1",
            Method::GET,
            "/os-networks/5f6ec6c4-1b1b-4e3e-9b8c-000000000000",
            &p.token,
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.body["itemNotFound"]["message"].as_str()),
        (404, Some("Network not found"))
    );
    let r = h
        .nova_v(
            "2.1",
            Method::POST,
            "/os-networks",
            &h.admin,
            Some(json!({"network": {"label": "x"}})),
        )
        .await;
    assert_eq!(r.status, 410);
    let r = h
        .nova_v("2.36", Method::GET, "/os-networks", &p.token, None)
        .await;
    assert_eq!(r.status, 404);
    let r = h
        .nova_v("2.1", Method::GET, "/os-tenant-networks", &p.token, None)
        .await;
    assert!(r.body["networks"]
        .as_array()
        .unwrap()
        .contains(&json!({"id": p.network, "cidr": "None", "label": "nets-net"})));
    let r = h
        .nova_v(
            "2.1",
            Method::GET,
            &format!("/os-tenant-networks/{}", p.network),
            &p.token,
            None,
        )
        .await;
    assert_eq!(r.body["network"]["label"], "nets-net");
    let r = h
        .nova_v("2.36", Method::GET, "/os-tenant-networks", &p.token, None)
        .await;
    assert_eq!(r.status, 404);
}
