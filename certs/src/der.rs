//! A minimal reader of DER elements (single-byte tags, definite lengths): enough to take OCSP requests
//! and answers apart, shared by the factory's responder and the checks' OCSP client.

/// One DER element: tag byte, content, and the whole encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The tag byte.
    pub tag: u8,
    /// The content octets.
    pub content: &'a [u8],
    /// Tag, length and content together.
    pub whole: &'a [u8],
}

/// Why DER input was rejected, in words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DerError(pub &'static str);

impl std::fmt::Display for DerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for DerError {}

/// Read the first element of `input`; returns it and the bytes after it.
pub fn read_tlv(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), DerError> {
    let (&tag, rest) = input.split_first().ok_or(DerError("truncated element"))?;
    if tag & 0x1f == 0x1f {
        return Err(DerError("multi-byte tags are not used by OCSP"));
    }
    let (&first, rest) = rest.split_first().ok_or(DerError("truncated length"))?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return Err(DerError("unsupported length encoding"));
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, 2 + n)
    };
    let end = header
        .checked_add(len)
        .filter(|e| *e <= input.len())
        .ok_or(DerError("element longer than its container"))?;
    Ok((
        Tlv {
            tag,
            content: &input[header..end],
            whole: &input[..end],
        },
        &input[end..],
    ))
}

/// Every element of a constructed element's content, in order (at most 1 024).
pub fn children(mut content: &[u8]) -> Result<Vec<Tlv<'_>>, DerError> {
    let mut out = Vec::new();
    while !content.is_empty() {
        if out.len() >= 1024 {
            return Err(DerError("too many elements"));
        }
        let (tlv, rest) = read_tlv(content)?;
        out.push(tlv);
        content = rest;
    }
    Ok(out)
}

/// The content of `tlv` if it carries `tag`; otherwise an error naming `what` was expected.
pub fn expect<'a>(
    tlv: Option<&Tlv<'a>>,
    tag: u8,
    what: &'static str,
) -> Result<&'a [u8], DerError> {
    match tlv {
        Some(t) if t.tag == tag => Ok(t.content),
        _ => Err(DerError(what)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_short_and_long_lengths_and_rejects_overruns() {
        let (t, rest) = read_tlv(&[0x04, 0x02, 0xaa, 0xbb, 0x05]).unwrap();
        assert_eq!(
            (t.tag, t.content, rest),
            (0x04, &[0xaa, 0xbb][..], &[0x05][..])
        );
        let long = [&[0x04, 0x81, 0x80][..], &[0u8; 0x80]].concat();
        assert_eq!(read_tlv(&long).unwrap().0.content.len(), 0x80);
        assert!(read_tlv(&[0x04, 0x05, 0x00]).is_err());
        assert!(read_tlv(&[0x1f, 0x00]).is_err());
        assert_eq!(children(&[0x05, 0x00, 0x05, 0x00]).unwrap().len(), 2);
    }
}
