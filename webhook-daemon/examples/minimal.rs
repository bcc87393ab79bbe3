//! A webhook daemon in one file: axum plus channel-registry, to copy.
//!
//! `PUT /instances/{id}?capacity=N` creates or replaces an instance (201 or
//! 200) and spawns its worker; `DELETE` removes it (204, 404); `POST
//! /instances/{id}/events` queues the body in its mailbox (202, 404, 429 when
//! full, 503 if its worker is gone); `GET /instances/{id}` reports the events
//! its worker processed. Each instance's counter is its channel's state, so
//! there is one map. On Ctrl-C it stops accepting, closes every mailbox and
//! waits until every worker has drained its own. (The full daemon adds the
//! 410 of an instance deleted mid-request, waiting sends, limits and metrics.)
//!
//! `cargo run -p webhook-daemon --example minimal`, then for example
//! `curl -X PUT 'localhost:8080/instances/1?capacity=5'`.
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use axum::extract::{Path, Query, State};
use axum::{Json, Router, body::Bytes, http::StatusCode, routing::post, routing::put};
use channel_registry::{Registry, TrySendError};
use serde_json::{Value, json};
use tokio_util::task::TaskTracker;

/// Instances by id: each a mailbox of events, with its processed count.
type Instances = Registry<u64, Bytes, AtomicU64>;

#[derive(Clone)]
struct App(Arc<Instances>, TaskTracker);
type Shared = State<App>;
type Id = Path<u64>;

#[derive(serde::Deserialize)]
struct Params {
    capacity: Option<usize>,
}

async fn put_instance(
    State(App(reg, workers)): Shared,
    Path(id): Id,
    Query(p): Query<Params>,
) -> StatusCode {
    let Ok(created) = reg.set_with(id, p.capacity.unwrap_or(5), AtomicU64::new(0)) else {
        return StatusCode::BAD_REQUEST; // capacity 0 or too large
    };
    let inbox = created.receiver;
    workers.spawn(async move {
        // Every event accepted into this mailbox, until it is replaced or deleted.
        while let Ok(_event) = inbox.recv_async().await {
            inbox.state().fetch_add(1, Relaxed); // handle `_event` here
        }
    });
    if created.replaced.is_none() {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    }
}

async fn delete_instance(State(App(reg, _)): Shared, Path(id): Id) -> StatusCode {
    if reg.delete(&id) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

async fn post_event(State(App(reg, _)): Shared, Path(id): Id, body: Bytes) -> StatusCode {
    match reg.try_send(&id, body) {
        Ok(()) => StatusCode::ACCEPTED,
        Err(TrySendError::NoSuchId(_)) => StatusCode::NOT_FOUND,
        Err(TrySendError::Full(_)) => StatusCode::TOO_MANY_REQUESTS,
        Err(TrySendError::Closed(_)) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

async fn get_instance(State(App(reg, _)): Shared, Path(id): Id) -> Result<Json<Value>, StatusCode> {
    let processed = reg
        .with_state(&id, |n| n.load(Relaxed))
        .ok_or(StatusCode::NOT_FOUND)?;
    Ok(Json(json!({ "id": id, "processed": processed })))
}

/// Serves on `listener` until `shutdown` completes, then drains every mailbox.
pub async fn serve(
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = App(Arc::new(Registry::new()), TaskTracker::new());
    let routes = Router::new()
        .route(
            "/instances/{id}",
            put(put_instance).delete(delete_instance).get(get_instance),
        )
        .route("/instances/{id}/events", post(post_event))
        .with_state(app.clone());
    axum::serve(listener, routes)
        .with_graceful_shutdown(shutdown)
        .await?;
    app.0.delete_in(..); // close every mailbox: each worker drains its own, then exits
    app.1.close();
    app.1.wait().await;
    Ok(())
}

#[tokio::main]
#[allow(dead_code)] // `tests/minimal.rs` includes this file for `serve`
async fn main() -> std::io::Result<()> {
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let listener = tokio::net::TcpListener::bind(addr).await?;
    serve(listener, async {
        tokio::signal::ctrl_c().await.unwrap_or(())
    })
    .await
}
