//! Extractors whose every rejection is a problem+json [`ApiError`].

use std::collections::HashMap;
use std::net::SocketAddr;

use agora_core::{Actor, ListQuery};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::error::Category;
use uuid::Uuid;

use crate::AppState;
use crate::problem::ApiError;

/// The caller, from `Authorization: Bearer <token>`: a customer session
/// (`ags_...`) or an admin key; [`Actor::Anonymous`] without the header.
/// A header that is present but wrong is 401.
#[derive(Clone, Debug)]
pub struct Caller(pub Actor);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Ok(Caller(Actor::Anonymous));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                let (scheme, rest) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::from(agora_core::AgoraError::Unauthorized))?;
        let actor = state.agora.authenticate(token).await?;
        Ok(Caller(actor))
    }
}

/// The client's IP for audit rows and rate limits: the peer address, or
/// the last `X-Forwarded-For` entry when [`AppState::trust_forwarded_for`]
/// is set. The last entry is the one the proxy in front of agora appended;
/// entries before it come from the client, which could name any address.
#[derive(Clone, Debug, Default)]
pub struct ClientIp(pub Option<String>);

impl ClientIp {
    /// The IP as a string slice.
    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }

    /// Resolves the client IP from request parts.
    pub fn resolve(parts_headers: &axum::http::HeaderMap, ext: &axum::http::Extensions, trust_xff: bool) -> Self {
        if trust_xff
            && let Some(first) = parts_headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next_back())
                .map(str::trim)
                .filter(|s| s.parse::<std::net::IpAddr>().is_ok())
        {
            return ClientIp(Some(first.to_owned()));
        }
        ClientIp(ext.get::<ConnectInfo<SocketAddr>>().map(|ci| ci.0.ip().to_string()))
    }
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Self::resolve(&parts.headers, &parts.extensions, state.trust_forwarded_for))
    }
}

/// A UUID path parameter; anything else is 404 (no such resource).
#[derive(Clone, Copy, Debug)]
pub struct PathId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let PathStr(raw) = PathStr::from_request_parts(parts, state).await?;
        Uuid::parse_str(&raw).map(PathId).map_err(|_| ApiError::not_found("no such resource"))
    }
}

/// Two UUID path parameters, in path order (`/v1/stores/{store_id}/admin-keys/{key_id}`);
/// anything else is 404.
#[derive(Clone, Copy, Debug)]
pub struct PathIds(pub Uuid, pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PathIds {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let not_found = || ApiError::not_found("no such resource");
        let Path((a, b)) = Path::<(String, String)>::from_request_parts(parts, state).await.map_err(|_| not_found())?;
        match (Uuid::parse_str(&a), Uuid::parse_str(&b)) {
            (Ok(a), Ok(b)) => Ok(PathIds(a, b)),
            _ => Err(not_found()),
        }
    }
}

/// A string path parameter (task numbers).
#[derive(Clone, Debug)]
pub struct PathStr(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathStr {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::not_found("no such resource"))?;
        Ok(PathStr(raw))
    }
}

/// Query parameters read into `T`; anything `T` does not accept is 422
/// `validation` (field `query`).
#[derive(Clone, Debug)]
pub struct QueryParams<T>(pub T);

impl<T: serde::de::DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(v) = Query::<T>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::validation("query", e.body_text()))?;
        Ok(QueryParams(v))
    }
}

/// The query parameters of list endpoints: `limit`, `cursor`, `status`,
/// `after`, `q`. A `limit` or `after` that is not an integer is 422.
#[derive(Clone, Debug, Default)]
pub struct ListParams {
    /// `limit` (range checked by the use case).
    pub limit: Option<u32>,
    /// `cursor`.
    pub cursor: Option<String>,
    /// `status` filter.
    pub status: Option<String>,
    /// `after` (event feed).
    pub after: i64,
    /// `q`, a search's text, as sent (an empty `q` is a query too, and
    /// the use case refuses it).
    pub q: Option<String>,
}

impl ListParams {
    /// The limit and cursor as core takes them.
    pub fn list_query(&self) -> ListQuery {
        ListQuery { limit: self.limit, cursor: self.cursor.clone() }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ListParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(map) = Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::validation("query", e.body_text()))?;
        let limit = match map.get("limit") {
            None => None,
            Some(s) => Some(
                s.trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=200).contains(n))
                    .ok_or_else(|| ApiError::validation("limit", "must be an integer between 1 and 200"))?,
            ),
        };
        let after = match map.get("after") {
            None => 0,
            Some(s) => s
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| ApiError::validation("after", "must be a non-negative integer"))?,
        };
        let non_empty = |k: &str| map.get(k).map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        let q = map.get("q").cloned();
        Ok(ListParams { limit, cursor: non_empty("cursor"), status: non_empty("status"), after, q })
    }
}

/// A JSON body. Not well-formed JSON (truncated, syntax) is 400
/// `malformed_json`; a wrong type, missing or unknown field is 422
/// `validation` naming the field; over the body limit is 413.
#[derive(Clone, Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// A JSON body that may be empty (then `T::default()`).
#[derive(Clone, Debug)]
pub struct OptionalJsonBody<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJsonBody(T::default()));
        }
        // The document says `null` is a body too: no fields given.
        if bytes.trim_ascii() == b"null" {
            return Ok(OptionalJsonBody(T::default()));
        }
        parse_json(&bytes).map(OptionalJsonBody)
    }
}

/// The raw body bytes, with the body limit mapped to 413.
pub async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::payload_too_large()
        } else {
            ApiError::malformed_json(format!("the body could not be read: {}", rejection.body_text()))
        }
    })
}

/// Parses JSON with the path of the failing field. A string holding the
/// NUL character (`\u0000`) is 422 naming its field: no store keeps it
/// (PostgreSQL refuses it in text and JSON), so it is refused here, before
/// any store call, the same way on every store.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    refuse_nul(bytes)?;
    // Every request body is a JSON object; serde would also take an array
    // for a struct (its fields in order), which no client means.
    if let Some(first) = bytes.iter().find(|b| !b.is_ascii_whitespace())
        && *first != b'{'
    {
        if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            return Err(ApiError::malformed_json(format!("the body is not valid JSON: {e}")));
        }
        return Err(ApiError::validation("body", "must be a JSON object"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = match serde_path_to_error::deserialize(&mut de) {
        Ok(v) => v,
        Err(err) if err.inner().to_string().starts_with("invalid type: floating point") => {
            // JSON has numbers, not integers: `2.0` is the integer 2 (as JSON
            // Schema says), which serde's integers refuse. Rare, so only
            // this failure pays for the second parse.
            let mut tree: serde_json::Value = serde_json::from_slice(bytes)
                .map_err(|e| ApiError::malformed_json(format!("the body is not valid JSON: {e}")))?;
            agora_core::validate::integral_floats_to_integers(&mut tree);
            return serde_path_to_error::deserialize(tree).map_err(json_error);
        }
        Err(err) => return Err(json_error(err)),
    };
    de.end().map_err(|e| ApiError::malformed_json(format!("the body is not valid JSON: {e}")))?;
    Ok(value)
}

/// The problem of a JSON body serde could not read: 422 naming the field
/// for a wrong value, 400 for text that is not JSON.
fn json_error(err: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = err.path().to_string();
    let inner = err.into_inner();
    match inner.classify() {
        Category::Data => {
            let message = strip_position(&inner.to_string());
            let (field, message) = field_of(&path, &message);
            ApiError::validation(field, message)
        }
        Category::Syntax | Category::Eof | Category::Io => {
            ApiError::malformed_json(format!("the body is not valid JSON: {inner}"))
        }
    }
}

/// 422 when a string of the JSON text `bytes` (a key or a value) holds the
/// NUL character, naming where; nothing to say about malformed JSON (the
/// parser that follows says it).
pub fn refuse_nul(bytes: &[u8]) -> Result<(), ApiError> {
    if !has_nul_escape(bytes) {
        return Ok(());
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else { return Ok(()) };
    let field = nul_path(&value, String::new()).unwrap_or_else(|| "body".to_owned());
    Err(ApiError::validation(field, "must not contain the NUL character (\\u0000)"))
}

/// Whether the JSON text has a `\u0000` escape (a raw NUL byte is not JSON
/// at all). Backslashes appear only inside strings, so pairs are skipped
/// exactly: `\\u0000` is a backslash followed by `u0000`, not a NUL.
fn has_nul_escape(bytes: &[u8]) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            if bytes.get(i + 1) == Some(&b'u') && bytes.get(i + 2..i + 6) == Some(b"0000") {
                return true;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

/// The path (`a.b[2]`) of the first key or string holding NUL.
fn nul_path(value: &serde_json::Value, at: String) -> Option<String> {
    let here = || if at.is_empty() { "body".to_owned() } else { at.clone() };
    match value {
        serde_json::Value::String(s) if s.contains('\0') => Some(here()),
        serde_json::Value::Array(items) => {
            items.iter().enumerate().find_map(|(i, v)| nul_path(v, format!("{}[{i}]", here())))
        }
        serde_json::Value::Object(map) => map.iter().find_map(|(k, v)| {
            let path = if at.is_empty() { k.clone() } else { format!("{at}.{k}") };
            if k.contains('\0') { Some(path) } else { nul_path(v, path) }
        }),
        _ => None,
    }
}

/// Drops serde_json's " at line L column C" suffix.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

/// The field a data error is about: the path (which already ends in an
/// unknown field's name), extended by the name in "missing field `x`".
fn field_of(path: &str, message: &str) -> (String, String) {
    let base = if path == "." { "" } else { path };
    if let Some(rest) = message.strip_prefix("missing field `")
        && let Some(end) = rest.find('`')
    {
        let name = &rest[..end];
        let field = if base.is_empty() { name.to_owned() } else { format!("{base}.{name}") };
        return (field, "is required".to_owned());
    }
    let field = if base.is_empty() { "body".to_owned() } else { base.to_owned() };
    (field, message.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_core::views::{PlaceOrder, SettingsPatch};

    /// Behind a proxy, the client is the entry the proxy appended: a client
    /// that sends its own `X-Forwarded-For` cannot pick its address.
    #[test]
    fn the_client_ip_is_the_last_forwarded_entry_only_when_trusted() {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("x-forwarded-for", "198.51.100.9, 203.0.113.7".parse().unwrap());
        let mut ext = axum::http::Extensions::new();
        ext.insert(ConnectInfo(SocketAddr::from(([10, 0, 0, 1], 4000))));
        assert_eq!(ClientIp::resolve(&headers, &ext, true).as_deref(), Some("203.0.113.7"));
        assert_eq!(ClientIp::resolve(&headers, &ext, false).as_deref(), Some("10.0.0.1"));
        headers.insert("x-forwarded-for", "not an address".parse().unwrap());
        assert_eq!(ClientIp::resolve(&headers, &ext, true).as_deref(), Some("10.0.0.1"));
    }

    /// NUL escapes are found exactly: an escaped backslash before `u0000`
    /// is not one; the field is named by its path.
    #[test]
    fn nul_escapes_are_found_exactly() {
        assert!(has_nul_escape(br#"{"a":"x\u0000"}"#));
        assert!(!has_nul_escape(br#"{"a":"x\\u0000"}"#));
        assert!(has_nul_escape(br#"{"a":"x\\\u0000"}"#));
        assert!(refuse_nul(br#"{"a":"x\\u0000"}"#).is_ok());
        let e = refuse_nul(br#"{"a":[{"b":"ok"},{"c":"\u0000"}]}"#).unwrap_err();
        assert_eq!(fields(&e)[0].0, "a[1].c");
    }

    fn fields(e: &ApiError) -> Vec<(String, String)> {
        e.problem().errors.unwrap_or_default().into_iter().map(|f| (f.field, f.message)).collect()
    }

    #[test]
    fn truncated_json_is_malformed() {
        let e = parse_json::<PlaceOrder>(br#"{"store_id": "#).unwrap_err();
        assert_eq!((e.status().as_u16(), e.code()), (400, "malformed_json"));
        let e = parse_json::<PlaceOrder>(b"").unwrap_err();
        assert_eq!(e.code(), "malformed_json");
        let e = parse_json::<SettingsPatch>(b"{} trailing").unwrap_err();
        assert_eq!(e.code(), "malformed_json");
    }

    #[test]
    fn wrong_types_and_missing_fields_name_the_field() {
        let id = Uuid::nil();
        let body = format!(r#"{{"store_id":"{id}","address_id":"{id}","items":[{{"variant_id":"{id}","qty":"x"}}]}}"#);
        let e = parse_json::<PlaceOrder>(body.as_bytes()).unwrap_err();
        assert_eq!((e.status().as_u16(), e.code()), (422, "validation"));
        assert_eq!(fields(&e)[0].0, "items[0].qty");

        let e = parse_json::<PlaceOrder>(format!(r#"{{"store_id":"{id}","items":[]}}"#).as_bytes()).unwrap_err();
        assert_eq!(fields(&e), vec![("address_id".to_owned(), "is required".to_owned())]);

        let e = parse_json::<SettingsPatch>(br#"{"nope": 1}"#).unwrap_err();
        assert_eq!(fields(&e)[0].0, "nope");

        let e = parse_json::<SettingsPatch>(b"[1]").unwrap_err();
        assert_eq!(fields(&e)[0].0, "body");
    }
}
