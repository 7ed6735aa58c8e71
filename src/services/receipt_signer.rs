//! The receipt signer: one thread that signs the consent receipts waiting together with one
//! signature per workspace key, as the group-commit writer stores the decisions waiting together
//! in one transaction.
//!
//! Signing (an Ed25519 signature, tens of microseconds) is the largest single cost of a consent
//! decision. While the signer signs one batch, the next receipts queue, and it signs those
//! together next: at a visitor a second every receipt is still signed alone (the plain form),
//! under a burst the signatures per second stay bounded and each receipt carries its Merkle path
//! (`domain::receipt_batch`). The request waits for its own receipt either way; nothing is
//! answered unsigned.

use super::consent_receipts::{SigningKey, sign_together, to_sign};
use crate::domain::consent_receipt::{ReceiptBody, ReceiptSignature, SignedReceipt};
use crate::domain::receipt_batch::MAX_BATCH;
use crate::error::AppError;
use crate::store::WorkspaceScope;
use crate::vault::Vault;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{mpsc, oneshot};

/// Receipts that may wait for the signer before senders wait to queue.
const QUEUE: usize = 4 * MAX_BATCH;

/// What the signer has done since it started (for `/metrics`).
#[derive(Debug, Default)]
pub struct SignerStats {
    /// Ed25519 signatures made.
    pub signatures: AtomicU64,
    /// Receipts those signatures cover.
    pub receipts: AtomicU64,
}

struct Job {
    key: SigningKey,
    canonical: Vec<u8>,
    reply: oneshot::Sender<ReceiptSignature>,
}

/// The handle requests sign through; the thread stops when the last handle is dropped.
#[derive(Clone)]
pub struct ReceiptSigner {
    queue: mpsc::Sender<Job>,
    pub stats: Arc<SignerStats>,
}

fn stopped<E>(_: E) -> AppError {
    AppError::internal(anyhow::anyhow!("the receipt signer has stopped"))
}

impl ReceiptSigner {
    pub fn start() -> Result<ReceiptSigner, AppError> {
        let (queue, rx) = mpsc::channel(QUEUE);
        let stats = Arc::new(SignerStats::default());
        let thread_stats = stats.clone();
        std::thread::Builder::new()
            .name("lethe-receipts".into())
            .spawn(move || run(rx, &thread_stats))
            .map_err(AppError::internal)?;
        Ok(ReceiptSigner { queue, stats })
    }

    /// Signs a decision's receipt with the workspace's key (made on first use), together with
    /// whatever other receipts are waiting. The body must be of this format and complete (422
    /// naming the fields otherwise).
    pub async fn issue(
        &self,
        vault: &Vault,
        scope: &WorkspaceScope,
        body: ReceiptBody,
    ) -> Result<SignedReceipt, AppError> {
        let (key, canonical) = to_sign(vault, scope, &body)?;
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Job {
                key,
                canonical,
                reply,
            })
            .await
            .map_err(stopped)?;
        let signature = answer.await.map_err(stopped)?;
        Ok(SignedReceipt {
            receipt: body,
            signature,
        })
    }
}

fn run(mut rx: mpsc::Receiver<Job>, stats: &SignerStats) {
    while let Some(first) = rx.blocking_recv() {
        let mut waiting = vec![first];
        while waiting.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => waiting.push(job),
                Err(_) => break,
            }
        }
        // One batch per key: receipts of several workspaces may wait together.
        let mut by_key: Vec<Vec<Job>> = Vec::new();
        for job in waiting {
            match by_key.iter_mut().find(|b| b[0].key.is(&job.key)) {
                Some(batch) => batch.push(job),
                None => by_key.push(vec![job]),
            }
        }
        for batch in by_key {
            let bodies: Vec<&[u8]> = batch.iter().map(|j| j.canonical.as_slice()).collect();
            let signatures = sign_together(&batch[0].key, &bodies);
            stats.signatures.fetch_add(1, Ordering::Relaxed);
            stats
                .receipts
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            for (job, signature) in batch.into_iter().zip(signatures) {
                // The requester may have gone (client hung up); its decision is stored anyway.
                let _ = job.reply.send(signature);
            }
        }
    }
}
