//! `rustack-bench identity`: token issue, token validate and project list against a
//! running Identity API, at several concurrencies, with the server's CPU time per request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use reqwest::{Client, StatusCode, Url};
use serde_json::{json, Value};

use crate::procfs::{self, Proc};

/// One measured operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Op {
    /// POST /v3/auth/tokens, password method, project scope (bcrypt verify every time).
    Issue,
    /// GET /v3/auth/tokens with X-Auth-Token and X-Subject-Token, always the same subject
    /// (the server's token cache is warm after the first request).
    Validate,
    /// GET /v3/projects.
    List,
    /// GET /v3/auth/tokens, each request a different, never-validated subject token
    /// (obtained beforehand with the token method): the server's uncached path.
    ValidateCold,
    /// `validate` with `?nocatalog`: the same minus building the catalog.
    ValidateNocatalog,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Issue => "issue",
            Op::Validate => "validate",
            Op::List => "list",
            Op::ValidateCold => "validate-cold",
            Op::ValidateNocatalog => "validate-nocatalog",
        }
    }
}

/// Options of `rustack-bench identity`.
#[derive(clap::Args, Debug, Clone)]
pub struct IdentityArgs {
    /// Identity endpoint (http, loopback only), e.g. http://127.0.0.1:5000.
    #[arg(long, default_value = "http://127.0.0.1:5000")]
    pub url: String,
    /// The admin user's password (keystone_admin_password in passwords.yml).
    #[arg(long, env = "OS_PASSWORD", hide_env_values = true)]
    pub password: String,
    /// PID of the server process whose CPU time is measured.
    #[arg(long)]
    pub server_pid: u32,
    /// Time bound of every (operation, concurrency) run, in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration_secs: f64,
    /// Count bound of every run (requests started).
    #[arg(long, default_value_t = 200_000)]
    pub max_requests: u64,
    /// Concurrencies (in-flight requests), comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1,8")]
    pub concurrency: Vec<usize>,
    /// Operations, comma separated, run in this order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "issue,validate,validate-nocatalog,list,validate-cold"
    )]
    pub ops: Vec<Op>,
    /// Distinct subject tokens prepared per validate-cold run (its count bound).
    #[arg(long, default_value_t = 2000)]
    pub cold_tokens: usize,
    /// User, project and their domain to authenticate as.
    #[arg(long, default_value = "admin")]
    pub user: String,
    #[arg(long, default_value = "admin")]
    pub project: String,
    #[arg(long, default_value = "Default")]
    pub domain: String,
}

/// Everything a worker needs; shared read-only.
struct Target {
    client: Client,
    tokens_url: Url,
    /// `tokens_url` with `?nocatalog`.
    tokens_nocatalog_url: Url,
    projects_url: Url,
    version_url: Url,
    /// Pre-serialized password-auth request body.
    issue_body: Vec<u8>,
    /// The admin token used as X-Auth-Token.
    auth_token: String,
    /// The subject of `validate`.
    subject: String,
}

/// Result of one (operation, concurrency) run.
#[derive(Debug)]
pub struct RunResult {
    op: Op,
    concurrency: usize,
    requests: u64,
    errors: u64,
    first_error: Option<String>,
    elapsed: Duration,
    lat: Latencies,
    server_cpu_ms: f64,
    client_cpu_ms: f64,
    /// Context switches of all server threads during the run (None if unreadable).
    server_ctx_switches: Option<u64>,
}

#[derive(Debug, Default)]
struct Latencies {
    /// Sorted, nanoseconds.
    ns: Vec<u64>,
}

impl Latencies {
    fn pct_ms(&self, p: f64) -> f64 {
        if self.ns.is_empty() {
            return f64::NAN;
        }
        // Nearest rank.
        let rank = ((p / 100.0) * self.ns.len() as f64).ceil() as usize;
        let i = rank.clamp(1, self.ns.len()) - 1;
        self.ns[i] as f64 / 1e6
    }
    fn mean_ms(&self) -> f64 {
        if self.ns.is_empty() {
            return f64::NAN;
        }
        self.ns.iter().map(|&n| n as f64).sum::<f64>() / self.ns.len() as f64 / 1e6
    }
}

impl RunResult {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
    fn per_req(&self, ms: f64) -> f64 {
        if self.requests == 0 {
            f64::NAN
        } else {
            ms / self.requests as f64
        }
    }
    fn to_json(&self) -> Value {
        let num = |x: f64| {
            if x.is_finite() {
                json!((x * 1000.0).round() / 1000.0)
            } else {
                Value::Null
            }
        };
        json!({
            "op": self.op.name(),
            "concurrency": self.concurrency,
            "requests": self.requests,
            "errors": self.errors,
            "elapsed_s": num(self.elapsed.as_secs_f64()),
            "rps": num(self.rps()),
            "mean_ms": num(self.lat.mean_ms()),
            "p50_ms": num(self.lat.pct_ms(50.0)),
            "p90_ms": num(self.lat.pct_ms(90.0)),
            "p99_ms": num(self.lat.pct_ms(99.0)),
            "max_ms": num(self.lat.pct_ms(100.0)),
            "server_cpu_ms": num(self.server_cpu_ms),
            "server_cpu_ms_per_req": num(self.per_req(self.server_cpu_ms)),
            "server_cores_busy": num(self.server_cpu_ms / 1000.0 / self.elapsed.as_secs_f64()),
                        "client_cpu_ms_per_req": num(self.per_req(self.client_cpu_ms)),
            "server_ctx_switches_per_req": self.server_ctx_switches.map(|c| num(self.per_req(c as f64))),
            "first_error": self.first_error,
        })
    }
}

/// Refuses anything but plain HTTP to a loopback address: this is a load generator.
async fn check_loopback(url: &Url) -> anyhow::Result<()> {
    if url.scheme() != "http" {
        bail!("only http:// URLs are supported (got {})", url.scheme());
    }
    let host = url.host_str().context("the URL has no host")?;
    let port = url.port_or_known_default().unwrap_or(80);
    let addrs: Vec<_> = tokio::net::lookup_host((host.trim_matches(['[', ']']), port))
        .await
        .with_context(|| format!("resolving {host}"))?
        .collect();
    if addrs.is_empty() || !addrs.iter().all(|a| a.ip().is_loopback()) {
        bail!("refusing to load {host}: only loopback targets are allowed (resolves to {addrs:?})");
    }
    Ok(())
}

fn password_auth_body(a: &IdentityArgs) -> Value {
    json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": a.user, "domain": {"name": a.domain}, "password": a.password}}},
        "scope": {"project": {"name": a.project, "domain": {"name": a.domain}}}
    }})
}

fn token_auth_body(token: &str, a: &IdentityArgs) -> Value {
    json!({"auth": {
        "identity": {"methods": ["token"], "token": {"id": token}},
        "scope": {"project": {"name": a.project, "domain": {"name": a.domain}}}
    }})
}

/// POSTs an auth body, returns the X-Subject-Token.
async fn issue(client: &Client, url: &Url, body: Vec<u8>) -> anyhow::Result<String> {
    let resp = client
        .post(url.clone())
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .context("POST /v3/auth/tokens")?;
    let status = resp.status();
    let token = resp
        .headers()
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let text = resp.text().await.unwrap_or_default();
    match (status, token) {
        (StatusCode::CREATED, Some(t)) => Ok(t),
        (s, _) => bail!(
            "POST /v3/auth/tokens: {s}: {}",
            text.chars().take(300).collect::<String>()
        ),
    }
}

/// One request of `op`; `Err` carries a short description of an unexpected answer.
async fn one(t: &Target, op: Op, cold_subject: Option<&str>) -> Result<(), String> {
    let (req, want) = match op {
        Op::Issue => (
            t.client
                .post(t.tokens_url.clone())
                .header("content-type", "application/json")
                .body(t.issue_body.clone()),
            StatusCode::CREATED,
        ),
        Op::Validate | Op::ValidateCold | Op::ValidateNocatalog => (
            t.client
                .get(if op == Op::ValidateNocatalog {
                    t.tokens_nocatalog_url.clone()
                } else {
                    t.tokens_url.clone()
                })
                .header("x-auth-token", &t.auth_token)
                .header("x-subject-token", cold_subject.unwrap_or(&t.subject)),
            StatusCode::OK,
        ),
        Op::List => (
            t.client
                .get(t.projects_url.clone())
                .header("x-auth-token", &t.auth_token),
            StatusCode::OK,
        ),
    };
    let resp = req.send().await.map_err(|e| format!("{e}"))?;
    let status = resp.status();
    // Read the whole body: the server's cost includes rendering and sending it.
    let body = resp
        .bytes()
        .await
        .map_err(|e| format!("reading body: {e}"))?;
    if status != want {
        return Err(format!(
            "{status}: {}",
            String::from_utf8_lossy(&body)
                .chars()
                .take(200)
                .collect::<String>()
        ));
    }
    Ok(())
}

/// Opens `n` connections (concurrent GET /v3) so connection set-up is outside the
/// measured window.
async fn warm_connections(t: &Arc<Target>, n: usize) -> anyhow::Result<()> {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let r = t.client.get(t.version_url.clone()).send().await?;
            r.bytes().await
        }));
    }
    for task in tasks {
        task.await
            .context("warm-up task")?
            .context("warm-up GET /v3")?;
    }
    Ok(())
}

struct WorkerOut {
    ns: Vec<u64>,
    errors: u64,
    first_error: Option<String>,
}

async fn measure(
    t: &Arc<Target>,
    args: &IdentityArgs,
    server: Proc,
    hz: u64,
    op: Op,
    concurrency: usize,
    cold: Option<Arc<Vec<String>>>,
) -> anyhow::Result<RunResult> {
    warm_connections(t, concurrency).await?;
    let limit = match &cold {
        Some(pool) => args.max_requests.min(pool.len() as u64),
        None => args.max_requests,
    };
    let duration = Duration::from_secs_f64(args.duration_secs);
    let counter = Arc::new(AtomicU64::new(0));

    let ctx0 = server.ctx_switches().ok();
    let server0 = server
        .cpu_ticks()
        .context("reading the server's CPU time")?;
    let client0 = Proc::Current.cpu_ticks()?;
    let start = Instant::now();
    let deadline = start + duration;
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let t = t.clone();
        let counter = counter.clone();
        let cold = cold.clone();
        workers.push(tokio::spawn(async move {
            let mut out = WorkerOut {
                ns: Vec::new(),
                errors: 0,
                first_error: None,
            };
            while Instant::now() < deadline {
                let i = counter.fetch_add(1, Ordering::Relaxed);
                if i >= limit {
                    break;
                }
                let subject = cold.as_ref().map(|p| p[i as usize].as_str());
                let t0 = Instant::now();
                let r = one(&t, op, subject).await;
                out.ns.push(t0.elapsed().as_nanos() as u64);
                if let Err(e) = r {
                    out.errors += 1;
                    out.first_error.get_or_insert(e);
                }
            }
            out
        }));
    }
    let mut lat = Latencies::default();
    let mut errors = 0;
    let mut first_error = None;
    for w in workers {
        let out = w.await.context("benchmark worker")?;
        lat.ns.extend(out.ns);
        errors += out.errors;
        if first_error.is_none() {
            first_error = out.first_error;
        }
    }
    let elapsed = start.elapsed();
    let server1 = server
        .cpu_ticks()
        .context("reading the server's CPU time")?;
    let ctx1 = server.ctx_switches().ok();
    let client1 = Proc::Current.cpu_ticks()?;
    lat.ns.sort_unstable();
    let ms = |ticks: u64| ticks as f64 * 1000.0 / hz as f64;
    Ok(RunResult {
        op,
        concurrency,
        requests: lat.ns.len() as u64,
        errors,
        first_error,
        elapsed,
        lat,
        server_cpu_ms: ms(server1.saturating_sub(server0)),
        client_cpu_ms: ms(client1.saturating_sub(client0)),
        server_ctx_switches: ctx0.zip(ctx1).map(|(a, b)| b.saturating_sub(a)),
    })
}

/// Prepares `n` distinct project-scoped tokens with the token method (no bcrypt), so
/// none of them is in the server's validation cache. Not measured.
async fn cold_pool(t: &Target, args: &IdentityArgs, n: usize) -> anyhow::Result<Vec<String>> {
    let body = serde_json::to_vec(&token_auth_body(&t.auth_token, args))?;
    let mut pool = Vec::with_capacity(n);
    while pool.len() < n {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..4.min(n - pool.len()) {
            let (client, url, body) = (t.client.clone(), t.tokens_url.clone(), body.clone());
            set.spawn(async move { issue(&client, &url, body).await });
        }
        while let Some(r) = set.join_next().await {
            pool.push(r.context("token task")??);
        }
    }
    Ok(pool)
}

fn fmt_ms(x: f64) -> String {
    if !x.is_finite() {
        "-".into()
    } else if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else if x >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

fn print_table(results: &[RunResult]) {
    println!(
        "{:<18} {:>4} {:>8} {:>6} {:>9} {:>8} {:>8} {:>8} {:>11} {:>9} {:>10} {:>10}",
        "op",
        "conc",
        "requests",
        "errors",
        "req/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "srv CPU ms",
        "srv cores",
        "srv ctxsw",
        "client CPU"
    );
    println!(
        "{:<18} {:>4} {:>8} {:>6} {:>9} {:>8} {:>8} {:>8} {:>11} {:>9} {:>10} {:>10}",
        "", "", "", "", "", "", "", "", "/request", "busy", "/request", "ms/req"
    );
    for r in results {
        println!(
            "{:<18} {:>4} {:>8} {:>6} {:>9.1} {:>8} {:>8} {:>8} {:>11} {:>9.2} {:>10} {:>10}",
            r.op.name(),
            r.concurrency,
            r.requests,
            r.errors,
            r.rps(),
            fmt_ms(r.lat.pct_ms(50.0)),
            fmt_ms(r.lat.pct_ms(99.0)),
            fmt_ms(r.lat.pct_ms(100.0)),
            fmt_ms(r.per_req(r.server_cpu_ms)),
            r.server_cpu_ms / 1000.0 / r.elapsed.as_secs_f64(),
            r.server_ctx_switches
                .map_or("-".into(), |c| format!("{:.1}", r.per_req(c as f64))),
            fmt_ms(r.per_req(r.client_cpu_ms)),
        );
    }
}

/// Runs the identity benchmark; prints a table, then one JSON line (the last line).
pub async fn run(args: IdentityArgs) -> anyhow::Result<()> {
    let base = Url::parse(&args.url).with_context(|| format!("parsing --url {}", args.url))?;
    check_loopback(&base).await?;
    if args.concurrency.contains(&0) {
        bail!("--concurrency values must be at least 1");
    }
    if !args.duration_secs.is_finite() || args.duration_secs <= 0.0 {
        bail!("--duration-secs must be positive");
    }
    let server = Proc::Pid(args.server_pid);
    server
        .cpu_ticks()
        .with_context(|| format!("--server-pid {} is not readable", args.server_pid))?;
    let hz = procfs::clock_ticks_per_sec();
    let join = |p: &str| {
        let mut u = base.clone();
        let path = format!("{}/{}", u.path().trim_end_matches('/'), p);
        u.set_path(&path);
        u
    };
    let max_conc = args.concurrency.iter().copied().max().unwrap_or(1);
    let client = Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(max_conc.max(8))
        .timeout(Duration::from_secs(120))
        .build()
        .context("building the HTTP client")?;
    let tokens_url = join("v3/auth/tokens");
    let issue_body = serde_json::to_vec(&password_auth_body(&args))?;
    let auth_token = issue(&client, &tokens_url, issue_body.clone())
        .await
        .context("authenticating as the admin user")?;
    let subject = issue(
        &client,
        &tokens_url,
        serde_json::to_vec(&token_auth_body(&auth_token, &args))?,
    )
    .await
    .context("getting a subject token")?;
    let target = Arc::new(Target {
        client,
        tokens_nocatalog_url: {
            let mut u = tokens_url.clone();
            u.set_query(Some("nocatalog"));
            u
        },
        projects_url: join("v3/projects"),
        version_url: join("v3"),
        tokens_url,
        issue_body,
        auth_token,
        subject,
    });

    let rss_before = server.rss_kib()?;
    println!(
        "rustack-bench identity: {} (server pid {}, CLK_TCK {hz}, {} s or {} requests per run)",
        args.url, args.server_pid, args.duration_secs, args.max_requests
    );
    let mut results = Vec::new();
    for &op in &args.ops {
        for &c in &args.concurrency {
            let cold = if op == Op::ValidateCold {
                Some(Arc::new(cold_pool(&target, &args, args.cold_tokens).await?))
            } else {
                None
            };
            eprintln!("  running {} at concurrency {c} ...", op.name());
            let r = measure(&target, &args, server, hz, op, c, cold).await?;
            if r.errors > 0 {
                eprintln!(
                    "  warning: {} of {} {} requests failed; first: {}",
                    r.errors,
                    r.requests,
                    op.name(),
                    r.first_error.as_deref().unwrap_or("?")
                );
            }
            results.push(r);
        }
    }
    let rss_after = server.rss_kib()?;
    println!();
    print_table(&results);
    println!(
        "server VmRSS: {} KiB before, {} KiB after",
        rss_before.map_or("?".into(), |v| v.to_string()),
        rss_after.map_or("?".into(), |v| v.to_string())
    );
    println!("(CPU from /proc/PID/stat utime+stime; resolution 1/{hz} s per run)");
    let line = json!({
        "bench": "identity",
        "url": args.url,
        "server_pid": args.server_pid,
        "clk_tck": hz,
        "duration_secs": args.duration_secs,
        "max_requests": args.max_requests,
        "server_rss_kib_before": rss_before,
        "server_rss_kib_after": rss_after,
        "results": results.iter().map(RunResult::to_json).collect::<Vec<_>>(),
    });
    println!("{line}");
    let failed: u64 = results.iter().map(|r| r.errors).sum();
    if failed > 0 {
        bail!("{failed} requests failed");
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let lat = Latencies {
            ns: (1..=100).map(|i| i * 1_000_000).collect(),
        };
        assert_eq!(lat.pct_ms(50.0), 50.0);
        assert_eq!(lat.pct_ms(99.0), 99.0);
        assert_eq!(lat.pct_ms(100.0), 100.0);
        assert_eq!(lat.pct_ms(0.0), 1.0);
        assert!(Latencies::default().pct_ms(50.0).is_nan());
    }

    #[tokio::test]
    async fn only_loopback() {
        for ok in [
            "http://127.0.0.1:5000",
            "http://[::1]:5000/",
            "http://localhost:1",
        ] {
            check_loopback(&Url::parse(ok).unwrap()).await.unwrap();
        }
        for bad in [
            "https://127.0.0.1:5000",
            "http://192.0.2.1:5000",
            "http://10.0.0.1",
        ] {
            assert!(
                check_loopback(&Url::parse(bad).unwrap()).await.is_err(),
                "{bad}"
            );
        }
    }
}
