//! The copyable example (`examples/minimal.rs`) over loopback HTTP: its
//! status rules, its per-instance counter, and a graceful shutdown that
//! processes every accepted event.

#[path = "../examples/minimal.rs"]
mod minimal;
mod support;

use support::request;

use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minimal_example_follows_the_status_rules_and_drains_on_shutdown() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(minimal::serve(listener, async {
        let _ = stopped.await;
    }));

    assert_eq!(
        request(addr, "PUT", "/instances/1?capacity=0", "").await.0,
        400
    );
    assert_eq!(
        request(addr, "POST", "/instances/1/events", "x").await.0,
        404
    );
    assert_eq!(
        request(addr, "PUT", "/instances/1?capacity=3", "").await.0,
        201
    );
    assert_eq!(
        request(addr, "PUT", "/instances/1?capacity=3", "").await.0,
        200
    );
    let mut accepted = 0;
    for n in 0..200 {
        match request(addr, "POST", "/instances/1/events", &format!("event {n}"))
            .await
            .0
        {
            202 => accepted += 1,
            429 => tokio::time::sleep(Duration::from_millis(1)).await,
            other => panic!("POST answered {other}"),
        }
    }
    assert!(accepted > 0);
    // The counter is the current instance's: it reaches what was accepted.
    let processed = loop {
        let (status, body) = request(addr, "GET", "/instances/1", "").await;
        assert_eq!(status, 200);
        let json: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        let processed = json["processed"].as_u64().expect("a count");
        if processed == accepted {
            break processed;
        }
        assert!(processed < accepted, "{processed} processed of {accepted}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(processed, accepted);
    assert_eq!(request(addr, "DELETE", "/instances/1", "").await.0, 204);
    assert_eq!(request(addr, "DELETE", "/instances/1", "").await.0, 404);
    assert_eq!(request(addr, "GET", "/instances/1", "").await.0, 404);

    // Shutdown completes with events still buffered: the workers drain them.
    assert_eq!(
        request(addr, "PUT", "/instances/2?capacity=64", "").await.0,
        201
    );
    for n in 0..32 {
        assert_eq!(
            request(addr, "POST", "/instances/2/events", &n.to_string())
                .await
                .0,
            202
        );
    }
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("graceful shutdown within 30 s")
        .unwrap()
        .unwrap();
}
