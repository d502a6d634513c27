//! Errors (and warnings) for the engine: one line on stderr, and in `--log` as text or runc's JSON lines
//! (`{"level":"error","msg":"…","time":"…"}`), which conmon and containerd read back.

use std::io::Write;

use crate::cli::Global;

/// Where errors go.
#[derive(Debug)]
pub struct Logger {
    file: Option<std::path::PathBuf>,
    json: bool,
}

impl Logger {
    /// From the global flags.
    pub fn new(global: &Global) -> Logger {
        Logger {
            file: global.log.clone(),
            json: global.log_format == "json",
        }
    }

    /// Writes `message` as an error.
    pub fn error(&self, message: &str) {
        self.write("error", message);
    }

    /// Writes `message` as a warning (a failed `poststart` or `poststop` hook).
    pub fn warn(&self, message: &str) {
        self.write("warning", message);
    }

    fn write(&self, level: &str, message: &str) {
        let prefix = if level == "error" { "" } else { "warning: " };
        eprintln!("furnace-oci: {prefix}{message}");
        let Some(path) = &self.file else {
            return;
        };
        let line = if self.json {
            let time = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            format!(
                "{}\n",
                serde_json::json!({"level": level, "msg": message, "time": rfc3339(time)})
            )
        } else {
            format!("furnace-oci: {prefix}{message}\n")
        };
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = f.write_all(line.as_bytes());
        }
    }
}

/// Seconds since the epoch as RFC 3339 in UTC (`2026-12-01T12:00:00Z`).
pub fn rfc3339(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if mo <= 2 { y + 1 } else { y };
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}Z")
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::rfc3339(1_796_128_946), "2026-12-01T12:42:26Z");
    }
}
