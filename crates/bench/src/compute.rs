//! `rustack-bench compute`: servers on a running rustack (simulated driver): N servers
//! created in bursts (time from `POST /servers` to ACTIVE, p50/p99), end-to-end
//! builds/s, the scheduler's own decisions/s (from its `scheduler stats` log line when
//! `--server-log` is given), the control plane's RSS, then `GET /servers/detail` of
//! up to 1,000 servers (p50/p99). Everything it creates is deleted at the end unless
//! `--keep`.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use reqwest::{Client, Url};
use serde_json::{json, Value};

use crate::procfs::Proc;

/// Options of `rustack-bench compute`.
#[derive(clap::Args, Debug, Clone)]
pub struct ComputeArgs {
    /// Identity endpoint (http, loopback only).
    #[arg(long, default_value = "http://127.0.0.1:5000")]
    pub url: String,
    /// The admin user's password (keystone_admin_password in passwords.yml).
    #[arg(long, env = "OS_PASSWORD", hide_env_values = true)]
    pub password: String,
    /// PID of the control plane (`rustack up`), for its RSS.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// The control plane's log (for the scheduler's `scheduler stats` line).
    #[arg(long)]
    pub server_log: Option<std::path::PathBuf>,
    /// Servers timed to ACTIVE.
    #[arg(long, default_value_t = 200)]
    pub servers: usize,
    /// Servers per burst.
    #[arg(long, default_value_t = 10)]
    pub burst: usize,
    /// Total servers for the list benchmark (extra ones are created untimed).
    #[arg(long, default_value_t = 1000)]
    pub list_servers: usize,
    /// `GET /servers/detail` requests measured.
    #[arg(long, default_value_t = 50)]
    pub list_requests: usize,
    /// Keep the servers (and network, image, flavor).
    #[arg(long)]
    pub keep: bool,
}

struct Api {
    http: Client,
    token: String,
    compute: String,
    network: String,
    image: String,
}

impl Api {
    async fn call(
        &self,
        m: reqwest::Method,
        url: String,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut r = self
            .http
            .request(m, &url)
            .header("x-auth-token", &self.token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.with_context(|| format!("calling {url}"))?;
        let st = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        Ok((st, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn login(
    http: &Client,
    url: &str,
    password: &str,
) -> anyhow::Result<(String, String, Value)> {
    let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "domain": {"name": "Default"}, "password": password}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}});
    let r = http
        .post(format!("{url}/v3/auth/tokens"))
        .json(&body)
        .send()
        .await?;
    if r.status().as_u16() != 201 {
        bail!("admin login answered {}", r.status());
    }
    let token = r
        .headers()
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .context("no X-Subject-Token")?
        .to_string();
    let v: Value = r.json().await?;
    let project = v["token"]["project"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    Ok((token, project, v["token"]["catalog"].clone()))
}

fn endpoint(catalog: &Value, kind: &str) -> anyhow::Result<String> {
    catalog
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["type"] == kind)
        .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
        .find(|e| e["interface"] == "public")
        .and_then(|e| {
            e["url"]
                .as_str()
                .map(|u| u.trim_end_matches('/').to_string())
        })
        .with_context(|| format!("no {kind} endpoint in the catalog"))
}

async fn wait_active(api: &Api, id: &str, deadline: Duration) -> anyhow::Result<Instant> {
    let start = Instant::now();
    loop {
        let (st, v) = api
            .call(
                reqwest::Method::GET,
                format!("{}/servers/{id}", api.compute),
                None,
            )
            .await?;
        let status = v["server"]["status"].as_str().unwrap_or("");
        if st == 200 && status == "ACTIVE" {
            return Ok(Instant::now());
        }
        if status == "ERROR" {
            bail!("server {id} went to ERROR: {}", v["server"]["fault"]);
        }
        if start.elapsed() > deadline {
            bail!("server {id} not ACTIVE after {deadline:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Runs the benchmark and prints the figures.
pub async fn run(a: ComputeArgs) -> anyhow::Result<()> {
    let url = Url::parse(&a.url).context("--url")?;
    if !matches!(
        url.host_str(),
        Some("127.0.0.1" | "localhost" | "::1" | "[::1]")
    ) {
        bail!("--url must be a loopback address");
    }
    let http = Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(64)
        .build()?;
    let (token, project, catalog) = login(&http, a.url.trim_end_matches('/'), &a.password).await?;
    let api = Api {
        compute: endpoint(&catalog, "compute")?,
        network: endpoint(&catalog, "network")?,
        image: endpoint(&catalog, "image")?,
        http,
        token,
    };
    let get = reqwest::Method::GET;
    let post = reqwest::Method::POST;
    let put = reqwest::Method::PUT;
    let del = reqwest::Method::DELETE;
    // Unlimited quotas for the admin project (servers and ports).
    let (st, v) = api
        .call(
            put.clone(),
            format!("{}/os-quota-sets/{project}", api.compute),
            Some(json!({"quota_set": {"instances": -1, "cores": -1, "ram": -1}})),
        )
        .await?;
    if st != 200 {
        bail!("quota update answered {st}: {v}");
    }
    api.call(
        put.clone(),
        format!("{}/v2.0/quotas/{project}", api.network),
        Some(json!({"quota": {"port": -1}})),
    )
    .await?;
    // A network big enough, an image, a small flavor.
    let (_, v) = api
        .call(
            post.clone(),
            format!("{}/v2.0/networks", api.network),
            Some(json!({"network": {"name": "bench-net"}})),
        )
        .await?;
    let net = v["network"]["id"]
        .as_str()
        .context("network create")?
        .to_string();
    let (st, v) = api
        .call(
            post.clone(),
            format!("{}/v2.0/subnets", api.network),
            Some(json!({"subnet": {"network_id": net, "cidr": "10.240.0.0/20", "ip_version": 4}})),
        )
        .await?;
    if st != 201 {
        bail!("subnet create answered {st}: {v}");
    }
    let (_, v) = api
        .call(
            post.clone(),
            format!("{}/v2/images", api.image),
            Some(json!({"name": "bench-img", "disk_format": "raw", "container_format": "bare"})),
        )
        .await?;
    let image = v["id"].as_str().context("image create")?.to_string();
    let r = api
        .http
        .put(format!("{}/v2/images/{image}/file", api.image))
        .header("x-auth-token", &api.token)
        .header("content-type", "application/octet-stream")
        .body(vec![0u8; 1 << 16])
        .send()
        .await?;
    if r.status().as_u16() != 204 {
        bail!("image upload answered {}", r.status());
    }
    let flavor = format!("bench-{}", std::process::id());
    let (st, v) = api
        .call(
            post.clone(),
            format!("{}/flavors", api.compute),
            Some(
                json!({"flavor": {"name": flavor, "id": flavor, "vcpus": 1, "ram": 64, "disk": 0}}),
            ),
        )
        .await?;
    if st != 200 {
        bail!("flavor create answered {st}: {v}");
    }
    let rss_before = a
        .server_pid
        .and_then(|p| Proc::Pid(p).rss_kib().ok().flatten());
    // Timed bursts.
    let mut times = Vec::new();
    let mut ids: Vec<String> = Vec::new();
    let t_all = Instant::now();
    let mut n = 0;
    while n < a.servers {
        let burst = a.burst.min(a.servers - n);
        let futs = (0..burst).map(|k| {
            let api = &api;
            let (image, flavor, net) = (image.clone(), flavor.clone(), net.clone());
            let name = format!("bench-{}", n + k);
            async move {
                let t0 = Instant::now();
                let (st, v) = api
                    .call(reqwest::Method::POST, format!("{}/servers", api.compute), Some(json!({"server": {"name": name, "imageRef": image, "flavorRef": flavor, "networks": [{"uuid": net}]}})))
                    .await?;
                if st != 202 {
                    bail!("server create answered {st}: {v}");
                }
                let id = v["server"]["id"].as_str().context("server id")?.to_string();
                let done = wait_active(api, &id, Duration::from_secs(120)).await?;
                Ok::<_, anyhow::Error>((id, (done - t0).as_secs_f64() * 1000.0))
            }
        });
        for r in futures_join(futs).await {
            let (id, ms) = r?;
            ids.push(id);
            times.push(ms);
        }
        n += burst;
    }
    let wall = t_all.elapsed().as_secs_f64();
    times.sort_by(|x, y| x.partial_cmp(y).unwrap_or(std::cmp::Ordering::Equal));
    let rss_after = a
        .server_pid
        .and_then(|p| Proc::Pid(p).rss_kib().ok().flatten());
    println!(
        "create → ACTIVE, {} servers in bursts of {}:",
        a.servers, a.burst
    );
    println!(
        "  p50 {:.1} ms   p99 {:.1} ms   max {:.1} ms",
        pct(&times, 50.0),
        pct(&times, 99.0),
        pct(&times, 100.0)
    );
    println!(
        "  {:.1} builds/s end to end ({:.2} s wall)",
        a.servers as f64 / wall,
        wall
    );
    if let (Some(b), Some(r)) = (rss_before, rss_after) {
        println!(
            "  control-plane RSS {:.1} MiB before, {:.1} MiB after",
            b as f64 / 1024.0,
            r as f64 / 1024.0
        );
    }
    let mut sched = Value::Null;
    if let Some(log) = &a.server_log {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        // Strip ANSI colour codes (a log written without NO_COLOR).
        let mut plain = String::with_capacity(text.len());
        let mut in_esc = false;
        for ch in text.chars() {
            match (in_esc, ch) {
                (false, '\u{1b}') => in_esc = true,
                (true, 'm') => in_esc = false,
                (true, _) => {}
                (false, c) => plain.push(c),
            }
        }
        if let Some(line) = plain.lines().rev().find(|l| l.contains("scheduler stats")) {
            let field = |k: &str| -> Option<f64> {
                line.split_whitespace()
                    .find_map(|w| w.strip_prefix(&format!("{k}=")))
                    .and_then(|v| v.trim_matches('"').parse().ok())
            };
            if let (Some(d), Some(us)) = (field("decisions"), field("decision_us_total")) {
                let rate = if us > 0.0 { d / (us / 1e6) } else { 0.0 };
                println!(
                    "  scheduler: {d} decisions, {:.1} ms each under {}-way concurrency \
                     (candidates + filters + weigh + claim over HTTP), {:.0}/s serial-equivalent, \
                     {:.0}/s achieved",
                    us / d / 1000.0,
                    a.burst,
                    rate,
                    a.servers as f64 / wall
                );
                sched = json!({"decisions": d, "mean_ms": us / d / 1000.0, "serial_per_s": rate, "achieved_per_s": a.servers as f64 / wall});
            }
        }
    }
    // Untimed fill up to list_servers, in bursts of 25.
    while ids.len() < a.list_servers {
        let burst = 25.min(a.list_servers - ids.len());
        let base = ids.len();
        let futs = (0..burst).map(|k| {
            let api = &api;
            let (image, flavor, net) = (image.clone(), flavor.clone(), net.clone());
            async move {
                let (st, v) = api
                    .call(reqwest::Method::POST, format!("{}/servers", api.compute), Some(json!({"server": {"name": format!("bench-{}", base + k), "imageRef": image, "flavorRef": flavor, "networks": [{"uuid": net}]}})))
                    .await?;
                if st != 202 {
                    bail!("server create answered {st}: {v}");
                }
                let id = v["server"]["id"].as_str().context("server id")?.to_string();
                wait_active(api, &id, Duration::from_secs(300)).await?;
                Ok::<_, anyhow::Error>(id)
            }
        });
        for r in futures_join(futs).await {
            ids.push(r?);
        }
    }
    let rss_full = a
        .server_pid
        .and_then(|p| Proc::Pid(p).rss_kib().ok().flatten());
    let mut lat = Vec::new();
    let mut count = 0;
    for _ in 0..a.list_requests {
        let t0 = Instant::now();
        let (st, v) = api
            .call(
                get.clone(),
                format!("{}/servers/detail?limit=1000", api.compute),
                None,
            )
            .await?;
        lat.push(t0.elapsed().as_secs_f64() * 1000.0);
        if st != 200 {
            bail!("list answered {st}");
        }
        count = v["servers"].as_array().map(|s| s.len()).unwrap_or(0);
    }
    lat.sort_by(|x, y| x.partial_cmp(y).unwrap_or(std::cmp::Ordering::Equal));
    println!(
        "GET /servers/detail with {count} servers, {} requests:",
        a.list_requests
    );
    println!(
        "  p50 {:.1} ms   p99 {:.1} ms",
        pct(&lat, 50.0),
        pct(&lat, 99.0)
    );
    if let Some(r) = rss_full {
        println!(
            "  control-plane RSS with {} servers: {:.1} MiB",
            ids.len(),
            r as f64 / 1024.0
        );
    }
    if !a.keep {
        for chunk in ids.chunks(25) {
            let futs = chunk
                .iter()
                .map(|id| api.call(del.clone(), format!("{}/servers/{id}", api.compute), None));
            for r in futures_join(futs).await {
                r?;
            }
        }
        // Wait for the deletes before removing the network.
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let (_, v) = api
                .call(
                    get.clone(),
                    format!("{}/servers?name=bench-", api.compute),
                    None,
                )
                .await?;
            if v["servers"].as_array().is_none_or(|s| s.is_empty()) || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        api.call(
            del.clone(),
            format!("{}/v2.0/networks/{net}", api.network),
            None,
        )
        .await?;
        api.call(
            del.clone(),
            format!("{}/v2/images/{image}", api.image),
            None,
        )
        .await?;
        api.call(
            del.clone(),
            format!("{}/flavors/{flavor}", api.compute),
            None,
        )
        .await?;
    }
    println!(
        "{}",
        json!({
            "servers": a.servers, "burst": a.burst,
            "active_p50_ms": pct(&times, 50.0), "active_p99_ms": pct(&times, 99.0),
            "builds_per_s": a.servers as f64 / wall,
            "rss_kib_after_builds": rss_after, "rss_kib_full": rss_full,
            "scheduler": sched,
            "list_servers": count, "list_p50_ms": pct(&lat, 50.0), "list_p99_ms": pct(&lat, 99.0),
        })
    );
    Ok(())
}

/// Runs futures concurrently on the current task (no extra dependency).
async fn futures_join<F: std::future::Future>(futs: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futs {
        set.push(Box::pin(f));
    }
    let mut out: Vec<Option<F::Output>> = (0..set.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}
