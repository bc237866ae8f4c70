//! Body compression as SLS puts it on the wire (§1.2): `x-log-compresstype` names the codec,
//! `x-log-bodyrawsize` carries the uncompressed length.
//!
//! * `lz4`: a raw LZ4 **block**: no frame, no 4-byte size prefix (the size is the header).
//! * `zstd`: a standard zstd frame.
//! * `deflate`: zlib-wrapped (RFC 1950), despite the name.
//!
//! Decompression never trusts the stream: the declared size is checked against a caller limit
//! before anything is allocated, and the streaming codecs are read through `Read::take`, so a
//! compression bomb costs at most `raw_size + 1` bytes of output.

use std::io::{Read, Write};

use crate::error::{ErrorCode, ProtocolError};

/// The codec named by `x-log-compresstype`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CompressType {
    /// No header (or an empty one): the body is sent as is.
    #[default]
    None,
    /// Raw LZ4 block; the default of every official SDK.
    Lz4,
    /// Standard zstd frame.
    Zstd,
    /// zlib-wrapped deflate.
    Deflate,
}

impl CompressType {
    /// Parses an `x-log-compresstype` value. Empty means [`CompressType::None`]; the match is
    /// case-insensitive and ignores surrounding whitespace. Anything else is
    /// `InvalidCompressType`.
    pub fn parse(header_value: &str) -> Result<Self, ProtocolError> {
        let value = header_value.trim();
        if value.is_empty() {
            return Ok(CompressType::None);
        }
        if value.eq_ignore_ascii_case("lz4") {
            return Ok(CompressType::Lz4);
        }
        if value.eq_ignore_ascii_case("zstd") {
            return Ok(CompressType::Zstd);
        }
        if value.eq_ignore_ascii_case("deflate") {
            return Ok(CompressType::Deflate);
        }
        Err(ProtocolError::new(
            ErrorCode::InvalidCompressType,
            format!("unsupported compress type {value:?}"),
        ))
    }

    /// Parses an optional header: absent means [`CompressType::None`].
    pub fn from_header(header_value: Option<&str>) -> Result<Self, ProtocolError> {
        header_value.map_or(Ok(CompressType::None), CompressType::parse)
    }

    /// The value to send in `x-log-compresstype`, or `None` when the header must be omitted.
    pub fn header_value(self) -> Option<&'static str> {
        match self {
            CompressType::None => None,
            CompressType::Lz4 => Some("lz4"),
            CompressType::Zstd => Some("zstd"),
            CompressType::Deflate => Some("deflate"),
        }
    }

    /// Picks the response codec for GetLogsV2/PullLogs from the request's `Accept-Encoding`.
    ///
    /// Only `lz4` and `zstd` count (lz4 preferred): `gzip, deflate` is what HTTP libraries
    /// such as `requests` add on their own, and answering that with an SLS-compressed body
    /// would break clients that did not ask for one (§6.3).
    pub fn from_accept_encoding(accept_encoding: &str) -> Self {
        let offers: Vec<&str> = accept_encoding
            .split(',')
            .map(|offer| offer.split(';').next().unwrap_or("").trim())
            .collect();
        let offered = |name: &str| offers.iter().any(|offer| offer.eq_ignore_ascii_case(name));
        if offered("lz4") {
            CompressType::Lz4
        } else if offered("zstd") {
            CompressType::Zstd
        } else {
            CompressType::None
        }
    }
}

/// The zstd level the Python SDK uses (`zstd.compress(data, 1)`): fast, and the ratio is
/// still far better than lz4.
const ZSTD_LEVEL: i32 = 1;

/// Compresses `raw` for sending with the given codec.
pub fn compress(compress_type: CompressType, raw: &[u8]) -> Vec<u8> {
    match compress_type {
        CompressType::None => raw.to_vec(),
        CompressType::Lz4 => lz4_flex::block::compress(raw),
        CompressType::Zstd => zstd::bulk::compress(raw, ZSTD_LEVEL)
            // Bulk compression sizes its output with ZSTD_compressBound, so the only failure
            // left is allocation, which aborts elsewhere too.
            .expect("zstd compression into a bound-sized buffer cannot fail"),
        CompressType::Deflate => {
            let mut encoder =
                flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            encoder
                .write_all(raw)
                .expect("writing into a Vec cannot fail");
            encoder.finish().expect("writing into a Vec cannot fail")
        }
    }
}

/// Decompresses a body whose `x-log-bodyrawsize` was `raw_size`.
///
/// Errors: `raw_size > max_raw` is `PostBodyTooLarge` (checked before any allocation);
/// undecodable data, or output whose length differs from `raw_size`, is
/// `PostBodyUncompressError`; for [`CompressType::None`] a body length different from
/// `raw_size` is `InvalidBodyRawSize`. An empty body with `raw_size == 0` is accepted for
/// every codec, because PullLogs answers "no data" that way even with a codec header.
pub fn decompress(
    compress_type: CompressType,
    body: &[u8],
    raw_size: usize,
    max_raw: usize,
) -> Result<Vec<u8>, ProtocolError> {
    if raw_size > max_raw {
        return Err(ProtocolError::new(
            ErrorCode::PostBodyTooLarge,
            format!("raw body size {raw_size} exceeds the limit of {max_raw} bytes"),
        ));
    }
    if raw_size == 0 && body.is_empty() {
        return Ok(Vec::new());
    }
    let decompressed = match compress_type {
        CompressType::None => {
            if body.len() != raw_size {
                return Err(ProtocolError::new(
                    ErrorCode::InvalidBodyRawSize,
                    format!(
                        "body is {} bytes but x-log-bodyrawsize says {raw_size}",
                        body.len()
                    ),
                ));
            }
            return Ok(body.to_vec());
        }
        // The block decoder writes into a buffer of exactly `raw_size` and fails if the data
        // wants more, so it is bounded by construction.
        CompressType::Lz4 => lz4_flex::block::decompress(body, raw_size)
            .map_err(|error| uncompress_error("lz4", &error))?,
        CompressType::Zstd => {
            let mut decoder =
                zstd::stream::read::Decoder::new(body).map_err(|e| uncompress_error("zstd", &e))?;
            // A frame may declare a window far larger than its content; cap the window so the
            // decoder's own buffer stays proportional to what we agreed to accept.
            decoder
                .window_log_max(zstd_window_log_limit(raw_size))
                .map_err(|e| uncompress_error("zstd", &e))?;
            read_bounded(decoder, raw_size).map_err(|e| uncompress_error("zstd", &e))?
        }
        CompressType::Deflate => read_bounded(flate2::read::ZlibDecoder::new(body), raw_size)
            .map_err(|e| uncompress_error("deflate", &e))?,
    };
    if decompressed.len() > raw_size {
        return Err(ProtocolError::new(
            ErrorCode::PostBodyUncompressError,
            format!("body decompresses to more than x-log-bodyrawsize ({raw_size}) bytes"),
        ));
    }
    if decompressed.len() < raw_size {
        return Err(ProtocolError::new(
            ErrorCode::PostBodyUncompressError,
            format!(
                "body decompressed to {} bytes but x-log-bodyrawsize says {raw_size}",
                decompressed.len()
            ),
        ));
    }
    Ok(decompressed)
}

/// Reads at most `raw_size + 1` bytes: the extra byte is how an over-long stream is detected
/// without decoding the rest of it.
fn read_bounded(reader: impl Read, raw_size: usize) -> std::io::Result<Vec<u8>> {
    let mut output = Vec::with_capacity(raw_size);
    let limit = u64::try_from(raw_size)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    reader.take(limit).read_to_end(&mut output)?;
    Ok(output)
}

/// zstd encoders pick windows up to 8 MiB (2^23) regardless of input size, so that is the
/// floor; above it the window never needs to exceed the content. 2^30 is zstd's ceiling on
/// 32-bit targets, which keeps the value valid everywhere.
fn zstd_window_log_limit(raw_size: usize) -> u32 {
    const FLOOR: u32 = 23;
    const CEILING: u32 = 30;
    let bits_for_content = usize::BITS - raw_size.saturating_sub(1).leading_zeros();
    bits_for_content.clamp(FLOOR, CEILING)
}

fn uncompress_error(codec: &str, error: &dyn std::fmt::Display) -> ProtocolError {
    ProtocolError::new(
        ErrorCode::PostBodyUncompressError,
        format!("{codec} body does not decompress: {error}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 10 * 1024 * 1024;

    const ALL_CODECS: [CompressType; 4] = [
        CompressType::None,
        CompressType::Lz4,
        CompressType::Zstd,
        CompressType::Deflate,
    ];

    fn sample() -> Vec<u8> {
        let mut data = Vec::new();
        for index in 0..2000u32 {
            data.extend_from_slice(format!("{{\"event\":{index},\"level\":\"error\"}}").as_bytes());
            data.push((index.wrapping_mul(2_654_435_761) >> 24) as u8);
        }
        data
    }

    #[test]
    fn header_values_parse_and_print() {
        assert_eq!(CompressType::parse("lz4"), Ok(CompressType::Lz4));
        assert_eq!(CompressType::parse(" ZSTD "), Ok(CompressType::Zstd));
        assert_eq!(CompressType::parse("deflate"), Ok(CompressType::Deflate));
        assert_eq!(CompressType::parse(""), Ok(CompressType::None));
        assert_eq!(CompressType::from_header(None), Ok(CompressType::None));
        assert_eq!(
            CompressType::parse("snappy").unwrap_err().code,
            ErrorCode::InvalidCompressType
        );
        for codec in ALL_CODECS {
            let reparsed = CompressType::from_header(codec.header_value()).unwrap();
            assert_eq!(reparsed, codec);
        }
    }

    #[test]
    fn accept_encoding_only_honours_sls_codecs() {
        assert_eq!(CompressType::from_accept_encoding("lz4"), CompressType::Lz4);
        assert_eq!(
            CompressType::from_accept_encoding("zstd, lz4"),
            CompressType::Lz4
        );
        assert_eq!(
            CompressType::from_accept_encoding("zstd"),
            CompressType::Zstd
        );
        assert_eq!(
            CompressType::from_accept_encoding("gzip, deflate"),
            CompressType::None
        );
        assert_eq!(CompressType::from_accept_encoding(""), CompressType::None);
    }

    #[test]
    fn every_codec_round_trips() {
        let raw = sample();
        for codec in ALL_CODECS {
            let body = compress(codec, &raw);
            let back = decompress(codec, &body, raw.len(), MAX).unwrap();
            assert_eq!(back, raw, "{codec:?}");
        }
    }

    #[test]
    fn empty_bodies_round_trip() {
        for codec in ALL_CODECS {
            let body = compress(codec, &[]);
            assert_eq!(decompress(codec, &body, 0, MAX).unwrap(), Vec::<u8>::new());
            assert_eq!(decompress(codec, &[], 0, MAX).unwrap(), Vec::<u8>::new());
        }
    }

    #[test]
    fn lz4_is_a_raw_block_without_size_prefix() {
        let raw = sample();
        let body = compress(CompressType::Lz4, &raw);
        // A raw block decodes directly; with a size prefix the first 4 bytes would be the
        // little-endian length and the block would not parse from offset 0.
        assert_eq!(lz4_flex::block::decompress(&body, raw.len()).unwrap(), raw);
        assert_ne!(&body[..4], (raw.len() as u32).to_le_bytes());
    }

    #[test]
    fn zstd_is_a_standard_frame_and_deflate_is_zlib() {
        let raw = sample();
        let zstd_body = compress(CompressType::Zstd, &raw);
        assert_eq!(&zstd_body[..4], &[0x28, 0xb5, 0x2f, 0xfd]);
        assert_eq!(zstd::stream::decode_all(zstd_body.as_slice()).unwrap(), raw);

        let deflate_body = compress(CompressType::Deflate, &raw);
        // zlib header: CMF 0x78 and a checksum making the first two bytes divisible by 31.
        assert_eq!(deflate_body[0], 0x78);
        assert_eq!(
            u16::from_be_bytes([deflate_body[0], deflate_body[1]]) % 31,
            0
        );
    }

    #[test]
    fn truncated_bodies_fail() {
        let raw = sample();
        for codec in [CompressType::Lz4, CompressType::Zstd, CompressType::Deflate] {
            let body = compress(codec, &raw);
            let truncated = &body[..body.len() / 2];
            let error = decompress(codec, truncated, raw.len(), MAX).unwrap_err();
            assert_eq!(error.code, ErrorCode::PostBodyUncompressError, "{codec:?}");
        }
    }

    #[test]
    fn garbage_fails() {
        let garbage: Vec<u8> = (0..=255u8).cycle().take(1000).map(|b| b ^ 0x5a).collect();
        for codec in [CompressType::Lz4, CompressType::Zstd, CompressType::Deflate] {
            let error = decompress(codec, &garbage, 5000, MAX).unwrap_err();
            assert_eq!(error.code, ErrorCode::PostBodyUncompressError, "{codec:?}");
        }
    }

    #[test]
    fn wrong_raw_size_fails() {
        let raw = sample();
        for codec in [CompressType::Lz4, CompressType::Zstd, CompressType::Deflate] {
            let body = compress(codec, &raw);
            for declared in [raw.len() - 1, raw.len() + 1] {
                let error = decompress(codec, &body, declared, MAX).unwrap_err();
                assert_eq!(error.code, ErrorCode::PostBodyUncompressError, "{codec:?}");
            }
        }
        let error = decompress(CompressType::None, &raw, raw.len() + 1, MAX).unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidBodyRawSize);
    }

    #[test]
    fn declared_size_above_limit_is_rejected_before_decoding() {
        let error = decompress(CompressType::Lz4, &[0], usize::MAX, MAX).unwrap_err();
        assert_eq!(error.code, ErrorCode::PostBodyTooLarge);
        let error = decompress(CompressType::None, &[0; 11], 11, 10).unwrap_err();
        assert_eq!(error.code, ErrorCode::PostBodyTooLarge);
    }

    #[test]
    fn bombs_are_cut_off_at_the_declared_size() {
        // 64 MiB of zeros compresses to a few KiB; the receiver was told it is 1 KiB.
        let bomb_raw = vec![0u8; 64 * 1024 * 1024];
        for codec in [CompressType::Lz4, CompressType::Zstd, CompressType::Deflate] {
            let bomb = compress(codec, &bomb_raw);
            assert!(bomb.len() < 1024 * 1024, "{codec:?} bomb is {}", bomb.len());
            let error = decompress(codec, &bomb, 1024, MAX).unwrap_err();
            assert_eq!(error.code, ErrorCode::PostBodyUncompressError, "{codec:?}");
        }
    }

    #[test]
    fn zstd_window_limit_is_clamped() {
        assert_eq!(zstd_window_log_limit(0), 23);
        assert_eq!(zstd_window_log_limit(1024), 23);
        assert_eq!(zstd_window_log_limit((1 << 24) + 1), 25);
        assert_eq!(zstd_window_log_limit(1 << 24), 24);
        assert_eq!(zstd_window_log_limit(usize::MAX), 30);
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_round_trip(raw in proptest::collection::vec(proptest::num::u8::ANY, 0..4096)) {
            for codec in ALL_CODECS {
                let body = compress(codec, &raw);
                proptest::prop_assert_eq!(decompress(codec, &body, raw.len(), MAX).unwrap(), raw.clone());
            }
        }

        #[test]
        fn garbage_never_panics(
            garbage in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
            raw_size in 0usize..65536,
        ) {
            for codec in ALL_CODECS {
                if let Ok(output) = decompress(codec, &garbage, raw_size, MAX) {
                    proptest::prop_assert_eq!(output.len(), raw_size);
                }
            }
        }
    }
}
