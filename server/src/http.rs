//! Request plumbing shared by every route: the JSON extractor that turns
//! rejections into the service error, the per-IP limiter, bearer
//! authentication with the per-principal limiter, the request timeout, and
//! the accept loop with its connection limits and timeouts.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tower::ServiceExt;

use super::AppState;
use super::auth::Principal;
use super::config::HttpConfig;
use super::error::Error;

/// `axum::Json`, but rejections become `Error` (400/413/415/422 JSON bodies).
pub(crate) struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(Error::UnsupportedMediaType);
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| {
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    Error::PayloadTooLarge
                } else {
                    Error::BadRequest(e.body_text())
                }
            })?;
        let axum::Json(value) = axum::Json::<T>::from_bytes(&bytes)?;
        // Walked generically, so that no field of any request is forgotten.
        let tree: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Unprocessable(format!("request body: {e}")))?;
        refuse_control_chars(&tree, &mut String::from("body"), false)?;
        Ok(Self(value))
    }
}

/// `Content-Type: application/json` or `application/<anything>+json`, as
/// `axum::Json` accepts.
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Fields of free text (encrypted job metadata, a disclosure's
/// justification), where tab and line breaks have a meaning.
const FREE_TEXT_FIELDS: [&str; 2] = ["metadata", "justification"];

/// Whether `s` has a control character (NUL, C0, DEL, C1) other than
/// those `free_text` allows. PostgreSQL cannot store NUL in text at all;
/// none of the other controls has a meaning in an id, a name or a number.
pub(crate) fn has_control_chars(s: &str, free_text: bool) -> bool {
    s.chars()
        .any(|c| c.is_control() && !(free_text && matches!(c, '\t' | '\n' | '\r')))
}

fn control_chars_error(what: &str) -> Error {
    Error::Unprocessable(format!("{what}: control characters are not allowed"))
}

/// Refuses control characters in every string and object key of `value`;
/// `path` names the place for the error message (never the value itself).
fn refuse_control_chars(
    value: &serde_json::Value,
    path: &mut String,
    free_text: bool,
) -> Result<(), Error> {
    use serde_json::Value;
    match value {
        Value::String(s) if has_control_chars(s, free_text) => Err(control_chars_error(path)),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                refuse_control_chars(item, path, free_text)?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Object(map) => {
            for (key, item) in map {
                if has_control_chars(key, false) {
                    return Err(control_chars_error(&format!("a key in {path}")));
                }
                let len = path.len();
                path.push('.');
                path.push_str(key);
                let free = free_text || FREE_TEXT_FIELDS.contains(&key.as_str());
                refuse_control_chars(item, path, free)?;
                path.truncate(len);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// `axum::extract::Query` with rejections as `Error`.
pub(crate) struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Query(value) =
            axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        let axum::extract::Query(pairs) =
            axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)?;
        for (name, text) in &pairs {
            if has_control_chars(name, false) {
                return Err(control_chars_error("a query parameter name"));
            }
            if has_control_chars(text, false) {
                return Err(control_chars_error(&format!("query parameter {name}")));
            }
        }
        Ok(Self(value))
    }
}

/// `axum::extract::Path` with rejections as `Error`.
pub(crate) struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(value) =
            axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        let raw = axum::extract::RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| Error::BadRequest(e.body_text()))?;
        for (name, text) in &raw {
            if has_control_chars(text, false) {
                return Err(control_chars_error(&format!("path parameter {name}")));
            }
        }
        Ok(Self(value))
    }
}

/// The authenticated caller, put in the request by [`authenticate`].
impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or(Error::Unauthorized)
    }
}

fn client_ip(req: &Request) -> IpAddr {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// Per-IP token bucket, before any database work.
pub(crate) async fn limit_ip(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match state.limits.check_ip(client_ip(&req)) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

/// Resolves `Authorization: Bearer ...` to a [`Principal`], then takes a
/// token from that principal's bucket.
pub(crate) async fn authenticate(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let principal = match token {
        Some(token) => state.tokens.authenticate(&state.db, token).await,
        None => Err(Error::Unauthorized),
    };
    let principal = match principal {
        Ok(p) => p,
        Err(e) => {
            let mut response = e.into_response();
            if response.status() == axum::http::StatusCode::UNAUTHORIZED {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer"),
                );
            }
            return response;
        }
    };
    if let Err(e) = state.limits.check_principal(&principal.id) {
        return e.into_response();
    }
    let id = super::access_log::PrincipalId(principal.id.clone());
    req.extensions_mut().insert(principal);
    let mut response = next.run(req).await;
    response.extensions_mut().insert(id);
    response
}

/// Answers 408 when a request takes longer than the configured time.
pub async fn timeout(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let limit = Duration::from_secs(state.config.http.request_timeout_secs);
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => Error::Timeout.into_response(),
    }
}

/// Unknown routes.
pub(crate) async fn not_found() -> Error {
    Error::NotFound("route".into())
}

/// Known routes, wrong method.
pub(crate) async fn method_not_allowed() -> Error {
    Error::MethodNotAllowed
}

/// Counts the bytes moving on a connection: the time of the last one is
/// what the idle timeout measures.
struct Tracked {
    inner: tokio::net::TcpStream,
    opened: Instant,
    last: Arc<AtomicU64>,
}

impl Tracked {
    fn touch(&self) {
        let ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(ms, Ordering::Relaxed);
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.touch();
        }
        r
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets every
/// open connection finish the request it is on and waits for them.
///
/// Unlike `axum::serve`, it bounds what a client that does not behave can
/// hold: a connection that has not sent a whole request head within
/// `header_read_timeout_secs` (counted from its opening or from the end of
/// its previous response) is closed; one on which no byte moved for
/// `idle_timeout_secs` while no request was being handled is closed; and at
/// most `max_connections` are served at once, further ones waiting in the
/// kernel's listen backlog (where they cost the process no file descriptor)
/// until one closes. HTTP/1.1 only, as before.
pub async fn serve<F>(
    listener: TcpListener,
    app: Router,
    config: &HttpConfig,
    shutdown: F,
) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send,
{
    let slots = Arc::new(Semaphore::new(config.max_connections));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(config.header_read_timeout_secs))
        .keep_alive(true);
    let idle = Duration::from_secs(config.idle_timeout_secs);
    let (stop, stopped) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            () = &mut shutdown => break,
        };
        // The semaphore is never closed; stop serving rather than panic.
        let Ok(slot) = slot else { break };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors or a connection reset before it was
                    // accepted: wait a little instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        connections.spawn(connection(
            stream,
            peer,
            app.clone(),
            builder.clone(),
            idle,
            stopped.clone(),
            slot,
        ));
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = stop.send(true);
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// Drives one connection; `_slot` is its place among `max_connections`.
async fn connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    app: Router,
    builder: hyper::server::conn::http1::Builder,
    idle: Duration,
    mut stopped: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    let opened = Instant::now();
    let last = Arc::new(AtomicU64::new(0));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let io = TokioIo::new(Tracked {
        inner: stream,
        opened,
        last: last.clone(),
    });
    let (starts, ends) = (in_flight.clone(), in_flight.clone());
    let service = app
        .map_request(move |mut req: axum::http::Request<hyper::body::Incoming>| {
            starts.fetch_add(1, Ordering::Relaxed);
            req.extensions_mut().insert(ConnectInfo(peer));
            req
        })
        .map_response(move |response: Response| {
            ends.fetch_sub(1, Ordering::Relaxed);
            response
        });
    let conn = builder.serve_connection(io, TowerToHyperService::new(service));
    tokio::pin!(conn);
    let mut stopping = *stopped.borrow();
    if stopping {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        // While a request is being handled the connection is not idle
        // (handlers have their own timeout); look again later.
        let next_check = if in_flight.load(Ordering::Relaxed) > 0 {
            Instant::now() + idle
        } else {
            opened + Duration::from_millis(last.load(Ordering::Relaxed)) + idle
        };
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, %peer, "connection ended with an error");
                }
                return;
            }
            changed = stopped.changed(), if !stopping => {
                let _ = changed;
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
            () = tokio::time::sleep_until(next_check.into()) => {
                let quiet = opened.elapsed().saturating_sub(
                    Duration::from_millis(last.load(Ordering::Relaxed)),
                );
                if quiet >= idle && in_flight.load(Ordering::Relaxed) == 0 {
                    tracing::debug!(%peer, "idle connection closed");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn control_characters_are_found_in_every_string_and_key() {
        let check = |v: serde_json::Value| refuse_control_chars(&v, &mut "body".into(), false);
        assert!(check(json!({"a": "plain", "b": ["é", 1, null], "c": {"d": "ok"}})).is_ok());
        for bad in [
            json!({"a": "x\u{0}"}),
            json!({"a": ["ok", "\u{1f}"]}),
            json!({"a": {"b": {"c": "\u{7f}"}}}),
            json!({"a": "\u{85}"}),
            json!({"a\u{0}": 1}),
            json!(["\t"]),
        ] {
            let e = check(bad.clone()).expect_err("control character");
            assert!(matches!(e, Error::Unprocessable(_)), "{bad}");
        }
        let e = check(json!({"a": [{"b": "\u{0}"}]})).expect_err("nested");
        assert!(e.to_string().starts_with("body.a[0].b:"), "{e}");
        // Free text keeps tab and line breaks, never NUL.
        assert!(check(json!({"metadata": {"note": "a\tb\r\nc"}, "justification": "x\ny"})).is_ok());
        assert!(check(json!({"metadata": {"note": "a\u{0}"}})).is_err());
        assert!(check(json!({"justification": "\u{1b}[2J"})).is_err());
    }

    #[test]
    fn json_content_types() {
        let mut h = axum::http::HeaderMap::new();
        assert!(!is_json(&h));
        for (value, ok) in [
            ("application/json", true),
            ("Application/JSON; charset=utf-8", true),
            ("application/problem+json", true),
            ("text/json", false),
            ("application/jsonx", false),
        ] {
            h.insert(header::CONTENT_TYPE, value.parse().expect("header"));
            assert_eq!(is_json(&h), ok, "{value}");
        }
    }
}
