//! A health probe that asks Prometheus: `GET <url>/api/v1/query?query=…`
//! and compares the answer with `max`. A vector answer is judged by its
//! highest sample, a scalar by its value. No data is unhealthy: a query
//! that can legitimately be empty should end in `or vector(0)`.

use std::time::Duration;

use serde_json::Value;

/// What one query said: Ok(detail) when healthy, Err(why) when not.
pub(crate) async fn probe(
    http: &reqwest::Client,
    url: &str,
    query: &str,
    max: f64,
    timeout: Duration,
) -> Result<String, String> {
    let endpoint = format!("{}/api/v1/query", url.trim_end_matches('/'));
    // The URL may carry credentials; messages show it without them.
    let shown = super::git::display_repo(url);
    let resp = http
        .get(&endpoint)
        .query(&[("query", query)])
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                format!("Prometheus at {shown} did not answer in time")
            } else {
                format!("could not query Prometheus at {shown}: {}", root(&e))
            }
        })?;
    let status = resp.status();
    let body: Value = resp
        .json()
        .await
        .map_err(|e| format!("Prometheus at {shown} answered HTTP {status} without JSON: {e}"))?;
    judge(&body, max)
}

/// The verdict on a query API answer.
pub(crate) fn judge(body: &Value, max: f64) -> Result<String, String> {
    if body["status"] != "success" {
        let why = body["error"].as_str().unwrap_or("no reason given");
        return Err(format!(
            "the Prometheus query failed: {}",
            crate::model::sanitize_text(why)
        ));
    }
    let data = &body["data"];
    let sample = |v: &Value| -> Option<f64> { v.get(1)?.as_str()?.parse::<f64>().ok() };
    let value = match data["resultType"].as_str() {
        Some("scalar") => sample(&data["result"]),
        Some("vector") => data["result"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| sample(&r["value"]))
            .reduce(f64::max),
        other => {
            return Err(format!(
                "the Prometheus query gave a {} result; use a query that yields one number or an instant vector",
                other.unwrap_or("missing")
            ));
        }
    };
    match value {
        None => Err(
            "the Prometheus query returned no data (end it with `or vector(0)` if none is fine)"
                .into(),
        ),
        Some(v) if v.is_nan() => Err("the Prometheus query returned NaN".into()),
        Some(v) if v <= max => Ok(format!("query value {v} <= {max}")),
        Some(v) => Err(format!("query value {v} > max {max}")),
    }
}

fn root(e: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vector(values: &[&str]) -> Value {
        let result: Vec<Value> = values
            .iter()
            .map(|v| json!({ "metric": { "job": "api" }, "value": [1_764_063_000.123, v] }))
            .collect();
        json!({ "status": "success", "data": { "resultType": "vector", "result": result } })
    }

    #[test]
    fn answers_are_judged_against_max() {
        assert!(judge(&vector(&["0.001", "0.009"]), 0.01).is_ok());
        assert_eq!(
            judge(&vector(&["0.001", "0.2"]), 0.01).unwrap_err(),
            "query value 0.2 > max 0.01"
        );
        assert!(judge(&vector(&[]), 0.01).unwrap_err().contains("no data"));
        assert!(judge(&vector(&["NaN"]), 0.01).is_err());
        let scalar = json!({ "status": "success", "data": { "resultType": "scalar", "result": [1.0, "3"] } });
        assert!(judge(&scalar, 3.0).is_ok());
        let bad = json!({ "status": "error", "errorType": "bad_data", "error": "parse error" });
        assert!(judge(&bad, 1.0).unwrap_err().contains("parse error"));
        let matrix =
            json!({ "status": "success", "data": { "resultType": "matrix", "result": [] } });
        assert!(judge(&matrix, 1.0).unwrap_err().contains("matrix"));
    }
}
