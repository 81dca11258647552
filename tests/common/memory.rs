//! How much memory a process holds, from `/proc/<pid>/status` (Linux).

/// Resident set size now (`VmRSS`) and its peak over the process's life (`VmHWM`), in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resident {
    pub now: u64,
    pub peak: u64,
}

/// `None` once the process is gone.
pub fn resident(pid: u32) -> Option<Resident> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |field: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(field))?;
        let value = line[field.len()..].trim().strip_suffix("kB")?.trim();
        value.parse::<u64>().ok().map(|k| k * 1024)
    };
    Some(Resident {
        now: kib("VmRSS:")?,
        peak: kib("VmHWM:")?,
    })
}

/// Megabytes (10^6 bytes), for messages and bounds.
pub fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}
