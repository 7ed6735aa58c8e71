//! Secrets Lethe must read back (TOTP seeds, webhook signing secrets) are stored sealed under
//! the instance's secrets key (see `vault`). Databases from before that are sealed at start-up.

use crate::error::AppError;
use crate::store::{Db, outbox, staff};
use crate::vault::{self, Vault};

/// Seals every secret still stored in the clear; returns how many. Idempotent.
pub fn seal_stored_secrets(db: &Db, vault: &Vault) -> Result<usize, AppError> {
    db.write(|tx| {
        let mut sealed = 0;
        for (id, secret) in staff::unsealed_totp_secrets(tx)? {
            if !vault::is_sealed(&secret) {
                let value = vault.seal_secret(&super::accounts::totp_context(id), &secret)?;
                staff::replace_totp_secret(tx, id, &value)?;
                sealed += 1;
            }
        }
        for (id, workspace_id, secret) in outbox::unsealed_secrets(tx)? {
            let context = super::outbox::webhook_context(workspace_id);
            outbox::replace_secret(tx, id, &vault.seal_secret(&context, &secret)?)?;
            sealed += 1;
        }
        Ok(sealed)
    })
}
