//! The HTTP API: routes, handlers, JSON errors, and the observing middleware.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{MatchedPath, Path, Query, Request, State as AxumState};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use bytes::Bytes;
use channel_registry::{SendError, TrySendError};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::{Deserialize, Serialize};
use serde_json::json;
use subtle::ConstantTimeEq as _;
use tower_http::timeout::{TimeoutError, TimeoutLayer};

use crate::cluster::PostError;
use crate::metrics::{Route, SendOutcome};
use crate::state::{SetError, SetOutcome, State};

type AppState = AxumState<Arc<State>>;

pub(crate) fn router(state: Arc<State>) -> Router {
    let timeout =
        TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, state.config.request_timeout);
    let mut routes = Router::new()
        .route("/instances", get(list_instances))
        .route(
            "/instances/{id}",
            put(put_instance).get(get_instance).delete(delete_instance),
        )
        .route("/instances/{id}/events", post(post_event));
    // Without a token, no layer at all: a middleware costs every request.
    if state.config.auth_token.is_some() {
        routes = routes.route_layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            authorize,
        ));
    }
    routes
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(no_route)
        .layer(timeout)
        .layer(middleware::from_fn_with_state(Arc::clone(&state), observe))
        .with_state(state)
}

/// With [`Config::auth_token`](crate::Config::auth_token) set, a `PUT`,
/// `DELETE` or `POST` needs `Authorization: Bearer <token>`: 401 otherwise.
/// The comparison takes the same time wherever the tokens differ.
async fn authorize(AxumState(state): AppState, request: Request, next: Next) -> Response {
    let Some(token) = &state.config.auth_token else {
        return next.run(request).await;
    };
    let mutating = matches!(
        *request.method(),
        Method::PUT | Method::DELETE | Method::POST
    );
    if !mutating {
        return next.run(request).await;
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "));
    match presented {
        Some(presented) if bool::from(presented.ct_eq(token.as_bytes())) => next.run(request).await,
        _ => {
            state.metrics.unauthorized.fetch_add(1, Relaxed);
            let mut response = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "this route needs Authorization: Bearer <token>",
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            response
        }
    }
}

/// `GET /healthz`: the process is up and serving (liveness).
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: 200 while the daemon takes work, 503 once shutdown began.
async fn readyz(AxumState(state): AppState) -> Response {
    if state.draining.load(Relaxed) {
        let body = json!({ "ready": false, "reason": "shutting down", "status": 503 });
        (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
    } else {
        Json(json!({ "ready": true })).into_response()
    }
}

/// An error answer: `{"error": message, "status": code}`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
    retry_after: Option<u32>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    fn no_instance(id: u64) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, format!("no instance {id}"))
    }

    fn retry_after(mut self, secs: u32) -> Self {
        self.retry_after = Some(secs);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(json!({ "error": self.message, "status": self.status.as_u16() }));
        let mut response = (self.status, body).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// The id in the path: decimal digits only (no sign, no spaces) that fit a
/// `u64`; anything else is a 400.
fn parse_id(path: Result<Path<String>, PathRejection>) -> ApiResult<u64> {
    let Path(raw) = path.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let digits = !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit());
    match raw.parse::<u64>() {
        Ok(id) if digits => Ok(id),
        _ => {
            let shown: String = raw.chars().take(40).collect();
            Err(ApiError::bad_request(format!(
                "bad instance id {shown:?}: expected a decimal integer in 0..=18446744073709551615"
            )))
        }
    }
}

fn parse_query<T>(query: Result<Query<T>, QueryRejection>) -> ApiResult<T> {
    query
        .map(|Query(q)| q)
        .map_err(|e| ApiError::bad_request(e.body_text()))
}

#[derive(Debug, Deserialize)]
struct PutParams {
    capacity: Option<usize>,
}

#[derive(Debug, Serialize)]
struct InstanceInfo {
    id: u64,
    generation: u64,
    depth: usize,
    capacity: usize,
    processed: u64,
    failed: u64,
}

/// `PUT /instances/{id}`: Go's `ActiveInstances[id] = make(chan string, N)`.
async fn put_instance(
    AxumState(state): AppState,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<PutParams>, QueryRejection>,
) -> ApiResult<Response> {
    let id = parse_id(path)?;
    let params = parse_query(query)?;
    let capacity = params.capacity.unwrap_or(state.config.default_capacity);
    if capacity == 0 || capacity > state.config.max_capacity {
        return Err(ApiError::bad_request(format!(
            "capacity must be in 1..={}",
            state.config.max_capacity
        )));
    }
    let outcome = match state.cluster.get() {
        // The table decides; the instance is created locally by the owner
        // of the id's shard when its first event arrives.
        Some(cluster) => {
            let put = cluster.put(id, capacity).await.map_err(unavailable)?;
            let created = put.replaced.is_none();
            let counter = if created {
                &state.metrics.created
            } else {
                &state.metrics.replaced
            };
            counter.fetch_add(1, Relaxed);
            SetOutcome {
                created,
                generation: put.generation,
                replaced: put.replaced,
                capacity,
            }
        }
        None => put_locally(&state, id, capacity)?,
    };
    let status = if outcome.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let info = json!({
        "id": id,
        "generation": outcome.generation,
        "capacity": outcome.capacity,
        "created": outcome.created,
        "replaced_generation": outcome.replaced,
    });
    Ok((status, Json(info)).into_response())
}

/// A single process's `PUT`: the instance limit, the slot budget, then
/// the registry.
fn put_locally(state: &Arc<State>, id: u64, capacity: usize) -> ApiResult<SetOutcome> {
    if state.registry.len() >= state.config.max_instances && !state.registry.contains(&id) {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "instance limit ({}) reached; delete some first",
                state.config.max_instances
            ),
        ));
    }
    state.set_instance(id, capacity).map_err(|e| match e {
        SetError::Capacity(e) => ApiError::bad_request(e.to_string()),
        SetError::NoSlots => {
            state.metrics.over_budget_slots.fetch_add(1, Relaxed);
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "mailbox slot budget ({} slots) cannot hold {capacity} more; delete instances or retry later",
                    state.slots.limit()
                ),
            )
            .retry_after(state.config.retry_after_secs)
        }
    })
}

/// `DELETE /instances/{id}`: Go's `delete(ActiveInstances, id)`.
async fn delete_instance(
    AxumState(state): AppState,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<StatusCode> {
    let id = parse_id(path)?;
    let deleted = match state.cluster.get() {
        Some(cluster) => {
            let deleted = cluster.delete(id).await.map_err(unavailable)?;
            if deleted {
                state.metrics.deleted.fetch_add(1, Relaxed);
            }
            deleted
        }
        None => state.delete_instance(id),
    };
    if deleted {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::no_instance(id))
    }
}

#[derive(Debug, Deserialize)]
struct PostParams {
    /// Wait up to this long for space in a full mailbox (`send_async`).
    wait_ms: Option<u64>,
}

/// `POST /instances/{id}/events`. The status rule is in the crate docs.
async fn post_event(
    AxumState(state): AppState,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<PostParams>, QueryRejection>,
    request: Request,
) -> ApiResult<Response> {
    let id = parse_id(path)?;
    let params = parse_query(query)?;
    let wait = match params.wait_ms {
        None | Some(0) => None,
        Some(ms) => {
            let wait = Duration::from_millis(ms);
            if wait > state.config.max_wait {
                return Err(ApiError::bad_request(format!(
                    "wait_ms must be at most {}",
                    state.config.max_wait.as_millis()
                )));
            }
            Some(wait)
        }
    };

    if let Some(cluster) = state.cluster.get() {
        let body = read_body(request.into_body(), state.config.max_body_bytes).await?;
        let (outcome, answer) = match cluster.post(id, body).await {
            Ok(event_id) => (SendOutcome::Accepted, Ok(accepted(event_id))),
            Err(PostError::NoSuchId) => (SendOutcome::NoSuchId, Err(ApiError::no_instance(id))),
            Err(PostError::Full) => (
                SendOutcome::Full,
                Err(ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!("the stored backlog of instance {id} is full"),
                )
                .retry_after(state.config.retry_after_secs)),
            ),
            Err(PostError::Unavailable(e)) => (SendOutcome::Closed, Err(unavailable(e))),
        };
        state.metrics.count_send(outcome);
        return answer;
    }
    // The lookup that separates 404 from 410; before the body is read.
    if !state.registry.contains(&id) {
        state.metrics.count_send(SendOutcome::NoSuchId);
        return Err(ApiError::no_instance(id));
    }
    let body = read_body(request.into_body(), state.config.max_body_bytes).await?;
    let Some((event_id, event)) = state.event(body) else {
        state.metrics.count_send(SendOutcome::OverBudget);
        return Err(bytes_budget_full(&state));
    };

    let outcome = match wait {
        None => match state.registry.try_send(&id, event) {
            Ok(()) => SendOutcome::Accepted,
            Err(TrySendError::Full(_)) => SendOutcome::Full,
            Err(TrySendError::NoSuchId(_)) => SendOutcome::Gone,
            Err(TrySendError::Closed(_)) => SendOutcome::Closed,
        },
        Some(wait) => {
            let waiting = Waiting::new(&state.metrics.waiting);
            let sent = tokio::time::timeout(wait, state.registry.send_async(&id, event)).await;
            drop(waiting);
            match sent {
                Ok(Ok(())) => SendOutcome::Accepted,
                // Dropping the send future on timeout drops the event unsent:
                // it was never accepted, so the 429 is truthful.
                Err(_elapsed) => SendOutcome::Timeout,
                Ok(Err(SendError::NoSuchId(_))) => SendOutcome::Gone,
                Ok(Err(SendError::Closed(_))) => SendOutcome::Closed,
            }
        }
    };
    state.metrics.count_send(outcome);
    let retry = state.config.retry_after_secs;
    match outcome {
        SendOutcome::Accepted => Ok(accepted(event_id)),
        SendOutcome::OverBudget => Err(bytes_budget_full(&state)),
        SendOutcome::Full => Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("mailbox of instance {id} is full"),
        )
        .retry_after(retry)),
        SendOutcome::Timeout => Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("mailbox of instance {id} stayed full for the whole wait"),
        )
        .retry_after(retry)),
        SendOutcome::Gone => Err(ApiError::new(
            StatusCode::GONE,
            format!("instance {id} was deleted while the event was being sent"),
        )),
        SendOutcome::NoSuchId => Err(ApiError::no_instance(id)),
        SendOutcome::Closed => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("instance {id} has no worker; set it again"),
        )),
    }
}

/// A 202 with its event id.
fn accepted(event_id: u64) -> Response {
    // Written directly: `Json(json!(..))` builds and frees a map per post,
    // which cost about 8% of the daemon's post rate.
    let body = format!("{{\"event_id\":{event_id}}}");
    let json = [(header::CONTENT_TYPE, "application/json")];
    (StatusCode::ACCEPTED, json, body).into_response()
}

/// A 503 for a cluster operation that NATS did not complete.
fn unavailable(message: String) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message).retry_after(1)
}

/// The 503 of a `POST` whose body does not fit in the byte budget.
fn bytes_budget_full(state: &State) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "buffered-event budget ({} bytes) is full; retry later",
            state.bytes.limit()
        ),
    )
    .retry_after(state.config.retry_after_secs)
}

/// Counts a waiting post in `webhook_sends_waiting` while it lives (also
/// if the client goes away and the handler is dropped mid-wait).
struct Waiting<'a>(&'a AtomicU64);

impl<'a> Waiting<'a> {
    fn new(gauge: &'a AtomicU64) -> Self {
        gauge.fetch_add(1, Relaxed);
        Waiting(gauge)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

/// Reads at most `max` bytes of body: 413 beyond, 400 if the body fails.
async fn read_body(body: Body, max: usize) -> ApiResult<Bytes> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body over {max} bytes"),
        )
    };
    if let Some(len) = axum::body::HttpBody::size_hint(&body).exact()
        && len > max as u64
    {
        return Err(too_large());
    }
    match Limited::new(body, max).collect().await {
        // A copy: the collected `Bytes` may be a slice of the connection's
        // read buffer, and a buffered event would keep all of it alive
        // (kilobytes for a 25-byte event). The copy is exactly the body.
        Ok(collected) => Ok(Bytes::copy_from_slice(&collected.to_bytes())),
        Err(e) if has_source::<LengthLimitError>(&*e) => Err(too_large()),
        Err(e) if has_source::<TimeoutError>(&*e) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "the body stalled: no data for the body timeout",
        )),
        Err(e) => Err(ApiError::bad_request(format!("cannot read body: {e}"))),
    }
}

/// Whether `e` or an error in its source chain is an `E`.
fn has_source<E: std::error::Error + 'static>(mut e: &(dyn std::error::Error + 'static)) -> bool {
    loop {
        if e.is::<E>() {
            return true;
        }
        match e.source() {
            Some(source) => e = source,
            None => return false,
        }
    }
}

#[derive(Debug, Deserialize)]
struct ListParams {
    /// First id of the range (inclusive), default 0.
    from: Option<u64>,
    /// Last id of the range (inclusive), default `u64::MAX`.
    to: Option<u64>,
    /// Page size, default 100.
    limit: Option<usize>,
}

/// `GET /instances`: ids in `[from, to]`, ascending; `next` starts the next page.
async fn list_instances(
    AxumState(state): AppState,
    query: Result<Query<ListParams>, QueryRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let params = parse_query(query)?;
    let from = params.from.unwrap_or(0);
    let to = params.to.unwrap_or(u64::MAX);
    let limit = params.limit.unwrap_or(100);
    if limit == 0 || limit > state.config.max_page {
        return Err(ApiError::bad_request(format!(
            "limit must be in 1..={}",
            state.config.max_page
        )));
    }
    if from > to {
        return Err(ApiError::bad_request("from must not exceed to"));
    }
    let mut ids: Vec<u64> = match state.cluster.get() {
        Some(cluster) => {
            let mut ids = cluster.ids(from, to).await.map_err(unavailable)?;
            ids.truncate(limit + 1);
            ids
        }
        None => state.registry.ids_in(from..=to).take(limit + 1).collect(),
    };
    let next = if ids.len() > limit { ids.pop() } else { None };
    Ok(Json(json!({ "ids": ids, "next": next })))
}

/// `GET /instances/{id}`: the current instance's depth, capacity and processed count.
async fn get_instance(
    AxumState(state): AppState,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<InstanceInfo>> {
    let id = parse_id(path)?;
    if let Some(cluster) = state.cluster.get() {
        // The table's generation; the counts are this replica's local
        // instance of that generation, if it owns the id's shard (0 else).
        let (entry, _) = cluster
            .get(id)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| ApiError::no_instance(id))?;
        let local = state
            .registry
            .sender(&id)
            .filter(|m| m.state().generation == entry.generation);
        let count = |f: fn(&crate::state::Instance) -> &AtomicU64| {
            local.as_ref().map_or(0, |m| f(m.state()).load(Relaxed))
        };
        return Ok(Json(InstanceInfo {
            id,
            generation: entry.generation,
            depth: local.as_ref().map_or(0, |m| m.len()),
            capacity: entry.capacity,
            processed: count(|i| &i.processed),
            failed: count(|i| &i.failed),
        }));
    }
    // The id's current generation, with its counters (its state): one
    // lookup, so depth, capacity and counters all describe one instance.
    let mailbox = state
        .registry
        .sender(&id)
        .ok_or_else(|| ApiError::no_instance(id))?;
    let instance = mailbox.state();
    Ok(Json(InstanceInfo {
        id,
        generation: instance.generation,
        depth: mailbox.len(),
        capacity: mailbox.capacity(),
        processed: instance.processed.load(Relaxed),
        failed: instance.failed.load(Relaxed),
    }))
}

/// `GET /metrics`: Prometheus text format 0.0.4.
async fn metrics(AxumState(state): AppState) -> Response {
    let budgets = [&*state.bytes, &*state.slots];
    let mut text = state
        .metrics
        .render(state.registry.len(), state.buffered(), budgets);
    if let Some(cluster) = state.cluster.get() {
        text.push_str(&cluster.metrics.render());
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

async fn no_route() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such route")
}

/// Times every request, counts its status, and turns any error answer that
/// is not JSON yet (axum's 405 for a wrong method, for one) into a JSON error,
/// keeping its headers (`Allow`).
async fn observe(AxumState(state): AppState, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = Route::of(
        request.method(),
        request
            .extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str),
    );
    let mut response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if (status.is_client_error() || status.is_server_error()) && !is_json {
        let message = status.canonical_reason().unwrap_or("error").to_lowercase();
        let (mut parts, _) = response.into_parts();
        parts.headers.remove(header::CONTENT_LENGTH);
        parts.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let body = json!({ "error": message, "status": status.as_u16() }).to_string();
        response = Response::from_parts(parts, Body::from(body));
    }
    state
        .metrics
        .observe_request(route, status.as_u16(), started.elapsed());
    response
}
