//! Streams an access or export package to the response: the service writes the zip on a
//! blocking thread into a writer that hands chunks of `CHUNK` bytes to the response through a
//! channel of `DEPTH` chunks, so at most a few hundred kilobytes of it are in memory at once
//! and none of it touches the disk.

use crate::services::request_package::{self, Package};
use crate::web::AppState;
use actix_web::body::{BodySize, MessageBody};
use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType};
use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use std::io::{self, Write};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

const CHUNK: usize = 64 * 1024;
const DEPTH: usize = 4;

type Chunk = Result<Bytes, io::Error>;

/// A `Write` whose bytes go to the response in chunks; it waits while the client is slower.
struct ChunkWriter {
    buf: Vec<u8>,
    tx: mpsc::Sender<Chunk>,
}

impl ChunkWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// The response body: the chunks as they come; an error ends the response unfinished, so the
/// client sees a broken download rather than a zip that looks whole.
struct ChannelBody(mpsc::Receiver<Chunk>);

impl MessageBody for ChannelBody {
    type Error = io::Error;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        self.0.poll_recv(cx)
    }
}

/// The package as a zip download.
pub fn download(state: &web::Data<AppState>, package: Package) -> HttpResponse {
    let (tx, rx) = mpsc::channel(DEPTH);
    let failed = tx.clone();
    let (db, vault) = (state.db.clone(), state.vault.clone());
    let name = package.file_name();
    actix_web::rt::spawn(async move {
        let written = db
            .run(move |db| {
                let out = ChunkWriter {
                    buf: Vec::with_capacity(CHUNK),
                    tx,
                };
                request_package::write(db, &vault, &package, out).map(|_| ())
            })
            .await;
        if let Err(e) = written {
            tracing::error!(error = %e, "an access package could not be written");
            let _ = failed
                .send(Err(io::Error::other("the package could not be written")))
                .await;
        }
    });
    HttpResponse::Ok()
        .content_type("application/zip")
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename(name)],
        })
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(ChannelBody(rx))
}
