//! `edgedesk bench`: a small load generator and instantiation timer.
//!
//! Why built in: the project needs throughput and latency figures for the
//! host (docs/PERFORMANCE.md) without extra tools. It opens N keep-alive
//! HTTP/1.1 connections over loopback, each sending requests back to back,
//! cycling through the given paths, for a fixed duration; then reports
//! requests per second, p50/p99 latency and errors (transport failures and
//! 5xx answers) per path. It also times creating a store and an instance
//! from the pre-instance, the per-request floor of the Spin model.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;

/// Results for one path.
#[derive(Debug, Clone)]
pub struct PathStats {
    pub path: String,
    /// Answers received (any status).
    pub requests: u64,
    /// 2xx answers.
    pub ok: u64,
    pub errors: u64,
    pub non_2xx: u64,
    pub requests_per_sec: f64,
    pub p50: Duration,
    pub p99: Duration,
}

#[derive(Default)]
struct Samples {
    latencies_us: Vec<u32>,
    ok: u64,
    errors: u64,
    non_2xx: u64,
}

/// Drives load at `addr` with `connections` connections for `duration`.
pub async fn run_load(
    addr: SocketAddr,
    host_header: &str,
    paths: &[String],
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Vec<PathStats>> {
    if paths.is_empty() {
        bail!("no paths to request");
    }
    let host = host_header.to_owned();
    let owned = paths.to_vec();
    let make = move |_conn: usize, i: u64| {
        let idx = (i % owned.len() as u64) as usize;
        let req = http::Request::get(owned[idx].as_str())
            .header(http::header::HOST, host.as_str())
            .body(Full::new(Bytes::new()));
        (idx, req)
    };
    let merged = drive(addr, paths.len(), connections, duration, make).await?;
    Ok(stats(paths, merged, duration))
}

/// Makes connection `conn`'s `i`-th request and names its bucket (an index
/// into the labels the results are reported under).
pub trait MakeRequest:
    Fn(usize, u64) -> (usize, http::Result<http::Request<Full<Bytes>>>) + Send + Sync + 'static
{
}
impl<F> MakeRequest for F where
    F: Fn(usize, u64) -> (usize, http::Result<http::Request<Full<Bytes>>>) + Send + Sync + 'static
{
}

/// Drives `make`'s requests over `connections` keep-alive connections for
/// `duration`; returns one bucket of samples per label, in `labels` order.
pub async fn run_requests(
    addr: SocketAddr,
    labels: &[String],
    connections: usize,
    duration: Duration,
    make: impl MakeRequest,
) -> anyhow::Result<Vec<PathStats>> {
    let merged = drive(addr, labels.len(), connections, duration, make).await?;
    Ok(stats(labels, merged, duration))
}

async fn drive(
    addr: SocketAddr,
    buckets: usize,
    connections: usize,
    duration: Duration,
    make: impl MakeRequest,
) -> anyhow::Result<Vec<Samples>> {
    let deadline = Instant::now() + duration;
    let make = std::sync::Arc::new(make);
    let mut tasks = Vec::new();
    for conn_index in 0..connections.max(1) {
        let make = make.clone();
        tasks.push(tokio::spawn(async move {
            let mut samples: Vec<Samples> = (0..buckets).map(|_| Samples::default()).collect();
            let mut sender = None;
            let mut i = conn_index as u64;
            while Instant::now() < deadline {
                let (idx, req) = make(conn_index, i);
                let idx = idx.min(buckets.saturating_sub(1));
                i += 1;
                let Ok(req) = req else {
                    samples[idx].errors += 1;
                    continue;
                };
                if sender.is_none() {
                    match connect(addr).await {
                        Ok(s) => sender = Some(s),
                        Err(_) => {
                            samples[idx].errors += 1;
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    }
                }
                let Some(s) = sender.as_mut() else { continue };
                let started = Instant::now();
                let result = async {
                    s.ready().await?;
                    let resp = s.send_request(req).await?;
                    let status = resp.status();
                    resp.into_body().collect().await?;
                    Ok::<_, hyper::Error>(status)
                }
                .await;
                let elapsed = started.elapsed();
                match result {
                    Ok(status) => {
                        let us = u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX);
                        samples[idx].latencies_us.push(us);
                        if status.is_server_error() {
                            samples[idx].errors += 1;
                        } else if !status.is_success() {
                            samples[idx].non_2xx += 1;
                        } else {
                            samples[idx].ok += 1;
                        }
                    }
                    Err(_) => {
                        samples[idx].errors += 1;
                        sender = None;
                    }
                }
            }
            samples
        }));
    }
    let mut merged: Vec<Samples> = (0..buckets).map(|_| Samples::default()).collect();
    for t in tasks {
        let samples = t.await.map_err(|e| anyhow!("load task failed: {e}"))?;
        for (m, s) in merged.iter_mut().zip(samples) {
            m.latencies_us.extend(s.latencies_us);
            m.ok += s.ok;
            m.errors += s.errors;
            m.non_2xx += s.non_2xx;
        }
    }
    Ok(merged)
}

fn stats(labels: &[String], merged: Vec<Samples>, duration: Duration) -> Vec<PathStats> {
    let secs = duration.as_secs_f64().max(0.001);
    labels
        .iter()
        .zip(merged)
        .map(|(path, mut s)| {
            s.latencies_us.sort_unstable();
            let pct = |p: f64| {
                if s.latencies_us.is_empty() {
                    return Duration::ZERO;
                }
                let i = ((s.latencies_us.len() as f64 - 1.0) * p).round() as usize;
                Duration::from_micros(u64::from(s.latencies_us[i]))
            };
            PathStats {
                path: path.clone(),
                requests: s.latencies_us.len() as u64,
                ok: s.ok,
                errors: s.errors,
                non_2xx: s.non_2xx,
                requests_per_sec: s.latencies_us.len() as f64 / secs,
                p50: pct(0.50),
                p99: pct(0.99),
            }
        })
        .collect()
}

pub(crate) type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

pub(crate) async fn connect(addr: SocketAddr) -> anyhow::Result<Sender> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// Parses `http://host:port` (no TLS) into a socket address and Host header.
pub fn parse_target(url: &str) -> anyhow::Result<(SocketAddr, String)> {
    let parsed = url::Url::parse(url).with_context(|| format!("invalid --url {url:?}"))?;
    if parsed.scheme() != "http" {
        bail!("--url must be http:// (the bench speaks plain HTTP/1.1)");
    }
    let host = parsed.host_str().context("--url has no host")?.to_owned();
    let port = parsed.port_or_known_default().unwrap_or(80);
    let addr = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))?
        .next()
        .context("--url host does not resolve")?;
    if !addr.ip().is_loopback() {
        bail!("the bench only targets loopback addresses (got {addr})");
    }
    Ok((addr, format!("{host}:{port}")))
}

/// Formats results as a table.
pub fn report(connections: usize, duration: Duration, stats: &[PathStats]) -> String {
    let mut out = format!(
        "{connections} connections, {:.0}s\n{:<32} {:>9} {:>10} {:>9} {:>9} {:>7} {:>7}\n",
        duration.as_secs_f64(),
        "path",
        "requests",
        "req/s",
        "p50",
        "p99",
        "errors",
        "non-2xx"
    );
    for s in stats {
        out.push_str(&format!(
            "{:<32} {:>9} {:>10.1} {:>8.2}ms {:>8.2}ms {:>7} {:>7}\n",
            s.path,
            s.requests,
            s.requests_per_sec,
            s.p50.as_secs_f64() * 1000.0,
            s.p99.as_secs_f64() * 1000.0,
            s.errors,
            s.non_2xx
        ));
    }
    let total: f64 = stats.iter().map(|s| s.requests_per_sec).sum();
    out.push_str(&format!("{:<32} {:>9} {:>10.1}\n", "total", "", total));
    out
}
