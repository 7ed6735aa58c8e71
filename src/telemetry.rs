//! Logging set-up. Filters come from `--log`/`LETHE_LOG` (or `RUST_LOG`), default `info`.

use tracing_subscriber::EnvFilter;

pub fn init(filter: Option<&str>) {
    let filter = filter
        .map(EnvFilter::new)
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info,actix_server=warn"));
    // try_init: tests call this once per app and only the first call may win.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
