//! `ws-echo-client HOST:PORT PATH CONNS SECONDS [SIZE]`: opens CONNS WebSocket connections,
//! each sending a SIZE-byte text message and waiting for its echo, for SECONDS (after a
//! one-second warm-up). Prints `round_trips_per_s p50_us p99_us errors`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

fn arg(args: &[String], i: usize, default: &str) -> String {
    args.get(i).cloned().unwrap_or_else(|| default.to_owned())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let addr = arg(&args, 1, "127.0.0.1:8080");
    let path = arg(&args, 2, "/ws");
    let conns: usize = arg(&args, 3, "64").parse().unwrap_or(64);
    let secs: u64 = arg(&args, 4, "5").parse().unwrap_or(5);
    let size: usize = arg(&args, 5, "16").parse().unwrap_or(16);
    let payload = "x".repeat(size);
    let counting = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (addr, path, payload) = (addr.clone(), path.clone(), payload.clone());
        let (counting, stop, errors) = (counting.clone(), stop.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat: Vec<u32> = Vec::new();
            let Ok(tcp) = tokio::net::TcpStream::connect(&addr).await else {
                errors.fetch_add(1, Ordering::Relaxed);
                return lat;
            };
            let _ = tcp.set_nodelay(true);
            let url = format!("ws://{addr}{path}");
            let Ok((mut ws, _)) = tokio_tungstenite::client_async(url, tcp).await else {
                errors.fetch_add(1, Ordering::Relaxed);
                return lat;
            };
            while !stop.load(Ordering::Relaxed) {
                let t0 = Instant::now();
                if ws.send(Message::text(payload.clone())).await.is_err() {
                    errors.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                match ws.next().await {
                    Some(Ok(Message::Text(_))) => {}
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
                if counting.load(Ordering::Relaxed) {
                    lat.push(t0.elapsed().as_micros() as u32);
                }
            }
            let _ = ws.close(None).await;
            lat
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    counting.store(true, Ordering::Relaxed);
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    counting.store(false, Ordering::Relaxed);
    let elapsed = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        if let Ok(l) = t.await {
            all.extend(l);
        }
    }
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "{:.0} {} {} {}",
        all.len() as f64 / elapsed,
        pct(0.5),
        pct(0.99),
        errors.load(Ordering::Relaxed)
    );
}
