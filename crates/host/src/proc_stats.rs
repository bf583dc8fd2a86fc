//! A process's CPU time and resident memory, read from Linux's `/proc`, for
//! the bench command and the performance tests. Elsewhere every reading is 0.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// A `kB` field of `/proc/<pid>/status` (`"VmRSS:"`, `"VmHWM:"`,
/// `"RssAnon:"`…), in KiB; 0 when it cannot be read.
pub fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| status_field(&s, field))
        .unwrap_or(0)
}

/// The number after `field` in a `status` file's text (its first such line).
fn status_field(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
}

/// CPU seconds the process has used (user and system), from
/// `/proc/<pid>/stat`: on a shared machine throughput moves with the
/// neighbours, CPU per request much less, so it is what shows whether a
/// change helped.
pub fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // utime and stime are the 14th and 15th fields, in clock ticks (100 a
    // second); the command name (2nd) is parenthesised and may hold spaces,
    // so count from after it.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Context switches of all the process's threads (voluntary and not), from
/// each `/proc/<pid>/task/<tid>/status`: a host whose threads wait on one
/// another (a lock, a wake-up across workers) switches more an answer, which
/// its CPU time alone does not tell apart from a slower machine.
pub fn context_switches(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("status")).ok())
        .map(|status| {
            ["voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:"]
                .iter()
                .filter_map(|field| status_field(&status, field))
                .sum::<u64>()
        })
        .sum()
}

/// Samples a process's resident memory (`VmRSS`) on a thread until
/// [`RssPeak::finish`], which gives the most seen.
pub struct RssPeak {
    pid: u32,
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssPeak {
    /// Starts sampling `pid` every `every`.
    pub fn start(pid: u32, every: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(status_kib(pid, "VmRSS:")));
        let (s, p) = (stop.clone(), peak.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(status_kib(pid, "VmRSS:"), Ordering::Relaxed);
                std::thread::sleep(every);
            }
        });
        RssPeak {
            pid,
            stop,
            peak,
            thread: Some(thread),
        }
    }

    /// Stops sampling: the most resident memory seen, in KiB, counting a
    /// last sample taken now.
    pub fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.peak
            .load(Ordering::Relaxed)
            .max(status_kib(self.pid, "VmRSS:"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn cpu_time_of_this_process_is_read() {
        let pid = std::process::id();
        let before = cpu_seconds(pid);
        let mut x = 0u64;
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(300) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        assert!(x > 0);
        assert!(cpu_seconds(pid) > before);
    }

    #[test]
    fn context_switches_count_every_thread() {
        // A thread that sleeps switches out each time: 300 naps are more
        // than this test binary's main thread switches while tests run, so
        // reading one thread's count (the process's own status) would fail.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let (napped_tx, napped) = std::sync::mpsc::channel::<()>();
        let napper = std::thread::spawn(move || {
            for _ in 0..300 {
                std::thread::sleep(Duration::from_micros(200));
            }
            let _ = napped_tx.send(());
            let _ = rx.recv();
        });
        napped.recv().unwrap();
        let total = context_switches(std::process::id());
        tx.send(()).unwrap();
        napper.join().unwrap();
        assert!(total >= 300, "{total} context switches");
    }

    #[test]
    fn the_peak_counts_memory_touched_while_sampling() {
        let pid = std::process::id();
        let watch = RssPeak::start(pid, Duration::from_millis(2));
        let before = status_kib(pid, "VmRSS:");
        assert!(before > 0, "VmRSS is read");
        // 64 MiB written, so resident, then given back.
        let block = std::hint::black_box(vec![1u8; 64 << 20]);
        std::thread::sleep(Duration::from_millis(50));
        drop(block);
        let peak = watch.finish();
        assert!(
            peak >= before + (32 << 10),
            "peak {peak} KiB, before {before} KiB"
        );
    }
}
