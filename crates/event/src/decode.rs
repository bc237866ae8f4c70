//! Bounded `Content-Encoding` decoding of request bodies.
//!
//! Accepted codings (Relay's `HttpEncoding::parse`, reference/peers.md §6): `identity`, `gzip`
//! (alias `x-gzip`), `deflate`, `br`, `zstd`. `deflate` is accepted both zlib-wrapped (RFC 1950,
//! what the HTTP spec and Relay mean) and raw (RFC 1951, what Bugsink decodes and some clients
//! send): zlib is tried first, raw deflate second. Unlike Relay, which treats an unknown coding
//! as identity, an unknown coding is an error here.
//!
//! Every decoder is read through `Read::take(max_decoded + 1)`, so at most `max_decoded + 1`
//! bytes are ever produced, whatever the compression ratio: a decompression bomb costs at most
//! `max_decoded` bytes of memory and the CPU to produce them, then fails with
//! [`DecodeError::TooLarge`].

use std::io::Read;

use bytes::Bytes;

/// The most non-identity codings one `Content-Encoding` header may stack. Each layer may expand
/// up to the limit, so the work is bounded by this many times `max_decoded`.
pub const MAX_STACKED_ENCODINGS: usize = 4;

/// Why a body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A coding this crate does not implement.
    #[error("unsupported content encoding {0:?}")]
    UnknownEncoding(String),
    /// More than [`MAX_STACKED_ENCODINGS`] codings in one header.
    #[error("too many stacked content encodings (limit {limit})")]
    TooManyEncodings {
        /// The limit, [`MAX_STACKED_ENCODINGS`].
        limit: usize,
    },
    /// The decoded body is larger than the limit given.
    #[error("decoded body exceeds the size limit of {limit} bytes")]
    TooLarge {
        /// The `max_decoded` limit, in bytes.
        limit: usize,
    },
    /// The body is not valid data of the coding it claims (bad header, checksum, truncation).
    #[error("corrupt {encoding} data: {reason}")]
    Corrupt {
        /// The coding that failed (`gzip`, `deflate`, `br`, `zstd`).
        encoding: &'static str,
        /// What the decoder reported.
        reason: String,
    },
}

/// One HTTP content coding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentEncoding {
    /// No transformation (`identity`, or an empty header).
    Identity,
    /// `gzip` / `x-gzip` (RFC 1952; concatenated members are accepted).
    Gzip,
    /// `deflate`: zlib-wrapped or raw deflate.
    Deflate,
    /// `br` (Brotli).
    Brotli,
    /// `zstd` (Zstandard; concatenated frames are accepted).
    Zstd,
}

impl ContentEncoding {
    /// Parses one coding token, ignoring ASCII case and surrounding whitespace.
    pub fn parse(raw_token: &str) -> Result<Self, DecodeError> {
        let token = raw_token.trim();
        let known = [
            ("identity", Self::Identity),
            ("", Self::Identity),
            ("gzip", Self::Gzip),
            ("x-gzip", Self::Gzip),
            ("deflate", Self::Deflate),
            ("br", Self::Brotli),
            ("zstd", Self::Zstd),
        ];
        known
            .iter()
            .find(|(name, _)| token.eq_ignore_ascii_case(name))
            .map(|&(_, encoding)| encoding)
            .ok_or_else(|| DecodeError::UnknownEncoding(token.chars().take(64).collect()))
    }

    /// Parses a whole `Content-Encoding` header value (comma-separated codings, in the order
    /// they were applied), dropping `identity` and empty entries.
    pub fn parse_header(value: &str) -> Result<Vec<Self>, DecodeError> {
        let mut out = Vec::new();
        for token in value.split(',') {
            match Self::parse(token)? {
                Self::Identity => {}
                encoding => {
                    if out.len() == MAX_STACKED_ENCODINGS {
                        return Err(DecodeError::TooManyEncodings {
                            limit: MAX_STACKED_ENCODINGS,
                        });
                    }
                    out.push(encoding)
                }
            }
        }
        Ok(out)
    }

    /// The coding's name as written in a `Content-Encoding` header.
    pub fn name(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Gzip => "gzip",
            Self::Deflate => "deflate",
            Self::Brotli => "br",
            Self::Zstd => "zstd",
        }
    }

    /// Undoes this one coding on `data`, producing at most `max_decoded` bytes.
    ///
    /// The flate decoders read the slice in place (`bufread`): the `read` ones would copy it
    /// through a zeroed 32 KiB buffer allocated per request.
    pub fn decode(self, data: &[u8], max_decoded: usize) -> Result<Vec<u8>, DecodeError> {
        match self {
            Self::Identity => {
                if data.len() > max_decoded {
                    return Err(DecodeError::TooLarge { limit: max_decoded });
                }
                Ok(data.to_vec())
            }
            Self::Gzip => read_bounded(
                flate2::bufread::MultiGzDecoder::new(data),
                max_decoded,
                data.len(),
                "gzip",
            ),
            Self::Deflate => {
                match read_bounded(
                    flate2::bufread::ZlibDecoder::new(data),
                    max_decoded,
                    data.len(),
                    "deflate",
                ) {
                    Err(DecodeError::Corrupt { .. }) => read_bounded(
                        flate2::bufread::DeflateDecoder::new(data),
                        max_decoded,
                        data.len(),
                        "deflate",
                    ),
                    other => other,
                }
            }
            Self::Brotli => read_bounded(
                brotli::Decompressor::new(data, 8192),
                max_decoded,
                data.len(),
                "br",
            ),
            Self::Zstd => {
                let decoder = zstd::stream::read::Decoder::with_buffer(data).map_err(|e| {
                    DecodeError::Corrupt {
                        encoding: "zstd",
                        reason: e.to_string(),
                    }
                })?;
                read_bounded(decoder, max_decoded, data.len(), "zstd")
            }
        }
    }
}

/// Reads `reader` to its end, failing once more than `max` bytes come out.
fn read_bounded<R: Read>(
    reader: R,
    max: usize,
    input_len: usize,
    encoding: &'static str,
) -> Result<Vec<u8>, DecodeError> {
    // A modest first allocation: compressed input usually expands a few times; the Vec grows
    // from there as data actually arrives, never beyond max + 1.
    let mut out = Vec::with_capacity(input_len.saturating_mul(4).min(max).min(1 << 20));
    let cap = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| DecodeError::Corrupt {
            encoding,
            reason: e.to_string(),
        })?;
    if out.len() > max {
        return Err(DecodeError::TooLarge { limit: max });
    }
    Ok(out)
}

/// Decodes a request body according to its `Content-Encoding` header (absent = identity).
///
/// Stacked codings (`gzip, br`: gzip applied first) are undone in reverse order. Each step, and
/// so the result, is limited to `max_decoded` bytes ([`DecodeError::TooLarge`]); corrupt or
/// truncated data is [`DecodeError::Corrupt`]; a coding not listed in the module docs is
/// [`DecodeError::UnknownEncoding`].
pub fn decode_body(
    content_encoding: Option<&str>,
    body: &[u8],
    max_decoded: usize,
) -> Result<Vec<u8>, DecodeError> {
    let encodings = parse_optional_header(content_encoding)?;
    undo(&encodings, body, max_decoded)
}

/// [`decode_body`] on a [`Bytes`] body: without a (non-identity) coding the body is returned as
/// is, without copying.
pub fn decode_body_bytes(
    content_encoding: Option<&str>,
    body: Bytes,
    max_decoded: usize,
) -> Result<Bytes, DecodeError> {
    let encodings = parse_optional_header(content_encoding)?;
    if encodings.is_empty() {
        if body.len() > max_decoded {
            return Err(DecodeError::TooLarge { limit: max_decoded });
        }
        return Ok(body);
    }
    undo(&encodings, &body, max_decoded).map(Bytes::from)
}

fn parse_optional_header(value: Option<&str>) -> Result<Vec<ContentEncoding>, DecodeError> {
    match value {
        Some(value) => ContentEncoding::parse_header(value),
        None => Ok(Vec::new()),
    }
}

/// Undoes `encodings` (listed in the order they were applied) on `body`.
fn undo(
    encodings: &[ContentEncoding],
    body: &[u8],
    max_decoded: usize,
) -> Result<Vec<u8>, DecodeError> {
    let Some((last, earlier)) = encodings.split_last() else {
        return ContentEncoding::Identity.decode(body, max_decoded);
    };
    let mut data = last.decode(body, max_decoded)?;
    for encoding in earlier.iter().rev() {
        data = encoding.decode(&data, max_decoded)?;
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
    use flate2::Compression;

    fn sample() -> Vec<u8> {
        let mut data = Vec::new();
        for i in 0..2000 {
            data.extend_from_slice(format!("{{\"line\":{i},\"message\":\"hello\"}}\n").as_bytes());
        }
        data
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn raw_deflate(data: &[u8]) -> Vec<u8> {
        let mut e = DeflateEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn brotli(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
            w.write_all(data).unwrap();
        }
        out
    }

    fn zstd(data: &[u8]) -> Vec<u8> {
        zstd::encode_all(data, 3).unwrap()
    }

    const MAX: usize = 10 << 20;

    #[test]
    fn identity_and_absent() {
        let data = sample();
        assert_eq!(decode_body(None, &data, MAX).unwrap(), data);
        assert_eq!(decode_body(Some("identity"), &data, MAX).unwrap(), data);
        assert_eq!(decode_body(Some(""), &data, MAX).unwrap(), data);
        assert_eq!(
            decode_body(None, &data, 10),
            Err(DecodeError::TooLarge { limit: 10 })
        );
        let bytes = Bytes::from(data.clone());
        let same = decode_body_bytes(None, bytes.clone(), MAX).unwrap();
        assert_eq!(same.as_ptr(), bytes.as_ptr(), "identity must not copy");
    }

    #[test]
    fn round_trips_each_codec() {
        let data = sample();
        let cases: [(&str, Vec<u8>); 7] = [
            ("gzip", gzip(&data)),
            ("x-gzip", gzip(&data)),
            ("GZIP", gzip(&data)),
            ("deflate", zlib(&data)),
            ("deflate", raw_deflate(&data)),
            ("br", brotli(&data)),
            ("zstd", zstd(&data)),
        ];
        for (encoding, body) in cases {
            assert!(body.len() < data.len());
            assert_eq!(
                decode_body(Some(encoding), &body, MAX).unwrap(),
                data,
                "{encoding}"
            );
        }
    }

    #[test]
    fn empty_payloads_round_trip() {
        for (encoding, body) in [
            ("gzip", gzip(b"")),
            ("deflate", zlib(b"")),
            ("br", brotli(b"")),
            ("zstd", zstd(b"")),
        ] {
            assert_eq!(
                decode_body(Some(encoding), &body, 0).unwrap(),
                b"",
                "{encoding}"
            );
        }
    }

    #[test]
    fn stacked_encodings_are_undone_in_reverse() {
        let data = sample();
        // "gzip, br": gzip applied first, then br.
        let body = brotli(&gzip(&data));
        assert_eq!(decode_body(Some("gzip, br"), &body, MAX).unwrap(), data);
        assert!(decode_body(Some("br, gzip"), &body, MAX).is_err());
        assert_eq!(
            decode_body(Some("identity, gzip,identity"), &gzip(&data), MAX).unwrap(),
            data
        );
        assert_eq!(
            decode_body(Some("gzip,gzip,gzip,gzip,gzip"), &data, MAX),
            Err(DecodeError::TooManyEncodings { limit: 4 })
        );
    }

    #[test]
    fn unknown_encoding_is_rejected() {
        let err = decode_body(Some("compress"), b"x", MAX).unwrap_err();
        assert_eq!(err, DecodeError::UnknownEncoding("compress".into()));
        assert_eq!(err.to_string(), "unsupported content encoding \"compress\"");
        assert!(matches!(
            decode_body(Some("gzip, lz4"), b"x", MAX),
            Err(DecodeError::UnknownEncoding(_))
        ));
    }

    #[test]
    fn limit_applies_to_decoded_size() {
        let data = sample();
        for encoding in ["gzip", "deflate", "br", "zstd"] {
            let body = match encoding {
                "gzip" => gzip(&data),
                "deflate" => zlib(&data),
                "br" => brotli(&data),
                _ => zstd(&data),
            };
            assert_eq!(
                decode_body(Some(encoding), &body, data.len()).unwrap(),
                data
            );
            assert_eq!(
                decode_body(Some(encoding), &body, data.len() - 1),
                Err(DecodeError::TooLarge {
                    limit: data.len() - 1
                }),
                "{encoding}"
            );
        }
    }

    #[test]
    fn truncated_streams_are_corrupt() {
        let data = sample();
        for (encoding, body) in [
            ("gzip", gzip(&data)),
            ("deflate", zlib(&data)),
            ("deflate", raw_deflate(&data)),
            ("br", brotli(&data)),
            ("zstd", zstd(&data)),
        ] {
            for cut in [1, body.len() / 2, body.len() - 1] {
                let result = decode_body(Some(encoding), &body[..cut], MAX);
                assert!(
                    matches!(result, Err(DecodeError::Corrupt { .. })),
                    "{encoding} cut at {cut}: {result:?}"
                );
            }
        }
    }

    #[test]
    fn garbage_is_corrupt() {
        for encoding in ["gzip", "deflate", "br", "zstd"] {
            let result = decode_body(Some(encoding), b"this is not compressed at all", MAX);
            assert!(
                matches!(result, Err(DecodeError::Corrupt { .. })),
                "{encoding}: {result:?}"
            );
        }
    }

    #[test]
    fn gzip_bomb_is_rejected_fast() {
        // 100 MB of zeros, compressed by streaming from a reader (never held in memory), as one
        // gzip member; ten copies of the member are a valid gzip body of 1 GB of zeros.
        const ZEROS: u64 = 100 * 1000 * 1000;
        let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
        let copied = std::io::copy(&mut std::io::repeat(0).take(ZEROS), &mut encoder).unwrap();
        assert_eq!(copied, ZEROS);
        let member = encoder.finish().unwrap();
        let bomb = member.repeat(10);
        // The ratio depends on flate2's backend (feature unification picks it); any body
        // under 1/50 of what it inflates to is a bomb.
        assert!(bomb.len() < 20 << 20, "bomb is {} bytes", bomb.len());

        let start = std::time::Instant::now();
        let result = decode_body(Some("gzip"), &bomb, 1 << 20);
        assert_eq!(result, Err(DecodeError::TooLarge { limit: 1 << 20 }));
        assert!(
            start.elapsed() < std::time::Duration::from_secs(5),
            "took {:?}",
            start.elapsed()
        );
    }

    #[test]
    fn gzip_members_are_concatenated() {
        let mut body = gzip(b"hello ");
        body.extend_from_slice(&gzip(b"world"));
        assert_eq!(
            decode_body(Some("gzip"), &body, 100).unwrap(),
            b"hello world"
        );
        assert_eq!(
            decode_body(Some("gzip"), &body, 10),
            Err(DecodeError::TooLarge { limit: 10 })
        );
    }

    #[test]
    fn zstd_bomb_is_rejected() {
        let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
        std::io::copy(&mut std::io::repeat(0).take(64 << 20), &mut encoder).unwrap();
        let bomb = encoder.finish().unwrap();
        assert_eq!(
            decode_body(Some("zstd"), &bomb, 1 << 20),
            Err(DecodeError::TooLarge { limit: 1 << 20 })
        );
    }

    #[test]
    fn encoding_names() {
        for encoding in [
            ContentEncoding::Identity,
            ContentEncoding::Gzip,
            ContentEncoding::Deflate,
            ContentEncoding::Brotli,
            ContentEncoding::Zstd,
        ] {
            assert_eq!(ContentEncoding::parse(encoding.name()).unwrap(), encoding);
        }
        assert_eq!(
            ContentEncoding::parse_header(" GZip , identity,br").unwrap(),
            vec![ContentEncoding::Gzip, ContentEncoding::Brotli]
        );
    }
}
