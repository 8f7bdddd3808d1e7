//! HTTP status reason phrases, one table for every part of the lab that writes a status line (the
//! endpoints' answers and the proxies' own answers), so both say the same words for a code.

/// The standard reason phrase of a status code (RFC 9110 and the IANA registry); `Unknown` for a code
/// without one, so a status line is never left without a phrase.
pub(crate) fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        511 => "Network Authentication Required",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_what_either_old_table_knew() {
        let proxy = [
            200, 400, 401, 403, 404, 405, 407, 408, 414, 429, 431, 500, 501, 502, 503, 504, 505,
        ];
        let endpoint = [
            200, 201, 204, 301, 302, 304, 400, 401, 403, 404, 405, 408, 413, 431, 500, 501, 502,
            503, 504,
        ];
        for status in proxy.into_iter().chain(endpoint) {
            assert_ne!(reason_phrase(status), "Unknown", "{status}");
        }
        assert_eq!(reason_phrase(407), "Proxy Authentication Required");
        assert_eq!(reason_phrase(799), "Unknown");
    }
}
