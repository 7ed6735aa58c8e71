//! Builds the server from a [`Config`]: database, TLS, middleware, routes, jobs.

use crate::config::Config;
use crate::domain::ip_country::IpCountryTable;
use crate::store::Db;
use crate::store::writer::GroupWriter;
use crate::vault::Vault;
use crate::web::{self, AppState};
use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, middleware};
use anyhow::Context;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

pub struct Application {
    port: u16,
    server: Server,
    redirect: Option<(u16, Server)>,
    pub base_url: String,
    /// SHA-256 of the served certificate; None without TLS.
    pub fingerprint: Option<String>,
    pub cert_path: Option<std::path::PathBuf>,
    /// The certificate's manager with `--acme-domain` (tests drive its renewal with a chosen
    /// instant through it).
    pub acme: Option<Arc<crate::acme::Acme>>,
    pub db: Db,
    pub vault: Vault,
    config: Arc<Config>,
    stop: crate::jobs::scheduler::StopSignal,
    /// The record writer's load, which retention runs yield to.
    pub live: Arc<crate::store::writer::WriterStats>,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let db_path = config.db_path();
        // A restore cut short: its copies go in place before the databases open.
        let pending_restore = crate::services::restore::install_staged(&config.data_dir)?;
        let db = {
            let p = db_path.clone();
            tokio::task::spawn_blocking(move || Db::open(&p)).await??
        };
        let vault = {
            let dir = config.data_dir.clone();
            let key = config.master_key.clone();
            tokio::task::spawn_blocking(move || Vault::open(&dir, key.as_ref())).await??
        };
        {
            let (db, vault) = (db.clone(), vault.clone());
            tokio::task::spawn_blocking(move || vault_housekeeping(&db, &vault)).await??;
        }
        if let Some(pending) = pending_restore {
            // Before a request is answered, nothing erased since the backup may be readable.
            let (db, vault, dir) = (db.clone(), vault.clone(), config.data_dir.clone());
            let report = tokio::task::spawn_blocking(move || {
                crate::services::restore::finish(&dir, &db, &vault, &pending)
            })
            .await??;
            tracing::info!(?report, "finished an interrupted restore");
        }
        let writer = GroupWriter::start(&db_path)?;
        let live = writer.stats.clone();
        let ip_countries = Arc::new(load_ip_countries(&config)?);
        let tls = crate::tls::load(&config)?;
        let listener = TcpListener::bind(config.listen)
            .with_context(|| format!("--listen {}: cannot listen there", config.listen))?;
        let port = listener.local_addr()?.port();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let base_url = config.public_url.clone().unwrap_or_else(|| {
            // The certificate's name is the address people reach an ACME server at.
            if let crate::config::TlsMode::Acme(acme) = &config.tls {
                return match port {
                    443 => format!("https://{}", acme.domain),
                    _ => format!("https://{}:{port}", acme.domain),
                };
            }
            let ip = config.listen.ip();
            let host = if ip.is_unspecified() {
                "localhost".to_owned()
            } else if ip.is_ipv6() {
                format!("[{ip}]")
            } else {
                ip.to_string()
            };
            format!("{scheme}://{host}:{port}")
        });
        if config.public_url.is_none() && config.smtp_url.is_some() {
            // E-mailed links (password resets, subscription confirmations) are built from this
            // address, never from a request's Host header, which a client chooses.
            tracing::warn!(
                base_url,
                "no --public-url: e-mailed links point at the listening address; set it to the \
                 address people reach Lethe at"
            );
        }
        let config = Arc::new(config);
        let stop = crate::jobs::scheduler::StopSignal::default();
        let receipt_signer = crate::services::receipt_signer::ReceiptSigner::start()
            .context("cannot start the receipt signer")?;
        let state = actix_web::web::Data::new(AppState {
            stop: stop.clone(),
            db: db.clone(),
            config: config.clone(),
            base_url: base_url.clone(),
            metrics: Arc::new(web::metrics::Metrics::default()),
            login_throttle: web::throttle::Throttle::new(20, Duration::from_secs(60)),
            reset_by_network: web::throttle::Throttle::new(10, Duration::from_secs(15 * 60)),
            reset_by_email: web::throttle::Throttle::new(3, Duration::from_secs(60 * 60)),
            requests_by_network: web::throttle::Throttle::new(10, Duration::from_secs(15 * 60)),
            requests_by_email: web::throttle::Throttle::new(3, Duration::from_secs(60 * 60)),
            consent_by_network: web::throttle::Throttle::new(
                config.consent_rate,
                Duration::from_secs(60),
            ),
            login_guard: Default::default(),
            vault: vault.clone(),
            writer,
            ip_countries,
            read_cache: Default::default(),
            consent_rules: Default::default(),
            receipt_signer,
            api_keys: Default::default(),
        });
        let limit = config.max_body_bytes;
        let make_app = move || {
            App::new()
                .app_data(state.clone())
                .app_data(web::api::json_config(limit))
                .app_data(web::console::form_config(limit))
                .app_data(actix_web::web::PayloadConfig::new(limit))
                .wrap(middleware::from_fn(web::middleware::api_errors_as_problems))
                .wrap(middleware::from_fn(web::middleware::body_limit))
                .wrap(middleware::from_fn(web::middleware::security_headers))
                .wrap(middleware::from_fn(web::middleware::record_metrics))
                .wrap(middleware::from_fn(web::middleware::refuse_acme_validation))
                .configure(web::routes)
                .default_service(actix_web::web::to(web::not_found))
        };
        let mut server = HttpServer::new(make_app).shutdown_timeout(5);
        if let Some(workers) = config.workers {
            server = server.workers(workers);
        }
        let (fingerprint, cert_path, acme) = match tls {
            Some(material) => {
                if material.acme.is_some() {
                    // Before `listen_*`, which captures it.
                    server = server.on_connect(web::middleware::mark_acme_validation);
                }
                server = server.listen_rustls_0_23(listener, material.server_config)?;
                (
                    Some(material.fingerprint),
                    Some(material.cert_path),
                    material.acme,
                )
            }
            None => {
                server = server.listen(listener)?;
                (None, None, None)
            }
        };
        let http01 = acme.as_ref().map(|a| a.http01().clone());
        let server = server.run();

        let redirect = match config.http_redirect_listen {
            Some(addr) => {
                let listener = TcpListener::bind(addr).with_context(|| {
                    format!("--http-redirect-listen {addr}: cannot listen there")
                })?;
                let redirect_port = listener.local_addr()?.port();
                let target = base_url.clone();
                let srv = HttpServer::new(move || {
                    let target = target.clone();
                    let mut app = App::new();
                    if let Some(tokens) = &http01 {
                        app = app
                            .app_data(actix_web::web::Data::new(tokens.clone()))
                            .route(
                                "/.well-known/acme-challenge/{token}",
                                actix_web::web::get().to(web::well_known::acme_challenge),
                            );
                    }
                    app.default_service(actix_web::web::to(move |req: actix_web::HttpRequest| {
                        // The target host comes from configuration, never from the Host header.
                        let location = format!(
                            "{target}{}",
                            req.uri()
                                .path_and_query()
                                .map(|p| p.as_str())
                                .unwrap_or("/")
                        );
                        async move {
                            HttpResponse::PermanentRedirect()
                                .insert_header(("Location", location))
                                .finish()
                        }
                    }))
                })
                .workers(1)
                .listen(listener)?
                .run();
                Some((redirect_port, srv))
            }
            None => None,
        };
        Ok(Application {
            port,
            server,
            redirect,
            base_url,
            fingerprint,
            cert_path,
            acme,
            db,
            vault,
            config,
            stop,
            live,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn redirect_port(&self) -> Option<u16> {
        self.redirect.as_ref().map(|(p, _)| *p)
    }

    /// Serves until the server stops (Ctrl-C / SIGTERM), with the scheduled jobs running. At
    /// shutdown, running jobs stop between batches (a retention run resumes at the next start).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let clock: Arc<dyn crate::domain::time::Clock> = Arc::new(crate::domain::time::SystemClock);
        let scheduler = Arc::new(crate::jobs::registry(
            self.db.clone(),
            self.vault.clone(),
            self.config.clone(),
            self.base_url.clone(),
            clock.clone(),
            self.stop.clone(),
            self.live.clone(),
        ));
        let passes = scheduler.start();
        // The certificate's renewal is a task of its own, not a scheduler job: jobs are database
        // work with leases in `lethe.db`, this is network work against the CA that must also run
        // (and keep the last good certificate) when the database is busy.
        let renewal = self
            .acme
            .clone()
            .map(|acme| tokio::spawn(acme.run(clock.clone())));
        let result = match self.redirect {
            Some((_, redirect)) => {
                let (main, _) = tokio::join!(self.server, redirect);
                main
            }
            None => self.server.await,
        };
        scheduler.shutdown(Duration::from_secs(10)).await;
        passes.abort();
        if let Some(renewal) = renewal {
            renewal.abort();
        }
        // A last anchor, so that what happened since the job's last pass is anchored too.
        let (db, vault) = (self.db.clone(), self.vault.clone());
        let anchored = tokio::task::spawn_blocking(move || {
            crate::services::anchors::anchor_head(&db, vault.key_store(), clock.now())
        })
        .await;
        match anchored {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %e, "anchoring the audit chain at shutdown failed")
            }
            Err(e) => tracing::error!(error = %e, "anchoring the audit chain at shutdown failed"),
        }
        result
    }
}

/// The operator's IP-range file, or an empty table (countries then stay unknown).
fn load_ip_countries(config: &Config) -> anyhow::Result<IpCountryTable> {
    let Some(path) = &config.ip_country_file else {
        return Ok(IpCountryTable::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--ip-country-file {}: cannot read it", path.display()))?;
    let table = IpCountryTable::parse_csv(&text)
        .map_err(|e| anyhow::anyhow!("--ip-country-file {}: {e}", path.display()))?;
    tracing::info!(ranges = table.len(), "loaded IP country ranges");
    Ok(table)
}

/// Finishes erasures and key destructions a crash cut short and seals secrets an older Lethe
/// stored in the clear.
fn vault_housekeeping(db: &Db, vault: &Vault) -> anyhow::Result<()> {
    let finished = crate::services::erasure::finish_interrupted_erasures(db, vault)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if finished > 0 {
        tracing::info!(finished, "finished interrupted erasures");
    }
    let destroyed =
        crate::services::keys::finish_retirements(db, vault).map_err(|e| anyhow::anyhow!("{e}"))?;
    if destroyed > 0 {
        tracing::info!(destroyed, "finished interrupted key destructions");
    }
    let sealed = crate::services::secrets::seal_stored_secrets(db, vault)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if sealed > 0 {
        tracing::info!(
            sealed,
            "sealed secrets stored in the clear by an older Lethe"
        );
    }
    let sealed = crate::services::subjects::seal_stored_reasons(db, vault)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if sealed > 0 {
        tracing::info!(
            sealed,
            "sealed reasons stored in the clear by an older Lethe"
        );
    }
    let sealed = crate::services::outbox::seal_stored_plaintext(db, vault)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if sealed > 0 {
        tracing::info!(
            sealed,
            "sealed subscribers and outbox messages stored in the clear by an older Lethe"
        );
    }
    Ok(())
}
