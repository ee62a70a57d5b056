//! `[server] retention`, `tls_cert` and `tls_key`: how long step logs and
//! reports are kept, and HTTPS without a reverse proxy.

use std::path::Path;

use super::OpsConfig;
use super::error::Result;
use super::schema::RawServer;

/// Below this, a sweep could delete the log of a step that is still running.
const MIN_RETENTION: std::time::Duration = std::time::Duration::from_secs(3600);

pub(super) fn resolve_ops(raw: &RawServer, base_dir: &Path) -> Result<OpsConfig> {
    let mut ops = OpsConfig::default();
    if let Some(text) = &raw.retention {
        let d = humantime::parse_duration(text.value.trim()).map_err(|e| {
            text.fault(
                format!("`{}` is not a duration: {e}", text.value),
                "e.g. \"90d\", \"2w\" or \"720h\"",
            )
        })?;
        if d < MIN_RETENTION {
            return Err(text.fault(
                format!("retention `{}` is shorter than an hour", text.value),
                "logs of running steps must survive a sweep: use at least \"1h\"",
            ));
        }
        ops.retention = d;
    }
    match (&raw.tls_cert, &raw.tls_key) {
        (Some(cert), Some(key)) => {
            ops.tls_cert = Some(base_dir.join(&cert.value));
            ops.tls_key = Some(base_dir.join(&key.value));
        }
        (Some(one), None) | (None, Some(one)) => {
            return Err(one.fault(
                "tls_cert and tls_key go together",
                "set both [server] tls_cert and tls_key (PEM files), or neither",
            ));
        }
        (None, None) => {}
    }
    Ok(ops)
}
