//! Entry points for the fuzz targets in `fuzz/`: thin wrappers around the checks' crate-private
//! engines, returning plain data. Not part of the supported API.

use std::time::Duration;

use super::probe::pac;

/// Evaluate a PAC script's FindProxyForURL(url, host) with the engine's deadline, as the checks do
/// (dnsResolve answers nothing, myIpAddress is 127.0.0.1). Ok: the answer's entries (`DIRECT`,
/// `PROXY h:p`); Err: the rendered error (a time-out reads "PAC script did not finish in N ms").
pub fn pac_evaluate(
    script: &str,
    url: &str,
    host: &str,
    limit: Duration,
) -> Result<Vec<String>, String> {
    pac::evaluate(script, url, host, "127.0.0.1", limit, |_| None)
        .map(|routes| {
            routes
                .iter()
                .map(|r| match r {
                    pac::PacRoute::Direct => "DIRECT".to_string(),
                    pac::PacRoute::Proxy(p) => format!("PROXY {p}"),
                })
                .collect()
        })
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fuzzing_entry_answers_and_stops_at_the_deadline() {
        let limit = Duration::from_millis(100);
        assert_eq!(
            pac_evaluate(
                "function FindProxyForURL(u,h){return 'PROXY p:3128; DIRECT';}",
                "http://a/",
                "a",
                limit
            ),
            Ok(vec![
                "PROXY http://p:3128".to_string(),
                "DIRECT".to_string()
            ])
        );
        assert_eq!(
            pac_evaluate("for(;;){}", "http://a/", "a", limit),
            Err("PAC script did not finish in 100 ms".to_string())
        );
    }
}
