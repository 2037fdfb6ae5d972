//! The event relay: a store's sequenced activity events, after the last
//! relayed seq, are appended to the Redis stream `{prefix}events:{store_id}`.
//!
//! Each entry's stream id is `{seq}-0`, so the stream itself refuses an
//! event it already holds (XADD needs a larger id): a relay that restarts
//! after appending but before saving its checkpoint, or two relays racing,
//! never append an event twice. Appending a batch and moving the checkpoint
//! happen in one Lua script. The checkpoint (`{prefix}relay:{store_id}`) is
//! read as the larger of the stored value and the stream's last id, so a lost
//! checkpoint costs nothing. If Redis loses both (flushed), the relay starts
//! again from seq 1: delivery is at least once and consumers de-duplicate by
//! `event_id` (or by the seq in the stream id).
//!
//! Entry fields: `event_id`, `seq`, `store_id`, `kind`, `entity_type`,
//! `entity_id`, `at` (RFC 3339, UTC), `payload` (JSON text).

use std::sync::LazyLock;

use agora_core::{ActivityEvent, Reads, Store, StoreError, StoreId};
use redis::Script;
use time::format_description::well_known::Rfc3339;

use crate::client::RedisClient;

/// Fields per stream entry.
const FIELDS: usize = 8;

/// KEYS[1] = checkpoint, KEYS[2] = stream. The last relayed seq: the larger
/// of the checkpoint and the stream's last generated id.
static CHECKPOINT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local c = tonumber(redis.call('GET', KEYS[1]) or '0')
if redis.call('EXISTS', KEYS[2]) == 1 then
  local info = redis.call('XINFO', 'STREAM', KEYS[2])
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then
      local s = tonumber(string.match(info[i + 1], '^(%d+)'))
      if s and s > c then c = s end
    end
  end
end
return c",
    )
});

/// KEYS[1] = checkpoint, KEYS[2] = stream; ARGV = maxlen, fields per entry,
/// entry count, then per entry its seq and its field/value pairs. Appends
/// each entry as id `{seq}-0` (skipping ids the stream already passed) and
/// raises the checkpoint. Returns how many entries were appended.
static APPEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local maxlen = ARGV[1]
local nf = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
local i = 4
local added = 0
for e = 1, n do
  local seq = ARGV[i]
  i = i + 1
  local args = {'XADD', KEYS[2], 'MAXLEN', '~', maxlen, seq .. '-0'}
  for f = 1, nf * 2 do
    args[#args + 1] = ARGV[i]
    i = i + 1
  end
  local r = redis.pcall(unpack(args))
  if type(r) == 'table' and r.err then
    if not string.find(r.err, 'equal or smaller', 1, true) then return redis.error_reply(r.err) end
  else
    added = added + 1
  end
  if tonumber(seq) > last then last = tonumber(seq) end
end
redis.call('SET', KEYS[1], string.format('%d', last))
return added",
    )
});

/// Relays each store's activity feed into a capped Redis stream.
#[derive(Clone, Debug)]
pub struct EventRelay {
    client: RedisClient,
    maxlen: usize,
    batch: u32,
}

impl EventRelay {
    /// A relay on `client` keeping about `maxlen` entries per stream
    /// (`MAXLEN ~`), relaying up to 500 events per call.
    pub fn new(client: RedisClient, maxlen: usize) -> Self {
        Self { client, maxlen: maxlen.max(1), batch: 500 }
    }

    /// The same relay moving at most `batch` events per [`EventRelay::relay_once`].
    pub fn with_batch(mut self, batch: u32) -> Self {
        self.batch = batch.clamp(1, 10_000);
        self
    }

    /// The stream key of a store: `{prefix}events:{store_id}`.
    pub fn stream_key(&self, store_id: StoreId) -> String {
        self.client.key(&format!("events:{store_id}"))
    }

    fn checkpoint_key(&self, store_id: StoreId) -> String {
        self.client.key(&format!("relay:{store_id}"))
    }

    /// The last seq relayed for the store (0 when none).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when Redis fails.
    pub async fn checkpoint(&self, store_id: StoreId) -> Result<i64, StoreError> {
        let (ck, stream) = (self.checkpoint_key(store_id), self.stream_key(store_id));
        let mut conn = self.client.conn();
        self.client
            .run("relay checkpoint", async move { CHECKPOINT.key(ck).key(stream).invoke_async(&mut conn).await })
            .await
    }

    /// Relays the next batch of the store's sequenced events after the
    /// checkpoint and moves the checkpoint; returns how many events it read
    /// (0 when caught up). Call it in a loop until it returns 0.
    ///
    /// # Errors
    /// The store's or Redis's errors; nothing is lost by an error, the next
    /// call starts again from the checkpoint.
    pub async fn relay_once(&self, store: &dyn Store, store_id: StoreId) -> Result<usize, StoreError> {
        let after = self.checkpoint(store_id).await?;
        let events = store.list_events(store_id, after, self.batch).await?;
        if events.is_empty() {
            return Ok(0);
        }
        let mut inv = APPEND.prepare_invoke();
        inv.key(self.checkpoint_key(store_id)).key(self.stream_key(store_id));
        inv.arg(self.maxlen).arg(FIELDS).arg(events.len());
        for e in &events {
            let Some(seq) = e.seq else {
                return Err(StoreError::Unavailable(format!("event {} listed as sequenced has no seq", e.id)));
            };
            inv.arg(seq);
            for (name, value) in fields(e, seq)? {
                inv.arg(name).arg(value);
            }
        }
        let mut conn = self.client.conn();
        let _appended: i64 = self.client.run("relay append", async move { inv.invoke_async(&mut conn).await }).await?;
        Ok(events.len())
    }

    /// Relays until caught up; returns how many events were read.
    ///
    /// # Errors
    /// As [`EventRelay::relay_once`].
    pub async fn relay_all(&self, store: &dyn Store, store_id: StoreId) -> Result<usize, StoreError> {
        let mut total = 0;
        loop {
            let n = self.relay_once(store, store_id).await?;
            total += n;
            if n < self.batch as usize {
                return Ok(total);
            }
        }
    }
}

fn fields(e: &ActivityEvent, seq: i64) -> Result<[(&'static str, String); FIELDS], StoreError> {
    let at = e.at.format(&Rfc3339).map_err(|err| StoreError::Unavailable(format!("event time: {err}")))?;
    let payload = serde_json::to_string(&e.payload).map_err(|err| StoreError::Unavailable(err.to_string()))?;
    Ok([
        ("event_id", e.id.to_string()),
        ("seq", seq.to_string()),
        ("store_id", e.store_id.to_string()),
        ("kind", e.kind.clone()),
        ("entity_type", e.entity_type.clone()),
        ("entity_id", e.entity_id.to_string()),
        ("at", at),
        ("payload", payload),
    ])
}
