//! Records a legal hold keeps of erased people. They are no longer anyone's (the person's key is
//! destroyed and they are sealed under the hold's key), so they are read by hold, not by person:
//! each read goes to the audit chain as `legal_hold.read` (how many, of which categories; never a
//! value, nor the reader's free-text reason, which has no person's key to be sealed under).

use super::Caller;
use super::subjects::{RecordView, open_record};
use crate::domain::inventory::InventoryKind;
use crate::error::AppError;
use crate::store::{Db, WorkspaceScope, audit, inventory, records};
use crate::vault::Vault;
use chrono::Utc;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HeldRecords {
    /// The legal hold's key.
    pub hold: String,
    /// How many records the hold keeps.
    pub total: i64,
    /// A page of them, newest first, decrypted; each names its hold and last day in `held`.
    pub records: Vec<RecordView>,
}

/// A page of the records `hold` keeps, decrypted. A hold the inventory no longer has was lifted:
/// what it kept is on its way out and is not read (404, as for a hold that never was).
#[allow(clippy::too_many_arguments)]
pub fn read(
    db: &Db,
    vault: &Vault,
    scope: &WorkspaceScope,
    caller: &Caller,
    hold: &str,
    reason_given: bool,
    limit: u32,
    offset: u32,
) -> Result<HeldRecords, AppError> {
    let (stored, total) = db.read_snapshot(|c| {
        if !inventory::contains(c, scope, InventoryKind::LegalHolds, hold)? {
            return Err(AppError::NotFound(format!("legal hold '{hold}'")));
        }
        let stored = records::held_page(c, scope, hold, limit, offset)?;
        let total = records::held_by(c, scope, hold)?;
        Ok::<_, AppError>((stored, total))
    })?;
    let keys = vault.key_ring(scope, &records::key_ids(&stored))?;
    let records = stored
        .iter()
        .map(|r| open_record(scope, r, &keys))
        .collect::<Result<Vec<_>, _>>()?;
    let mut categories: Vec<&str> = records.iter().map(|r| r.category.as_str()).collect();
    categories.sort_unstable();
    categories.dedup();
    let now = Utc::now();
    let event = caller.event("legal_hold.read", hold).detail(json!({
        "records": records.len(),
        "offset": offset,
        "total": total,
        "categories": categories,
        "reason_given": reason_given,
    }));
    db.write(|tx| Ok::<_, AppError>(audit::append(tx, Some(scope), &event, now)?))?;
    Ok(HeldRecords {
        hold: hold.to_owned(),
        total,
        records,
    })
}
