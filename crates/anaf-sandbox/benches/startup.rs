//! How long `Sandbox::start` takes (tests start many sandboxes), and the first request after
//! it. Run: `cargo bench -p anaf-sandbox --bench startup`.

use std::time::{Duration, Instant};

use anaf_sandbox::{Sandbox, SandboxOptions};

fn main() {
    const RUNS: usize = 200;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let http = reqwest::Client::new();
    // The first start also loads the embedded signing key; report it apart.
    let first = Instant::now();
    drop(Sandbox::start(SandboxOptions::default()).unwrap());
    let first = first.elapsed();
    let mut starts: Vec<Duration> = Vec::with_capacity(RUNS);
    let mut ready: Vec<Duration> = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        let sandbox = Sandbox::start(SandboxOptions::default()).unwrap();
        starts.push(started.elapsed());
        let url = format!("{}/_sandbox/", sandbox.base_url());
        runtime.block_on(async { http.get(&url).send().await.unwrap().bytes().await.unwrap() });
        ready.push(started.elapsed());
    }
    starts.sort_unstable();
    ready.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("first start in the process: {:.2} ms", ms(first));
    println!(
        "start: median {:.2} ms, p90 {:.2} ms, max {:.2} ms; start + first answer: median {:.2} ms, p90 {:.2} ms ({RUNS} runs)",
        ms(starts[RUNS / 2]),
        ms(starts[RUNS * 9 / 10]),
        ms(starts[RUNS - 1]),
        ms(ready[RUNS / 2]),
        ms(ready[RUNS * 9 / 10])
    );
}
