//! What the benchmark reads about a process from `/proc`: CPU time (utime + stime of
//! the whole thread group, in clock ticks) and resident set size.

use std::path::PathBuf;

use anyhow::{bail, Context};

/// A process to read: a PID, or this process.
#[derive(Clone, Copy, Debug)]
pub enum Proc {
    Pid(u32),
    Current,
}

impl Proc {
    fn dir(self) -> PathBuf {
        match self {
            Proc::Pid(pid) => PathBuf::from(format!("/proc/{pid}")),
            Proc::Current => PathBuf::from("/proc/self"),
        }
    }

    /// utime + stime in clock ticks, all threads (live and exited) included.
    pub fn cpu_ticks(self) -> anyhow::Result<u64> {
        let path = self.dir().join("stat");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        parse_stat_cpu_ticks(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// Voluntary + involuntary context switches summed over the live threads
    /// (`/proc/PID/task/*/status`; threads that exited are not counted).
    pub fn ctx_switches(self) -> anyhow::Result<u64> {
        let tasks = self.dir().join("task");
        let mut total = 0;
        for entry in
            std::fs::read_dir(&tasks).with_context(|| format!("listing {}", tasks.display()))?
        {
            let Ok(text) = std::fs::read_to_string(entry?.path().join("status")) else {
                continue; // the thread exited meanwhile
            };
            total += parse_status_kib(&text, "voluntary_ctxt_switches:").unwrap_or(0)
                + parse_status_kib(&text, "nonvoluntary_ctxt_switches:").unwrap_or(0);
        }
        Ok(total)
    }

    /// VmRSS in KiB (`None` if the kernel does not report it, e.g. a zombie).
    pub fn rss_kib(self) -> anyhow::Result<Option<u64>> {
        let path = self.dir().join("status");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        Ok(parse_status_kib(&text, "VmRSS:"))
    }
}

/// Fields 14 (utime) and 15 (stime) of `/proc/PID/stat`. The command name (field 2) is
/// in parentheses and may contain spaces or parentheses, so fields are counted from
/// the last `)`: the first field after it is field 3 (state).
fn parse_stat_cpu_ticks(stat: &str) -> anyhow::Result<u64> {
    let Some(close) = stat.rfind(')') else {
        bail!("no ')' after the command name");
    };
    let rest: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    let field = |n: usize| -> anyhow::Result<u64> {
        let s = rest
            .get(n - 3)
            .with_context(|| format!("field {n} missing"))?;
        s.parse::<u64>()
            .with_context(|| format!("field {n} is not a number: {s:?}"))
    };
    Ok(field(14)? + field(15)?)
}

/// The first number after `key` in a `/proc/PID/status` text.
fn parse_status_kib(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on every Linux this runs on, which is
/// the fallback if getconf is missing).
pub fn clock_ticks_per_sec() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_counted_after_the_command_name() {
        let stat = "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194304 1000 0 0 0 \
                    250 37 0 0 20 0 9 0 12345 1000000 2000 18446744073709551615";
        assert_eq!(parse_stat_cpu_ticks(stat).unwrap(), 287);
    }

    #[test]
    fn current_process_is_readable() {
        Proc::Current.cpu_ticks().unwrap();
        assert!(Proc::Current.rss_kib().unwrap().unwrap() > 0);
        Proc::Current.ctx_switches().unwrap();
        assert!(clock_ticks_per_sec() > 0);
    }

    #[test]
    fn status_rss() {
        let s = "Name:\tx\nVmPeak:\t  9000 kB\nVmRSS:\t    5120 kB\n";
        assert_eq!(parse_status_kib(s, "VmRSS:"), Some(5120));
        assert_eq!(parse_status_kib(s, "VmSwap:"), None);
    }
}
