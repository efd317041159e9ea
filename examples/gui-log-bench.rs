//! Benchmark (not a test): 1,000,000 log lines pushed through the window's backend into
//! its log model as fast as a producer thread can make them, with the real window open
//! offscreen (the log pane's ListView attached and following the tail) or, with `model`,
//! the backend alone.
//!
//! Prints lines per second, peak RSS, and the longest event-loop stall: a ticker thread
//! posts a probe to the Qt thread every 5 ms and each probe measures how late it runs.
//! A baseline in the same run makes and stores the same lines in a plain `Vec<String>`.
//!
//! Usage: gui-log-bench [window|model] [LINES]   (run by `bench/gui-log.sh`)

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};
use wbackup::engine::events::Event;
use wbackup::gui::demo;

#[derive(Default)]
struct Probe {
    ticks: u64,
    worst: Duration,
    over_16ms: u64,
    over_50ms: u64,
    finished: Option<Instant>,
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args
        .first()
        .map(String::as_str)
        .unwrap_or("window")
        .to_string();
    anyhow::ensure!(mode == "window" || mode == "model", "mode: window or model");
    let n: u64 = args
        .get(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);

    let dir = tempfile::tempdir()?;
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )?;
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "orchestrator = \"laptop\"\nbase_dir = \"{}/backup\"\n[nodes.laptop]\npaths = [\"~/Documents\"]\n",
            dir.path().display()
        ),
    )?;
    std::env::set_var("XDG_RUNTIME_DIR", dir.path());
    std::env::set_var("QT_QPA_PLATFORM", "offscreen");
    wbackup::gui::prepare_environment();

    let mut app = cxx_qt_lib::QGuiApplication::new();
    let mut engine = wbackup::gui::new_engine();
    let mut own_backend = None;
    let thread = if mode == "window" {
        if let Some(mut e) = engine.as_mut() {
            wbackup::gui::set_config_file(e.as_mut(), Some(&config));
            e.load(&cxx_qt_lib::QUrl::from(wbackup::gui::MAIN_QML));
        }
        wbackup::gui::native::window_backend(&engine)
            .ok_or_else(|| anyhow::anyhow!("the window did not load"))?
    } else {
        let mut backend = wbackup::gui::native::new_backend();
        backend
            .pin_mut()
            .load(&cxx_qt_lib::QString::from(&*config.to_string_lossy()));
        let thread = cxx_qt::Threading::qt_thread(&*backend);
        let _ = backend.pin_mut();
        own_backend = Some(backend);
        thread
    };

    let probe = Arc::new(Mutex::new(Probe::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Arc::new(Mutex::new(None::<Instant>));
    let produced_at = Arc::new(AtomicU64::new(0));

    // The producer: the engine's side of the intake.
    let (tx, rx) = mpsc::channel();
    thread
        .queue(move |b| {
            let _ = tx.send(b.intake());
        })
        .map_err(|_| anyhow::anyhow!("backend gone"))?;
    let producer_started = started.clone();
    let produced = produced_at.clone();
    let producer = std::thread::spawn(move || {
        let Ok(intake) = rx.recv() else { return };
        let t0 = Instant::now();
        *producer_started.lock().unwrap() = Some(t0);
        intake.push(Event::RunStarted {
            run_id: "bench".into(),
            log_path: None,
            steps: 1,
        });
        for e in demo::lines("laptop", n as usize) {
            intake.push(e);
        }
        produced.store(t0.elapsed().as_micros() as u64, Ordering::SeqCst);
    });

    // The stall probe: every 5 ms, a probe posted to the Qt thread measures its lateness.
    let ticker_thread = thread.clone();
    let ticker_probe = probe.clone();
    let ticker_stop = stop.clone();
    let ticker = std::thread::spawn(move || {
        while !ticker_stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(5));
            let posted = Instant::now();
            let p = ticker_probe.clone();
            let s = ticker_stop.clone();
            let queued = ticker_thread.queue(move |b| {
                let late = posted.elapsed();
                let mut p = p.lock().unwrap();
                p.ticks += 1;
                p.worst = p.worst.max(late);
                p.over_16ms += u64::from(late > Duration::from_millis(16));
                p.over_50ms += u64::from(late > Duration::from_millis(50));
                if p.finished.is_none() && b.log_totals().0 == n {
                    p.finished = Some(Instant::now());
                    s.store(true, Ordering::SeqCst);
                    wbackup::gui::native::quit_application();
                }
            });
            if queued.is_err() {
                break;
            }
        }
    });

    let code = app.as_mut().map(|a| a.exec()).unwrap_or(1);
    stop.store(true, Ordering::SeqCst);
    producer.join().expect("producer");
    ticker.join().expect("ticker");
    anyhow::ensure!(code == 0, "event loop exited with {code}");
    let peak_kib = peak_rss_kib();
    let p = probe.lock().unwrap();
    let t0 = started.lock().unwrap().expect("producer started");
    let total = p.finished.expect("all lines reached the model") - t0;
    let rate = n as f64 / total.as_secs_f64();
    let producer_s = produced_at.load(Ordering::SeqCst) as f64 / 1e6;
    drop(own_backend);
    drop(engine);

    // Baseline: the same lines made and kept in a plain Vec<String>, no Qt.
    let b0 = Instant::now();
    let mut plain: Vec<String> = Vec::new();
    for e in demo::lines("laptop", n as usize) {
        if let Event::Line { text, .. } = e {
            plain.push(text);
        }
    }
    let baseline = b0.elapsed();
    let baseline_rate = n as f64 / baseline.as_secs_f64();
    assert_eq!(plain.len() as u64, n);
    drop(plain);

    println!("gui-log-bench ({mode}): {n} lines");
    println!(
        "  through the backend into the log model: {:.3} s, {:.0} lines/s (producer done after {:.3} s)",
        total.as_secs_f64(),
        rate,
        producer_s
    );
    println!(
        "  baseline, same lines into a Vec<String>: {:.3} s, {:.0} lines/s",
        baseline.as_secs_f64(),
        baseline_rate
    );
    println!("  ratio backend/baseline: {:.2}", rate / baseline_rate);
    println!(
        "  peak RSS (before the baseline ran): {:.1} MB",
        peak_kib as f64 / 1024.0
    );
    println!(
        "  event loop: {} probes every 5 ms, longest stall {:.1} ms, {} over 16 ms, {} over 50 ms",
        p.ticks,
        p.worst.as_secs_f64() * 1e3,
        p.over_16ms,
        p.over_50ms
    );
    println!(
        "  goals: >= 200000 lines/s [{}], < 150 MB [{}], no stall > 50 ms [{}]",
        if rate >= 200_000.0 { "met" } else { "MISSED" },
        if peak_kib < 150 * 1024 {
            "met"
        } else {
            "MISSED"
        },
        if p.worst <= Duration::from_millis(50) {
            "met"
        } else {
            "MISSED"
        }
    );
    Ok(())
}
