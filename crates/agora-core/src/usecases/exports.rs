//! Asynchronous exports: requested by an admin, written by a worker into the
//! blob store, downloaded, and expired by retention. Request, download and
//! expiry each write an export audit record.

use futures::StreamExt;

use crate::catalogue::Record;
use crate::changeset::Changeset;
use crate::error::AgoraError;
use crate::guards;
use crate::ids::*;
use crate::model::*;
use crate::ports::Page;
use crate::reads::Reads;
use crate::state::export_transition;
use crate::views::*;

use super::files::FileDownload;
use super::sweeps::SweepReport;
use super::{Actor, Agora, failed_guard, require_admin};

/// Orders read per page while writing an export.
const EXPORT_PAGE: u32 = 200;

pub(crate) fn export_view(j: &ExportJob) -> ExportView {
    ExportView {
        id: j.id.0,
        status: j.status.as_str().to_owned(),
        rows: j.rows,
        bytes: j.bytes,
        expires_at: j.expires_at,
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_owned() }
}

impl Agora {
    fn export_audit(&self, job: &ExportJob, action: ExportAction, actor: &str) -> Record {
        Record::ExportAudit(ExportAuditRecord {
            id: ExportAuditId(self.new_uuid()),
            export_id: job.id,
            store_id: job.store_id,
            action,
            actor_masked: actor.to_owned(),
            at: self.now(),
        })
    }

    /// Queues an export of a store's data (store admin).
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `validation` for an unknown kind or format.
    pub async fn request_export(
        &self,
        actor: &Actor,
        store_id: StoreId,
        req: NewExport,
    ) -> Result<ExportView, AgoraError> {
        require_admin(actor, store_id)?;
        let mut v = crate::validate::Validator::new();
        let kind = ExportKind::parse(&req.kind);
        let format = ExportFormat::parse(&req.format);
        v.check(kind.is_some(), "kind", "must be orders");
        v.check(format.is_some(), "format", "must be csv or jsonl");
        v.finish()?;
        self.store.get_store(store_id).await?.ok_or(AgoraError::NotFound("store"))?;
        let job = ExportJob {
            id: ExportId(self.new_uuid()),
            store_id,
            kind: kind.unwrap_or(ExportKind::Orders),
            format: format.unwrap_or(ExportFormat::Csv),
            status: ExportStatus::Queued,
            rows: 0,
            bytes: 0,
            blob_key: None,
            error: None,
            requested_by: actor.masked(),
            created_at: self.now(),
            started_at: None,
            finished_at: None,
            expires_at: None,
        };
        let mut cs = Changeset::new();
        cs.insert(Record::Export(job.clone())).insert(self.export_audit(
            &job,
            ExportAction::Requested,
            &actor.masked(),
        ));
        self.apply_changeset(cs).await?;
        Ok(export_view(&job))
    }

    async fn load_export(&self, actor: &Actor, id: ExportId) -> Result<ExportJob, AgoraError> {
        if matches!(actor, Actor::Anonymous) {
            return Err(AgoraError::Unauthorized);
        }
        let job = self.store.get_export(id).await?.ok_or(AgoraError::NotFound("export"))?;
        if !actor.administers(job.store_id) {
            return Err(AgoraError::NotFound("export"));
        }
        Ok(job)
    }

    /// An export's state (store admin).
    ///
    /// # Errors
    /// `unauthorized`; `not_found`.
    pub async fn get_export(&self, actor: &Actor, id: ExportId) -> Result<ExportView, AgoraError> {
        Ok(export_view(&self.load_export(actor, id).await?))
    }

    /// The file of a READY export (store admin); audited.
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `conflict` when it is not ready.
    pub async fn download_export(&self, actor: &Actor, id: ExportId) -> Result<FileDownload, AgoraError> {
        let job = self.load_export(actor, id).await?;
        if job.status != ExportStatus::Ready {
            return Err(AgoraError::conflict(format!("the export is {}, not ready", job.status)));
        }
        let key = job.blob_key.clone().ok_or_else(|| AgoraError::Internal("ready export without a file".into()))?;
        let object = self.blobs.open(&key).await?.ok_or(AgoraError::NotFound("export file"))?;
        let mut cs = Changeset::new();
        cs.insert(self.export_audit(&job, ExportAction::Downloaded, &actor.masked()));
        self.apply_changeset(cs).await?;
        let (content_type, ext) = match job.format {
            ExportFormat::Csv => ("text/csv", "csv"),
            ExportFormat::Jsonl => ("application/x-ndjson", "jsonl"),
        };
        Ok(FileDownload {
            content_type: content_type.to_owned(),
            bytes: object.size,
            sha256: None,
            file_name: Some(format!("{}-{}.{ext}", job.kind, job.id)),
            body: object.body,
        })
    }

    /// Claims and writes up to `limit` queued exports. A claim is the
    /// guarded move queued -> running, so two workers never write the same
    /// export. Long exports log their progress through `progress`.
    ///
    /// # Errors
    /// Store errors.
    pub async fn run_queued_exports(
        &self,
        limit: u32,
        progress: &(dyn Fn(ExportId, i64) + Send + Sync),
    ) -> Result<SweepReport, AgoraError> {
        let mut report = SweepReport::default();
        for job in self.store.list_exports_by_status(ExportStatus::Queued, limit).await? {
            report.scanned += 1;
            let now = self.now();
            let running = ExportJob {
                status: export_transition(job.status, ExportStatus::Running)?,
                started_at: Some(now),
                ..job.clone()
            };
            let mut cs = Changeset::new();
            cs.guard(guards::export_status_is(job.id, ExportStatus::Queued)).update(Record::Export(running.clone()));
            match self.apply_changeset(cs).await {
                Ok(()) => {}
                Err(e) if failed_guard(&e).is_some() => {
                    report.conflicts += 1;
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
            let finished = match self.write_export(&running, progress).await {
                Ok((rows, bytes, key)) => ExportJob {
                    status: ExportStatus::Ready,
                    rows,
                    bytes,
                    blob_key: Some(key),
                    finished_at: Some(self.now()),
                    expires_at: Some(self.now() + self.config.export_ttl),
                    ..running.clone()
                },
                Err(e) => ExportJob {
                    status: ExportStatus::Failed,
                    error: Some(e.to_string()),
                    finished_at: Some(self.now()),
                    ..running.clone()
                },
            };
            let mut cs = Changeset::new();
            cs.guard(guards::export_status_is(job.id, ExportStatus::Running)).update(Record::Export(finished));
            match self.apply_changeset(cs).await {
                Ok(()) => report.changed += 1,
                Err(e) if failed_guard(&e).is_some() => report.conflicts += 1,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(report)
    }

    /// Writes an export's file to the blob store, streamed a page of
    /// orders at a time (memory stays bounded by one page, whatever the
    /// store's size).
    async fn write_export(
        &self,
        job: &ExportJob,
        progress: &(dyn Fn(ExportId, i64) + Send + Sync),
    ) -> Result<(i64, i64, String), AgoraError> {
        struct Cursor {
            page: Option<Page>,
            rows: i64,
            error: Option<AgoraError>,
        }
        let header: &[u8] = match job.format {
            ExportFormat::Csv => b"id,order_number,user_id,status,amount_minor,pay_amount_minor,currency,created_at,paid_at,shipped_at,received_at,closed_at,close_reason\n",
            ExportFormat::Jsonl => b"",
        };
        let cursor = std::sync::Arc::new(parking_lot::Mutex::new(Cursor {
            page: Some(Page::first(EXPORT_PAGE)),
            rows: 0,
            error: None,
        }));
        let pages = futures::stream::try_unfold(cursor.clone(), |cursor| async move {
            let Some(page) = cursor.lock().page.take() else { return Ok(None) };
            match self.export_page(job, page).await {
                Ok((chunk, n, next)) => {
                    let rows = {
                        let mut c = cursor.lock();
                        c.rows += n;
                        c.page = next;
                        c.rows
                    };
                    if n > 0 && rows % 10_000 < i64::from(EXPORT_PAGE) {
                        progress(job.id, rows);
                    }
                    Ok(Some((bytes::Bytes::from(chunk), cursor)))
                }
                Err(e) => {
                    cursor.lock().error = Some(e);
                    Err(std::io::Error::other("reading the orders failed"))
                }
            }
        });
        let body = futures::stream::once(async move { Ok(bytes::Bytes::from_static(header)) }).chain(pages);
        let key = format!("exports/{}/{}.{}", job.store_id, job.id, job.format);
        let written = self.blobs.put_stream(&key, Box::pin(body)).await;
        let mut c = cursor.lock();
        if let Some(e) = c.error.take() {
            return Err(e);
        }
        let bytes = written?;
        Ok((c.rows, i64::try_from(bytes).unwrap_or(i64::MAX), key))
    }

    /// One page of an export: its bytes, its row count and the next page.
    async fn export_page(&self, job: &ExportJob, mut page: Page) -> Result<(Vec<u8>, i64, Option<Page>), AgoraError> {
        let orders = self.store.list_orders_by_store(job.store_id, None, page).await?;
        let n = orders.len();
        let last = orders.last().map(|o| o.id.0);
        let mut out = Vec::new();
        for view in self.order_views(orders).await? {
            match job.format {
                ExportFormat::Jsonl => {
                    serde_json::to_writer(&mut out, &view).map_err(|e| AgoraError::Internal(e.to_string()))?;
                    out.push(b'\n');
                }
                ExportFormat::Csv => {
                    let t = |t: Option<time::OffsetDateTime>| {
                        t.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
                            .unwrap_or_default()
                    };
                    let line = [
                        view.id.to_string(),
                        csv_field(&view.order_number),
                        view.user_id.to_string(),
                        view.status.clone(),
                        view.amount_minor.to_string(),
                        view.pay_amount_minor.to_string(),
                        view.currency.clone(),
                        t(Some(view.created_at)),
                        t(view.paid_at),
                        t(view.shipped_at),
                        t(view.received_at),
                        t(view.closed_at),
                        view.close_reason.clone().unwrap_or_default(),
                    ]
                    .join(",");
                    out.extend_from_slice(line.as_bytes());
                    out.push(b'\n');
                }
            }
        }
        let next = match last {
            Some(id) if n == EXPORT_PAGE as usize => {
                page.before = Some(id);
                Some(page)
            }
            _ => None,
        };
        Ok((out, n as i64, next))
    }

    /// Deletes the files of READY exports past `expires_at`, marks them
    /// expired and audits each.
    ///
    /// # Errors
    /// Store errors.
    pub async fn expire_exports(&self, limit: u32) -> Result<SweepReport, AgoraError> {
        let mut report = SweepReport::default();
        for job in self.store.list_exports_expired(self.now(), limit).await? {
            report.scanned += 1;
            if let Some(key) = &job.blob_key {
                self.blobs.delete(key).await?;
            }
            let expired = ExportJob { status: export_transition(job.status, ExportStatus::Expired)?, ..job.clone() };
            let mut cs = Changeset::new();
            cs.guard(guards::export_status_is(job.id, ExportStatus::Ready))
                .update(Record::Export(expired))
                .insert(self.export_audit(&job, ExportAction::Expired, "system:retention"));
            match self.apply_changeset(cs).await {
                Ok(()) => report.changed += 1,
                Err(e) if failed_guard(&e).is_some() => report.conflicts += 1,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(report)
    }

    /// RUNNING exports that started more than `stale_after` ago: their
    /// worker may have died. The caller checks that nobody holds their
    /// lease before giving them back with [`Agora::requeue_export`].
    ///
    /// # Errors
    /// Store errors.
    pub async fn stale_exports(&self, stale_after: time::Duration, limit: u32) -> Result<Vec<ExportJob>, AgoraError> {
        let now = self.now();
        let running = self.store.list_exports_by_status(ExportStatus::Running, limit).await?;
        Ok(running.into_iter().filter(|j| j.started_at.is_none_or(|t| now - t >= stale_after)).collect())
    }

    /// Gives a RUNNING export back to the queue (its worker died), with an
    /// `export.requeued` event. `Ok(false)` when it is no longer running.
    ///
    /// # Errors
    /// Store errors.
    pub async fn requeue_export(&self, job: &ExportJob) -> Result<bool, AgoraError> {
        let status = export_transition(job.status, ExportStatus::Queued)?;
        let requeued = serde_json::json!({"started_at": job.started_at});
        let mut cs = Changeset::new();
        cs.guard(guards::export_status_is(job.id, ExportStatus::Running))
            .update(Record::Export(ExportJob { status, started_at: None, ..job.clone() }))
            .insert(self.event(job.store_id, "export", job.id.0, "export.requeued", requeued));
        match self.apply_changeset(cs).await {
            Ok(()) => Ok(true),
            Err(e) if failed_guard(&e).is_some() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The whole store in the canonical export format, streamed page by
    /// page (`GET /v1/admin/backup`, super admin only), so a `memory:`
    /// deployment can be saved and imported elsewhere. Rows are read table
    /// by table while writes may go on: for a point-in-time copy of a live
    /// SQLite or PostgreSQL store use its native backup.
    ///
    /// # Errors
    /// `unauthorized`; `forbidden` for anyone but the super admin.
    pub fn whole_store_export(&self, actor: &Actor) -> Result<crate::export_format::ExportStream, AgoraError> {
        super::require_super(actor)?;
        Ok(crate::export_format::ExportStream::new(self.store.clone()))
    }
}
